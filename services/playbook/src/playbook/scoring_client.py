"""What the playbook asks of scoring and tells it, over gRPC: where customers stand (type,
stage, value, risk, potential) in batches, whose type or stage changed (a feed), and each
violation as a negative signal, through the same subscriber contract ingest delivers
interactions with."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from typing import NamedTuple, Protocol, TypeVar

import grpc

from playbook.actions import Outlook
from playbook.alerts import Event
from playbook.evaluation import Standing, type_key
from relint.contracts.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from relint.contracts.playbook.v1 import playbook_pb2
from relint.contracts.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from relint.grpc_client import BACKGROUND_READ_DEADLINE, READ_DEADLINE, WRITE_DEADLINE

# Scoring's own limit per BatchGetRelationships call.
BATCH = 1000
_R = TypeVar("_R")


class ScoringUnavailable(Exception):
    """Scoring did not answer; the caller keeps what it knew and tries again later."""


class Placed(NamedTuple):
    """A customer whose type or stage scoring changed at `changed_at`, and where it stands
    now."""

    tenant_id: str
    customer_id: str
    changed_at: datetime
    standing: Standing


class Scoring(Protocol):
    """The playbook's view of scoring; tests give a fake, production the gRPC client."""

    async def outlooks(self, tenant_id: str, customer_ids: Sequence[str]) -> dict[str, Outlook]:
        """Scoring's view of each customer it knows; raises ScoringUnavailable."""
        ...

    async def signal(self, violations: Sequence[Signal]) -> None:
        """Hands violations to scoring as negative signals; raises ScoringUnavailable."""
        ...

    async def alert_feed(self, since: datetime, limit: int, after_id: str = "") -> list[Event]:
        """A page of every tenant's alerts raised since `since` (after `after_id` at
        `since` itself), in (raised_at, id) order; raises ScoringUnavailable."""
        ...

    async def relationship_types(self, tenant_id: str) -> list[str]:
        """The names of the tenant's relationship types (its own, or the defaults); raises
        ScoringUnavailable."""
        ...

    async def standing_feed(
        self, since: datetime, limit: int, after: tuple[str, str] = ("", "")
    ) -> list[Placed]:
        """A page of every tenant's customers whose type or stage changed since `since`
        (after the (tenant, customer) `after` at `since` itself), in (changed_at, tenant,
        customer) order, each as it stands now; raises ScoringUnavailable."""
        ...


class Signal(Protocol):
    """What scoring is told of a violation (read-only: a stored row or a tuple will do)."""

    @property
    def id(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def customer_id(self) -> str: ...
    @property
    def due_at(self) -> datetime: ...
    @property
    def reason(self) -> str: ...
    @property
    def employee(self) -> str: ...
    @property
    def withdrawn(self) -> bool: ...


class GrpcScoring:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._relationships = scoring_pb2_grpc.RelationshipServiceStub(channel)
        self._subscriber = ingest_pb2_grpc.InteractionSubscriberServiceStub(channel)

    async def outlooks(self, tenant_id: str, customer_ids: Sequence[str]) -> dict[str, Outlook]:
        found: dict[str, Outlook] = {}
        for start in range(0, len(customer_ids), BATCH):
            request = scoring_pb2.BatchGetRelationshipsRequest(
                tenant_id=tenant_id, customer_ids=customer_ids[start : start + BATCH]
            )
            reply = await _asked(
                self._relationships.BatchGetRelationships(request, timeout=BACKGROUND_READ_DEADLINE)
            )
            for r in reply.relationships:
                found[r.customer_id] = outlook(r)
        return found

    async def signal(self, violations: Sequence[Signal]) -> None:
        if not violations:
            return
        request = ingest_pb2.DeliverInteractionsRequest(
            interactions=[_violation_message(v) for v in violations]
        )
        await _asked(self._subscriber.DeliverInteractions(request, timeout=WRITE_DEADLINE))

    async def alert_feed(self, since: datetime, limit: int, after_id: str = "") -> list[Event]:
        request = scoring_pb2.ListAlertFeedRequest(limit=limit, after_id=after_id)
        request.since.FromDatetime(since)
        reply = await _asked(
            self._relationships.ListAlertFeed(request, timeout=BACKGROUND_READ_DEADLINE)
        )
        return [
            Event(
                id=a.id,
                tenant_id=a.tenant_id,
                customer_id=a.customer_id,
                kind=a.kind,
                severity=a.severity,
                reason=a.reason,
                occurred_at=a.raised_at.ToDatetime(tzinfo=UTC),
                source="scoring",
            )
            for a in reply.alerts
        ]

    async def relationship_types(self, tenant_id: str) -> list[str]:
        request = scoring_pb2.GetRelationshipTypesRequest(tenant_id=tenant_id)
        reply = await _asked(
            self._relationships.GetRelationshipTypes(request, timeout=READ_DEADLINE)
        )
        return [t.name for t in reply.types]

    async def standing_feed(
        self, since: datetime, limit: int, after: tuple[str, str] = ("", "")
    ) -> list[Placed]:
        request = scoring_pb2.ListRelationshipFeedRequest(
            limit=limit, after_tenant_id=after[0], after_customer_id=after[1], standing_only=True
        )
        request.since.FromDatetime(since)
        reply = await _asked(
            self._relationships.ListRelationshipFeed(request, timeout=BACKGROUND_READ_DEADLINE)
        )
        return [
            Placed(
                r.tenant_id,
                r.customer_id,
                r.standing_changed_at.ToDatetime(tzinfo=UTC),
                _standing(r),
            )
            for r in reply.relationships
        ]


async def _asked(call: Awaitable[_R]) -> _R:
    """A call's answer; ScoringUnavailable when scoring did not give one."""
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        raise ScoringUnavailable(f"scoring: {error.code().name}") from error


def outlook(r: scoring_pb2.Relationship | playbook_pb2.CustomerOutlook) -> Outlook:
    """Scoring's view of a customer: from scoring's own answer, or as a caller that held it
    handed it over (the two messages name the fields alike)."""
    return Outlook(
        standing=_standing(r),
        value=r.value,
        risk=r.risk,
        risk_reasons=tuple(r.risk_reasons),
        potential=r.potential if r.HasField("potential") else None,
        potential_reason=r.potential_reason,
    )


def _standing(r: scoring_pb2.Relationship | playbook_pb2.CustomerOutlook) -> Standing:
    return Standing(
        relationship_type=type_key(r.relationship_type),
        type_since=_moment(r, "type_since"),
        stage=r.stage,
        stage_since=_moment(r, "stage_since"),
    )


def _moment(
    r: scoring_pb2.Relationship | playbook_pb2.CustomerOutlook, name: str
) -> datetime | None:
    return getattr(r, name).ToDatetime(tzinfo=UTC) if r.HasField(name) else None


def _violation_message(v: Signal) -> ingest_pb2.Interaction:
    """A violation as scoring weighs it: kind `violation`, at the moment it was due; once
    withdrawn, `violation_withdrawn`, which takes its effect back. Its id is the violation's,
    so a second signal of the same state changes nothing."""
    message = ingest_pb2.Interaction(
        id=v.id,
        tenant_id=v.tenant_id,
        customer_id=v.customer_id,
        channel="operations",
        kind="violation_withdrawn" if v.withdrawn else "violation",
        direction=ingest_pb2.DIRECTION_OUTBOUND,
        employee=v.employee,
        text=v.reason[:500],
        source="playbook",
        source_id=v.id,
    )
    message.occurred_at.FromDatetime(v.due_at)
    return message
