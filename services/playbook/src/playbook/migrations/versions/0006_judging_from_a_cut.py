"""judging from a cut: per customer, the earliest moment whose interactions changed

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import relint.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # None for every customer there: the next judgement reads its whole history.
    with op.batch_alter_table("customer_state", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("changed_from", relint.db.UtcDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("customer_state", schema=None) as batch_op:
        batch_op.drop_column("changed_from")
