"""The stage worker's pass over a loaded tenant: customers judged a second (stage, risk,
exceptions, outlook), and how the time splits between the reckoning and the store.

    uv run python bench/stage_pass.py [--customers 2000] [--postgres]

The synthetic tenant of `bench/type_history.py` (each customer over two years at its own
cadence; ~20 interactions a customer) is applied, then `ScoringService.evaluate_stages`
runs in the worker's batches until no customer is left to judge. Then everyone is judged
again from a day ago, as after a new retention model or on the daily clock (each customer
now has a stage history to start from). The reckoning is timed around
`scoring.service._assess_all` (what runs on the worker's thread); the rest of a pass is
reading the batch and storing it.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from type_history import load

import scoring.service
from relint.db import Database
from relint_devstack.scratch import scratch_store
from scoring.main import MIGRATIONS
from scoring.service import ScoringService
from scoring.worker import ScoringWorker


async def judge_everyone(service: ScoringService) -> int:
    """The worker's stage passes, in its batches, until no customer is left to judge;
    returns how many were judged."""
    batch, judged = ScoringWorker(service).batch, 0
    while (done := await service.evaluate_stages(batch)) > 0:
        judged += done
    return judged


async def run(url: str, label: str, customers: int) -> None:
    service = ScoringService(Database(url))
    count = await load(service, customers)
    reckoning = 0.0
    assess = scoring.service._assess_all

    def timed(*args: Any) -> Any:
        nonlocal reckoning
        started = time.perf_counter()
        try:
            return assess(*args)
        finally:
            reckoning += time.perf_counter() - started

    scoring.service._assess_all = timed  # type: ignore[assignment]
    print(f"{label}: {customers:,} customers, {count:,} interactions")
    for name, again in (("first pass", False), ("again from a day ago", True)):
        if again:
            await service.mark_all_dirty(datetime.now(UTC) - timedelta(days=1))
        reckoning, started = 0.0, time.perf_counter()
        judged = await judge_everyone(service)
        seconds = time.perf_counter() - started
        print(
            f"  {name}: judged {judged:,} in {seconds:.1f} s: {judged / seconds:,.0f} "
            f"customers/s (reckoning {reckoning:.1f} s, reading and storing "
            f"{seconds - reckoning:.1f} s)"
        )
    await service.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with scratch_store("relint_stagebench", "scoring", MIGRATIONS, args.postgres) as (url, label):
        asyncio.run(run(url, label, args.customers))


if __name__ == "__main__":
    main()
