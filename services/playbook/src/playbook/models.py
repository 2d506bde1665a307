"""Playbook's tables: every published version of each tenant's playbook, never changed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from relint.db import UtcDateTime, new_id, new_registry, utcnow


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


class TouchRow(PlaybookTable, table=True):
    """What the playbook keeps of one interaction delivered by ingest (evaluation.Touch)."""

    __tablename__ = "touch"
    __table_args__ = (Index("ix_touch_customer", "tenant_id", "customer_id", "occurred_at"),)

    # Ingest's interaction id: a second delivery of it changes nothing.
    id: str = Field(primary_key=True, max_length=36)
    tenant_id: str = Field(max_length=36)
    customer_id: str = Field(max_length=36)
    occurred_at: datetime = Field(sa_type=UtcDateTime)
    channel: str = Field(max_length=32)
    kind: str = Field(max_length=64)
    direction: str = Field(default="", max_length=16)
    employee: str = Field(default="", max_length=200)
    reference: str = Field(default="", max_length=200)
    notice_days: float | None = None


class CustomerState(PlaybookTable, table=True):
    """Per customer: where it stands (from scoring), and when it must be judged again."""

    __tablename__ = "customer_state"
    # Only the customers to judge: judging asks for them after every delivered batch.
    __table_args__ = (
        Index(
            "ix_customer_state_to_judge",
            "tenant_id",
            "customer_id",
            sqlite_where=text("dirty"),
            postgresql_where=text("dirty"),
        ),
    )

    tenant_id: str = Field(primary_key=True, max_length=36)
    customer_id: str = Field(primary_key=True, max_length=36)
    relationship_type: str = Field(default="", max_length=60)
    type_since: datetime | None = Field(default=None, sa_type=UtcDateTime)
    stage: str = Field(default="", max_length=32)
    stage_since: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # New interactions (or a new standing) not yet judged.
    dirty: bool = True
    # Counts the marks: a judgement clears `dirty` only if no mark came while it ran.
    revision: int = 0
    # The earliest moment whose interactions changed since the last judgement (that
    # judgement's moment when none did): the next one judges from there. None: the whole
    # history (a new customer, a merge, a new playbook version).
    changed_from: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # The earliest open obligation: the clock judges again then.
    next_due_at: datetime | None = Field(default=None, sa_type=UtcDateTime, index=True)
    judged_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    playbook_version: int = 0
    # The customer's interactions received (touches kept here), for the views' freshness.
    touches: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})


class ObligationRow(PlaybookTable, table=True):
    """Something owed to a customer under a standard, and by when; replaced on each
    judgement of the customer."""

    __tablename__ = "obligation"
    __table_args__ = (
        Index("ix_obligation_customer", "tenant_id", "customer_id"),
        Index("ix_obligation_due", "tenant_id", "due_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(max_length=36)
    customer_id: str = Field(max_length=36)
    standard_key: str = Field(max_length=64)
    standard_title: str = Field(max_length=200)
    team: str = Field(max_length=64)
    relationship_type: str = Field(default="", max_length=60)
    playbook_version: int
    due_at: datetime = Field(sa_type=UtcDateTime)
    opened_at: datetime = Field(sa_type=UtcDateTime)
    trigger_id: str = Field(default="", max_length=36)
    trigger_reference: str = Field(default="", max_length=200)
    employee: str = Field(default="", max_length=200)
    what: str = Field(max_length=500)


class ViolationRow(PlaybookTable, table=True):
    """A standard missed. Never deleted: withdrawn when a late-delivered interaction shows
    the standard was met after all."""

    __tablename__ = "violation"
    __table_args__ = (
        Index("ix_violation_customer", "tenant_id", "customer_id", "due_at"),
        Index("ix_violation_detected", "tenant_id", "detected_at"),
        # The violations still owed to scoring (new, withdrawn or found again), in the order
        # they are handed over: a page of them is the index's first rows, however many are
        # owed (a plain index of signalled_at made each page sort every owed one).
        Index(
            "ix_violation_to_signal",
            "detected_at",
            "id",
            sqlite_where=text("signalled_at IS NULL"),
            postgresql_where=text("signalled_at IS NULL"),
        ),
    )

    # Derived from the tenant, the customer and the violation's key: found again, the same.
    id: str = Field(primary_key=True, max_length=36)
    tenant_id: str = Field(max_length=36)
    customer_id: str = Field(max_length=36)
    standard_key: str = Field(max_length=64)
    standard_title: str = Field(max_length=200)
    team: str = Field(max_length=64)
    playbook_version: int
    due_at: datetime = Field(sa_type=UtcDateTime)
    detected_at: datetime = Field(sa_type=UtcDateTime)
    interaction_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    employee: str = Field(default="", max_length=200)
    reason: str = Field(max_length=500)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    withdrawn_reason: str = Field(default="", max_length=500)
    # When scoring acknowledged it as a negative signal; None while it is still owed.
    signalled_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class AlertEvent(PlaybookTable, table=True):
    """An alert to send out: the playbook's own (violations, deadlines approaching) and
    scoring's (from its alert feed). Kept once per id; deliveries are made from it."""

    __tablename__ = "alert_event"
    __table_args__ = (
        Index("ix_alert_event_tenant", "tenant_id", "occurred_at"),
        # A customer's alerts, for its next best actions.
        Index("ix_alert_event_customer", "tenant_id", "customer_id", "occurred_at"),
        # Every tenant's alerts in the order raised, for the gateway's subscriptions.
        Index("ix_alert_event_feed", "occurred_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=36)
    tenant_id: str = Field(max_length=36)
    customer_id: str = Field(max_length=36)
    # violation, deadline_approaching, violation_withdrawn, at_risk, stage_change,
    # out_of_pattern
    kind: str = Field(max_length=32)
    severity: str = Field(max_length=16)
    reason: str = Field(max_length=500)
    occurred_at: datetime = Field(sa_type=UtcDateTime)
    source: str = Field(max_length=16)
    # The playbook's own alerts are acknowledged here; scoring's, in scoring.
    acknowledged_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=200)


class WebhookSubscription(PlaybookTable, table=True):
    """A partner's URL for some alert kinds. The secret signs each delivery (HMAC-SHA256);
    it is shown once, at creation or rotation, and never returned again. After a rotation
    the previous secret signs too, beside the new one, until `previous_secret_until`."""

    __tablename__ = "webhook_subscription"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(max_length=36, index=True)
    url: str = Field(max_length=2000)
    kinds: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    secret: str = Field(max_length=100)
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_until: datetime | None = Field(default=None, sa_type=UtcDateTime)
    description: str = Field(default="", max_length=200)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class WebhookDelivery(PlaybookTable, table=True):
    """One event to one subscription: the delivery log, retried with backoff."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(max_length=36)
    subscription_id: str = Field(max_length=36)
    event_id: str = Field(max_length=36)
    kind: str = Field(max_length=32)
    body: str = Field(sa_type=Text)
    # pending, delivered, failed (gave up after the last retry)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_status_code: int | None = None
    last_error: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class FeedCursor(PlaybookTable, table=True):
    """How far the playbook has read another service's alert feed."""

    __tablename__ = "feed_cursor"

    source: str = Field(primary_key=True, max_length=32)
    since: datetime = Field(sa_type=UtcDateTime)


class ProgramPick(PlaybookTable, table=True):
    """A customer picked for a program standard (domain.Program) for the period that began
    at `period_start`; kept, so that judging sees what it is owed and the next period does
    not pick it again."""

    __tablename__ = "program_pick"
    __table_args__ = (Index("ix_program_pick_customer", "tenant_id", "customer_id"),)

    tenant_id: str = Field(primary_key=True, max_length=36)
    standard_key: str = Field(primary_key=True, max_length=64)
    period_start: datetime = Field(primary_key=True, sa_type=UtcDateTime)
    customer_id: str = Field(primary_key=True, max_length=36)
    # Why it was picked: scoring's profit-improvement potential and its reason, its value.
    potential: float | None = None
    value: float = 0.0
    reason: str = Field(default="", max_length=500)
