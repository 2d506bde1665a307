"""program picks: the customers each program standard picked, per period

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 14:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from relint.db import UtcDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "program_pick",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("standard_key", sa.String(length=64), nullable=False),
        sa.Column("period_start", UtcDateTime(timezone=True), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("potential", sa.Float(), nullable=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "standard_key", "period_start", "customer_id"),
    )
    op.create_index(
        "ix_program_pick_customer", "program_pick", ["tenant_id", "customer_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_program_pick_customer", table_name="program_pick")
    op.drop_table("program_pick")
