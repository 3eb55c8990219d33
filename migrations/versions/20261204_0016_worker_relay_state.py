"""worker health: the event relay process, supervised like the recorder

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("worker_status", schema=None) as batch_op:
        batch_op.add_column(sa.Column("relay_state", sa.String(length=16), server_default="off", nullable=False))
        batch_op.add_column(sa.Column("relay_pid", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("relay_restarts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("relay_last_error", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("worker_status", schema=None) as batch_op:
        for column in ("relay_last_error", "relay_restarts", "relay_pid", "relay_state"):
            batch_op.drop_column(column)
