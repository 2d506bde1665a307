"""retention_model keeps every fit: its primary key becomes (tenant_id, fitted_at), so that a
read as of a past moment uses the model in use then. Existing rows (one a tenant) stay.
Downgrading keeps each tenant's latest fit.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 05:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("retention_model", schema=None, recreate="always") as batch_op:
        batch_op.drop_constraint("pk_retention_model", type_="primary")
        batch_op.create_primary_key("pk_retention_model", ["tenant_id", "fitted_at"])


def downgrade() -> None:
    op.execute(
        "DELETE FROM retention_model WHERE fitted_at < (SELECT max(later.fitted_at) "
        "FROM retention_model AS later WHERE later.tenant_id = retention_model.tenant_id)"
    )
    with op.batch_alter_table("retention_model", schema=None, recreate="always") as batch_op:
        batch_op.drop_constraint("pk_retention_model", type_="primary")
        batch_op.create_primary_key("pk_retention_model", ["tenant_id"])
