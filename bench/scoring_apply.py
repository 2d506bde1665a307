"""Scoring's speed: incremental apply over gRPC into one scoring process, and a full
recompute of a tenant from its history (the weights changed), on SQLite and PostgreSQL.

The demo company's interactions are sent to a scoring process as ingest's relay sends them
(`DeliverInteractions`, batches of 1,000, one in flight), then the tenant's whole history is
weighed again in process. Goals (issue 4): apply >= 20,000 interactions/s per scoring
process; recompute >= 100,000 interactions/s.

    uv run python bench/scoring_apply.py [--customers 300] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from relint.contracts.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from relint.db import Database, migrate
from relint_devstack.demo import DemoConfig, generate
from relint_devstack.launcher import Stack
from relint_devstack.scratch import scratch_databases
from scoring.main import MIGRATIONS
from scoring.service import ScoringService

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


async def recompute(url: str, tenant: str) -> tuple[int, float]:
    db = Database(url)
    try:
        service = ScoringService(db)
        started = time.perf_counter()
        count = await service.recompute(tenant)
        return count, time.perf_counter() - started
    finally:
        await db.dispose()


def run(url: str, label: str, customers: int) -> None:
    _, stream = generate(DemoConfig(customers=customers, seed=7))
    tenant = str(uuid.uuid4())
    messages = [message(item, tenant) for item in stream]
    migrate(MIGRATIONS, url)
    with tempfile.TemporaryDirectory(prefix="relint-scoringbench-") as tmp:
        stack = Stack.on_free_ports(Path(tmp), database_urls={"scoring": url})
        stack.start_service("scoring")
        try:
            _wait(stack)
            seconds = asyncio.run(deliver(stack.grpc_target("scoring"), messages))
        finally:
            stack.stop()
    count, recompute_seconds = asyncio.run(recompute(url, tenant))
    print(f"{label}: {len(messages)} demo interactions ({customers} customers)")
    print(
        f"  apply over gRPC   {len(messages) / seconds:9.0f} interactions/s "
        f"(batches of {BATCH}, one in flight; goal >= 20,000)"
    )
    print(
        f"  full recompute    {count / recompute_seconds:9.0f} interactions/s "
        f"({count} in {recompute_seconds:.1f} s; goal >= 100,000)"
    )


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
