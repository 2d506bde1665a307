"""withdrawals to signal: a violation withdrawn (or found again) is owed to scoring anew, in
its new state, so the partial index of those owed no longer leaves the withdrawn out; the
withdrawn ones scoring was already told of are owed again, to take their effect back

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 14:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWED_BEFORE = "signalled_at IS NULL AND withdrawn_at IS NULL"
OWED = "signalled_at IS NULL"


def _index(batch_op: object, where: str) -> None:
    batch_op.create_index(  # type: ignore[attr-defined]
        "ix_violation_to_signal",
        ["detected_at", "id"],
        unique=False,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    with op.batch_alter_table("violation", schema=None) as batch_op:
        batch_op.drop_index("ix_violation_to_signal")
        _index(batch_op, OWED)
    op.execute(
        "UPDATE violation SET signalled_at = NULL "
        "WHERE withdrawn_at IS NOT NULL AND signalled_at IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("violation", schema=None) as batch_op:
        batch_op.drop_index("ix_violation_to_signal")
        _index(batch_op, OWED_BEFORE)
