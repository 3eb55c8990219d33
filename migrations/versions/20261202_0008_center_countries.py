"""security centers: the countries whose unknown callers each center takes first

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # existing centers list no country: until an admin names them, the countries of each center's
    # sites stand in for unknown callers (routing.snapshot)
    with op.batch_alter_table("security_centers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("countries", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    with op.batch_alter_table("security_centers", schema=None) as batch_op:
        batch_op.alter_column("countries", existing_type=sa.JSON(), existing_nullable=False, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("security_centers", schema=None) as batch_op:
        batch_op.drop_column("countries")
