"""a tenant's customers paged by id

`customers(first: 100)` lists a tenant's customers that were not merged away, by id, after a
cursor. Without planner statistics PostgreSQL ANDed the tenant's whole unique index with the
merged-into index and sorted: 16 ms for a tenant of 50,000 customers. This partial index is
that listing's order, so a page is a walk of its length.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.create_index(
            "ix_customer_tenant_page",
            ["tenant_id", "id"],
            unique=False,
            postgresql_where=sa.text("merged_into_id IS NULL"),
            sqlite_where=sa.text("merged_into_id IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_tenant_page")
