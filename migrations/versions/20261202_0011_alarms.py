"""alarms: ISA-18.2 alarms with X.733 fields and their transitions, alarm rules, silences, job leases

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("security_centers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ack_deadlines", sa.JSON(), server_default="{}", nullable=False))
    with op.batch_alter_table("trunks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rescue_ended_marker", sa.String(length=200), server_default="", nullable=False)
        )
    op.create_table('alarm_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trigger', sa.Enum('emergency_call', 'call_flood', 'wrong_trunk', 'out_of_hours', 'low_attestation', 'unknown_ani', 'decommissioned_device', 'missed_test_call', 'heartbeat_lost', 'trunk_silent', 'site_silent', name='alarm_trigger', native_enum=False, create_constraint=True, length=40), nullable=False),
    sa.Column('device_kind', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.Enum('lift_emergency', 'emergency_call', 'call_flood', 'suspected_abuse', 'wrong_trunk', 'out_of_hours', 'low_attestation', 'unknown_ani', 'decommissioned_device', 'missed_test_call', 'heartbeat_lost', 'trunk_silent', 'site_silent', name='alarm_rule_kind', native_enum=False, create_constraint=True, length=40), nullable=False),
    sa.Column('severity', sa.Enum('critical', 'major', 'minor', 'warning', 'indeterminate', 'cleared', name='alarm_rule_severity', native_enum=False, create_constraint=True, length=40), nullable=False),
    sa.Column('latched', sa.Boolean(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alarm_rules')),
    sa.UniqueConstraint('trigger', 'device_kind', name='uq_alarm_rules_trigger_kind')
    )
    op.create_table('job_runs',
    sa.Column('job', sa.String(length=64), nullable=False),
    sa.Column('tick', sa.DateTime(timezone=True), nullable=False),
    sa.Column('worker', sa.String(length=255), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('result', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('job', 'tick', name=op.f('pk_job_runs'))
    )
    op.create_table('silences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.Enum('device', 'site', 'trunk', name='silence_scope', native_enum=False, create_constraint=True, length=40), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expired_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_silences'))
    )
    with op.batch_alter_table('silences', schema=None) as batch_op:
        batch_op.create_index('ix_silences_scope', ['scope', 'target_id', 'ends_at'], unique=False)

    op.create_table('alarms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('lift_emergency', 'emergency_call', 'call_flood', 'suspected_abuse', 'wrong_trunk', 'out_of_hours', 'low_attestation', 'unknown_ani', 'decommissioned_device', 'missed_test_call', 'heartbeat_lost', 'trunk_silent', 'site_silent', name='alarm_kind', native_enum=False, create_constraint=True, length=40), nullable=False),
    sa.Column('resource', sa.String(length=64), nullable=False),
    sa.Column('state', sa.Enum('active_unacknowledged', 'active_acknowledged', 'returned_unacknowledged', 'latched', 'shelved', 'suppressed', 'closed', name='alarm_state', native_enum=False, create_constraint=True, length=40), nullable=False),
    sa.Column('severity', sa.Enum('critical', 'major', 'minor', 'warning', 'indeterminate', 'cleared', name='perceived_severity', native_enum=False, create_constraint=True, length=40), nullable=False),
    sa.Column('event_type', sa.Enum('communicationsAlarm', 'qualityOfServiceAlarm', 'processingErrorAlarm', 'equipmentAlarm', 'environmentalAlarm', 'securityServiceOrMechanismViolation', name='alarm_event_type', native_enum=False, create_constraint=True, length=40), nullable=False),
    sa.Column('probable_cause', sa.String(length=64), nullable=False),
    sa.Column('specific_problem', sa.String(length=255), nullable=False),
    sa.Column('additional_text', sa.Text(), nullable=False),
    sa.Column('latched', sa.Boolean(), nullable=False),
    sa.Column('center_id', sa.Integer(), nullable=True),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('trunk_id', sa.Integer(), nullable=True),
    sa.Column('call_id', sa.String(length=255), nullable=True),
    sa.Column('target_center_ids', sa.JSON(), nullable=False),
    sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('ack_deadline_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acked_by', sa.String(length=120), nullable=False),
    sa.Column('escalations', sa.Integer(), nullable=False),
    sa.Column('returned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('shelved_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resume_state', sa.Enum('active_unacknowledged', 'active_acknowledged', 'returned_unacknowledged', 'latched', 'shelved', 'suppressed', 'closed', name='alarm_resume_state', native_enum=False, create_constraint=True, length=40), nullable=True),
    sa.Column('silence_id', sa.Integer(), nullable=True),
    sa.Column('inhibited_by_id', sa.Integer(), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['inhibited_by_id'], ['alarms.id'], name=op.f('fk_alarms_inhibited_by_id_alarms'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['silence_id'], ['silences.id'], name=op.f('fk_alarms_silence_id_silences'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alarms'))
    )
    with op.batch_alter_table('alarms', schema=None) as batch_op:
        batch_op.create_index('ix_alarms_center_state', ['center_id', 'state'], unique=False)
        batch_op.create_index('ix_alarms_device', ['device_id'], unique=False)
        batch_op.create_index('ix_alarms_site_state', ['site_id', 'state'], unique=False)
        batch_op.create_index('ix_alarms_state_deadline', ['state', 'ack_deadline_at'], unique=False)
        batch_op.create_index('uq_alarms_open_kind_resource', ['kind', 'resource'], unique=True, sqlite_where=sa.text("state != 'closed'"), postgresql_where=sa.text("state != 'closed'"))

    op.create_table('alarm_transitions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alarm_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('action', sa.Enum('raise', 'acknowledge', 'note', 'clear', 'return', 'rescue_ended', 'reset', 'shelve', 'unshelve', 'suppress', 'unsuppress', 'escalate', name='alarm_action', native_enum=False, create_constraint=True, length=40), nullable=False),
    sa.Column('from_state', sa.Enum('active_unacknowledged', 'active_acknowledged', 'returned_unacknowledged', 'latched', 'shelved', 'suppressed', 'closed', name='alarm_from_state', native_enum=False, create_constraint=True, length=40), nullable=True),
    sa.Column('to_state', sa.Enum('active_unacknowledged', 'active_acknowledged', 'returned_unacknowledged', 'latched', 'shelved', 'suppressed', 'closed', name='alarm_to_state', native_enum=False, create_constraint=True, length=40), nullable=False),
    sa.Column('by', sa.String(length=120), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['alarm_id'], ['alarms.id'], name=op.f('fk_alarm_transitions_alarm_id_alarms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alarm_transitions'))
    )
    with op.batch_alter_table('alarm_transitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alarm_transitions_alarm_id'), ['alarm_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("security_centers", schema=None) as batch_op:
        batch_op.drop_column("ack_deadlines")
    with op.batch_alter_table("trunks", schema=None) as batch_op:
        batch_op.drop_column("rescue_ended_marker")
    with op.batch_alter_table('alarm_transitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alarm_transitions_alarm_id'))

    op.drop_table('alarm_transitions')
    with op.batch_alter_table('alarms', schema=None) as batch_op:
        batch_op.drop_index('uq_alarms_open_kind_resource', sqlite_where=sa.text("state != 'closed'"), postgresql_where=sa.text("state != 'closed'"))
        batch_op.drop_index('ix_alarms_state_deadline')
        batch_op.drop_index('ix_alarms_site_state')
        batch_op.drop_index('ix_alarms_device')
        batch_op.drop_index('ix_alarms_center_state')

    op.drop_table('alarms')
    with op.batch_alter_table('silences', schema=None) as batch_op:
        batch_op.drop_index('ix_silences_scope')

    op.drop_table('silences')
    op.drop_table('job_runs')
    op.drop_table('alarm_rules')
