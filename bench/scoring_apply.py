"""Scoring's speed: incremental apply over gRPC into one scoring process, and a full
recompute of a tenant from its history (the weights changed), on SQLite and PostgreSQL.

The demo company's interactions are sent to a scoring process as ingest's relay sends them
(`DeliverInteractions`, batches of 1,000, one in flight) as a load of history; then the
tenant's whole history is weighed again in process: once with the same weights (nothing to
write back), once after a change of the weight table (`put_settings`, most contributions
change and are written back); then, everyone judged, the next day's as many interactions
arrive as a live stream. Goals (issue 4): apply >= 20,000 interactions/s per scoring
process; recompute >= 100,000 interactions/s. CPU seconds are the scoring process's (apply)
and this one's (recompute).

    uv run python bench/scoring_apply.py [--customers 300] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select
from sqlmodel import col

from relint.contracts.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from relint.db import Database, migrate
from relint.taxonomy import KINDS
from relint_devstack.demo import DemoConfig, generate
from relint_devstack.launcher import Stack
from relint_devstack.scratch import scratch_databases
from scoring.domain import KIND_WEIGHTS
from scoring.main import MIGRATIONS
from scoring.models import AppliedInteraction
from scoring.service import ScoringService
from scoring.worker import ScoringWorker

BATCH = 1000
_AMOUNT = {
    "revenue": ingest_pb2.AMOUNT_TYPE_REVENUE,
    "refund": ingest_pb2.AMOUNT_TYPE_REFUND,
    "cost_to_serve": ingest_pb2.AMOUNT_TYPE_COST_TO_SERVE,
}


def message(item: dict[str, Any], tenant: str) -> ingest_pb2.Interaction:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.fromisoformat(item["occurred_at"]))
    attributes = Struct()
    attributes.update(item.get("attributes") or {})
    found = ingest_pb2.Interaction(
        id=str(uuid.uuid4()),
        tenant_id=tenant,
        customer_id=item["customer"]["external_id"],
        occurred_at=stamp,
        channel=item["channel"],
        kind=item["kind"],
        direction=ingest_pb2.DIRECTION_INBOUND
        if item["direction"] == "inbound"
        else ingest_pb2.DIRECTION_OUTBOUND,
        amount=item.get("amount", ""),
        amount_type=_AMOUNT.get(item.get("amount_type", ""), ingest_pb2.AMOUNT_TYPE_UNSPECIFIED),
        employee=item.get("employee", ""),
        attributes=attributes,
    )
    if item.get("sentiment") is not None:
        found.sentiment = item["sentiment"]
    return found


async def deliver(target: str, messages: list[ingest_pb2.Interaction]) -> float:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = ingest_pb2_grpc.InteractionSubscriberServiceStub(channel)
        started = time.perf_counter()
        for start in range(0, len(messages), BATCH):
            reply = await stub.DeliverInteractions(
                ingest_pb2.DeliverInteractionsRequest(interactions=messages[start : start + BATCH]),
                timeout=120,
            )
            assert reply.applied == len(messages[start : start + BATCH])
        return time.perf_counter() - started


# A change of the weight table that moves every contribution: each kind weighs a quarter
# more (kinds the default table leaves neutral weigh 0.1), money and sentiment count more.
NEW_WEIGHTS: dict[str, Any] = {
    "weights": {
        kind: round(KIND_WEIGHTS.get(kind, 0.0) * 1.25, 6) or 0.1
        for kinds in KINDS.values()
        for kind in kinds
    },
    "revenue_weight": 0.6,
    "sentiment_weight": 2.5,
}


async def recompute(url: str, tenant: str) -> list[tuple[str, int, float, float]]:
    """(what, interactions, wall seconds, CPU seconds) of a recompute with the same weights
    and of one after a change of the weights (saying how many contributions moved)."""
    db = Database(url)
    try:
        service = ScoringService(db)
        found = []
        for what in ("same weights", "new weights"):
            before = await _contributions(service, tenant)
            started, cpu = time.perf_counter(), time.process_time()
            if what == "same weights":
                await service.recompute(tenant)
            else:
                await service.put_settings(tenant, NEW_WEIGHTS, None)
            wall, used = time.perf_counter() - started, time.process_time() - cpu
            after = await _contributions(service, tenant)
            moved = sum(1 for i, c in after.items() if before[i] != c)
            found.append((f"{what}, {moved} rewritten", len(after), wall, used))
        return found
    finally:
        await db.dispose()


async def _contributions(service: ScoringService, tenant: str) -> dict[str, tuple[float, str]]:
    t = AppliedInteraction
    query = select(col(t.interaction_id), col(t.contribution), col(t.reason)).where(
        col(t.tenant_id) == tenant
    )
    async with service.db.read() as session:
        return {i: (c, r) for i, c, r in await session.execute(query)}


def _cpu_seconds(pid: int) -> float:
    """The process's user + system CPU seconds (Linux; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(url: str, label: str, customers: int) -> None:
    """The demo company's two years arrive as a load of history (the stage passes during the
    stream leave the tenant until its load settles); the tenant is recomputed twice; then,
    with everyone judged, the next day's as many interactions arrive as a live stream (the
    worker's passes every `busy_seconds` judge the customers from their new interactions)."""
    stream = list(generate(DemoConfig(customers=customers, seed=7))[1])
    tenant = str(uuid.uuid4())
    history = [message(item, tenant) for item in stream]
    migrate(MIGRATIONS, url)
    loaded = apply_over_grpc(url, history)
    weighed = asyncio.run(recompute(url, tenant))
    asyncio.run(judge_everyone(url))
    live = next_day(history)
    streamed = apply_over_grpc(url, live)
    print(f"{label}: {len(history)} demo interactions ({customers} customers)")
    for (seconds, cpu), what in ((loaded, "a load of history"), (streamed, "the next day's, live")):
        print(
            f"  apply over gRPC   {len(history) / seconds:9.0f} interactions/s ({what}: batches "
            f"of {BATCH}, one in flight; {cpu:.1f} s CPU in scoring, worker included; "
            "goal >= 20,000)"
        )
    for what, count, wall, used in weighed:
        print(
            f"  full recompute    {count / wall:9.0f} interactions/s "
            f"({what}: {count} in {wall:.2f} s, {used:.2f} s CPU; goal >= 100,000)"
        )


def next_day(history: list[ingest_pb2.Interaction]) -> list[ingest_pb2.Interaction]:
    """As many interactions as the history, new ones of the same customers, spread in time
    order over the last day."""
    now = datetime.now(UTC)
    found = []
    for n, item in enumerate(history):
        copy = ingest_pb2.Interaction()
        copy.CopyFrom(item)
        copy.id = str(uuid.uuid4())
        copy.occurred_at.FromDatetime(now - timedelta(days=1) * (1 - n / len(history)))
        found.append(copy)
    return found


async def judge_everyone(url: str) -> None:
    """Every customer judged and the tenant placed, as the worker leaves a load once it has
    settled."""
    db = Database(url)
    try:
        await ScoringWorker(ScoringService(db)).run_once()
    finally:
        await db.dispose()


def apply_over_grpc(url: str, messages: list[ingest_pb2.Interaction]) -> tuple[float, float]:
    """Delivers the messages to a scoring process of their own (its default settings);
    (wall seconds, the scoring process's CPU seconds)."""
    with tempfile.TemporaryDirectory(prefix="relint-scoringbench-") as tmp:
        stack = Stack.on_free_ports(Path(tmp), database_urls={"scoring": url})
        stack.start_service("scoring")
        try:
            _wait(stack)
            pid = stack.processes["scoring"].pid
            cpu = _cpu_seconds(pid)
            seconds = asyncio.run(deliver(stack.grpc_target("scoring"), messages))
            return seconds, _cpu_seconds(pid) - cpu
        finally:
            stack.stop()


def _wait(stack: Stack) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with grpc.insecure_channel(stack.grpc_target("scoring")) as channel:
                grpc.channel_ready_future(channel).result(timeout=1)
                return
        except grpc.FutureTimeoutError:
            time.sleep(0.2)
    raise SystemExit("scoring did not start:\n" + stack.log_tail("scoring"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    if args.postgres:
        with scratch_databases("relint_scoringbench", ("scoring",)) as urls:
            run(urls["scoring"], "PostgreSQL", args.customers)
    else:
        with tempfile.TemporaryDirectory(prefix="relint-scoringdb-") as tmp:
            run(f"sqlite+aiosqlite:///{tmp}/scoring.db", "SQLite", args.customers)


if __name__ == "__main__":
    main()
