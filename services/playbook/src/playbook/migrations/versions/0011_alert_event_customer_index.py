"""alert events by customer: next best actions read each customer's latest out-of-pattern
alert (relayed from scoring) customer by customer through this index

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 14:50:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_alert_event_customer",
        "alert_event",
        ["tenant_id", "customer_id", "occurred_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_alert_event_customer", table_name="alert_event")
