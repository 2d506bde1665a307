"""type since: when the customer was placed in its relationship type

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 08:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from relint.db import UtcDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("relationship", schema=None) as batch_op:
        batch_op.add_column(sa.Column("type_since", UtcDateTime(timezone=True), nullable=True))
    # Customers already placed: since their last type change.
    op.execute(
        """
        UPDATE relationship SET type_since = (
            SELECT MAX(c.at) FROM state_change c
            WHERE c.tenant_id = relationship.tenant_id
              AND c.customer_id = relationship.customer_id
              AND c.dimension = 'type'
        )
        WHERE relationship_type <> ''
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("relationship", schema=None) as batch_op:
        batch_op.drop_column("type_since")
