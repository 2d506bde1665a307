"""judging speed: a partial index of the customers to judge

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customer_state", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_state_dirty")
        batch_op.create_index(
            "ix_customer_state_to_judge",
            ["tenant_id", "customer_id"],
            unique=False,
            sqlite_where=sa.text("dirty"),
            postgresql_where=sa.text("dirty"),
        )


def downgrade() -> None:
    with op.batch_alter_table("customer_state", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_customer_state_to_judge",
            sqlite_where=sa.text("dirty"),
            postgresql_where=sa.text("dirty"),
        )
        batch_op.create_index("ix_customer_state_dirty", ["dirty"], unique=False)
