"""Playbook's speed: judging the default playbook over a tenant's whole history from scratch,
and keeping up with a live stream, on SQLite or PostgreSQL.

Synthetic history: CUSTOMERS customers with INTERACTIONS interactions over two years (tickets,
complaints, answers, check-ins, business reviews, marketing touches, price changes), each
customer with a relationship type and stage as scoring would give them (in process, so the
figure is the playbook's own). From scratch: every interaction received (as ingest delivers
them, batches of 1,000) and every customer judged. Live: batches of 500 new interactions,
each followed by judging the customers they touched: the last day's in time order (live),
then as many at random moments of the two years (late). As served: the next day's received
back to back while the service's worker judges whoever is due, concurrently, as the service's
gRPC receive and its worker run. Goals (issue 5): 1,000,000 interactions
for 50,000 customers judged from scratch in under 60 s; keeping up with 5,000 interactions/s
live, measured by the "as served" line, the service as it runs (the "live" line, each batch
judged before the next is received, is stricter than the service runs, and is shown beside).

    uv run python bench/playbook_judge.py [--customers 50000] [--interactions 1000000] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from playbook.actions import Outlook
from playbook.alerts import Event
from playbook.evaluation import Standing, Touch
from playbook.main import MIGRATIONS
from playbook.repository import PlaybookRepository
from playbook.scoring_client import Placed, Signal
from playbook.service import Delivered, PlaybookService
from playbook.worker import PlaybookWorker
from relint.cli import freeze_startup_heap
from relint.db import Database
from relint_devstack.scratch import scratch_store

RECEIVE_BATCH = 1000
LIVE_BATCH = 500
NOW = datetime.now(UTC).replace(microsecond=0)
KINDS = (
    ("service", "ticket_opened", "inbound", 0.2),
    ("service", "complaint", "inbound", 0.05),
    ("email", "email_sent", "outbound", 0.25),
    ("service", "ticket_resolved", "outbound", 0.15),
    ("service", "check_in", "outbound", 0.05),
    ("sales", "business_review", "outbound", 0.03),
    ("sales", "call", "outbound", 0.07),
    ("marketing", "email_sent", "outbound", 0.17),
    ("finance", "price_change", "outbound", 0.03),
)
TYPES = ("acquaintance", "fair_weather_friend", "bff", "partner")
STAGES = ("experimenting", "intensifying", "integrating", "bonding", "differentiating")


class InProcessScoring:
    """Scoring's answers, fixed per customer: the playbook's own speed is what is measured."""

    def __init__(self, customers: Sequence[str], seed: int) -> None:
        rng = random.Random(seed)
        self.known = {
            c: Outlook(
                Standing(
                    rng.choice(TYPES),
                    NOW - timedelta(days=rng.randrange(30, 700)),
                    rng.choice(STAGES),
                    NOW - timedelta(days=rng.randrange(1, 200)),
                ),
                value=rng.uniform(-20, 200),
            )
            for c in customers
        }

    async def outlooks(self, tenant_id: str, customer_ids: Sequence[str]) -> dict[str, Outlook]:
        return {c: self.known[c] for c in customer_ids if c in self.known}

    async def signal(self, violations: Sequence[Signal]) -> None:
        return None

    async def alert_feed(self, since: datetime, limit: int, after_id: str = "") -> list[Event]:
        return []

    async def relationship_types(self, tenant_id: str) -> list[str]:
        return ["Acquaintance", "Fair-Weather Friend", "BFF", "Partner"]

    async def standing_feed(
        self, since: datetime, limit: int, after: tuple[str, str] = ("", "")
    ) -> list[Placed]:
        return []  # standings do not change in this bench


def history(
    tenant: str, customers: list[str], count: int, seed: int, days: float = 730
) -> list[Delivered]:
    """`count` interactions at random moments of the `days` before NOW."""
    rng = random.Random(seed)
    weights = [k[3] for k in KINDS]
    span = int(timedelta(days=days).total_seconds())
    items = []
    for _ in range(count):
        channel, kind, direction, _w = rng.choices(KINDS, weights)[0]
        at = NOW - timedelta(seconds=rng.randrange(span))
        items.append(
            Delivered(
                tenant,
                rng.choice(customers),
                Touch(
                    str(uuid.uuid4()),
                    at,
                    channel,
                    kind,
                    direction,
                    f"employee-{rng.randrange(40)}",
                    f"T-{rng.randrange(10**6)}",
                    rng.choice((None, 30.0, 60.0, 90.0)) if kind == "price_change" else None,
                ),
            )
        )
    return items


async def run(url: str, label: str, customers: int, interactions: int) -> None:
    tenant = str(uuid.uuid4())
    names = [str(uuid.uuid4()) for _ in range(customers)]
    past = history(tenant, names, interactions, seed=7)
    extra = max(interactions // 20, LIVE_BATCH)
    # Live: what happened in the last day arrives in time order, as a stream does.
    live = sorted(history(tenant, names, extra, seed=8, days=1), key=lambda d: d.touch.occurred_at)
    # The next day's, received and judged concurrently, as the service runs them.
    running = sorted(
        history(tenant, names, extra, seed=11, days=1), key=lambda d: d.touch.occurred_at
    )
    # Late: as many again at random moments of the two years, each batch judged from its
    # earliest moment back (the worst case of a stream: a backfill nothing coalesces).
    late = history(tenant, names, extra, seed=10)
    # The service runs with its startup heap frozen (`relint.cli.freeze_startup_heap`); the
    # bench's own data (a million touches held to be sent) is frozen too, so that the
    # collector's full passes over it are not counted as the service's time.
    freeze_startup_heap()
    db = Database(url)
    service = PlaybookService(db, InProcessScoring(names, seed=9))
    try:
        started, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(past), RECEIVE_BATCH):
            await service.receive(past[start : start + RECEIVE_BATCH])
        received = time.perf_counter() - started
        judged = violations = 0
        while (result := await service.judge_due(limit=2000, now=NOW)).judged:
            judged += result.judged
            violations += result.violations
        scratch, scratch_cpu = time.perf_counter() - started, time.process_time() - cpu

        live_seconds, live_cpu = await stream(service, live)
        # A running service would have handed the violations found so far to scoring while
        # they were found; the worker below must not count that backlog as its stream's.
        while await service.signal_violations(2000):
            pass
        running_seconds, running_cpu, running_judged = await stream_as_served(service, running)
        late_seconds, late_cpu = await stream(service, late)
        # The tenant's whole worklist: every open obligation ranked by urgency, the top
        # ones by value (scoring's view of their customers in process).
        async with db.read() as session:
            open_count = len(await PlaybookRepository(session).obligation_times(tenant))
        worklist_seconds = []
        for _ in range(3):
            began = time.perf_counter()
            await service.worklist(tenant, limit=100, now=NOW)
            worklist_seconds.append(time.perf_counter() - began)
    finally:
        await db.dispose()
    print(f"{label}: {interactions:,} interactions, {customers:,} customers, default playbook")
    print(
        f"  from scratch   {scratch:7.1f} s  (receive {received:.1f} s, judge "
        f"{scratch - received:.1f} s; {judged:,} customers, {violations:,} violations; "
        f"goal < 60 s)  ratio goal/measured {60 / scratch:.2f}"
    )
    print(
        f"  live           {len(live) / live_seconds:7.0f} interactions/s  (the last day in "
        f"time order, batches of {LIVE_BATCH}, each judged before the next is received: "
        f"stricter than the service runs; {len(live) / live_seconds / 5000:.2f} of 5,000)"
    )
    print(
        f"  as served      {len(running) / running_seconds:7.0f} interactions/s  (the next "
        f"day's, received back to back while the service's worker judges whoever is due; "
        f"{running_judged:,} judgements; CPU {running_cpu:.1f} s; goal >= 5,000)  ratio "
        f"measured/goal {len(running) / running_seconds / 5000:.2f}"
    )
    print(
        f"  late           {len(late) / late_seconds:7.0f} interactions/s  (random moments of "
        f"the two years, batches of {LIVE_BATCH}, each judged at once)"
    )
    print(
        f"  worklist       {min(worklist_seconds) * 1000:7.0f} ms  (the tenant's top 100 of "
        f"{open_count:,} open obligations, best of 3)"
    )
    # On a shared machine the wall clock counts other processes' turns too; the CPU time of
    # this process (the service's own work, and SQLite's) does not.
    print(
        f"  CPU of this process: from scratch {scratch_cpu:.1f} s, live {live_cpu:.1f} s "
        f"({len(live) / live_cpu:.0f} interactions per CPU second), late {late_cpu:.1f} s"
    )


async def stream(service: PlaybookService, items: list[Delivered]) -> tuple[float, float]:
    """Receives the items in batches, judging the customers each batch touched at once;
    (wall, CPU) seconds."""
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(items), LIVE_BATCH):
        await service.receive(items[start : start + LIVE_BATCH])
        while (await service.judge_due(limit=2000, now=NOW)).judged:
            pass
    return time.perf_counter() - started, time.process_time() - cpu


async def stream_as_served(
    service: PlaybookService, items: list[Delivered]
) -> tuple[float, float, int]:
    """Receives the items in batches back to back (as ingest's relay delivers them) while the
    service's own worker (`PlaybookWorker.run_once`, with its defaults: judge whoever is due,
    1,000 at a time, then hand the new violations to scoring) runs again and again, until
    everything is received and judged; (wall, CPU) seconds and how many judgements it took
    (a customer marked again while judging lags is judged once for all its new ones)."""
    started, cpu = time.perf_counter(), time.process_time()
    received = asyncio.Event()
    judgements = 0
    worker = PlaybookWorker(service)

    async def deliver() -> None:
        for start in range(0, len(items), LIVE_BATCH):
            await service.receive(items[start : start + LIVE_BATCH])
        received.set()

    async def judge() -> None:
        nonlocal judgements
        while True:
            done = received.is_set()
            judged = await worker.run_once()
            judgements += judged
            if done and not judged:
                return
            if not judged:
                await asyncio.sleep(0.005)

    await asyncio.gather(deliver(), judge())
    return time.perf_counter() - started, time.process_time() - cpu, judgements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with scratch_store("relint_playbookbench", "playbook", MIGRATIONS, args.postgres) as (
        url,
        label,
    ):
        asyncio.run(run(url, label, args.customers, args.interactions))


if __name__ == "__main__":
    main()
