"""Scoring's tables: each customer's relationship state and the interactions applied to it."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from relint.db import UtcDateTime, new_registry, utcnow


class ScoringTable(SQLModel, registry=new_registry()):
    """Base of scoring's tables; their metadata is scoring's alone."""


class Relationship(ScoringTable, table=True):
    tenant_id: str = Field(primary_key=True, max_length=36)
    customer_id: str = Field(primary_key=True, max_length=36)
    value: float = 0.0
    interaction_count: int = 0
    last_interaction_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_contribution: float = 0.0
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class AppliedInteraction(ScoringTable, table=True):
    """One interaction applied to a relationship: the idempotency record and its effect."""

    __tablename__ = "applied_interaction"

    interaction_id: str = Field(primary_key=True, max_length=36)
    tenant_id: str = Field(max_length=36, index=True)
    customer_id: str = Field(max_length=36, index=True)
    occurred_at: datetime = Field(sa_type=UtcDateTime)
    channel: str = Field(max_length=32)
    kind: str = Field(max_length=64)
    contribution: float
    applied_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
