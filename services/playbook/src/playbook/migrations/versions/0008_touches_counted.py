"""touches counted: each customer's count of the interactions the playbook received

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customer_state", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("touches", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.execute(
        "UPDATE customer_state SET touches = (SELECT count(*) FROM touch "
        "WHERE touch.tenant_id = customer_state.tenant_id "
        "AND touch.customer_id = customer_state.customer_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("customer_state", schema=None) as batch_op:
        batch_op.drop_column("touches")
