"""relationship.judged_current: whether the customer's stage and risk were last judged on the
tenant's current data (alerts about the present wait for it). When a tenant's data becomes
current, the worker judges again the customers last judged without it: a customer whose last
contact came early in a load of history gets nothing new from the rest of it.
Existing rows count as judged: the upgrade re-judges nobody.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 02:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("relationship", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("judged_current", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("relationship", schema=None) as batch_op:
        batch_op.drop_column("judged_current")
