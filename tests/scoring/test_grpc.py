"""Scoring's gRPC server, in process on a free port, through real channels."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from fastapi import FastAPI
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from playbook.repository import OwedSignal
from playbook.scoring_client import GrpcScoring, Placed, ScoringUnavailable
from relint.contracts.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from relint.contracts.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from relint.db import migrate
from relint_devstack.launcher import free_port
from scoring.main import MIGRATIONS, create_app
from scoring.repository import ScoringRepository
from scoring.settings import ScoringSettings
from tests.scoring.risk_support import RANKED_NOW, RANKED_THEN, alert_row, risks_that_moved


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
    # The risk along it: none before the first interaction, then as an as-of read says.
    assert not timeline.points[0].HasField("risk")
    for point in timeline.points[1:]:
        [then] = (
            await stub.BatchGetRelationships(
                scoring_pb2.BatchGetRelationshipsRequest(
                    tenant_id="t1", customer_ids=["c1"], as_of=point.at
                ),
                timeout=5,
            )
        ).relationships
        assert point.risk == pytest.approx(then.risk, abs=1e-9)
    assert 0 < timeline.points[1].risk < timeline.points[-1].risk <= 1  # the complaint
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
    # A period ending before anything was recorded (a 500 from the calendar's edge through
    # REST before; found by schemathesis): refused by name, in both RPCs.
    dawn = Timestamp()
    dawn.FromDatetime(datetime(1, 1, 1, 1, 10, tzinfo=UTC))
    for call, request in (
        (stub.GetRelationshipTimeline, scoring_pb2.GetRelationshipTimelineRequest),
        (stub.ExplainRelationship, scoring_pb2.ExplainRelationshipRequest),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as early:
            await call(request(tenant_id="t1", customer_id="c1", end=dawn), timeout=5)
        assert early.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert early.value.details() == (
            "end must be 1970-01-01 or later: nothing is recorded before"
        )
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


@pytest.fixture
async def served(
    database_url_factory: Callable[[str], str],
) -> AsyncIterator[tuple[FastAPI, grpc.aio.Channel]]:
    """Scoring on SQLite and on PostgreSQL, and a channel to it."""
    url = database_url_factory("scoring")
    await asyncio.to_thread(migrate, MIGRATIONS, url)
    app: FastAPI = create_app(ScoringSettings(database_url=url, grpc_port=0))
    async with (
        app.router.lifespan_context(app),
        grpc.aio.insecure_channel(f"127.0.0.1:{app.state.grpc_port}") as opened,
    ):
        yield app, opened


@pytest.fixture
def any_channel(served: tuple[FastAPI, grpc.aio.Channel]) -> grpc.aio.Channel:
    return served[1]


def _purchase(n: int, tenant: str, customer: str, amount: str) -> ingest_pb2.Interaction:
    item = interaction(n)
    item.id, item.tenant_id, item.customer_id = f"{tenant}-{n}", tenant, customer
    item.amount, item.amount_type, item.currency = amount, ingest_pb2.AMOUNT_TYPE_REVENUE, "EUR"
    return item


async def test_relationships_listed_by_revenue_a_page_at_a_time_within_the_tenant(
    any_channel: grpc.aio.Channel,
) -> None:
    subscriber = ingest_pb2_grpc.InteractionSubscriberServiceStub(any_channel)
    amounts = {"c1": "100", "c2": "900", "c3": "500", "c4": "500", "c5": "50"}
    items = [_purchase(n, "t1", c, a) for n, (c, a) in enumerate(amounts.items())]
    items.append(_purchase(9, "t1", "c2", "100"))  # c2: 1,000 in all
    items.append(_purchase(10, "t2", "x9", "99999"))  # another tenant's
    await subscriber.DeliverInteractions(
        ingest_pb2.DeliverInteractionsRequest(interactions=items), timeout=5
    )
    stub = scoring_pb2_grpc.RelationshipServiceStub(any_channel)

    async def listing(**fields: Any) -> scoring_pb2.ListRelationshipsResponse:
        request = scoring_pb2.ListRelationshipsRequest(tenant_id="t1", **fields)
        return await stub.ListRelationships(request, timeout=5)

    walked: list[tuple[str, float]] = []
    token = ""
    while True:
        page = await listing(order_by="revenue", page_size=2, page_token=token)
        walked += [(r.customer_id, r.revenue) for r in page.relationships]
        token = page.next_page_token
        if not token:
            break
    # Ties (c3, c4) in customer order; nothing of t2's.
    assert walked == [("c2", 1000), ("c3", 500), ("c4", 500), ("c1", 100), ("c5", 50)]
    rising = await listing(order_by="revenue", ascending=True, page_size=3)
    assert [r.customer_id for r in rising.relationships] == ["c5", "c1", "c3"]
    after = await listing(
        order_by="revenue", ascending=True, page_size=5, page_token=rising.cursors[1]
    )
    assert [r.customer_id for r in after.relationships] == ["c3", "c4", "c2"]
    searched = await listing(order_by="revenue", page_size=5, customer_ids=["c1", "c4", "x9"])
    assert [r.customer_id for r in searched.relationships] == ["c4", "c1"]
    risky = await listing(page_size=5, min_risk=0.999)
    assert list(risky.relationships) == []

    for fields, message in [
        ({"page_size": 0}, "page_size: 1 to 100"),
        ({"page_size": 5, "order_by": "name"}, "order_by: one of revenue, risk, value"),
        ({"page_size": 5, "stages": ["dating"]}, "stages: not Knapp stages: dating"),
        ({"page_size": 5, "min_risk": 2.0}, "min_risk: 0 to 1"),
        ({"page_size": 5, "page_token": "bm9wZQ"}, "malformed page_token"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await listing(**fields)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert refused.value.details() == message


async def test_the_relationship_feed_walks_every_change_once(
    any_channel: grpc.aio.Channel,
) -> None:
    subscriber = ingest_pb2_grpc.InteractionSubscriberServiceStub(any_channel)
    start = Timestamp()
    start.GetCurrentTime()
    for batch in range(3):  # three moments of change, two tenants
        items = [_purchase(batch * 10 + k, f"t{k % 2}", f"c{k}", "10") for k in range(4)]
        await subscriber.DeliverInteractions(
            ingest_pb2.DeliverInteractionsRequest(interactions=items), timeout=5
        )
    stub = scoring_pb2_grpc.RelationshipServiceStub(any_channel)
    seen: list[tuple[str, str, int]] = []
    request = scoring_pb2.ListRelationshipFeedRequest(since=start, limit=3)
    while True:
        page = (await stub.ListRelationshipFeed(request, timeout=5)).relationships
        seen += [(r.tenant_id, r.customer_id, r.interaction_count) for r in page]
        if len(page) < 3:
            break
        request = scoring_pb2.ListRelationshipFeedRequest(
            since=page[-1].updated_at,
            limit=3,
            after_tenant_id=page[-1].tenant_id,
            after_customer_id=page[-1].customer_id,
        )
    # Each relationship once, as it stands now (three purchases each).
    assert sorted(seen) == [("t0", "c0", 3), ("t0", "c2", 3), ("t1", "c1", 3), ("t1", "c3", 3)]


async def test_the_standing_feed_has_each_new_type_and_stage_once_and_nothing_else(
    served: tuple[FastAPI, grpc.aio.Channel],
) -> None:
    """`ListRelationshipFeed` with `standing_only`, read through the playbook's client
    (`GrpcScoring.standing_feed`): each customer whose stage or type scoring changed, once,
    page by page, standing as `BatchGetRelationships` has it; a purchase that changes
    neither is in the plain feed only."""
    app, channel = served
    scoring = app.state.scoring
    subscriber = ingest_pb2_grpc.InteractionSubscriberServiceStub(channel)
    client = GrpcScoring(channel)

    async def walk(since: datetime) -> list[Placed]:
        seen: list[Placed] = []
        after = ("", "")
        for _ in range(5):  # two a page; a page not full ends it
            page = await client.standing_feed(since, 2, after)
            seen += page
            if len(page) < 2:
                break
            since, after = page[-1].changed_at, (page[-1].tenant_id, page[-1].customer_id)
        return seen

    start = datetime.now(UTC) - timedelta(seconds=1)
    items = [_purchase(k, f"t{k % 2}", f"c{k}", "10") for k in range(5)]
    await subscriber.DeliverInteractions(
        ingest_pb2.DeliverInteractionsRequest(interactions=items), timeout=5
    )
    # As its worker does (or did already), and two passes at once, as two replicas might:
    # each customer enters a stage, and the pass that stores it second changes nothing.
    await asyncio.gather(scoring.evaluate_stages(), scoring.evaluate_stages())
    staged = await walk(start)
    assert sorted((p.tenant_id, p.customer_id) for p in staged) == [  # each once
        ("t0", "c0"),
        ("t0", "c2"),
        ("t0", "c4"),
        ("t1", "c1"),
        ("t1", "c3"),
    ]
    assert all(p.standing.stage and p.standing.stage_since for p in staged)

    later = max(p.changed_at for p in staged)
    again = _purchase(9, "t0", "c0", "10")
    again.occurred_at.FromSeconds(1_760_000_000 + 3600)
    await subscriber.DeliverInteractions(
        ingest_pb2.DeliverInteractionsRequest(interactions=[again]), timeout=5
    )
    await scoring.evaluate_stages()
    stub = scoring_pb2_grpc.RelationshipServiceStub(channel)
    plain = scoring_pb2.ListRelationshipFeedRequest(limit=10)
    plain.since.FromDatetime(later)
    changed = (await stub.ListRelationshipFeed(plain, timeout=5)).relationships
    assert [
        (r.tenant_id, r.customer_id) for r in changed if r.updated_at.ToDatetime(UTC) > later
    ] == [("t0", "c0")]
    assert [p for p in await walk(later) if p.changed_at > later] == []  # same stage

    typed_from = datetime.now(UTC)
    assert await scoring.classify("t0") == 3  # each placed in a type
    typed = await walk(typed_from)
    assert sorted(p.customer_id for p in typed) == ["c0", "c2", "c4"]
    outlooks = await client.outlooks("t0", ["c0", "c2", "c4"])
    assert {p.customer_id: p.standing for p in typed} == {
        c: o.standing for c, o in outlooks.items()
    }
    assert all(p.standing.relationship_type for p in typed)


async def test_the_playbooks_client_says_scoring_is_unavailable_when_nothing_answers() -> None:
    """Every call of `GrpcScoring` turns a failed RPC into ScoringUnavailable, which the
    playbook's worker waits out with what it knew."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}") as nowhere:
        client = GrpcScoring(nowhere)
        since = datetime.now(UTC)
        calls = [
            client.outlooks("t1", ["c1"]),
            client.signal([OwedSignal("v1", "t1", "c1", since, "late", "ana")]),
            client.alert_feed(since, 10),
            client.standing_feed(since, 10),
        ]
        for call in calls:
            with pytest.raises(ScoringUnavailable, match="scoring: UNAVAILABLE"):
                await call


async def test_relationship_types_are_replaced_whole_or_refused_with_every_problem(
    any_channel: grpc.aio.Channel,
) -> None:
    stub = scoring_pb2_grpc.RelationshipServiceStub(any_channel)
    get = scoring_pb2.GetRelationshipTypesRequest(tenant_id="t1")
    defaults = await stub.GetRelationshipTypes(get, timeout=5)
    assert [t.name for t in defaults.types] == [
        "Partner",
        "BFF",
        "Fair-Weather Friend",
        "Acquaintance",
    ]
    assert "advocacy" in defaults.features

    def rule(name: str, *conditions: tuple[str, str, float]) -> scoring_pb2.RelationshipTypeRule:
        return scoring_pb2.RelationshipTypeRule(
            name=name,
            conditions=[
                scoring_pb2.TypeCondition(feature=f, op=o, value=v) for f, o, v in conditions
            ],
        )

    refused = await stub.SetRelationshipTypes(
        scoring_pb2.SetRelationshipTypesRequest(
            tenant_id="t1",
            types=[
                rule("Whale", ("revenue", "at_least_percentile", 140)),
                rule("Fan", ("charm", "at_least", 1)),
                rule("Everyone else", ("revenue", "below", 5)),
            ],
        ),
        timeout=5,
    )
    assert [(p.path, p.reason) for p in refused.problems] == [
        ("types[0].when[0].at_least_percentile", "a percentile from 0 to 100"),
        (
            "types[1].when[0].feature",
            "one of engagement, revenue, cost_to_serve, profit, advocacy",
        ),
        ("types", "the last type must have no conditions (it takes everyone else)"),
    ]
    assert list(refused.types) == []
    unchanged = await stub.GetRelationshipTypes(get, timeout=5)
    assert unchanged.types == defaults.types
    # A double carries NaN; a description the NUL the stores refuse; names are compared
    # trimmed. Each is named, and nothing is stored.
    unstorable = rule("Whale ", ("revenue", "at_least", math.nan))
    unstorable.description = "big\x00spender"
    refused = await stub.SetRelationshipTypes(
        scoring_pb2.SetRelationshipTypesRequest(
            tenant_id="t1", types=[rule("Whale"), unstorable, rule("Everyone else")]
        ),
        timeout=5,
    )
    assert [(p.path, p.reason) for p in refused.problems] == [
        ("types[1].name", "'Whale' appears twice"),
        ("types[1].when[0].at_least", "a finite number"),
        ("types[1].description", "must not contain the NUL character (\\u0000)"),
    ]
    assert (await stub.GetRelationshipTypes(get, timeout=5)).types == defaults.types

    accepted = await stub.SetRelationshipTypes(
        scoring_pb2.SetRelationshipTypesRequest(
            tenant_id="t1",
            types=[rule("Whale", ("revenue", "at_least_percentile", 90)), rule("Everyone else")],
        ),
        timeout=5,
    )
    assert list(accepted.problems) == []
    assert [t.name for t in accepted.types] == ["Whale", "Everyone else"]
    now = await stub.GetRelationshipTypes(get, timeout=5)
    assert now.types == accepted.types
    # Another tenant keeps the defaults.
    other = await stub.GetRelationshipTypes(
        scoring_pb2.GetRelationshipTypesRequest(tenant_id="t2"), timeout=5
    )
    assert other.types == defaults.types


async def test_the_riskiest_and_the_alerts_as_of_a_past_moment(
    served: tuple[FastAPI, grpc.aio.Channel],
) -> None:
    """`ListAtRisk` and `ListAlerts` with `as_of`: the ranking by the risks
    `BatchGetRelationships` gives as of then, and the alerts raised by then as they stood."""
    app, channel = served
    scoring = app.state.scoring
    _, then = await risks_that_moved(scoring)
    stub = scoring_pb2_grpc.RelationshipServiceStub(channel)
    as_of = Timestamp()
    as_of.FromDatetime(then)
    ranked_then = (
        await stub.ListAtRisk(
            scoring_pb2.ListAtRiskRequest(tenant_id="t1", limit=10, as_of=as_of), timeout=10
        )
    ).relationships
    read_then = (
        await stub.BatchGetRelationships(
            scoring_pb2.BatchGetRelationshipsRequest(
                tenant_id="t1", customer_ids=["a", "b", "c", "d", "e"], as_of=as_of
            ),
            timeout=5,
        )
    ).relationships
    assert list(ranked_then) == sorted(read_then, key=lambda r: (-r.risk, r.customer_id))
    assert [r.customer_id for r in ranked_then] == RANKED_THEN
    ranked_now = (
        await stub.ListAtRisk(scoring_pb2.ListAtRiskRequest(tenant_id="t1", limit=10), timeout=5)
    ).relationships
    assert [r.customer_id for r in ranked_now] == RANKED_NOW

    raised = datetime(2026, 3, 1, tzinfo=UTC)
    async with scoring.db.transaction() as session:
        await ScoringRepository(session).raise_alerts(
            [alert_row(n, raised + timedelta(hours=n), customer="a") for n in range(2)]
        )
    assert await scoring.acknowledge("t1", "a0", "ana")  # now, long after both were raised

    async def alerts(open_only: bool, hours: float | None = None) -> list[tuple[str, bool]]:
        request = scoring_pb2.ListAlertsRequest(tenant_id="t1", open_only=open_only)
        if hours is not None:
            request.as_of.FromDatetime(raised + timedelta(hours=hours))
        found = (await stub.ListAlerts(request, timeout=5)).alerts
        return [(a.id, a.HasField("acknowledged_at")) for a in found]

    assert await alerts(open_only=True, hours=0.5) == [("a0", False)]  # open then
    assert await alerts(open_only=False, hours=1) == [("a1", False), ("a0", False)]
    assert await alerts(open_only=True) == [("a1", False)]
    assert await alerts(open_only=False) == [("a1", False), ("a0", True)]
    # A moment in no year of UTC's is refused, naming the field (it failed as UNKNOWN).
    for request, call in (
        (scoring_pb2.ListAtRiskRequest(tenant_id="t1"), stub.ListAtRisk),
        (scoring_pb2.ListAlertsRequest(tenant_id="t1"), stub.ListAlerts),
        (scoring_pb2.BatchGetRelationshipsRequest(tenant_id="t1"), stub.BatchGetRelationships),
    ):
        request.as_of.seconds = 253_402_300_800  # 10000-01-01
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(request, timeout=5)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (refused.value.details() or "").startswith("as_of:")
