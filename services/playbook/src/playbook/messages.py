"""Playbook's gRPC messages from its domain. The contract carries a standard's rule kind and
its sentence; the rule's parameters stay in the REST representation."""

from __future__ import annotations

from playbook.domain import Standard, sentence
from playbook.service import Playbook
from relint.contracts.playbook.v1 import playbook_pb2


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
