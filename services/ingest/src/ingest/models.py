"""Ingest's tables: tenants, partners and their keys, customers with their identifiers,
contacts and merges, interactions, the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from relint.db import UtcDateTime, new_id, new_registry, utcnow


class IngestTable(SQLModel, registry=new_registry()):
    """Base of ingest's tables; their metadata is ingest's alone."""


class Tenant(IngestTable, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=200, unique=True)
    # The company's own mail domains: mail from them is outbound, and never names a customer.
    email_domains: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Partner(IngestTable, table=True):
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    # A removed partner's keys are all revoked and it cannot be issued new ones.
    removed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class KindMapping(IngestTable, table=True):
    """A tenant's own name for a kind of a channel, mapped onto the canonical taxonomy."""

    __tablename__ = "kind_mapping"
    __table_args__ = (UniqueConstraint("tenant_id", "channel", "source_kind"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    channel: str = Field(max_length=32)
    source_kind: str = Field(max_length=64)
    kind: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class ApiKey(IngestTable, table=True):
    """A partner's key. Only its public lookup id and a peppered hash of the secret are kept."""

    __tablename__ = "api_key"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    lookup_id: str = Field(unique=True, max_length=32)
    secret_hash: str = Field(max_length=64)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    partner_id: str = Field(foreign_key="partner.id", index=True, max_length=36)
    scopes: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class Customer(IngestTable, table=True):
    """An account. Without an external id it is provisional: known only by its identifiers
    (a source's id, a contact, a domain) until the tenant's own id for it arrives."""

    __table_args__ = (
        UniqueConstraint("tenant_id", "external_id"),
        # The pages of a tenant's customers, by id: a walk that stops after a page, with or
        # without planner statistics (migration 0006).
        Index(
            "ix_customer_tenant_page",
            "tenant_id",
            "id",
            postgresql_where=text("merged_into_id IS NULL"),
            sqlite_where=text("merged_into_id IS NULL"),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", max_length=36)
    external_id: str | None = Field(default=None, max_length=200)
    name: str = Field(default="", max_length=300)
    # Set once this customer was merged into another; every lookup follows it (one hop).
    merged_into_id: str | None = Field(default=None, max_length=36, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    first_seen_at: datetime = Field(sa_type=UtcDateTime)
    last_seen_at: datetime = Field(sa_type=UtcDateTime)
    interaction_count: int = Field(default=0, sa_type=BigInteger)


class CustomerIdentifier(IngestTable, table=True):
    """Another name of a customer: a source system's id for the account (scheme = the
    source's name) or an email domain the account owns (scheme = "domain")."""

    __tablename__ = "customer_identifier"
    __table_args__ = (UniqueConstraint("tenant_id", "scheme", "value"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", max_length=36)
    scheme: str = Field(max_length=100)
    value: str = Field(max_length=254)
    customer_id: str = Field(foreign_key="customer.id", index=True, max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Contact(IngestTable, table=True):
    """A person at a customer, known by email address and/or the tenant's user id."""

    __table_args__ = (
        UniqueConstraint("tenant_id", "email"),
        UniqueConstraint("tenant_id", "external_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", max_length=36)
    customer_id: str | None = Field(
        default=None, foreign_key="customer.id", index=True, max_length=36
    )
    email: str | None = Field(default=None, max_length=254)
    external_id: str | None = Field(default=None, max_length=200)
    name: str = Field(default="", max_length=300)
    traits: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class CustomerMerge(IngestTable, table=True):
    """A recorded merge: two customers found to be one account, and why."""

    __tablename__ = "customer_merge"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=36)
    merged_id: str = Field(foreign_key="customer.id", max_length=36)
    into_id: str = Field(foreign_key="customer.id", index=True, max_length=36)
    reason: str = Field(max_length=500)
    interactions_moved: int = Field(default=0, sa_type=BigInteger)
    merged_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Interaction(IngestTable, table=True):
    __table_args__ = (
        UniqueConstraint("tenant_id", "source", "source_id"),
        # A customer id is unique across tenants: no tenant in front (migration 0005).
        Index("ix_interaction_customer_occurred", "customer_id", "occurred_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    # No foreign keys here or on the outbox: a per-row check cost ~45% of a batch's write,
    # and only the accept path writes these rows, naming rows it read or wrote in the same
    # transaction; nothing is ever deleted (migration 0007, tests/ingest/test_integrity.py).
    tenant_id: str = Field(max_length=36)
    customer_id: str = Field(max_length=36)
    contact_id: str | None = Field(default=None, max_length=36)
    occurred_at: datetime = Field(sa_type=UtcDateTime)
    channel: str = Field(max_length=32)
    kind: str = Field(max_length=64)
    direction: str = Field(max_length=16)
    sentiment: float | None = None
    # Money in millionths of the currency unit: exact, and fast to sum.
    amount_micros: int | None = Field(default=None, sa_type=BigInteger)
    amount_type: str | None = Field(default=None, max_length=16)
    currency: str | None = Field(default=None, max_length=3)
    employee: str | None = Field(default=None, max_length=200)
    text: str | None = None
    source: str = Field(max_length=100)
    source_id: str | None = Field(default=None, max_length=200)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    traceparent: str = Field(default="", max_length=64)


class OutboxEntry(IngestTable, table=True):
    """An accepted interaction not yet acknowledged by one subscriber; deleted once it is."""

    __tablename__ = "outbox_entry"
    __table_args__ = (Index("ix_outbox_entry_subscriber_sequence", "subscriber", "sequence"),)

    sequence: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    subscriber: str = Field(max_length=64)
    interaction_id: str = Field(max_length=36)  # no foreign key: see Interaction
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class ParkedOutboxEntry(IngestTable, table=True):
    """An outbox entry its subscriber refused for good (it answered INVALID_ARGUMENT, or its
    message could not be built), set aside so that the stream behind it goes on; the
    interaction itself stays stored. `ingest outbox replay` puts it back in the outbox."""

    __tablename__ = "outbox_parked"

    sequence: int = Field(sa_column=Column(BigInteger(), primary_key=True))
    subscriber: str = Field(max_length=64)
    interaction_id: str = Field(max_length=36)
    created_at: datetime = Field(sa_type=UtcDateTime)
    parked_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    reason: str = Field(default="", max_length=500)
