"""Scoring's tables: each customer's relationship state, the interactions applied to it, the
history of its type and stage, alerts, and each tenant's settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from relint.db import UtcDateTime, new_id, new_registry, utcnow


class ScoringTable(SQLModel, registry=new_registry()):
    """Base of scoring's tables; their metadata is scoring's alone."""


class Relationship(ScoringTable, table=True):
    tenant_id: str = Field(primary_key=True, max_length=36)
    customer_id: str = Field(primary_key=True, max_length=36)
    # The value at `updated_at`, for ordering; reads compute it at the moment asked.
    value: float = 0.0
    # The value as two sums of contributions scaled to scoring.domain.EPOCH (see `mass`).
    good_mass: float = 0.0
    bad_mass: float = 0.0
    interaction_count: int = 0
    # Revenue net of refunds over the whole relationship, for ordering and lists.
    revenue: float = 0.0
    first_interaction_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_interaction_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_contribution: float = 0.0
    relationship_type: str = Field(default="", max_length=60)
    type_reason: str = Field(default="", max_length=500)
    # Since when the customer has its type: the moment it was placed there.
    type_since: datetime | None = Field(default=None, sa_type=UtcDateTime)
    stage: str = Field(default="", max_length=32)
    stage_since: datetime | None = Field(default=None, sa_type=UtcDateTime)
    stage_reason: str = Field(default="", max_length=500)
    # How likely the relationship is to end (0..1), and why, strongest reason first.
    risk: float = Field(default=0.0, index=True)
    risk_reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    # Whether this stretch at or above `risk.AT_RISK` has had its at_risk alert.
    risk_alerted: bool = Field(default=False)
    # Whether its stage and risk were last judged on the tenant's current data, alerts about
    # the present included; those that were not are judged again once the data is current.
    judged_current: bool = Field(default=False)
    # From the tenant's retention model (None until it has one): the probability the
    # customer still buys, its expected purchases in 90 days and its value over a year.
    p_alive: float | None = None
    expected_purchases: float | None = None
    lifetime_value: float | None = None
    # Revenue a year it could bring, behaving like the best customers (see potential.py).
    potential: float | None = None
    potential_reason: str = Field(default="", max_length=500)
    # Set when interactions arrived for a placed customer from before the month began (a
    # late event, an import): the earliest of them. Its types at the month ends from there
    # are placed again (`ScoringService.classify_tenant`).
    types_since: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # Set when interactions arrived that the stage has not been evaluated with: the
    # earliest of them, so a late one makes the stage be evaluated again from there.
    dirty_since: datetime | None = Field(default=None, sa_type=UtcDateTime, index=True)
    # How many times it was marked: a stage pass clears the mark it read only if no other
    # came while it worked (a later interaction does not move `dirty_since`).
    dirty_marks: int = Field(default=0)
    # Indexed: the gateway's subscriptions read the relationships changed since a moment.
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
    # When scoring last changed the type or the stage (not the moments they name): the
    # playbook follows these changes to judge the customer again.
    standing_changed_at: datetime | None = Field(default=None, sa_type=UtcDateTime, index=True)


class AppliedInteraction(ScoringTable, table=True):
    """One interaction applied to a relationship: the idempotency record and its effect."""

    __tablename__ = "applied_interaction"
    # One index for a tenant's rows and a customer's history in time order (migration 0012:
    # it replaced one on tenant_id and one on customer_id, a row update that cannot stay on
    # its page writes into every index).
    __table_args__ = (
        Index("ix_applied_interaction_customer", "tenant_id", "customer_id", "occurred_at"),
    )

    interaction_id: str = Field(primary_key=True, max_length=36)
    tenant_id: str = Field(max_length=36)
    customer_id: str = Field(max_length=36)
    occurred_at: datetime = Field(sa_type=UtcDateTime)
    channel: str = Field(max_length=32)
    kind: str = Field(max_length=64)
    direction: str = Field(default="", max_length=16)
    sentiment: float | None = None
    revenue: float = 0.0
    refund: float = 0.0
    cost: float = 0.0
    outcome: str | None = Field(default=None, max_length=32)
    employee: str | None = Field(default=None, max_length=200)
    # The service issue type (attributes["issue_type"]) and the customer's own words (first
    # TEXT_LIMIT characters), for the analysis lenses (scoring.analysis).
    issue_type: str | None = Field(default=None, max_length=64)
    text: str | None = Field(default=None, max_length=2000)
    contribution: float
    # Why it counts, in words ("a complaint with very negative words").
    reason: str = Field(default="", max_length=200)
    applied_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class StateChange(ScoringTable, table=True):
    """A change of a customer's relationship type or stage, with its reason: the history
    that as-of reads and timelines come from."""

    __tablename__ = "state_change"
    __table_args__ = (
        Index("ix_state_change_customer", "tenant_id", "customer_id", "dimension", "at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(max_length=36)
    customer_id: str = Field(max_length=36)
    dimension: str = Field(max_length=16)  # "type" or "stage"
    at: datetime = Field(sa_type=UtcDateTime)
    previous: str | None = Field(default=None, max_length=60)
    current: str = Field(max_length=60)
    reason: str = Field(default="", max_length=500)


class Alert(ScoringTable, table=True):
    """Something a manager should look at; one per dedup key, acknowledgeable."""

    __table_args__ = (UniqueConstraint("tenant_id", "dedup_key"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(max_length=36, index=True)
    customer_id: str = Field(max_length=36, index=True)
    kind: str = Field(max_length=32)  # stage_change, at_risk, out_of_pattern
    severity: str = Field(max_length=16)  # info, warning, critical
    reason: str = Field(max_length=500)
    dedup_key: str = Field(max_length=200)
    raised_at: datetime = Field(sa_type=UtcDateTime, index=True)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=200)


class TenantSettings(ScoringTable, table=True):
    """A tenant's own weight table and relationship types (defaults when absent)."""

    __tablename__ = "tenant_settings"

    tenant_id: str = Field(primary_key=True, max_length=36)
    weights: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    types: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    version: int = 1
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class RetentionModel(ScoringTable, table=True):
    """A tenant's fitted BG/NBD and Gamma-Gamma parameters (weekly periods): one row a fit,
    the model in use from `fitted_at` (the moment of the data it was fitted on) until the
    next, so that a read as of a past moment uses the model of then."""

    __tablename__ = "retention_model"

    tenant_id: str = Field(primary_key=True, max_length=36)
    # Which model forecasts for the tenant: the one that ranked its own later purchases
    # better ("bgnbd" or "pareto_nbd"); both are kept.
    kind: str = Field(default="bgnbd", max_length=16)
    bgnbd: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON))
    pareto_nbd: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON))
    gamma_gamma: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON))
    customers: int = 0
    fitted_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, primary_key=True)


class HistoryArrival(ScoringTable, table=True):
    """When interactions older than `CURRENT_DATA` last arrived for a tenant (a load of its
    history), shared by every scoring process: alerts about the present wait until none has
    arrived for the settle time, whichever replica applied them, and then one pass marks the
    customers judged meanwhile to be judged again (`judged_again_for`: the arrival it did
    that for)."""

    __tablename__ = "history_arrival"

    tenant_id: str = Field(primary_key=True, max_length=36)
    arrived_at: datetime = Field(sa_type=UtcDateTime)
    judged_again_for: datetime | None = Field(default=None, sa_type=UtcDateTime)
