"""applied_interaction: half of each page free on PostgreSQL (fillfactor 50, from 70), and
one index (tenant_id, customer_id, occurred_at) instead of one on tenant_id and one on
customer_id. A new weight table rewrites every row's contribution and reason; at 70 there
was room on its page for ~40% of the new versions (the rest were written into every index
too), at 50 for nearly all (in-page HOT updates). The one index serves a tenant's rows and a
customer's history in time order, and a version that does not fit its page writes into two
indexes instead of three.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 11:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTOR = 50
PREVIOUS_FILLFACTOR = 70


def upgrade() -> None:
    with op.batch_alter_table("applied_interaction") as batch_op:
        batch_op.create_index(
            "ix_applied_interaction_customer",
            ["tenant_id", "customer_id", "occurred_at"],
            unique=False,
        )
        batch_op.drop_index("ix_applied_interaction_tenant_id")
        batch_op.drop_index("ix_applied_interaction_customer_id")
    # Applies to pages written from now on.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE applied_interaction SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE applied_interaction SET (fillfactor = {PREVIOUS_FILLFACTOR})")
    with op.batch_alter_table("applied_interaction") as batch_op:
        batch_op.create_index("ix_applied_interaction_customer_id", ["customer_id"])
        batch_op.create_index("ix_applied_interaction_tenant_id", ["tenant_id"])
        batch_op.drop_index("ix_applied_interaction_customer")
