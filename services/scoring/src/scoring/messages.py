"""Scoring's gRPC messages to and from its domain."""

from __future__ import annotations

from datetime import UTC

from google.protobuf.timestamp_pb2 import Timestamp

from relint.contracts.ingest.v1 import ingest_pb2
from relint.contracts.scoring.v1 import scoring_pb2
from scoring.models import Relationship
from scoring.service import Delivered


def delivered(message: ingest_pb2.Interaction) -> Delivered:
    revenue = 0.0
    if message.amount and message.amount_type == ingest_pb2.AMOUNT_TYPE_REVENUE:
        revenue = float(message.amount)
    return Delivered(
        interaction_id=message.id,
        tenant_id=message.tenant_id,
        customer_id=message.customer_id,
        occurred_at=message.occurred_at.ToDatetime(tzinfo=UTC),
        channel=message.channel,
        kind=message.kind,
        sentiment=message.sentiment if message.HasField("sentiment") else None,
        revenue=revenue,
        traceparent=message.traceparent,
    )


def relationship_message(row: Relationship) -> scoring_pb2.Relationship:
    message = scoring_pb2.Relationship(
        tenant_id=row.tenant_id,
        customer_id=row.customer_id,
        value=round(row.value, 6),
        interaction_count=row.interaction_count,
        last_contribution=row.last_contribution,
    )
    updated = Timestamp()
    updated.FromDatetime(row.updated_at)
    message.updated_at.CopyFrom(updated)
    if row.last_interaction_at is not None:
        last = Timestamp()
        last.FromDatetime(row.last_interaction_at)
        message.last_interaction_at.CopyFrom(last)
    return message
