"""applied interaction issue type and text: what the analysis lenses read

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 20:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("applied_interaction", schema=None) as batch_op:
        batch_op.add_column(sa.Column("issue_type", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("text", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("applied_interaction", schema=None) as batch_op:
        batch_op.drop_column("text")
        batch_op.drop_column("issue_type")
