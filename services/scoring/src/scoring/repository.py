"""Every SQL query of the scoring service, and nothing else."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scoring.models import AppliedInteraction, Relationship


class ScoringRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def applied(self, interaction_ids: Iterable[str]) -> dict[str, tuple[str, float]]:
        """The customer and contribution of each interaction already applied."""
        wanted = list(set(interaction_ids))
        if not wanted:
            return {}
        query = select(
            col(AppliedInteraction.interaction_id),
            col(AppliedInteraction.customer_id),
            col(AppliedInteraction.contribution),
        ).where(col(AppliedInteraction.interaction_id).in_(wanted))
        rows = (await self.session.execute(query)).all()
        return {str(i): (str(c), float(v)) for i, c, v in rows}

    async def move_applied(self, interaction_id: str, customer_id: str) -> None:
        await self.session.execute(
            update(AppliedInteraction)
            .where(col(AppliedInteraction.interaction_id) == interaction_id)
            .values(customer_id=customer_id)
        )

    async def insert_applied(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(AppliedInteraction), list(rows))

    async def relationships(
        self, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], Relationship]:
        wanted = list(set(keys))
        if not wanted:
            return {}
        query = select(Relationship).where(
            tuple_(col(Relationship.tenant_id), col(Relationship.customer_id)).in_(wanted)
        )
        rows = (await self.session.execute(query)).scalars()
        return {(r.tenant_id, r.customer_id): r for r in rows}

    async def relationships_of(
        self, tenant_id: str, customer_ids: Sequence[str]
    ) -> list[Relationship]:
        if not customer_ids:
            return []
        query = select(Relationship).where(
            col(Relationship.tenant_id) == tenant_id,
            col(Relationship.customer_id).in_(list(set(customer_ids))),
        )
        return list((await self.session.execute(query)).scalars())

    async def insert_relationships(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(Relationship), list(rows))

    async def update_relationship(
        self, tenant_id: str, customer_id: str, values: dict[str, Any]
    ) -> None:
        await self.session.execute(
            update(Relationship)
            .where(
                col(Relationship.tenant_id) == tenant_id,
                col(Relationship.customer_id) == customer_id,
            )
            .values(**values)
        )
