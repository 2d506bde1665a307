"""relationship.types_since: set when interactions arrive for a placed customer from before the
month began (a late event, an import, a merge), the earliest of them; the worker places its
types at the month ends from there again, so that as-of reads of its past types count them.
Existing rows start unmarked.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 02:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from relint.db import UtcDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("relationship", schema=None) as batch_op:
        batch_op.add_column(sa.Column("types_since", UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("relationship", schema=None) as batch_op:
        batch_op.drop_column("types_since")
