"""registry revision: a one-row counter moved with every registry change (the SIP snapshot's cue)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registry_revision",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_registry_revision_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_revision")),
    )
    # continue from the old revision (the highest change-log id), so that it never goes backwards
    op.execute(
        "INSERT INTO registry_revision (id, value, changed_at) "
        "SELECT 1, COALESCE(MAX(id), 0), CURRENT_TIMESTAMP FROM change_log"
    )


def downgrade() -> None:
    op.drop_table("registry_revision")
