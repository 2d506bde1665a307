"""relationship.dirty_marks: how many times the relationship was marked for the stage worker.
A stage pass clears the mark it read only if no other mark came while it worked: an
interaction later than the mark's moment, or a tenant-wide mark, did not move `dirty_since`,
so comparing `dirty_since` let a pass clear a mark it had not judged.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 18:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("relationship", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dirty_marks", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("relationship", schema=None) as batch_op:
        batch_op.drop_column("dirty_marks")
