"""Scoring's gRPC servicers: the interaction subscriber and relationship reads."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from relint.as_of import grpc_as_of
from relint.contracts.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from relint.contracts.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from relint.grpc_server import GrpcServer
from relint.subscriber import refuse_bad_delivery
from scoring import relationship_types
from scoring.domain import InvalidPeriod, period
from scoring.messages import (
    alert_message,
    delivered,
    explanation_message,
    relationship_message,
    timeline_point,
)
from scoring.repository import RelationshipFilter
from scoring.service import InvalidSettings, ScoringService
from scoring.stages import STAGES

MAX_BATCH = 1000


class SubscriberServicer(ingest_pb2_grpc.InteractionSubscriberServiceServicer):
    def __init__(self, service: ScoringService, on_applied: Callable[[], None]) -> None:
        self.service = service
        self.on_applied = on_applied

    async def DeliverInteractions(
        self, request: ingest_pb2.DeliverInteractionsRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.DeliverInteractionsResponse:
        await refuse_bad_delivery(request, context)
        result = await self.service.apply([delivered(item) for item in request.interactions])
        if result.applied or result.moved:
            self.on_applied()
        return ingest_pb2.DeliverInteractionsResponse(
            applied=result.applied, duplicates=result.duplicates
        )


class RelationshipServicer(scoring_pb2_grpc.RelationshipServiceServicer):
    def __init__(self, service: ScoringService) -> None:
        self.service = service

    async def BatchGetRelationships(
        self, request: scoring_pb2.BatchGetRelationshipsRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.BatchGetRelationshipsResponse:
        if not request.tenant_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tenant_id is required")
        if len(request.customer_ids) > MAX_BATCH:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"at most {MAX_BATCH} ids")
        as_of = await grpc_as_of(context, request)
        views = await self.service.relationships(
            request.tenant_id, list(request.customer_ids), as_of
        )
        return scoring_pb2.BatchGetRelationshipsResponse(
            relationships=[relationship_message(v) for v in views]
        )

    async def GetRelationshipTimeline(
        self,
        request: scoring_pb2.GetRelationshipTimelineRequest,
        context: grpc.aio.ServicerContext,
    ) -> scoring_pb2.GetRelationshipTimelineResponse:
        await _require(
            context,
            bool(request.tenant_id and request.customer_id),
            "tenant_id and customer_id are required",
        )
        start, end = await _period(context, request, 365)
        await _require(context, request.points in (0, *range(2, 501)), "points: 2 to 500")
        points = await self.service.timeline(
            request.tenant_id, request.customer_id, start, end, request.points or 60
        )
        return scoring_pb2.GetRelationshipTimelineResponse(
            points=[timeline_point(p) for p in points]
        )

    async def ExplainRelationship(
        self, request: scoring_pb2.ExplainRelationshipRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.ExplainRelationshipResponse:
        await _require(
            context,
            bool(request.tenant_id and request.customer_id),
            "tenant_id and customer_id are required",
        )
        start, end = await _period(context, request, 30)
        await _require(context, 0 <= request.top <= 20, "top: 1 to 20")
        top = request.top or 5
        explanation = await self.service.explanation(
            request.tenant_id, request.customer_id, start, end, top
        )
        contributions = await self.service.top_contributions(
            request.tenant_id, request.customer_id, end, top
        )
        return explanation_message(explanation, contributions)

    async def ListAlerts(
        self, request: scoring_pb2.ListAlertsRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.ListAlertsResponse:
        await _require(context, bool(request.tenant_id), "tenant_id is required")
        await _require(context, len(request.customer_ids) <= MAX_BATCH, f"at most {MAX_BATCH} ids")
        await _require(context, 0 <= request.limit <= 1000, "limit: 1 to 1,000")
        alerts = await self.service.alerts(
            request.tenant_id,
            list(request.customer_ids) or None,
            request.open_only,
            request.limit or 100,
            await grpc_as_of(context, request),
        )
        return scoring_pb2.ListAlertsResponse(alerts=[alert_message(a) for a in alerts])

    async def ListAlertFeed(
        self, request: scoring_pb2.ListAlertFeedRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.ListAlertFeedResponse:
        await _require(context, request.HasField("since"), "since is required")
        await _require(context, 0 <= request.limit <= 1000, "limit: 1 to 1,000")
        alerts = await self.service.alert_feed(
            request.since.ToDatetime(tzinfo=UTC), request.limit or 500, request.after_id
        )
        return scoring_pb2.ListAlertFeedResponse(alerts=[alert_message(a) for a in alerts])

    async def ListRelationshipFeed(
        self, request: scoring_pb2.ListRelationshipFeedRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.ListRelationshipFeedResponse:
        await _require(context, request.HasField("since"), "since is required")
        await _require(context, 0 <= request.limit <= 1000, "limit: 1 to 1,000")
        views = await self.service.relationship_feed(
            request.since.ToDatetime(tzinfo=UTC),
            request.limit or 500,
            (request.after_tenant_id, request.after_customer_id),
            request.standing_only,
        )
        return scoring_pb2.ListRelationshipFeedResponse(
            relationships=[relationship_message(v) for v in views]
        )

    async def AcknowledgeAlert(
        self, request: scoring_pb2.AcknowledgeAlertRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.AcknowledgeAlertResponse:
        await _require(
            context,
            bool(request.tenant_id and request.alert_id),
            "tenant_id and alert_id are required",
        )
        done = await self.service.acknowledge(
            request.tenant_id, request.alert_id, request.acknowledged_by[:200]
        )
        return scoring_pb2.AcknowledgeAlertResponse(acknowledged=done)

    async def ListAtRisk(
        self, request: scoring_pb2.ListAtRiskRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.ListAtRiskResponse:
        await _require(context, bool(request.tenant_id), "tenant_id is required")
        await _require(context, 0 <= request.limit <= 500, "limit: 1 to 500")
        as_of = await grpc_as_of(context, request)
        views = await self.service.at_risk(request.tenant_id, request.limit or 50, as_of)
        return scoring_pb2.ListAtRiskResponse(
            relationships=[relationship_message(v) for v in views]
        )

    async def ListRelationships(
        self, request: scoring_pb2.ListRelationshipsRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.ListRelationshipsResponse:
        await _require(context, bool(request.tenant_id), "tenant_id is required")
        await _require(context, 1 <= request.page_size <= 100, "page_size: 1 to 100")
        order_by = request.order_by or "value"
        await _require(context, order_by in ORDERS, f"order_by: one of {', '.join(sorted(ORDERS))}")
        unknown = sorted(set(request.stages) - set(STAGES))
        await _require(context, not unknown, f"stages: not Knapp stages: {', '.join(unknown)}")
        await _require(
            context,
            not request.HasField("min_risk") or 0 <= request.min_risk <= 1,
            "min_risk: 0 to 1",
        )
        await _require(context, len(request.customer_ids) <= 1000, "customer_ids: at most 1,000")
        after = _order_cursor(request.page_token) if request.page_token else None
        await _require(context, not request.page_token or after is not None, "malformed page_token")
        wanted = RelationshipFilter(
            types=tuple(request.relationship_types),
            stages=tuple(request.stages),
            min_risk=request.min_risk if request.HasField("min_risk") else None,
            customer_ids=tuple(request.customer_ids) if request.customer_ids else None,
            order_by=order_by,
            ascending=request.ascending,
            after=after,
        )
        found = await self.service.list_relationships(request.tenant_id, wanted, request.page_size)
        shown = found[: request.page_size]
        cursors = [_order_token(key, view.customer_id) for view, key in shown]
        return scoring_pb2.ListRelationshipsResponse(
            relationships=[relationship_message(view) for view, _ in shown],
            cursors=cursors,
            next_page_token=cursors[-1] if len(found) > request.page_size else "",
        )

    async def GetRelationshipTypes(
        self, request: scoring_pb2.GetRelationshipTypesRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.GetRelationshipTypesResponse:
        await _require(context, bool(request.tenant_id), "tenant_id is required")
        rules = await self.service.rules(request.tenant_id)
        return scoring_pb2.GetRelationshipTypesResponse(
            types=_type_messages(rules.types), features=list(relationship_types.FEATURES)
        )

    async def SetRelationshipTypes(
        self, request: scoring_pb2.SetRelationshipTypesRequest, context: grpc.aio.ServicerContext
    ) -> scoring_pb2.SetRelationshipTypesResponse:
        await _require(context, bool(request.tenant_id), "tenant_id is required")
        config = [
            {
                "name": t.name,
                "description": t.description,
                "when": [{"feature": c.feature, c.op: c.value} for c in t.conditions],
            }
            for t in request.types
        ]
        try:
            rules = await self.service.put_types(request.tenant_id, config)
        except InvalidSettings as error:
            problems = [p.partition(": ") for p in error.problems]
            return scoring_pb2.SetRelationshipTypesResponse(
                problems=[
                    scoring_pb2.SettingProblem(path=path, reason=reason)
                    for path, _, reason in problems
                ]
            )
        return scoring_pb2.SetRelationshipTypesResponse(types=_type_messages(rules.types))


def _type_messages(
    rules: Sequence[relationship_types.TypeRule],
) -> list[scoring_pb2.RelationshipTypeRule]:
    return [
        scoring_pb2.RelationshipTypeRule(
            name=rule.name,
            description=rule.description,
            conditions=[
                scoring_pb2.TypeCondition(feature=c.feature, op=c.op, value=c.value)
                for c in rule.conditions
            ],
        )
        for rule in rules
    ]


ORDERS = frozenset({"value", "risk", "revenue"})


def _order_token(key: float, customer_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([key, customer_id]).encode()).decode()


def _order_cursor(token: str) -> tuple[float, str] | None:
    try:
        key, customer_id = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        return None
    if not isinstance(key, int | float) or not isinstance(customer_id, str):
        return None
    return float(key), customer_id


def _time(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


async def _period(
    context: grpc.aio.ServicerContext,
    request: scoring_pb2.GetRelationshipTimelineRequest | scoring_pb2.ExplainRelationshipRequest,
    days: int,
) -> tuple[datetime, datetime]:
    """The request's period (scoring.domain.period), or INVALID_ARGUMENT with the reason."""
    start = _time(request.start) if request.HasField("start") else None
    end = _time(request.end) if request.HasField("end") else None
    try:
        return period(start, end, days, datetime.now(UTC))
    except InvalidPeriod as error:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        raise  # abort raises; this line is never reached


async def _require(context: grpc.aio.ServicerContext, condition: bool, message: str) -> None:
    if not condition:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)


def register(
    server: GrpcServer, service: ScoringService, on_applied: Callable[[], None] = lambda: None
) -> None:
    server.add(
        lambda s: ingest_pb2_grpc.add_InteractionSubscriberServiceServicer_to_server(
            SubscriberServicer(service, on_applied), s
        ),
        [ingest_pb2.DESCRIPTOR.services_by_name["InteractionSubscriberService"].full_name],
    )
    server.add(
        lambda s: scoring_pb2_grpc.add_RelationshipServiceServicer_to_server(
            RelationshipServicer(service), s
        ),
        [scoring_pb2.DESCRIPTOR.services_by_name["RelationshipService"].full_name],
    )
