"""relationship.risk_alerted: whether the customer's present stretch at or above the at-risk
line has had its `at_risk` alert. Set when the alert is raised, cleared when the risk falls
below the line again, so each stretch alerts once, on the first pass with current data
(a load of history alerts for who is at risk at its end, not for every crossing in it).
Existing rows start unalerted: a customer at risk now is alerted once.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("relationship", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("risk_alerted", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("relationship", schema=None) as batch_op:
        batch_op.drop_column("risk_alerted")
