"""interactions indexed by customer alone

A customer id is unique across tenants, so the index by (customer, occurred_at) needs no
tenant in front. With the tenant in front, it matched every query that names a tenant: on a
table PostgreSQL had no statistics for yet (a new database in its first minute, or any with
autovacuum off), the lookup of stored source ids walked it and scanned all of a tenant's
interactions once per id, instead of probing the unique (tenant, source, source_id) index.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 13:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("interaction", schema=None) as batch_op:
        batch_op.drop_index("ix_interaction_customer_occurred")
        batch_op.create_index(
            "ix_interaction_customer_occurred", ["customer_id", "occurred_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("interaction", schema=None) as batch_op:
        batch_op.drop_index("ix_interaction_customer_occurred")
        batch_op.create_index(
            "ix_interaction_customer_occurred",
            ["tenant_id", "customer_id", "occurred_at"],
            unique=False,
        )
