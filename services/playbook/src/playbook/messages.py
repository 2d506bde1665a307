"""Playbook's gRPC messages from its domain. The contract carries a standard's rule kind and
its sentence; the rule's parameters stay in the REST representation."""

from __future__ import annotations

from datetime import UTC

from google.protobuf.json_format import MessageToDict

from playbook.domain import Standard, sentence
from playbook.evaluation import Touch, notice_days
from playbook.service import Delivered, Playbook
from relint.contracts.ingest.v1 import ingest_pb2
from relint.contracts.playbook.v1 import playbook_pb2

_DIRECTIONS = {ingest_pb2.DIRECTION_INBOUND: "inbound", ingest_pb2.DIRECTION_OUTBOUND: "outbound"}


def standard_message(standard: Standard) -> playbook_pb2.Standard:
    return playbook_pb2.Standard(
        key=standard.key,
        title=standard.title,
        team=standard.team,
        relationship_types=list(standard.relationship_types),
        stages=list(standard.stages),
        rule=standard.rule.kind,
        description=sentence(standard),
    )


def playbook_message(playbook: Playbook) -> playbook_pb2.Playbook:
    message = playbook_pb2.Playbook(
        id=playbook.id,
        tenant_id=playbook.tenant_id,
        name=playbook.name,
        version=playbook.version,
        standards=[standard_message(s) for s in playbook.standards],
    )
    if playbook.created_at is not None:
        message.created_at.FromDatetime(playbook.created_at)
    return message


def delivered(message: ingest_pb2.Interaction) -> Delivered:
    occurred_at = message.occurred_at.ToDatetime(tzinfo=UTC)
    attributes = MessageToDict(message.attributes) if message.HasField("attributes") else {}
    return Delivered(
        tenant_id=message.tenant_id,
        customer_id=message.customer_id,
        touch=Touch(
            id=message.id,
            occurred_at=occurred_at,
            channel=message.channel,
            kind=message.kind,
            direction=_DIRECTIONS.get(message.direction, ""),
            employee=message.employee,
            reference=message.source_id,
            notice_days=notice_days(occurred_at, attributes),
        ),
    )
