"""A tenant's first placement: its relationship types at every month end of its history
(`ScoringService.classify_history`), the work scoring does once a tenant's history arrives
at once, and for customers whose older history arrives later.

    uv run python bench/type_history.py [--customers 4000] [--postgres] [--memory]

Synthetic customers over two years (each from a random day, at its own cadence, a mix of
purchases, renewals, meetings and complaints) are applied as the relay delivers them; then
the placement is timed: wall and CPU seconds, and the changes of type it recorded. With
`--memory`, the placement runs in a fresh process (not the one that held the synthetic
history to apply it), which reports its resident memory before the placement and at its
peak.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from relint.db import Database
from relint_devstack.scratch import scratch_store
from scoring.main import MIGRATIONS
from scoring.service import Delivered, ScoringService

KINDS = ("purchase", "renewal", "meeting", "complaint")


def history(customers: int, now: datetime) -> list[Delivered]:
    rng = random.Random(1)
    items = []
    for c in range(customers):
        first, gap = rng.randint(0, 600), rng.randint(5, 60)
        for k, day in enumerate(range(first, 730, gap)):
            items.append(
                Delivered(
                    interaction_id=f"i{c}-{k}",
                    tenant_id="t1",
                    customer_id=f"c{c:06d}",
                    occurred_at=now - timedelta(days=730 - day),
                    channel="sales",
                    kind=rng.choice(KINDS),
                    sentiment=rng.choice([None, 0.5, -0.5]),
                    revenue=float(rng.randint(10, 900)),
                    direction="inbound",
                )
            )
    return sorted(items, key=lambda i: i.occurred_at)


async def load(service: ScoringService, customers: int) -> int:
    """Applies the synthetic history of `customers` (`history`, up to now) in batches of
    5,000; returns how many interactions."""
    items = history(customers, datetime.now(UTC))
    for i in range(0, len(items), 5000):
        await service.apply(items[i : i + 5000])
    return len(items)


async def run(url: str, customers: int, memory: bool) -> None:
    service = ScoringService(Database(url))
    count = await load(service, customers)
    await service.db.dispose()
    if memory:
        spawn = multiprocessing.get_context("spawn")
        with spawn.Pool(1) as pool:
            wall, cpu, changes, rss = pool.apply(_place_in_fresh_process, (url,))
    else:
        wall, cpu, changes = await _place(url)
    print(
        f"{customers:,} customers, {count:,} interactions over two years: "
        f"types at every month end and now in {wall:.2f} s ({cpu:.2f} s CPU), "
        f"{changes:,} changes of type"
    )
    if memory:
        print(f"resident memory of the process: {rss[0]:.0f} MB before, {rss[1]:.0f} MB at peak")


async def _place(url: str) -> tuple[float, float, int]:
    service = ScoringService(Database(url))
    await service.rules("t1")  # the connection and the settings, before the clock
    wall, cpu = time.perf_counter(), time.process_time()
    changes = await service.classify_history("t1")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await service.db.dispose()
    return wall, cpu, changes


def _place_in_fresh_process(url: str) -> tuple[float, float, int, tuple[float, float]]:
    before = resident_mb("VmRSS")
    wall, cpu, changes = asyncio.run(_place(url))
    return wall, cpu, changes, (before, resident_mb("VmHWM"))


def resident_mb(field: str) -> float:
    """The process's resident memory now (VmRSS) or at its peak (VmHWM), from Linux's
    /proc (getrusage's peak counts the parent's before the exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=4000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--memory", action="store_true", help="the placement's resident memory")
    args = parser.parse_args()
    with scratch_store("relint_typebench", "scoring", MIGRATIONS, args.postgres) as (url, _):
        asyncio.run(run(url, args.customers, args.memory))


if __name__ == "__main__":
    main()
