"""Scoring's gRPC server, in process on a free port, through real channels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from fastapi import FastAPI
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from relint.contracts.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from relint.contracts.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from relint.db import migrate
from scoring.main import MIGRATIONS, create_app
from scoring.settings import ScoringSettings


@pytest.fixture
async def channel(tmp_path: Path) -> AsyncIterator[grpc.aio.Channel]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'scoring.db'}"
    await asyncio.to_thread(migrate, MIGRATIONS, url)
    app: FastAPI = create_app(ScoringSettings(database_url=url, grpc_port=0))
    async with (
        app.router.lifespan_context(app),
        grpc.aio.insecure_channel(f"127.0.0.1:{app.state.grpc_port}") as opened,
    ):
        yield opened


def interaction(n: int, kind: str = "purchase") -> ingest_pb2.Interaction:
    stamp = Timestamp()
    stamp.FromSeconds(1_760_000_000 + n)
    return ingest_pb2.Interaction(
        id=f"i{n}", tenant_id="t1", customer_id="c1", occurred_at=stamp, channel="sales", kind=kind
    )


async def test_delivered_interactions_move_the_value_once(channel: grpc.aio.Channel) -> None:
    subscriber = ingest_pb2_grpc.InteractionSubscriberServiceStub(channel)
    request = ingest_pb2.DeliverInteractionsRequest(
        interactions=[interaction(1), interaction(2, "complaint")]
    )
    first = await subscriber.DeliverInteractions(request, timeout=5)
    again = await subscriber.DeliverInteractions(request, timeout=5)
    assert (first.applied, first.duplicates) == (2, 0)
    assert (again.applied, again.duplicates) == (0, 2)
    relationships = scoring_pb2_grpc.RelationshipServiceStub(channel)
    reply = await relationships.BatchGetRelationships(
        scoring_pb2.BatchGetRelationshipsRequest(tenant_id="t1", customer_ids=["c1", "nobody"]),
        timeout=5,
    )
    [relationship] = reply.relationships
    assert relationship.value == pytest.approx(3.0 - 8.0)
    assert relationship.interaction_count == 2


async def test_malformed_requests_are_refused(channel: grpc.aio.Channel) -> None:
    subscriber = ingest_pb2_grpc.InteractionSubscriberServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await subscriber.DeliverInteractions(
            ingest_pb2.DeliverInteractionsRequest(interactions=[ingest_pb2.Interaction(id="x")]),
            timeout=5,
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "interactions[0]" in (refused.value.details() or "")
    relationships = scoring_pb2_grpc.RelationshipServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as no_tenant:
        await relationships.BatchGetRelationships(
            scoring_pb2.BatchGetRelationshipsRequest(customer_ids=["c1"]), timeout=5
        )
    assert no_tenant.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_health_is_serving_for_each_service(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", "scoring.v1.RelationshipService", "ingest.v1.InteractionSubscriberService"):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, name
