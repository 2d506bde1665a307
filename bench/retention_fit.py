"""Retention model fit on 100,000 customers, as scoring fits a tenant: seconds of each model
and of the whole fit, and peak memory. Goal (issue 4): under 30 s, under 500 MB.

Two synthetic tenants, their purchases counted once a day as scoring counts them:

- `drop-out`: customers from the BG/NBD story with CDNOW-like parameters, each watched for a
  year from its first purchase (vectorised);
- `regular`: customers who never leave, each buying at its own steady cadence (every 5 to 60
  days, half its visits a purchase) from a random day of two years: no drop-out at all,
  where the Pareto/NBD search runs to its bound.

The whole fit is `scoring.service._fit_retention`: both purchase models on every customer,
both again on the first two thirds of the history to choose between them, and Gamma-Gamma.

    uv run python bench/retention_fit.py [--customers 100000] [--tenant drop-out|regular]
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from scoring import retention as R
from scoring.domain import EPOCH
from scoring.service import DAY_IN_WEEKS, WEEK, _fit_retention

YEAR_IN_WEEKS = 52.0


def drop_out_tenant(n: int, seed: int = 7) -> tuple[R.Purchases, float]:
    """Purchases (times in weeks from the first) of customers who buy at a gamma-distributed
    rate until they drop out with a beta-distributed chance after each purchase."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.25, 1 / 4.4, n)
    drop = rng.beta(0.8, 2.4, n)
    spend = rng.gamma(6.25, 1 / 3.74, n) * 15.44 / 6.25 * 3.74
    codes, times = [np.arange(n)], [np.zeros(n)]
    clock = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    for _ in range(200):  # at most 200 repeat purchases a customer; vectorised by rounds
        if not alive.any():
            break
        clock[alive] += rng.exponential(1 / np.maximum(rate[alive], 1e-9))
        bought = alive & (clock <= YEAR_IN_WEEKS)
        codes.append(np.flatnonzero(bought))
        times.append(clock[bought])
        alive = bought & (rng.random(n) >= drop)
    return _purchases(np.concatenate(codes), np.concatenate(times), spend), YEAR_IN_WEEKS


def regular_tenant(n: int, seed: int = 7) -> tuple[R.Purchases, float]:
    """Purchases of customers who never leave: from a random day of two years, a visit every
    5 to 60 days (the customer's own), half of them purchases."""
    rng = np.random.default_rng(seed)
    first, gap = rng.integers(0, 600, n), rng.integers(5, 61, n)
    visits = (730 - first + gap - 1) // gap
    codes = np.repeat(np.arange(n), visits)
    nth = np.arange(len(codes)) - np.repeat(np.cumsum(visits) - visits, visits)
    days = first[codes] + nth * gap[codes]
    bought = rng.random(len(codes)) < 0.5
    spend = rng.integers(10, 900, n).astype(float)
    return _purchases(codes[bought], days[bought] / 7, spend), 730 / 7


def _purchases(codes: np.ndarray, times: np.ndarray, spend: np.ndarray) -> R.Purchases:
    return R.Purchases(
        [f"c{c:06d}" for c in range(len(spend))], codes.astype(np.int32), times, spend[codes]
    )


TENANTS: dict[str, Callable[[int], tuple[R.Purchases, float]]] = {
    "drop-out": drop_out_tenant,
    "regular": regular_tenant,
}


def _timed(timings: dict[str, float], name: str, step: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = step()
    timings[name] = time.perf_counter() - started
    return result


def run(tenant: str, customers: int) -> None:
    bought, cutoff = TENANTS[tenant](customers)
    _, data = R.rfm(bought.codes, bought.times, cutoff, bought.amounts, DAY_IN_WEEKS)
    assert data.monetary is not None
    timings: dict[str, float] = {}
    bg = _timed(timings, "BG/NBD", lambda: R.fit_bgnbd(data))
    pareto = _timed(timings, "Pareto/NBD", lambda: R.fit_pareto_nbd(data))
    spend = _timed(timings, "Gamma-Gamma", lambda: R.fit_gamma_gamma(data.frequency, data.monetary))
    _timed(
        timings, "lifetime value, 52 weeks", lambda: R.lifetime_value(bg, spend, data, 52, 0.002)
    )
    model = _timed(
        timings,
        "the whole fit",
        lambda: _fit_retention("t1", bought, EPOCH + cutoff * WEEK),
    )
    print(
        f"{tenant}: {len(data.frequency):,} customers, {len(bought.times):,} purchases "
        f"({int(data.frequency.sum()):,} repeat purchase days)"
    )
    for name, seconds in timings.items():
        print(f"  {name:26s} {seconds:7.2f} s")
    print(f"  {'':26s} (the whole fit: both models twice and spend; goal < 30 s)")
    print(f"  chosen: {model.kind}")
    print(f"  BG/NBD r {bg.r:.3f} alpha {bg.alpha:.3f} a {bg.a:.4f} b {bg.b:.3f}")
    print(
        f"  Pareto/NBD r {pareto.r:.3f} alpha {pareto.alpha:.3f} s {pareto.s:.4f} "
        f"beta {pareto.beta:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--tenant", choices=[*TENANTS, "both"], default="both")
    args = parser.parse_args()
    for tenant in TENANTS if args.tenant == "both" else [args.tenant]:
        run(tenant, args.customers)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of the process {peak_mb:.0f} MB (goal < 500 MB)")


if __name__ == "__main__":
    main()
