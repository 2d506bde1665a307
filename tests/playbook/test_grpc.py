"""Playbook's gRPC server, in process on a free port, through real channels."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from fastapi import FastAPI
from grpc_health.v1 import health_pb2, health_pb2_grpc

from playbook.domain import DEFAULT_PLAYBOOK
from playbook.repository import PlaybookRepository
from playbook.service import PlaybookService
from relint.contracts.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from relint.contracts.playbook.v1 import playbook_pb2, playbook_pb2_grpc
from tests.playbook_app import served_playbook


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    async with served_playbook(tmp_path) as application:
        yield application


@pytest.fixture
async def stub(app: FastAPI) -> AsyncIterator[playbook_pb2_grpc.PlaybookServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.state.grpc_port}") as channel:
        yield playbook_pb2_grpc.PlaybookServiceStub(channel)


async def test_active_playbooks_of_many_tenants_in_one_call(
    app: FastAPI, stub: playbook_pb2_grpc.PlaybookServiceStub
) -> None:
    service: PlaybookService = app.state.playbook
    published = (await service.publish("t1", DEFAULT_PLAYBOOK)).playbook
    reply = await stub.BatchGetActivePlaybooks(
        playbook_pb2.BatchGetActivePlaybooksRequest(tenant_ids=["t1", "t2"]), timeout=5
    )
    mine, theirs = reply.playbooks
    assert (mine.tenant_id, mine.id, mine.version) == ("t1", published.id, 1)
    assert mine.HasField("created_at")
    assert (theirs.tenant_id, theirs.version, theirs.HasField("created_at")) == ("t2", 0, False)
    assert theirs.name == DEFAULT_PLAYBOOK.name
    first = theirs.standards[1]
    assert (first.key, first.team, first.rule) == ("first-response", "service", "respond_within")
    assert list(first.relationship_types) == ["bff", "partner"]
    assert first.description == DEFAULT_PLAYBOOK.standards[1].description
    assert [s.rule for s in theirs.standards] == [s.rule.kind for s in DEFAULT_PLAYBOOK.standards]


@pytest.mark.parametrize(
    ("tenant_ids", "reason"),
    [([], "required"), ([f"t{n}" for n in range(1001)], "at most 1000"), (["t1", ""], "[1]")],
)
async def test_malformed_requests_are_refused(
    stub: playbook_pb2_grpc.PlaybookServiceStub, tenant_ids: list[str], reason: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.BatchGetActivePlaybooks(
            playbook_pb2.BatchGetActivePlaybooksRequest(tenant_ids=tenant_ids), timeout=5
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason in (refused.value.details() or "")


async def test_earlier_versions_are_read_by_number_or_newest_first_per_tenant(
    app: FastAPI, stub: playbook_pb2_grpc.PlaybookServiceStub
) -> None:
    service: PlaybookService = app.state.playbook
    for name in ("spring", "summer", "autumn"):
        await service.publish("t1", replace(DEFAULT_PLAYBOOK, name=name))
    await service.publish("t2", replace(DEFAULT_PLAYBOOK, name="theirs"))

    async def listed(**asked: Any) -> list[tuple[int, str]]:
        request = playbook_pb2.ListPlaybookVersionsRequest(tenant_id="t1", **asked)
        reply = await stub.ListPlaybookVersions(request, timeout=5)
        assert all(p.tenant_id == "t1" for p in reply.playbooks)
        return [(p.version, p.name) for p in reply.playbooks]

    default = (0, DEFAULT_PLAYBOOK.name)
    assert await listed() == [default, (1, "spring"), (2, "summer"), (3, "autumn")]
    assert await listed(newest=2) == [(2, "summer"), (3, "autumn")]
    assert await listed(newest=4) == [default, (1, "spring"), (2, "summer"), (3, "autumn")]
    assert await listed(versions=[3, 0, 7]) == [default, (3, "autumn")]
    assert await listed(versions=[4]) == []  # t2's only version is its 1
    [summer] = (
        await stub.ListPlaybookVersions(
            playbook_pb2.ListPlaybookVersionsRequest(tenant_id="t1", versions=[2]), timeout=5
        )
    ).playbooks
    assert summer.HasField("created_at")
    assert len(summer.standards) == len(DEFAULT_PLAYBOOK.standards)
    assert "\nname: summer\n" in summer.yaml

    for refused, reason in (
        (playbook_pb2.ListPlaybookVersionsRequest(), "tenant_id is required"),
        (playbook_pb2.ListPlaybookVersionsRequest(tenant_id="t1", newest=101), "1..100"),
        (playbook_pb2.ListPlaybookVersionsRequest(tenant_id="t1", versions=[-1]), "start at 0"),
        (
            playbook_pb2.ListPlaybookVersionsRequest(tenant_id="t1", versions=range(101)),
            "at most 100",
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.ListPlaybookVersions(refused, timeout=5)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert reason in (error.value.details() or "")


async def test_health_is_serving_for_the_service(app: FastAPI) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.state.grpc_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", "playbook.v1.PlaybookService"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, name


async def test_delivered_interactions_become_obligations_violations_and_actions(
    app: FastAPI, stub: playbook_pb2_grpc.PlaybookServiceStub
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)

    def interaction(
        id_: str, at: datetime, customer: str, kind: str = "complaint"
    ) -> ingest_pb2.Interaction:
        message = ingest_pb2.Interaction(
            id=id_,
            tenant_id="t1",
            customer_id=customer,
            channel="service",
            kind=kind,
            direction=ingest_pb2.DIRECTION_INBOUND
            if kind == "complaint"
            else ingest_pb2.DIRECTION_OUTBOUND,
            source_id=f"T-{id_}",
        )
        message.occurred_at.FromDatetime(at)
        return message

    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.state.grpc_port}") as channel:
        subscriber = ingest_pb2_grpc.InteractionSubscriberServiceStub(channel)
        batch = [
            interaction("a", now - timedelta(hours=1), "c1"),
            interaction("b", now - timedelta(days=5), "c2"),
            # Resolved: c2's a day and a half late, and an earlier one of c1's 2 hours ago.
            interaction("rb", now - timedelta(days=5, hours=-36), "c2", "complaint_resolved"),
            interaction("ra", now - timedelta(hours=2), "c1", "complaint_resolved"),
        ]
        reply = await subscriber.DeliverInteractions(
            ingest_pb2.DeliverInteractionsRequest(interactions=batch), timeout=5
        )
        assert (reply.applied, reply.duplicates) == (4, 0)
        again = await subscriber.DeliverInteractions(
            ingest_pb2.DeliverInteractionsRequest(interactions=batch[:1]), timeout=5
        )
        assert (again.applied, again.duplicates) == (0, 1)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await subscriber.DeliverInteractions(
                ingest_pb2.DeliverInteractionsRequest(
                    interactions=[ingest_pb2.Interaction(id="x", tenant_id="t1")]
                ),
                timeout=5,
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "interactions[0] needs id, tenant_id, customer_id" in str(refused.value.details())
    service: PlaybookService = app.state.playbook
    await service.judge_due()
    found = await stub.BatchGetCustomerPlaybooks(
        playbook_pb2.BatchGetCustomerPlaybooksRequest(
            tenant_id="t1", customer_ids=["c2", "c1", "c9"], actions_limit=3
        ),
        timeout=5,
    )
    assert [c.customer_id for c in found.customers] == ["c2", "c1", "c9"]
    late, fresh, unknown = found.customers
    assert sorted(v.standard_key for v in late.violations) == [
        "answer-complaints",
        "complaint-check-in",
    ]
    assert {v.standard_key: list(v.interaction_ids) for v in late.violations} == {
        "answer-complaints": ["b", "rb"],  # answered late, by the resolution
        "complaint-check-in": ["rb"],
    }
    assert sorted(o.standard_key for o in fresh.obligations) == [
        "answer-complaints",
        "complaint-check-in",
    ]
    assert fresh.next_best_actions[0].title == "First response to service complaint #T-a"
    assert len(unknown.obligations) == len(unknown.violations) == 0
    work = await stub.ListWorklist(
        playbook_pb2.ListWorklistRequest(tenant_id="t1", team="company"), timeout=5
    )
    assert [(a.customer_id, a.standard_key) for a in work.actions] == [("c1", "answer-complaints")]
    other = await stub.ListWorklist(playbook_pb2.ListWorklistRequest(tenant_id="t2"), timeout=5)
    assert list(other.actions) == []
    for bad, reason in (
        (playbook_pb2.BatchGetCustomerPlaybooksRequest(customer_ids=["c1"]), "tenant_id"),
        (
            playbook_pb2.BatchGetCustomerPlaybooksRequest(
                tenant_id="t1", customer_ids=["c1"], actions_limit=51
            ),
            "actions_limit must be 1..50",
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.BatchGetCustomerPlaybooks(bad, timeout=5)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert reason in str(error.value.details())
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.ListWorklist(playbook_pb2.ListWorklistRequest(tenant_id="t1", limit=501))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    # c2's two misses were published as alerts: listed, newest first, and acknowledged.
    listed = await stub.ListAlerts(
        playbook_pb2.ListAlertsRequest(tenant_id="t1", customer_ids=["c2", "c1"]), timeout=5
    )
    assert sorted(a.kind for a in listed.alerts) == ["violation", "violation"]
    assert {a.customer_id for a in listed.alerts} == {"c2"}
    first = listed.alerts[0]
    assert first.HasField("raised_at")
    assert not first.HasField("acknowledged_at")
    ack = playbook_pb2.AcknowledgeAlertRequest(
        tenant_id="t1", alert_id=first.id, acknowledged_by="ops"
    )
    assert (await stub.AcknowledgeAlert(ack, timeout=5)).acknowledged
    assert not (await stub.AcknowledgeAlert(ack, timeout=5)).acknowledged
    still_open = await stub.ListAlerts(
        playbook_pb2.ListAlertsRequest(tenant_id="t1", open_only=True, limit=10), timeout=5
    )
    assert [a.id for a in still_open.alerts] == [listed.alerts[1].id]
    # The feed: every tenant's playbook alerts in the order raised, page by page.
    since = playbook_pb2.ListAlertFeedRequest(limit=1)
    since.since.FromDatetime(now - timedelta(minutes=5))
    page = await stub.ListAlertFeed(since, timeout=5)
    ordered = sorted(listed.alerts, key=lambda a: (a.raised_at.ToDatetime(), a.id))
    assert [a.id for a in page.alerts] == [ordered[0].id]
    since.since.CopyFrom(page.alerts[0].raised_at)
    since.after_id = page.alerts[0].id
    following = await stub.ListAlertFeed(since, timeout=5)
    assert [a.id for a in following.alerts] == [ordered[1].id]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.ListAlertFeed(playbook_pb2.ListAlertFeedRequest(), timeout=5)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    theirs = await stub.ListAlerts(playbook_pb2.ListAlertsRequest(tenant_id="t2"), timeout=5)
    assert list(theirs.alerts) == []
    for refused_request in (
        playbook_pb2.ListAlertsRequest(customer_ids=["c1"]),
        playbook_pb2.ListAlertsRequest(tenant_id="t1", limit=1001),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.ListAlerts(refused_request, timeout=5)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_alerts_as_of_a_moment_over_grpc(
    app: FastAPI, stub: playbook_pb2_grpc.PlaybookServiceStub
) -> None:
    """`as_of`: the playbook's alerts raised by then, each as it stood (one acknowledged
    later was open, and `open_only` keeps it); a moment beyond the years 1 to 9999 is
    refused."""
    service: PlaybookService = app.state.playbook
    day = datetime(2026, 3, 2, tzinfo=UTC)
    async with service.db.transaction() as session:
        await PlaybookRepository(session).add_events(
            [
                {
                    "id": id_,
                    "tenant_id": "t1",
                    "customer_id": "c1",
                    "kind": kind,
                    "severity": "warning",
                    "reason": kind,
                    "occurred_at": day + timedelta(hours=hour),
                    "source": "scoring" if kind == "at_risk" else "playbook",
                }
                for id_, kind, hour in (
                    ("s9", "at_risk", 9),  # scoring's: read from scoring, not listed here
                    ("v10", "violation", 10),
                    ("v11", "deadline_approaching", 11),
                    ("v13", "violation", 13),
                )
            ]
        )
    assert await service.acknowledge("t1", "v10", "ana", now=day + timedelta(hours=12))
    assert await service.acknowledge("t1", "v11", "bo", now=day + timedelta(hours=11, minutes=5))

    async def listed(as_of: datetime | None, open_only: bool = False) -> list[tuple[str, str]]:
        request = playbook_pb2.ListAlertsRequest(
            tenant_id="t1", customer_ids=["c1"], open_only=open_only
        )
        if as_of is not None:
            request.as_of.FromDatetime(as_of)
        found = (await stub.ListAlerts(request, timeout=5)).alerts
        assert all(a.HasField("acknowledged_at") == bool(a.acknowledged_by) for a in found)
        return [(a.id, a.acknowledged_by) for a in found]

    then = day + timedelta(hours=11, minutes=30)
    assert await listed(then) == [("v11", "bo"), ("v10", "")]
    assert await listed(then, open_only=True) == [("v10", "")]
    assert await listed(day + timedelta(hours=12), open_only=True) == []
    assert await listed(None) == [("v13", ""), ("v11", "bo"), ("v10", "ana")]
    assert await listed(None, open_only=True) == [("v13", "")]
    beyond = playbook_pb2.ListAlertsRequest(tenant_id="t1")
    beyond.as_of.seconds = 253_402_300_800  # 10000-01-01
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.ListAlerts(beyond, timeout=5)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (refused.value.details() or "").startswith("as_of:")


async def test_publishing_yaml_over_grpc_answers_problems_or_the_new_version(
    stub: playbook_pb2_grpc.PlaybookServiceStub,
) -> None:
    from playbook.yaml_io import dump_draft

    text = dump_draft(DEFAULT_PLAYBOOK)
    done = await stub.PublishPlaybook(
        playbook_pb2.PublishPlaybookRequest(tenant_id="t1", yaml=text), timeout=5
    )
    assert (done.playbook.version, list(done.problems)) == (1, [])
    assert done.playbook.yaml == text
    broken = text.replace("within_hours: 4\n", "within_hours: 0\n")
    refused = await stub.PublishPlaybook(
        playbook_pb2.PublishPlaybookRequest(tenant_id="t1", yaml=broken), timeout=5
    )
    assert not refused.HasField("playbook")
    [problem] = refused.problems
    assert problem.path == "standards[1].rule.within_hours"
    assert problem.reason.endswith("must be positive")
    active = await stub.BatchGetActivePlaybooks(
        playbook_pb2.BatchGetActivePlaybooksRequest(tenant_ids=["t1"]), timeout=5
    )
    assert active.playbooks[0].version == 1


async def test_a_caller_can_hand_over_scorings_view_of_the_customers(
    stub: playbook_pb2_grpc.PlaybookServiceStub, caplog: pytest.LogCaptureFixture
) -> None:
    """The gateway passes the relationships it fetched: the standards and actions follow
    that view and scoring is not asked (this server's scoring address answers nothing,
    which it logs), and a view of a customer not asked about is refused."""
    partner = playbook_pb2.CustomerOutlook(
        customer_id="c1",
        relationship_type="Partner",
        stage="avoiding",
        value=40.0,
        risk=0.8,
        risk_reasons=["silent for 60 days"],
        potential=1200.0,
        potential_reason="looks like our Partners",
    )
    partner.stage_since.FromDatetime(datetime(2026, 1, 1, tzinfo=UTC))
    given = await stub.BatchGetCustomerPlaybooks(
        playbook_pb2.BatchGetCustomerPlaybooksRequest(
            tenant_id="t1", customer_ids=["c1", "c2"], outlooks=[partner], outlooks_given=True
        ),
        timeout=5,
    )
    assert "without scoring's view" not in caplog.text
    bare = await stub.BatchGetCustomerPlaybooks(
        playbook_pb2.BatchGetCustomerPlaybooksRequest(tenant_id="t1", customer_ids=["c1"]),
        timeout=5,
    )
    assert "actions without scoring's view: scoring: UNAVAILABLE" in caplog.text
    as_partner, unseen = given.customers
    assert "partner-business-review" in as_partner.applicable_standard_keys
    assert "partner-business-review" not in unseen.applicable_standard_keys
    assert "partner-business-review" not in bare.customers[0].applicable_standard_keys
    assert [(a.kind, a.reason) for a in as_partner.next_best_actions] == [
        ("save", "risk of loss 80%: silent for 60 days"),
        ("repair", "it is coming apart: stage avoiding"),
        ("grow", "looks like our Partners"),
    ]
    assert list(unseen.next_best_actions) == []
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.BatchGetCustomerPlaybooks(
            playbook_pb2.BatchGetCustomerPlaybooksRequest(
                tenant_id="t1", customer_ids=["c2"], outlooks=[partner], outlooks_given=True
            ),
            timeout=5,
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == "outlooks: customer c1 is not among customer_ids"
