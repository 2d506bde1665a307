"""violations to signal: a partial index of those still owed to scoring, in handing order

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 18:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWED = "signalled_at IS NULL AND withdrawn_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("violation", schema=None) as batch_op:
        batch_op.drop_index("ix_violation_signalled_at")
        batch_op.create_index(
            "ix_violation_to_signal",
            ["detected_at", "id"],
            unique=False,
            sqlite_where=sa.text(OWED),
            postgresql_where=sa.text(OWED),
        )


def downgrade() -> None:
    with op.batch_alter_table("violation", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_violation_to_signal", sqlite_where=sa.text(OWED), postgresql_where=sa.text(OWED)
        )
        batch_op.create_index("ix_violation_signalled_at", ["signalled_at"], unique=False)
