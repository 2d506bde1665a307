"""Playbook's use cases: publish a tenant's playbook as its next version, read the active
version and the history. A tenant that never published follows the default playbook."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from playbook.domain import (
    DEFAULT_PLAYBOOK,
    InvalidPlaybook,
    PlaybookDraft,
    Standard,
    draft_from_dict,
    draft_to_dict,
    validate,
)
from playbook.models import PlaybookVersion
from playbook.repository import PlaybookRepository
from relint.db import Database

log = logging.getLogger(__name__)

# Two publishes for one tenant may both read the same last version; the unique constraint
# refuses the second, which then numbers itself again.
_PUBLISH_ATTEMPTS = 5
# The default playbook gets a stable id per tenant, derived rather than stored.
_DEFAULT_ID_NAMESPACE = uuid.UUID("6f0c1d5e-9a43-4d8e-8f52-0b7a3c2e4d19")


@dataclass(frozen=True)
class Playbook:
    """A tenant's playbook at one version. Version 0 is the default, never published."""

    id: str
    tenant_id: str
    version: int
    name: str
    standards: tuple[Standard, ...]
    created_at: datetime | None


def default_playbook(tenant_id: str) -> Playbook:
    return Playbook(
        id=str(uuid.uuid5(_DEFAULT_ID_NAMESPACE, tenant_id)),
        tenant_id=tenant_id,
        version=0,
        name=DEFAULT_PLAYBOOK.name,
        standards=DEFAULT_PLAYBOOK.standards,
        created_at=None,
    )


def _published(row: PlaybookVersion, draft: PlaybookDraft | None = None) -> Playbook:
    draft = draft or draft_from_dict(json.loads(row.document))
    return Playbook(
        id=row.id,
        tenant_id=row.tenant_id,
        version=row.version,
        name=draft.name,
        standards=draft.standards,
        created_at=row.created_at,
    )


class PlaybookService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def active_playbooks(self, tenant_ids: Sequence[str]) -> list[Playbook]:
        """The newest version of each tenant, once per tenant, in the order asked."""
        wanted = list(dict.fromkeys(tenant_ids))
        async with self.db.read() as session:
            rows = await PlaybookRepository(session).latest(wanted)
        newest = {row.tenant_id: row for row in rows}
        return [
            _published(newest[tenant_id]) if tenant_id in newest else default_playbook(tenant_id)
            for tenant_id in wanted
        ]

    async def publish(self, tenant_id: str, draft: PlaybookDraft) -> Playbook:
        """Stores a valid draft as the tenant's next version; raises InvalidPlaybook if not."""
        problems = validate(draft)
        if problems:
            raise InvalidPlaybook(problems)
        document = json.dumps(draft_to_dict(draft), ensure_ascii=False)
        attempt = 1
        while True:
            try:
                async with self.db.transaction() as session:
                    repo = PlaybookRepository(session)
                    row = PlaybookVersion(
                        tenant_id=tenant_id,
                        version=await repo.last_version(tenant_id) + 1,
                        name=draft.name,
                        document=document,
                    )
                    await repo.add(row)
                return _published(row, draft)
            except IntegrityError:
                if attempt == _PUBLISH_ATTEMPTS:
                    raise
                attempt += 1
                log.info("a concurrent publish took the same version number; numbering again")

    async def versions(self, tenant_id: str) -> list[Playbook]:
        """Every version of the tenant, oldest first, starting with the default as version 0."""
        async with self.db.read() as session:
            rows = await PlaybookRepository(session).versions(tenant_id)
        return [default_playbook(tenant_id), *(_published(row) for row in rows)]

    async def version(self, tenant_id: str, version: int) -> Playbook | None:
        if version == 0:
            return default_playbook(tenant_id)
        async with self.db.read() as session:
            row = await PlaybookRepository(session).version(tenant_id, version)
        return _published(row) if row is not None else None
