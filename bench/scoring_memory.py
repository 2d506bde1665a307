"""Scoring's memory with a large tenant (issue 4: under 500 MB with 100,000 customers).

    uv run python bench/scoring_memory.py [--customers 100000] [--postgres]

The synthetic tenant of `bench/type_history.py` (each customer over two years at its own
cadence; ~20 interactions a customer) is applied in this process; then a fresh scoring
process (not the one that held the synthetic history to apply it) does what it does with
such a tenant, step by step, and reports after each its seconds, its resident memory now,
and its peak during the step (Linux's VmHWM, reset before each step through
/proc/self/clear_refs):

1. the worker's pass after the load, in its parts: every customer's stage and risk judged;
   the retention model fitted; the first placement (types at every month end, then now);
   every customer judged again with the model (`ScoringWorker.run_once` does these);
2. a recompute after a change of weights (the whole history weighed again);
3. the reads that walk the tenant: the at-risk ranking, a page of the relationship list,
   the potential as of 90 days ago (a placement of then), a customer's timeline.

`--without-stages` leaves out the two stage passes (~20 minutes each at 100,000 customers).
On SQLite the process also holds SQLite's page cache (`PRAGMA cache_size`, 128 MB a
connection, filled by the reads of the history).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stage_pass import judge_everyone
from type_history import load, resident_mb

from relint.db import Database
from relint_devstack.scratch import scratch_store
from scoring.main import MIGRATIONS
from scoring.repository import RelationshipFilter
from scoring.service import ScoringService

TENANT = "t1"


async def apply(url: str, customers: int) -> int:
    service = ScoringService(Database(url))
    count = await load(service, customers)
    await service.db.dispose()
    return count


def _reset_peak() -> None:
    """VmHWM from now on (Linux: 5 to clear_refs sets the peak to the resident size now)."""
    Path("/proc/self/clear_refs").write_text("5")


async def _every_stage(service: ScoringService, again: bool = False) -> None:
    """The worker's stage passes until none is left; `again` marks every customer first, as
    a fresh retention model does (`ScoringService.classify_tenant`)."""
    if again:
        await service.mark_all_dirty(datetime.now(UTC) - timedelta(days=1))
    await judge_everyone(service)


async def _steps(url: str, stages: bool) -> list[tuple[str, float, float, float]]:
    """(step, seconds, resident MB after it, resident MB at its peak) for each step."""
    service = ScoringService(Database(url))
    now = datetime.now(UTC)
    stage_pass: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("every customer's stage and risk", lambda: _every_stage(service))
    ]
    again: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("every customer again, with the model", lambda: _every_stage(service, again=True))
    ]
    steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        *(stage_pass if stages else []),
        ("retention fit", lambda: service.fit_retention(TENANT)),
        ("first placement (types since the start)", lambda: service.classify_history(TENANT)),
        *(again if stages else []),
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
    await service.rules(TENANT)
    found = [("a fresh process, its store open", 0.0, resident_mb("VmRSS"), resident_mb("VmHWM"))]
    for name, step in steps:
        _reset_peak()
        started = time.perf_counter()
        await step()
        found.append(
            (name, time.perf_counter() - started, resident_mb("VmRSS"), resident_mb("VmHWM"))
        )
    await service.db.dispose()
    return found


def _in_fresh_process(url: str, stages: bool) -> list[tuple[str, float, float, float]]:
    return asyncio.run(_steps(url, stages))


def run(url: str, label: str, customers: int, stages: bool) -> None:
    count = asyncio.run(apply(url, customers))
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        found = pool.apply(_in_fresh_process, (url, stages))
    print(f"{label}: {customers:,} customers, {count:,} interactions over two years")
    print(f"  {'step':44} {'seconds':>8} {'MB after':>8} {'MB peak in it':>13}")
    for name, seconds, now, peak in found:
        print(f"  {name:44} {seconds:8.1f} {now:8.0f} {peak:13.0f}")
    print(f"  peak of the process: {max(p for *_, p in found):.0f} MB (goal < 500 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--without-stages", action="store_true")
    args = parser.parse_args()
    with scratch_store("relint_membench", "scoring", MIGRATIONS, args.postgres) as (url, label):
        run(url, label, args.customers, not args.without_stages)


if __name__ == "__main__":
    main()
