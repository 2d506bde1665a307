"""Playbook's tables: every published version of each tenant's playbook, never changed."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from relint.db import UtcDateTime, new_registry, utcnow


def new_id() -> str:
    return str(uuid.uuid4())


class PlaybookTable(SQLModel, registry=new_registry()):
    """Base of playbook's tables; their metadata is playbook's alone."""


class PlaybookVersion(PlaybookTable, table=True):
    """One published version; `document` is the draft as JSON (domain.draft_to_dict)."""

    __tablename__ = "playbook_version"
    # Also what makes two concurrent publishes of the same version number fail.
    __table_args__ = (UniqueConstraint("tenant_id", "version"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(max_length=36)
    version: int
    name: str = Field(max_length=200)
    document: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
