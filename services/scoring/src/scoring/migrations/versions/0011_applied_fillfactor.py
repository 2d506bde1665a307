"""room on every page of applied_interaction (PostgreSQL): a new weight table rewrites the
contribution and reason of every row, and with free space on the page PostgreSQL updates the
row in place of its page (a HOT update: no new entries in the table's three indexes)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 06:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTOR = 70


def upgrade() -> None:
    # Applies to pages written from now on; SQLite has no such setting (and no need).
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE applied_interaction SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE applied_interaction RESET (fillfactor)")
