"""Retention model fit on 100,000 customers: BG/NBD, Pareto/NBD and Gamma-Gamma, seconds and
peak memory. Goal (issue 4): under 30 s, under 500 MB.

Customers are simulated from the BG/NBD story with CDNOW-like parameters (vectorised), and
observed for a year.

    uv run python bench/retention_fit.py [--customers 100000]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from scoring import retention as R


def simulate(n: int, seed: int = 7, weeks: float = 52.0) -> R.RFM:
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.25, 1 / 4.4, n)
    drop = rng.beta(0.8, 2.4, n)
    # Purchases per customer until the first drop-out, at most 200; vectorised by rounds.
    x, last, clock = np.zeros(n), np.zeros(n), np.zeros(n)
    alive = np.ones(n, dtype=bool)
    for _ in range(200):
        if not alive.any():
            break
        clock[alive] += rng.exponential(1 / np.maximum(rate[alive], 1e-9))
        bought = alive & (clock <= weeks)
        x[bought] += 1
        last[bought] = clock[bought]
        alive = bought & (rng.random(n) >= drop)
    spend = np.where(x > 0, rng.gamma(6.25, 1 / 3.74, n) * 15.44 / 6.25 * 3.74, 0.0)
    return R.RFM(x, last, np.full(n, weeks), spend)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    args = parser.parse_args()
    data = simulate(args.customers)
    assert data.monetary is not None
    timings = {}
    started = time.perf_counter()
    bg = R.fit_bgnbd(data)
    timings["BG/NBD"] = time.perf_counter() - started
    started = time.perf_counter()
    pareto = R.fit_pareto_nbd(data)
    timings["Pareto/NBD"] = time.perf_counter() - started
    started = time.perf_counter()
    spend = R.fit_gamma_gamma(data.frequency, data.monetary)
    timings["Gamma-Gamma"] = time.perf_counter() - started
    started = time.perf_counter()
    R.lifetime_value(bg, spend, data, 52, 0.002)
    timings["lifetime value, 52 weeks"] = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.customers} simulated customers ({int(data.frequency.sum())} repeat purchases)")
    for name, seconds in timings.items():
        print(f"  {name:26s} {seconds:6.2f} s")
    print(f"  all together               {sum(timings.values()):6.2f} s   (goal < 30 s)")
    print(f"  peak memory of the process {peak_mb:6.0f} MB  (goal < 500 MB)")
    print(f"  BG/NBD r {bg.r:.3f} alpha {bg.alpha:.3f} a {bg.a:.3f} b {bg.b:.3f}")
    print(f"  Pareto/NBD r {pareto.r:.3f} alpha {pareto.alpha:.3f} s {pareto.s:.3f}")


if __name__ == "__main__":
    main()
