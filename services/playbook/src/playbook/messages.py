"""Playbook's gRPC messages from its domain. The contract carries a standard's rule kind and
its sentence; the rule's parameters stay in the REST representation."""

from __future__ import annotations

from datetime import UTC

from google.protobuf.json_format import MessageToDict

from playbook.actions import Action
from playbook.domain import PlaybookDraft, Standard, sentence
from playbook.evaluation import Touch, notice_days
from playbook.models import AlertEvent, ObligationRow, ViolationRow
from playbook.service import CustomerPlaybook, Delivered, Playbook
from playbook.yaml_io import dump_draft
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
        yaml=dump_draft(PlaybookDraft(playbook.name, playbook.standards)),
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


def obligation_message(row: ObligationRow) -> playbook_pb2.Obligation:
    message = playbook_pb2.Obligation(
        customer_id=row.customer_id,
        standard_key=row.standard_key,
        standard_title=row.standard_title,
        team=row.team,
        what=row.what,
        trigger_id=row.trigger_id,
        trigger_reference=row.trigger_reference,
        employee=row.employee,
        playbook_version=row.playbook_version,
    )
    message.due_at.FromDatetime(row.due_at)
    message.opened_at.FromDatetime(row.opened_at)
    return message


def alert_message(row: AlertEvent) -> playbook_pb2.Alert:
    message = playbook_pb2.Alert(
        id=row.id,
        tenant_id=row.tenant_id,
        customer_id=row.customer_id,
        kind=row.kind,
        severity=row.severity,
        reason=row.reason,
        acknowledged_by=row.acknowledged_by or "",
    )
    message.raised_at.FromDatetime(row.occurred_at)
    if row.acknowledged_at is not None:
        message.acknowledged_at.FromDatetime(row.acknowledged_at)
    return message


def violation_message(row: ViolationRow) -> playbook_pb2.Violation:
    message = playbook_pb2.Violation(
        id=row.id,
        customer_id=row.customer_id,
        standard_key=row.standard_key,
        standard_title=row.standard_title,
        team=row.team,
        interaction_ids=list(row.interaction_ids),
        employee=row.employee,
        reason=row.reason,
        playbook_version=row.playbook_version,
    )
    message.due_at.FromDatetime(row.due_at)
    message.detected_at.FromDatetime(row.detected_at)
    return message


def action_message(action: Action) -> playbook_pb2.Action:
    message = playbook_pb2.Action(
        customer_id=action.customer_id,
        kind=action.kind,
        title=action.title,
        reason=action.reason,
        urgency=action.urgency,
        standard_key=action.standard_key,
        employee=action.employee,
    )
    if action.due_at is not None:
        message.due_at.FromDatetime(action.due_at)
    return message


def customer_playbook_message(
    customer_id: str, view: CustomerPlaybook
) -> playbook_pb2.CustomerPlaybook:
    return playbook_pb2.CustomerPlaybook(
        customer_id=customer_id,
        obligations=[obligation_message(o) for o in view.obligations],
        violations=[violation_message(v) for v in view.violations],
        next_best_actions=[action_message(a) for a in view.next_best_actions],
        applicable_standard_keys=[s.key for s in view.standards],
        playbook_version=view.playbook_version,
        judged_interactions=view.judged_interactions,
    )


def customer_playbooks_message(
    found: dict[str, CustomerPlaybook],
) -> playbook_pb2.BatchGetCustomerPlaybooksResponse:
    """The customers' playbooks, and each standard they name once."""
    standards = {s.key: s for view in found.values() for s in view.standards}
    return playbook_pb2.BatchGetCustomerPlaybooksResponse(
        customers=[customer_playbook_message(c, view) for c, view in found.items()],
        standards=[standard_message(s) for s in standards.values()],
    )
