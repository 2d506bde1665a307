"""relationship.standing_changed_at: when scoring last changed the customer's type or stage,
indexed for the playbook, which follows those changes (`ListRelationshipFeed` with
`standing_only`) to judge the customer again under its new standing. Existing rows stay
unset: they changed before anyone followed.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 11:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from relint.db import UtcDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("relationship", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("standing_changed_at", UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_relationship_standing_changed_at", ["standing_changed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("relationship", schema=None) as batch_op:
        batch_op.drop_index("ix_relationship_standing_changed_at")
        batch_op.drop_column("standing_changed_at")
