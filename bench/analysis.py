"""The analysis lenses' speed: every lens over 1,000,000 interactions and 50,000 customers,
on SQLite (the embedded default) and, with --postgres, on PostgreSQL.

The rows are synthetic (numpy, seeded) and go straight into scoring's tables through the
repository's bulk inserts, not over HTTP: a realistic mix of channels, kinds, money, issue
types, employees, relationship types and stages, with one customer in seven lost. Each lens
runs through `AnalysisService` as the RPCs call it (load + compute), now and as of a past
moment; the best and worst of `--repeat` runs are printed against the goals (issue 7): under
2 s on the production stack, under 5 s on the embedded default. Then scoring's own reads
that take `as_of` (at-risk, potential, relationships), now against as of the same moment.

    uv run python bench/analysis.py [--interactions 1000000] [--customers 50000] [--postgres]
        [--scoring-reads]   # scoring's reads alone, without the lenses
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import numpy as np
from sqlalchemy import text

from relint.db import Database, migrate
from relint_devstack.scratch import scratch_databases
from scoring.analysis_service import AnalysisService
from scoring.main import MIGRATIONS
from scoring.repository import ScoringRepository
from scoring.service import ScoringService

START = datetime(2024, 11, 1, tzinfo=UTC)
DAYS = 730
END = START + timedelta(days=DAYS)
BATCH = 50_000
TYPES = ("acquaintance", "fair_weather_friend", "bff", "partner")
TYPE_SHARES = (0.45, 0.30, 0.17, 0.08)
STAGES = (
    "initiating",
    "experimenting",
    "intensifying",
    "integrating",
    "bonding",
    "differentiating",
    "circumscribing",
    "stagnating",
    "avoiding",
)
ISSUES = ("billing_error", "outage", "data_loss", "how_to", "feature_request", "password_reset")
# (channel, kind, direction, share, money field, mean amount)
KINDS: tuple[tuple[str, str, str, float, str, float], ...] = (
    ("marketing", "email_sent", "outbound", 0.18, "", 0.0),
    ("marketing", "email_opened", "inbound", 0.06, "", 0.0),
    ("sales", "purchase", "inbound", 0.10, "revenue", 180.0),
    ("sales", "upsell", "inbound", 0.01, "revenue", 300.0),
    ("sales", "renewal", "inbound", 0.01, "revenue", 700.0),
    ("sales", "quote", "outbound", 0.03, "", 0.0),
    ("sales", "cancellation", "inbound", 0.005, "", 0.0),
    ("service", "ticket_opened", "inbound", 0.05, "cost", 80.0),
    ("service", "ticket_resolved", "outbound", 0.045, "", 0.0),
    ("service", "complaint", "inbound", 0.01, "", 0.0),
    ("service", "check_in", "outbound", 0.04, "cost", 8.0),
    ("finance", "invoice_sent", "outbound", 0.10, "", 0.0),
    ("finance", "invoice_paid", "inbound", 0.10, "", 0.0),
    ("finance", "refund", "outbound", 0.005, "refund", 20.0),
    ("email", "email_sent", "outbound", 0.08, "", 0.0),
    ("email", "email_received", "inbound", 0.06, "", 0.0),
    ("community", "post", "inbound", 0.03, "", 0.0),
    ("community", "referral", "inbound", 0.005, "", 0.0),
    ("social", "review", "inbound", 0.01, "", 0.0),
    ("social", "share", "inbound", 0.02, "", 0.0),
    ("operations", "delivery", "outbound", 0.05, "", 0.0),
)


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _customer_ids(n: int) -> list[str]:
    return [str(uuid.UUID(int=i + 1)) for i in range(n)]


async def load(db: Database, tenant: str, interactions: int, customers: int) -> None:
    rng = np.random.default_rng(7)
    ids = _customer_ids(customers)
    # First interactions over the first 60% of the period, as seconds since the epoch.
    started = START.timestamp() + rng.uniform(0, DAYS * 0.6, customers) * 86_400.0
    end = END.timestamp()
    types = rng.choice(len(TYPES), size=customers, p=TYPE_SHARES)
    lost = rng.random(customers) < 1 / 7
    employees = [f"emp-{i:03d}" for i in range(200)]
    owner = rng.integers(0, len(employees), customers)
    shares = np.array([k[3] for k in KINDS])
    now = datetime.now(UTC)
    async with db.transaction() as session:
        repo = ScoringRepository(session)
        relationships, changes = [], []
        for i, customer in enumerate(ids):
            stage = "terminating" if lost[i] else STAGES[int(rng.integers(0, len(STAGES)))]
            first = _moment(started[i])
            since = first + timedelta(days=float(rng.uniform(30, 300)))
            relationships.append(
                {
                    "tenant_id": tenant,
                    "customer_id": customer,
                    "first_interaction_at": first,
                    "last_interaction_at": END,
                    "relationship_type": TYPES[types[i]],
                    "stage": stage,
                    "stage_since": since,
                    "updated_at": now,
                }
            )
            for dimension, at, current in (
                ("type", first + timedelta(days=30), TYPES[types[i]]),
                ("stage", first, "initiating"),
                ("stage", since, stage),
            ):
                changes.append(
                    {
                        "id": str(uuid.uuid4()),
                        "tenant_id": tenant,
                        "customer_id": customer,
                        "dimension": dimension,
                        "at": at,
                        "previous": None,
                        "current": current,
                        "reason": "bench",
                    }
                )
        await repo.insert_relationships(relationships)
        await repo.insert_state_changes(changes)
    made = 0
    while made < interactions:
        size = min(BATCH, interactions - made)
        who = rng.integers(0, customers, size)
        kind = rng.choice(len(KINDS), size=size, p=shares / shares.sum())
        moments = started[who] + rng.uniform(0, 1, size) * (end - started[who])
        amount = rng.lognormal(0, 0.4, size)
        issue = rng.integers(0, len(ISSUES), size)
        rows: list[dict[str, Any]] = []
        for j in range(size):
            channel, name, direction, _, money, mean = KINDS[kind[j]]
            c = int(who[j])
            row: dict[str, Any] = {
                "interaction_id": str(uuid.uuid4()),
                "tenant_id": tenant,
                "customer_id": ids[c],
                "occurred_at": _moment(float(moments[j])),
                "channel": channel,
                "kind": name,
                "direction": direction,
                "sentiment": None,
                "revenue": 0.0,
                "refund": 0.0,
                "cost": 0.0,
                "outcome": None,
                "employee": employees[owner[c]] if j % 3 else employees[int(issue[j])],
                "issue_type": ISSUES[issue[j]] if name.startswith("ticket_") else None,
                "text": None,
                "contribution": 0.0,
                "reason": "",
                "applied_at": now,
            }
            if money:
                row[money] = round(mean * float(amount[j]), 2)
            rows.append(row)
        async with db.transaction() as session:
            await ScoringRepository(session).insert_applied(rows)
        made += size
    # The planner's statistics, as autovacuum (or SQLite's optimize) would have them.
    async with db.transaction() as session:
        await session.execute(text("ANALYZE"))


async def timed(call: Callable[[], Awaitable[Any]], repeat: int) -> list[tuple[float, float]]:
    """Wall and CPU seconds of each run (CPU: this process's threads, the SQLite engine's
    included, PostgreSQL's server not)."""
    seconds = []
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        await call()
        seconds.append((time.perf_counter() - started, time.process_time() - cpu))
    return seconds


async def measure(
    url: str, label: str, interactions: int, customers: int, repeat: int, lenses: bool = True
) -> None:
    await asyncio.to_thread(migrate, MIGRATIONS, url)
    db = Database(url)
    tenant = str(uuid.uuid4())
    try:
        started = time.perf_counter()
        await load(db, tenant, interactions, customers)
        print(
            f"{label}: {interactions:,} interactions, {customers:,} customers "
            f"(loaded in {time.perf_counter() - started:.0f} s; load average "
            f"{os.getloadavg()[0]:.1f})"
        )
        goal = 2.0 if label == "PostgreSQL" else 5.0
        service = AnalysisService(db)
        past = END - timedelta(days=60)
        each: list[tuple[str, Callable[[datetime | None], Awaitable[Any]]]] = [
            ("portfolio", lambda at: service.portfolio(tenant, at)),
            ("service impact", lambda at: service.service_impact(tenant, at)),
            ("journey endings", lambda at: service.journey_endings(tenant, at)),
            ("stars", lambda at: service.stars(tenant, at)),
            ("engagement/sales", lambda at: service.engagement_sales(tenant, at)),
            ("return on rel.", lambda at: service.return_on_relationship(tenant, at)),
            ("lookalikes", lambda at: service.lookalikes(tenant, _customer_ids(1), at)),
        ]
        for name, lens in each if lenses else []:
            for when, at in (("now", None), ("as of", past)):
                runs = await timed(partial(lens, at), repeat)
                wall, cpu = min(runs)
                verdict = "ok" if wall < goal else "OVER"
                print(
                    f"  {name:18s} {when:6s} best {wall:5.2f} s wall ({cpu:5.2f} s CPU), "
                    f"worst {max(w for w, _ in runs):5.2f} s  (goal < {goal:.0f} s: {verdict})"
                )
        await scoring_reads(db, tenant, past, repeat)
    finally:
        await db.dispose()


async def scoring_reads(db: Database, tenant: str, past: datetime, repeat: int) -> None:
    """Scoring's own reads that take `as_of` (no goal in the issue: the cost of looking back
    against the same read now, in the same run). Now they read what the worker stored; as
    of a past moment they reckon from the history up to then. The tenant's purchase model
    is fitted first, as the worker would."""
    service = ScoringService(db)
    await service.fit_retention(tenant)
    some = _customer_ids(100)
    reads: list[tuple[str, Callable[[datetime | None], Awaitable[Any]]]] = [
        ("at-risk, 50", lambda at: service.at_risk(tenant, 50, at)),
        ("potential, 50", lambda at: service.with_potential(tenant, 50, at)),
        ("100 relationships", lambda at: service.relationships(tenant, some, at)),
    ]
    print("  scoring's reads, now against as of the same past moment:")
    for name, read in reads:
        best = {}
        for when, at in (("now", None), ("as of", past)):
            runs = await timed(partial(read, at), repeat)
            best[when] = min(runs)
            wall, cpu = best[when]
            print(
                f"  {name:18s} {when:6s} best {wall:6.2f} s wall ({cpu:6.2f} s CPU), "
                f"worst {max(w for w, _ in runs):6.2f} s"
            )
        print(f"  {name:18s} as of / now: {best['as of'][0] / max(best['now'][0], 1e-6):,.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument(
        "--scoring-reads", action="store_true", help="only scoring's own reads, not the lenses"
    )
    args = parser.parse_args()
    lenses = not args.scoring_reads
    if args.postgres:
        with scratch_databases("relint_analysisbench", ("scoring",)) as urls:
            asyncio.run(
                measure(
                    urls["scoring"],
                    "PostgreSQL",
                    args.interactions,
                    args.customers,
                    args.repeat,
                    lenses,
                )
            )
    else:
        with tempfile.TemporaryDirectory(prefix="relint-analysisdb-") as tmp:
            asyncio.run(
                measure(
                    f"sqlite+aiosqlite:///{tmp}/scoring.db",
                    "SQLite",
                    args.interactions,
                    args.customers,
                    args.repeat,
                    lenses,
                )
            )


if __name__ == "__main__":
    main()
