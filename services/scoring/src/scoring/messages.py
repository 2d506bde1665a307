"""Scoring's gRPC messages to and from its domain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from relint.contracts.ingest.v1 import ingest_pb2
from relint.contracts.scoring.v1 import scoring_pb2
from scoring.domain import Driver, Explanation
from scoring.models import Alert
from scoring.service import Delivered, RelationshipView, TimelinePoint
from scoring.stages import is_coming_apart

# Where an amount goes, by its type: (revenue, refund, cost) as multiples of it.
_AMOUNT_SHARES = {
    ingest_pb2.AMOUNT_TYPE_REVENUE: (1.0, 0.0, 0.0),
    ingest_pb2.AMOUNT_TYPE_REFUND: (0.0, 1.0, 0.0),
    ingest_pb2.AMOUNT_TYPE_COST_TO_SERVE: (0.0, 0.0, 1.0),
}
_DIRECTIONS = {ingest_pb2.DIRECTION_INBOUND: "inbound", ingest_pb2.DIRECTION_OUTBOUND: "outbound"}
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NANOS = 1_000_000_000


def delivered(message: ingest_pb2.Interaction) -> Delivered:
    """The interaction as scoring applies it. On the apply path, for every interaction: it
    reads each field once and builds the moment without protobuf's checks and conversions."""
    revenue = refund = cost = 0.0
    amount = message.amount
    if amount:
        shares = _AMOUNT_SHARES.get(message.amount_type)
        if shares is not None:
            value = float(amount)
            revenue, refund, cost = (value if share else 0.0 for share in shares)
    outcome = issue = None
    if message.HasField("attributes"):
        fields = message.attributes.fields
        found = fields.get("outcome")
        if found is not None and found.string_value:
            outcome = found.string_value[:32]
        found = fields.get("issue_type")
        if found is not None and found.string_value:
            issue = found.string_value[:64]
    stamp = message.occurred_at
    nanos = stamp.nanos
    if 0 <= nanos < _NANOS:
        occurred_at = _UNIX_EPOCH + timedelta(seconds=stamp.seconds, microseconds=nanos // 1000)
    else:  # invalid: protobuf's own conversion says why
        occurred_at = stamp.ToDatetime(tzinfo=UTC)
    return Delivered(
        interaction_id=message.id,
        tenant_id=message.tenant_id,
        customer_id=message.customer_id,
        occurred_at=occurred_at,
        channel=message.channel,
        kind=message.kind,
        sentiment=message.sentiment if message.HasField("sentiment") else None,
        traceparent=message.traceparent,
        direction=_DIRECTIONS.get(message.direction, ""),
        outcome=outcome,
        employee=message.employee or None,
        revenue=revenue,
        refund=refund,
        cost=cost,
        issue_type=issue,
        text=message.text[:2000] or None,
    )


def timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def relationship_message(view: RelationshipView) -> scoring_pb2.Relationship:
    message = scoring_pb2.Relationship(
        tenant_id=view.tenant_id,
        customer_id=view.customer_id,
        value=round(view.value, 6),
        trend=round(view.trend, 6),
        interaction_count=view.interaction_count,
        last_contribution=view.last_contribution,
        as_of=timestamp(view.as_of),
        updated_at=timestamp(view.updated_at),
        relationship_type=view.relationship_type,
        type_reason=view.type_reason,
        stage=view.stage,
        stage_reason=view.stage_reason,
        coming_apart=is_coming_apart(view.stage),
        revenue=round(view.revenue, 2),
        risk=round(view.risk, 6),
        risk_reasons=list(view.risk_reasons),
    )
    if view.p_alive is not None:
        message.p_alive = view.p_alive
    if view.expected_purchases is not None:
        message.expected_purchases = view.expected_purchases
    if view.lifetime_value is not None:
        message.lifetime_value = view.lifetime_value
    if view.potential is not None:
        message.potential = view.potential
    message.potential_reason = view.potential_reason
    if view.last_interaction_at is not None:
        message.last_interaction_at.CopyFrom(timestamp(view.last_interaction_at))
    if view.first_interaction_at is not None:
        message.first_interaction_at.CopyFrom(timestamp(view.first_interaction_at))
    if view.stage_since is not None:
        message.stage_since.CopyFrom(timestamp(view.stage_since))
    if view.type_since is not None:
        message.type_since.CopyFrom(timestamp(view.type_since))
    if view.standing_changed_at is not None:
        message.standing_changed_at.CopyFrom(timestamp(view.standing_changed_at))
    return message


def timeline_point(point: TimelinePoint) -> scoring_pb2.TimelinePoint:
    message = scoring_pb2.TimelinePoint(
        at=timestamp(point.at),
        value=round(point.value, 6),
        relationship_type=point.relationship_type,
        stage=point.stage,
    )
    if point.risk is not None:
        message.risk = point.risk
    return message


def driver_message(driver: Driver) -> scoring_pb2.Driver:
    return scoring_pb2.Driver(
        interaction_id=driver.interaction_id,
        occurred_at=timestamp(driver.occurred_at),
        reason=driver.reason,
        effect=round(driver.effect, 6),
    )


def explanation_message(
    explanation: Explanation, top: list[Driver]
) -> scoring_pb2.ExplainRelationshipResponse:
    return scoring_pb2.ExplainRelationshipResponse(
        start_value=round(explanation.start, 6),
        end_value=round(explanation.end, 6),
        change=round(explanation.change, 6),
        drivers=[driver_message(d) for d in explanation.drivers],
        fading=round(explanation.fading, 6),
        sentence=explanation.sentence(),
        top_contributions=[driver_message(d) for d in top],
    )


def alert_message(alert: Alert) -> scoring_pb2.Alert:
    message = scoring_pb2.Alert(
        id=alert.id,
        tenant_id=alert.tenant_id,
        customer_id=alert.customer_id,
        kind=alert.kind,
        severity=alert.severity,
        reason=alert.reason,
        raised_at=timestamp(alert.raised_at),
        acknowledged_by=alert.acknowledged_by or "",
    )
    if alert.acknowledged_at is not None:
        message.acknowledged_at.CopyFrom(timestamp(alert.acknowledged_at))
    return message
