"""outbox: domain events written with their cause, in commit order (seq from a one-row counter)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=48), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("center_id", sa.Integer(), nullable=True),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("seq", name=op.f("uq_outbox_seq")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_event_id")),
    )
    op.create_index("ix_outbox_center_seq", "outbox", ["center_id", "seq"])
    op.create_index("ix_outbox_site_seq", "outbox", ["site_id", "seq"])
    op.create_index("ix_outbox_device_seq", "outbox", ["device_id", "seq"])
    op.create_index(op.f("ix_outbox_type"), "outbox", ["type"])
    op.create_table(
        "outbox_sequence",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_outbox_sequence_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_sequence")),
    )
    op.execute("INSERT INTO outbox_sequence (id, value) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("outbox_sequence")
    op.drop_index(op.f("ix_outbox_type"), table_name="outbox")
    op.drop_index("ix_outbox_device_seq", table_name="outbox")
    op.drop_index("ix_outbox_site_seq", table_name="outbox")
    op.drop_index("ix_outbox_center_seq", table_name="outbox")
    op.drop_table("outbox")
