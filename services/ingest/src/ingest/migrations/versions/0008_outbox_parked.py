"""outbox parked: entries a subscriber refused for good, set aside (not lost) so that the
stream behind them goes on, until `ingest outbox replay` puts them back

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from relint.db import UtcDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_parked",
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("subscriber", sa.String(length=64), nullable=False),
        sa.Column("interaction_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("parked_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("sequence"),
    )


def downgrade() -> None:
    op.drop_table("outbox_parked")
