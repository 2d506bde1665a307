"""Every SQL query of the playbook service, and nothing else."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from playbook.models import PlaybookVersion


class PlaybookRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def latest(self, tenant_ids: Sequence[str]) -> list[PlaybookVersion]:
        """The newest version of each tenant that has published one."""
        if not tenant_ids:
            return []
        newest = (
            select(
                col(PlaybookVersion.tenant_id).label("tenant_id"),
                func.max(PlaybookVersion.version).label("version"),
            )
            .where(col(PlaybookVersion.tenant_id).in_(list(set(tenant_ids))))
            .group_by(col(PlaybookVersion.tenant_id))
            .subquery()
        )
        query = select(PlaybookVersion).join(
            newest,
            (col(PlaybookVersion.tenant_id) == newest.c.tenant_id)
            & (col(PlaybookVersion.version) == newest.c.version),
        )
        return list((await self.session.execute(query)).scalars())

    async def last_version(self, tenant_id: str) -> int:
        """The tenant's highest version number; 0 when it has published none."""
        query = select(func.coalesce(func.max(PlaybookVersion.version), 0)).where(
            col(PlaybookVersion.tenant_id) == tenant_id
        )
        return int((await self.session.execute(query)).scalar_one())

    async def versions(self, tenant_id: str) -> list[PlaybookVersion]:
        query = (
            select(PlaybookVersion)
            .where(col(PlaybookVersion.tenant_id) == tenant_id)
            .order_by(col(PlaybookVersion.version))
        )
        return list((await self.session.execute(query)).scalars())

    async def version(self, tenant_id: str, version: int) -> PlaybookVersion | None:
        query = select(PlaybookVersion).where(
            col(PlaybookVersion.tenant_id) == tenant_id,
            col(PlaybookVersion.version) == version,
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def add(self, row: PlaybookVersion) -> None:
        self.session.add(row)
        await self.session.flush()
