"""The gateway's real gRPC clients against in-process servers that answer as scoring and the
playbook would: both services' alerts read as one list, and acknowledged where raised."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.backends import Backends, UpstreamError
from gateway.context import MAX_NAMED_CUSTOMERS, GatewayContext
from gateway.entity_cache import EntityCache
from gateway.loaders import Loaders
from gateway.schema import build_schema
from relint.auth import SCOPE_GRAPH_READ, SCOPE_GRAPH_WRITE, Principal
from relint.contracts.playbook.v1 import playbook_pb2, playbook_pb2_grpc
from relint.contracts.scoring.v1 import scoring_pb2, scoring_pb2_grpc

TENANT = "t1"


def _at(seconds: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromSeconds(seconds)
    return stamp


Message = TypeVar("Message", scoring_pb2.Alert, playbook_pb2.Alert)


def _alerts(
    message: type[Message], prefix: str, kind: str, first: int, count: int
) -> list[Message]:
    """`count` alerts of c1, ten seconds apart from `first`."""
    return [
        message(
            id=f"{prefix}{n}",
            tenant_id=TENANT,
            customer_id="c1",
            kind=kind,
            severity="warning",
            reason=kind,
            raised_at=_at(first + 10 * n),
        )
        for n in range(count)
    ]


def _listed(
    alerts: list[Message], customer_ids: Any, open_only: bool, limit: int, as_of: int | None = None
) -> list[Message]:
    """As both services list: the customers' (all when none named), open ones only if
    asked, newest first, at most `limit`; as of a moment (in seconds), those raised by then,
    each as it stood (open if not acknowledged by then)."""
    found = [a for a in alerts if not customer_ids or a.customer_id in customer_ids]
    if as_of is not None:
        found = [a for a in found if a.raised_at.seconds <= as_of]
        for n, alert in enumerate(found):
            if alert.HasField("acknowledged_at") and alert.acknowledged_at.seconds > as_of:
                found[n] = type(alert)()
                found[n].CopyFrom(alert)
                found[n].ClearField("acknowledged_at")
                found[n].ClearField("acknowledged_by")
    found = [a for a in found if not (open_only and a.HasField("acknowledged_at"))]
    return sorted(found, key=lambda a: a.raised_at.seconds, reverse=True)[:limit]


def _acknowledged(alerts: list[Message], alert_id: str, who: str) -> bool:
    for alert in alerts:
        if alert.id == alert_id and not alert.HasField("acknowledged_at"):
            alert.acknowledged_at.CopyFrom(_at(5_000))
            alert.acknowledged_by = who
            return True
    return False


class Scoring(scoring_pb2_grpc.RelationshipServiceServicer):
    def __init__(self) -> None:
        self.down = False
        self.alerts = _alerts(scoring_pb2.Alert, "s", "at_risk", 1_000, 3)
        self.asked: list[Any] = []

    async def ListAlerts(
        self, request: scoring_pb2.ListAlertsRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.ListAlertsResponse:
        if self.down:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "down")
        assert request.tenant_id == TENANT
        self.asked.append(request)
        as_of = request.as_of.seconds if request.HasField("as_of") else None
        found = _listed(self.alerts, request.customer_ids, request.open_only, request.limit, as_of)
        return scoring_pb2.ListAlertsResponse(alerts=found)

    async def ListAtRisk(
        self, request: scoring_pb2.ListAtRiskRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.ListAtRiskResponse:
        self.asked.append(request)
        return scoring_pb2.ListAtRiskResponse(
            relationships=[
                scoring_pb2.Relationship(customer_id="c1", risk=0.7, as_of=request.as_of)
            ]
        )

    async def AcknowledgeAlert(
        self, request: scoring_pb2.AcknowledgeAlertRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.AcknowledgeAlertResponse:
        done = _acknowledged(self.alerts, request.alert_id, request.acknowledged_by)
        return scoring_pb2.AcknowledgeAlertResponse(acknowledged=done)


class Playbook(playbook_pb2_grpc.PlaybookServiceServicer):
    def __init__(self) -> None:
        self.down = False
        self.alerts = _alerts(playbook_pb2.Alert, "p", "violation", 1_005, 2)
        self.asked: list[playbook_pb2.ListAlertsRequest] = []

    async def ListAlerts(
        self, request: playbook_pb2.ListAlertsRequest, context: grpc.aio.ServicerContext
    ) -> playbook_pb2.ListAlertsResponse:
        if self.down:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "down")
        assert request.tenant_id == TENANT
        self.asked.append(request)
        as_of = request.as_of.seconds if request.HasField("as_of") else None
        found = _listed(self.alerts, request.customer_ids, request.open_only, request.limit, as_of)
        return playbook_pb2.ListAlertsResponse(alerts=found)

    async def AcknowledgeAlert(
        self, request: playbook_pb2.AcknowledgeAlertRequest, context: grpc.aio.ServicerContext
    ) -> playbook_pb2.AcknowledgeAlertResponse:
        done = _acknowledged(self.alerts, request.alert_id, request.acknowledged_by)
        return playbook_pb2.AcknowledgeAlertResponse(acknowledged=done)


@pytest.fixture
async def services() -> AsyncIterator[tuple[Scoring, Playbook, Backends]]:
    scoring, playbook = Scoring(), Playbook()
    server = grpc.aio.server()
    scoring_pb2_grpc.add_RelationshipServiceServicer_to_server(scoring, server)
    playbook_pb2_grpc.add_PlaybookServiceServicer_to_server(playbook, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    address = f"127.0.0.1:{port}"
    backends = Backends(address, address, address)
    try:
        yield scoring, playbook, backends
    finally:
        await backends.close()
        await server.stop(None)


async def test_both_services_alerts_read_as_one_list_newest_first(
    services: tuple[Scoring, Playbook, Backends],
) -> None:
    scoring, playbook, backends = services
    found, missing = await backends.alerts(TENANT, ["c1"], False, 4)
    # s2 (1020), p1 (1015), s1 (1010), p0 (1005); s0 (1000) is past the limit.
    assert [a.id for a in found] == ["s2", "p1", "s1", "p0"]
    assert missing is None
    playbook.down = True  # scoring's alerts stand, and the playbook's error says what is missing
    found, missing = await backends.alerts(TENANT, ["c1"], False, 4)
    assert [a.id for a in found] == ["s2", "s1", "s0"]
    assert missing is not None
    assert missing.extensions is not None
    assert missing.extensions["service"] == "playbook"
    scoring.down = True  # neither answers: no alerts to show
    with pytest.raises(UpstreamError) as failed:
        await backends.alerts(TENANT, ["c1"], False, 4)
    assert failed.value.extensions is not None
    assert failed.value.extensions["service"] == "scoring"


ALERTS = "{ alerts(openOnly: true, limit: 10) { id kind source acknowledgedAt } }"
ACK = """mutation ($id: ID!) { acknowledgeAlert(alertId: $id) { __typename } }"""


async def test_the_graph_shows_and_acknowledges_each_alert_where_it_was_raised(
    services: tuple[Scoring, Playbook, Backends],
) -> None:
    scoring, playbook, backends = services
    schema = build_schema(max_depth=6, max_tokens=400, max_aliases=5, mask_errors=True)
    principal = Principal(TENANT, "console", frozenset({SCOPE_GRAPH_READ, SCOPE_GRAPH_WRITE}))

    async def run(query: str, **variables: str) -> dict[str, object]:
        result = await schema.execute(
            query,
            variable_values=variables,
            context_value=GatewayContext(backends=backends, principal=principal),
        )
        assert result.errors is None, result.errors
        assert result.data is not None
        return result.data

    shown = (await run(ALERTS))["alerts"]
    assert isinstance(shown, list)
    assert [(a["id"], a["source"]) for a in shown] == [
        ("s2", "scoring"),
        ("p1", "playbook"),
        ("s1", "scoring"),
        ("p0", "playbook"),
        ("s0", "scoring"),
    ]
    for alert_id in ("p1", "s1"):
        acked = await run(ACK, id=alert_id)
        assert acked["acknowledgeAlert"] == {"__typename": "AlertAcknowledged"}
    missing = await run(ACK, id="p1")
    assert missing["acknowledgeAlert"] == {"__typename": "NotFound"}
    assert playbook.alerts[1].acknowledged_by == "console"
    assert scoring.alerts[1].HasField("acknowledged_at")
    still_open = (await run(ALERTS))["alerts"]
    assert isinstance(still_open, list)
    assert [a["id"] for a in still_open] == ["s2", "p0", "s0"]


async def test_the_graph_answers_one_services_alerts_and_says_the_other_is_missing(
    services: tuple[Scoring, Playbook, Backends],
) -> None:
    """With the playbook down, `alerts` and `Customer.alerts` show scoring's, and the
    response's errors say the playbook's part is missing (once each); with both down, the
    field is null with its error."""
    scoring, playbook, backends = services
    schema = build_schema(max_depth=6, max_tokens=400, max_aliases=5, mask_errors=True)
    principal = Principal(TENANT, "console", frozenset({SCOPE_GRAPH_READ}))
    playbook.down = True

    result = await schema.execute(
        "{ alerts(limit: 10) { id source } again: alerts(limit: 1) { id } }",
        context_value=GatewayContext(backends=backends, principal=principal),
    )
    assert result.data == {
        "alerts": [{"id": f"s{n}", "source": "scoring"} for n in (2, 1, 0)],
        "again": [{"id": "s2"}],
    }
    assert result.errors is not None
    [error] = result.errors
    assert error.message == "playbook is unavailable: alerts leave out its part"
    assert error.extensions == {
        "code": "UPSTREAM_UNAVAILABLE",
        "service": "playbook",
        "status": "UNAVAILABLE",
        "partial": True,
    }

    # A page's customers' alerts, loaded together, tell the same.
    heard: list[tuple[str, str, list[str]]] = []
    loaders = Loaders(
        backends,
        TENANT,
        None,
        EntityCache(0),
        lambda e, what, ids: heard.append((e.message, what, list(ids))),
    )
    shown = await loaders.alerts.load(("c1", False, None))
    assert [a.id for a in shown] == ["s2", "s1", "s0"]
    assert heard == [
        ("playbook is unavailable for this part of the answer", "customers' alerts", ["c1"])
    ]
    # One error for every customer whose alerts lack the part, naming them all, once each.
    context = GatewayContext(backends=backends, principal=principal)
    down = grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata()
    )
    missing = UpstreamError("playbook", down)
    context.answered_partly(missing, "customers' alerts", ["c1", "c2"])
    context.answered_partly(missing, "customers' alerts", ["c2", "c3"])
    [said] = context.partial
    assert said.message == "playbook is unavailable: customers' alerts leave out its part"
    assert said.extensions is not None
    assert (said.extensions["customerIds"], said.extensions["partial"]) == (
        ["c1", "c2", "c3"],
        True,
    )
    context.answered_partly(missing, "customers' alerts", [f"x{n}" for n in range(200)])
    assert len(said.extensions["customerIds"]) == MAX_NAMED_CUSTOMERS
    with pytest.raises(UpstreamError):  # with nobody to tell, the part missing fails the load
        await Loaders(backends, TENANT, None, EntityCache(0)).alerts.load(("c1", False, None))

    scoring.down = True
    result = await schema.execute(
        "{ alerts { id } }", context_value=GatewayContext(backends=backends, principal=principal)
    )
    assert result.data == {"alerts": None}
    assert result.errors is not None
    assert [e.extensions["service"] for e in result.errors if e.extensions] == ["scoring"]


async def test_alerts_as_of_a_moment_are_asked_of_both_services_for_then(
    services: tuple[Scoring, Playbook, Backends],
) -> None:
    """Scoring and the playbook are both asked as of the moment, with the caller's
    `openOnly` and `limit`, and answer with the alerts raised by then as they stood: one
    acknowledged later was open. However many alerts the playbook raised since, its older
    ones are found, and the answer is whole."""
    scoring, playbook, backends = services
    schema = build_schema(max_depth=6, max_tokens=400, max_aliases=5, mask_errors=True)
    principal = Principal(TENANT, "console", frozenset({SCOPE_GRAPH_READ}))
    # s0 1000, p0 1005, s1 1010, then: 1012; p1 1015, s2 1020. p0 and s0 are acknowledged
    # at 5000, long after.
    assert await backends.acknowledge_alert(TENANT, "p0", "ana")
    assert await backends.acknowledge_alert(TENANT, "s0", "ana")
    then = datetime.fromtimestamp(1_012, UTC)

    found, missing = await backends.alerts(TENANT, ["c1"], True, 10, then)
    assert [(a.id, a.HasField("acknowledged_at"), a.acknowledged_by) for a in found] == [
        ("s1", False, ""),
        ("p0", False, ""),
        ("s0", False, ""),
    ]
    assert missing is None
    for asked in (scoring.asked[-1], playbook.asked[-1]):
        assert asked.as_of.seconds == 1_012
        assert (list(asked.customer_ids), asked.open_only, asked.limit) == (["c1"], True, 10)
    # Now, the acknowledged ones are not open, and neither service is asked for a moment.
    found, _ = await backends.alerts(TENANT, ["c1"], True, 10)
    assert [a.id for a in found] == ["s2", "p1", "s1"]
    assert not scoring.asked[-1].HasField("as_of")
    assert not playbook.asked[-1].HasField("as_of")

    # The playbook raised more alerts since than it lists at once: p0 is still found.
    playbook.alerts += _alerts(playbook_pb2.Alert, "q", "violation", 2_000, 1_000)
    result = await schema.execute(
        """{ alerts(asOf: "1970-01-01T00:16:52Z", openOnly: true, limit: 2) {
               id source acknowledgedAt }
             all: alerts(asOf: "1970-01-01T01:16:52+01:00", limit: 10) { id } }""",
        context_value=GatewayContext(backends=backends, principal=principal),
    )
    assert result.errors is None, result.errors
    assert result.data == {
        "alerts": [
            {"id": "s1", "source": "scoring", "acknowledgedAt": None},
            {"id": "p0", "source": "playbook", "acknowledgedAt": None},
        ],
        "all": [{"id": "s1"}, {"id": "p0"}, {"id": "s0"}],
    }
    assert (playbook.asked[-1].open_only, playbook.asked[-1].limit) == (False, 10)


async def test_customers_alerts_as_of_a_moment_are_asked_in_one_call_per_moment(
    services: tuple[Scoring, Playbook, Backends],
) -> None:
    """A page's customers' alerts at the same (asOf, openOnly) cost one call to each
    service, naming them all; each customer gets its own, as they stood then."""
    scoring, playbook, backends = services
    scoring.alerts.append(
        scoring_pb2.Alert(
            id="s-c2", tenant_id=TENANT, customer_id="c2", kind="at_risk", raised_at=_at(1_001)
        )
    )
    assert await backends.acknowledge_alert(TENANT, "p0", "ana")
    then = datetime.fromtimestamp(1_012, UTC)
    loaders = Loaders(backends, TENANT, None, EntityCache(0))
    c1, c2, c1_now = await asyncio.gather(
        loaders.alerts.load(("c1", True, then)),
        loaders.alerts.load(("c2", True, then)),
        loaders.alerts.load(("c1", True, None)),
    )
    assert [a.id for a in c1] == ["s1", "p0", "s0"]
    assert not c1[1].HasField("acknowledged_at")
    assert [a.id for a in c2] == ["s-c2"]
    assert [a.id for a in c1_now] == ["s2", "p1", "s1", "s0"]
    for service in (scoring, playbook):
        asked = sorted(service.asked, key=lambda r: r.HasField("as_of"))
        assert [(list(r.customer_ids), r.HasField("as_of")) for r in asked] == [
            (["c1"], False),
            (["c1", "c2"], True),
        ]
        assert asked[1].as_of.seconds == 1_012


async def test_the_riskiest_as_of_a_moment_are_asked_of_scoring_for_then(
    services: tuple[Scoring, Playbook, Backends],
) -> None:
    scoring, _, backends = services
    then = datetime(2026, 3, 1, tzinfo=UTC)
    [ranked] = await backends.at_risk(TENANT, 5, then)
    assert ranked.as_of.ToDatetime(tzinfo=UTC) == then
    assert scoring.asked[-1].as_of.ToDatetime(tzinfo=UTC) == then
    await backends.at_risk(TENANT, 5)
    assert not scoring.asked[-1].HasField("as_of")
