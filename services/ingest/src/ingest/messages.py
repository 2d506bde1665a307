"""Ingest's rows as gRPC messages."""

from __future__ import annotations

from typing import Any

from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from ingest.domain import from_micros
from ingest.models import Customer
from relint.contracts.ingest.v1 import ingest_pb2

_DIRECTIONS = {"inbound": ingest_pb2.DIRECTION_INBOUND, "outbound": ingest_pb2.DIRECTION_OUTBOUND}
_AMOUNT_TYPES = {
    "revenue": ingest_pb2.AMOUNT_TYPE_REVENUE,
    "cost_to_serve": ingest_pb2.AMOUNT_TYPE_COST_TO_SERVE,
    "refund": ingest_pb2.AMOUNT_TYPE_REFUND,
}


def _timestamp(value: object) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)  # type: ignore[arg-type]
    return stamp


def interaction_message(row: Any, sequence: int = 0) -> ingest_pb2.Interaction:
    """An interaction: an Interaction, or a row with its columns by name."""
    attributes = Struct()
    if row.attributes:
        attributes.update(row.attributes)
    message = ingest_pb2.Interaction(
        id=row.id,
        tenant_id=row.tenant_id,
        customer_id=row.customer_id,
        occurred_at=_timestamp(row.occurred_at),
        channel=row.channel,
        kind=row.kind,
        direction=_DIRECTIONS.get(row.direction, ingest_pb2.DIRECTION_UNSPECIFIED),
        amount=str(from_micros(row.amount_micros)) if row.amount_micros is not None else "",
        amount_type=_AMOUNT_TYPES.get(row.amount_type or "", ingest_pb2.AMOUNT_TYPE_UNSPECIFIED),
        currency=row.currency or "",
        employee=row.employee or "",
        text=row.text or "",
        source=row.source,
        source_id=row.source_id or "",
        attributes=attributes,
        received_at=_timestamp(row.received_at),
        traceparent=row.traceparent,
        sequence=sequence,
    )
    if row.sentiment is not None:
        message.sentiment = row.sentiment
    return message


def customer_message(row: Customer) -> ingest_pb2.Customer:
    return ingest_pb2.Customer(
        id=row.id,
        tenant_id=row.tenant_id,
        external_id=row.external_id or "",
        name=row.name,
        created_at=_timestamp(row.created_at),
        first_seen_at=_timestamp(row.first_seen_at),
        last_seen_at=_timestamp(row.last_seen_at),
        interaction_count=row.interaction_count,
    )
