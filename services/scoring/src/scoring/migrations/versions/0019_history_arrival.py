"""history_arrival: when a tenant's history (interactions older than three days) last
arrived, in the store, so that every scoring replica holds its alerts while a load arrives,
not only the one that applied it.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 23:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import relint.db

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "history_arrival",
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("arrived_at", relint.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("judged_again_for", relint.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id"),
    )


def downgrade() -> None:
    op.drop_table("history_arrival")
