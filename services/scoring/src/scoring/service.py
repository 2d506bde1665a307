"""Scoring's use cases: apply delivered interactions exactly once, read relationships."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import col

from relint.db import Database, utcnow
from relint.telemetry import context_from_traceparent, tracer
from scoring.domain import Touch, contribution
from scoring.models import Relationship
from scoring.repository import ScoringRepository


@dataclass(frozen=True)
class Delivered:
    """An interaction as delivered by ingest, reduced to what scoring uses."""

    interaction_id: str
    tenant_id: str
    customer_id: str
    occurred_at: datetime
    channel: str
    kind: str
    sentiment: float | None = None
    revenue: float = 0.0
    traceparent: str = ""


@dataclass
class ApplyResult:
    applied: int = 0
    duplicates: int = 0
    # Applied before under another customer, which ingest has since merged into this one.
    moved: int = 0


@dataclass
class _Change:
    value: float = 0.0
    count: int = 0
    last_at: datetime | None = None
    last_contribution: float = 0.0
    touched: list[str] = field(default_factory=list)


def _move(
    changes: dict[tuple[str, str], _Change], tenant_id: str, old: str, new: str, effect: float
) -> None:
    gone = changes.setdefault((tenant_id, old), _Change())
    gone.value -= effect
    gone.count -= 1
    came = changes.setdefault((tenant_id, new), _Change())
    came.value += effect
    came.count += 1


class ScoringService:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._tracer = tracer("scoring.service")

    async def apply(self, batch: Sequence[Delivered]) -> ApplyResult:
        """Applies each interaction not applied before, in the order given, in one transaction."""
        result = ApplyResult()
        async with self.db.transaction() as session:
            repo = ScoringRepository(session)
            seen = await repo.applied(d.interaction_id for d in batch)
            applied_rows: list[dict[str, Any]] = []
            changes: dict[tuple[str, str], _Change] = {}
            now = utcnow()
            for item in batch:
                if item.interaction_id in seen:
                    owner, effect = seen[item.interaction_id]
                    if owner == item.customer_id:
                        result.duplicates += 1
                        continue
                    # The customer was merged into another: its effect moves along.
                    _move(changes, item.tenant_id, owner, item.customer_id, effect)
                    await repo.move_applied(item.interaction_id, item.customer_id)
                    seen[item.interaction_id] = (item.customer_id, effect)
                    result.moved += 1
                    continue
                with self._tracer.start_as_current_span(
                    "scoring apply interaction",
                    context=context_from_traceparent(item.traceparent),
                    attributes={"interaction.id": item.interaction_id, "kind": item.kind},
                ):
                    effect = contribution(Touch(item.kind, item.sentiment, item.revenue))
                seen[item.interaction_id] = (item.customer_id, effect)
                change = changes.setdefault((item.tenant_id, item.customer_id), _Change())
                change.value += effect
                change.count += 1
                if change.last_at is None or item.occurred_at >= change.last_at:
                    change.last_at = item.occurred_at
                    change.last_contribution = effect
                applied_rows.append(
                    {
                        "interaction_id": item.interaction_id,
                        "tenant_id": item.tenant_id,
                        "customer_id": item.customer_id,
                        "occurred_at": item.occurred_at,
                        "channel": item.channel,
                        "kind": item.kind,
                        "contribution": effect,
                        "applied_at": now,
                    }
                )
            result.applied = len(applied_rows)
            await repo.insert_applied(applied_rows)
            await self._merge(repo, changes, now)
        return result

    async def _merge(
        self, repo: ScoringRepository, changes: dict[tuple[str, str], _Change], now: datetime
    ) -> None:
        current = await repo.relationships(changes)
        fresh = []
        for (tenant_id, customer_id), change in changes.items():
            existing = current.get((tenant_id, customer_id))
            if existing is None:
                fresh.append(
                    {
                        "tenant_id": tenant_id,
                        "customer_id": customer_id,
                        "value": round(change.value, 6),
                        "interaction_count": change.count,
                        "last_interaction_at": change.last_at,
                        "last_contribution": change.last_contribution,
                        "updated_at": now,
                    }
                )
                continue
            # Increments in SQL, so a concurrent apply for the same customer cannot be lost.
            values: dict[str, Any] = {
                "value": col(Relationship.value) + round(change.value, 6),
                "interaction_count": col(Relationship.interaction_count) + change.count,
                "updated_at": now,
            }
            if existing.last_interaction_at is None or (
                change.last_at is not None and change.last_at >= existing.last_interaction_at
            ):
                values["last_interaction_at"] = change.last_at
                values["last_contribution"] = change.last_contribution
            await repo.update_relationship(tenant_id, customer_id, values)
        await repo.insert_relationships(fresh)

    async def relationships(
        self, tenant_id: str, customer_ids: Sequence[str]
    ) -> list[Relationship]:
        async with self.db.read() as session:
            return await ScoringRepository(session).relationships_of(tenant_id, customer_ids)
