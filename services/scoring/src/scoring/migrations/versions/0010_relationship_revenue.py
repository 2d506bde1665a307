"""relationship revenue (net of refunds) for ordering, and an index on updated_at for the
relationship feed

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 20:35:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("relationship", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revenue", sa.Float(), nullable=False, server_default="0"))
        batch_op.create_index(
            batch_op.f("ix_relationship_updated_at"), ["updated_at"], unique=False
        )
    # What every relationship has brought so far, from the interactions already applied.
    op.execute(
        "UPDATE relationship SET revenue = COALESCE((SELECT SUM(a.revenue - a.refund) "
        "FROM applied_interaction a WHERE a.tenant_id = relationship.tenant_id "
        "AND a.customer_id = relationship.customer_id), 0)"
    )
    with op.batch_alter_table("relationship", schema=None) as batch_op:
        batch_op.alter_column("revenue", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("relationship", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_relationship_updated_at"))
        batch_op.drop_column("revenue")
