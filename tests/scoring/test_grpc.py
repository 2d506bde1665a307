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
    as_of = Timestamp()
    as_of.FromSeconds(1_760_000_002)
    reply = await relationships.BatchGetRelationships(
        scoring_pb2.BatchGetRelationshipsRequest(
            tenant_id="t1", customer_ids=["c1", "nobody"], as_of=as_of
        ),
        timeout=5,
    )
    [relationship] = reply.relationships
    assert relationship.value == pytest.approx(3.0 - 8.0)
    assert relationship.interaction_count == 2
    assert relationship.as_of == as_of
    now = await relationships.BatchGetRelationships(
        scoring_pb2.BatchGetRelationshipsRequest(tenant_id="t1", customer_ids=["c1"]), timeout=5
    )
    # A year on, the complaint weighs more than the purchase: grievance fades slower.
    assert -5.0 < now.relationships[0].value < 0


async def test_timeline_explanation_and_alerts_over_grpc(channel: grpc.aio.Channel) -> None:
    subscriber = ingest_pb2_grpc.InteractionSubscriberServiceStub(channel)
    await subscriber.DeliverInteractions(
        ingest_pb2.DeliverInteractionsRequest(
            interactions=[interaction(0), interaction(86_400, "complaint")]
        ),
        timeout=5,
    )
    stub = scoring_pb2_grpc.RelationshipServiceStub(channel)
    start, end = Timestamp(), Timestamp()
    start.FromSeconds(1_760_000_000 - 3_600)
    end.FromSeconds(1_760_000_000 + 2 * 86_400)
    timeline = await stub.GetRelationshipTimeline(
        scoring_pb2.GetRelationshipTimelineRequest(
            tenant_id="t1", customer_id="c1", start=start, end=end, points=3
        ),
        timeout=5,
    )
    assert next(round(p.value, 3) for p in timeline.points) == 0.0
    assert timeline.points[-1].value < 0 < timeline.points[1].value
    explained = await stub.ExplainRelationship(
        scoring_pb2.ExplainRelationshipRequest(
            tenant_id="t1", customer_id="c1", start=start, end=end
        ),
        timeout=5,
    )
    assert [d.reason for d in explained.drivers] == ["complaint", "purchase"]
    assert explained.sentence.startswith("It fell ")
    with pytest.raises(grpc.aio.AioRpcError) as backwards:
        await stub.ExplainRelationship(
            scoring_pb2.ExplainRelationshipRequest(
                tenant_id="t1", customer_id="c1", start=end, end=start
            ),
            timeout=5,
        )
    assert backwards.value.details() == "start must be before end"
    alerts = await stub.ListAlerts(scoring_pb2.ListAlertsRequest(tenant_id="t1"), timeout=5)
    assert list(alerts.alerts) == []
    missing = await stub.AcknowledgeAlert(
        scoring_pb2.AcknowledgeAlertRequest(tenant_id="t1", alert_id="nope"), timeout=5
    )
    assert not missing.acknowledged


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
    with pytest.raises(grpc.aio.AioRpcError) as no_since:
        await relationships.ListAlertFeed(scoring_pb2.ListAlertFeedRequest(), timeout=5)
    assert no_since.value.details() == "since is required"
    since = Timestamp()
    since.FromSeconds(0)
    feed = await relationships.ListAlertFeed(
        scoring_pb2.ListAlertFeedRequest(since=since), timeout=5
    )
    assert list(feed.alerts) == []


async def test_health_is_serving_for_each_service(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", "scoring.v1.RelationshipService", "ingest.v1.InteractionSubscriberService"):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, name
