"""worker health: SIP listener, calls held or lost while the journal fails, the snapshot's source;
the ``service_degraded`` alarm kind

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 08:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = (
    "lift_emergency",
    "emergency_call",
    "call_flood",
    "suspected_abuse",
    "wrong_trunk",
    "out_of_hours",
    "low_attestation",
    "unknown_ani",
    "decommissioned_device",
    "missed_test_call",
    "heartbeat_lost",
    "trunk_silent",
    "site_silent",
)
NEW_KINDS = (*OLD_KINDS, "service_degraded")


def _kind(values: tuple[str, ...], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=40)


def upgrade() -> None:
    with op.batch_alter_table("worker_status", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sip_listening", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("calls_held", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("calls_held_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("calls_unjournaled", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("calls_lost", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("snapshot_source", sa.String(length=16), server_default="database", nullable=False)
        )
        batch_op.add_column(sa.Column("snapshot_taken_at", sa.DateTime(timezone=True), nullable=True))
    # the kind columns' CHECK constraints learn the new value (SQLite: the table is rebuilt)
    for table, name in (("alarms", "alarm_kind"), ("alarm_rules", "alarm_rule_kind")):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "kind",
                existing_type=_kind(OLD_KINDS, name),
                type_=_kind(NEW_KINDS, name),
                existing_nullable=False,
            )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM alarms WHERE kind = 'service_degraded'"))
    op.execute(sa.text("DELETE FROM alarm_rules WHERE kind = 'service_degraded'"))
    for table, name in (("alarms", "alarm_kind"), ("alarm_rules", "alarm_rule_kind")):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "kind",
                existing_type=_kind(NEW_KINDS, name),
                type_=_kind(OLD_KINDS, name),
                existing_nullable=False,
            )
    with op.batch_alter_table("worker_status", schema=None) as batch_op:
        for column in (
            "snapshot_taken_at",
            "snapshot_source",
            "calls_lost",
            "calls_unjournaled",
            "calls_held_since",
            "calls_held",
            "sip_listening",
        ):
            batch_op.drop_column(column)
