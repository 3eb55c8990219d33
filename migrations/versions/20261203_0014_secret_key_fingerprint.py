"""secret key fingerprint: every host serving one database must share ANIGATE_SECRET_KEY

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "secret_key_fingerprint",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("set_by", sa.String(length=255), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_secret_key_fingerprint_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secret_key_fingerprint")),
    )


def downgrade() -> None:
    op.drop_table("secret_key_fingerprint")
