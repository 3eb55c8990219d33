"""deliveries queue index: a sink's pending deliveries in outbox order, for the relay's claim; it
replaces the due index, which PostgreSQL without statistics took for the claim's walk and then
sorted the whole backlog

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 13:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_queue", ["sink_id", "state", "seq"], unique=False)
        batch_op.drop_index("ix_deliveries_due")


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_due", ["sink_id", "state", "next_attempt_at"], unique=False)
        batch_op.drop_index("ix_deliveries_queue")
