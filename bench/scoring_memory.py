"""Scoring's memory with a large tenant (issue 4: under 500 MB with 100,000 customers).

    uv run python bench/scoring_memory.py [--customers 100000] [--postgres]

The synthetic tenant of `bench/type_history.py` (each customer over two years at its own
cadence; ~20 interactions a customer) is applied in this process; then a fresh scoring
process (not the one that held the synthetic history to apply it) does what it does with
such a tenant, step by step, and reports after each its seconds and resident memory, now
and at its peak so far:

1. the worker's pass after the load: every customer's stage and risk judged, the retention
   model fitted, the first placement (types at every month end, then now), and the
   customers judged again with the model;
2. a recompute after a change of weights (the whole history weighed again);
3. the reads that walk the tenant: the at-risk ranking, a page of the relationship list,
   the potential as of 90 days ago (a placement of then), a customer's timeline.

On SQLite the process also holds SQLite's page cache (`PRAGMA cache_size`, 128 MB a
connection, filled by the reads of the history).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from type_history import history, resident_mb

from relint.db import Database, migrate
from relint_devstack.scratch import scratch_databases
from scoring.main import MIGRATIONS
from scoring.repository import RelationshipFilter
from scoring.service import ScoringService
from scoring.worker import ScoringWorker

TENANT = "t1"


async def apply(url: str, customers: int) -> int:
    service = ScoringService(Database(url))
    items = history(customers, datetime.now(UTC))
    for i in range(0, len(items), 5000):
        await service.apply(items[i : i + 5000])
    await service.db.dispose()
    return len(items)


async def _steps(url: str) -> list[tuple[str, float, float, float]]:
    """(step, seconds, resident MB now, resident MB at the peak so far) after each step."""
    service = ScoringService(Database(url))
    worker = ScoringWorker(service)
    now = datetime.now(UTC)
    steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("worker pass: stages, fit, first placement", worker.run_once),
        (
            "recompute after a change of weights",
            lambda: service.put_settings(TENANT, {"weights": {"purchase": 3.0}}, None),
        ),
        ("at-risk ranking (50)", lambda: service.at_risk(TENANT, 50)),
        (
            "relationship list page (100)",
            lambda: service.list_relationships(TENANT, RelationshipFilter(), 100),
        ),
        (
            "potential as of 90 days ago (50)",
            lambda: service.with_potential(TENANT, 50, now - timedelta(days=90)),
        ),
        (
            "a customer's timeline (60 points)",
            lambda: service.timeline(TENANT, "c000007", now - timedelta(days=730), now),
        ),
    ]
    found = [("a fresh process, its store open", 0.0, resident_mb("VmRSS"), resident_mb("VmHWM"))]
    await service.rules(TENANT)
    # The process that applied the load knew the tenant had new interactions; this one is told.
    service.unclassified.add(TENANT)
    for name, step in steps:
        started = time.perf_counter()
        await step()
        found.append(
            (name, time.perf_counter() - started, resident_mb("VmRSS"), resident_mb("VmHWM"))
        )
    await service.db.dispose()
    return found


def _in_fresh_process(url: str) -> list[tuple[str, float, float, float]]:
    return asyncio.run(_steps(url))


def run(url: str, label: str, customers: int) -> None:
    count = asyncio.run(apply(url, customers))
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        found = pool.apply(_in_fresh_process, (url,))
    print(f"{label}: {customers:,} customers, {count:,} interactions over two years")
    print(f"  {'step':44} {'seconds':>8} {'MB now':>7} {'MB peak':>8}")
    for name, seconds, now, peak in found:
        print(f"  {name:44} {seconds:8.1f} {now:7.0f} {peak:8.0f}")
    print(f"  peak of the process: {max(p for *_, p in found):.0f} MB (goal < 500 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    if args.postgres:
        with scratch_databases("relint_membench", ("scoring",)) as urls:
            migrate(MIGRATIONS, urls["scoring"])
            run(urls["scoring"], "PostgreSQL", args.customers)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'scoring.db'}"
            migrate(MIGRATIONS, url)
            run(url, "SQLite", args.customers)


if __name__ == "__main__":
    main()
