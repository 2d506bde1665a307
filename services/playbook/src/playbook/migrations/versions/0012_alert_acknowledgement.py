"""the playbook's own alerts (violations, deadlines approaching) can be acknowledged, as
scoring's can: who did and when, so that the gateway's open alerts leave them out; and are
read in the order raised, as a feed for the gateway's subscriptions

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from relint.db import UtcDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert_event") as batch:
        batch.add_column(sa.Column("acknowledged_at", UtcDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("acknowledged_by", sa.String(length=200), nullable=True))
    op.create_index("ix_alert_event_feed", "alert_event", ["occurred_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_alert_event_feed", table_name="alert_event")
    with op.batch_alter_table("alert_event") as batch:
        batch.drop_column("acknowledged_by")
        batch.drop_column("acknowledged_at")
