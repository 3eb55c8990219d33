"""routing rules: dialled-number rules, number lists, flood rules; test ANI, maintenance contacts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 15:02:11.418305

New NOT NULL columns of existing tables get a server default so that rows already there migrate;
the defaults stay (the application always writes the columns), so older code still inserting rows
without them keeps working during a rolling upgrade.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('dnis_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('line', sa.Enum('emergency', 'intercom', 'test', name='line_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('priority', sa.Enum('emergency', 'urgent', 'normal', 'non-urgent', name='call_priority', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('target_uri', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dnis_rules')),
    sa.UniqueConstraint('number', name=op.f('uq_dnis_rules_number'))
    )
    op.create_table('flood_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.Enum('ani', 'site', 'trunk', name='flood_scope', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('device_kind', sa.Enum('elevator_phone', 'car_park_help_point', 'door_intercom', 'emergency_phone', 'other', name='device_kind', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('max_calls', sa.Integer(), nullable=False),
    sa.Column('window_seconds', sa.Integer(), nullable=False),
    sa.Column('effect', sa.Enum('urgent', 'abuse', 'flag', name='flood_effect', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flood_rules')),
    sa.UniqueConstraint('scope', 'device_kind', name='uq_flood_rules_scope_kind')
    )
    op.create_table('number_lists',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pattern', sa.String(length=17), nullable=False),
    sa.Column('kind', sa.Enum('block', 'gray', name='list_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_number_lists')),
    sa.UniqueConstraint('pattern', name=op.f('uq_number_lists_pattern'))
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority', sa.String(length=16), server_default='', nullable=False))
        batch_op.add_column(sa.Column('line', sa.String(length=16), server_default='', nullable=False))
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('test_call', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index('ix_calls_trunk_received', ['trunk_id', 'received_at'], unique=False)

    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('test_ani', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('maintenance_contact', sa.String(length=255), server_default='', nullable=False))
        batch_op.create_unique_constraint(batch_op.f('uq_devices_test_ani'), ['test_ani'])

    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('maintenance_contact', sa.String(length=255), server_default='', nullable=False))

    with op.batch_alter_table('trunks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('test_call_marker', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('pending_site_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_trunks_pending_site_id_sites'), 'sites', ['pending_site_id'], ['id'], ondelete='RESTRICT')


def downgrade() -> None:
    with op.batch_alter_table('trunks', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_trunks_pending_site_id_sites'), type_='foreignkey')
        batch_op.drop_column('pending_site_id')
        batch_op.drop_column('test_call_marker')

    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_column('maintenance_contact')

    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_devices_test_ani'), type_='unique')
        batch_op.drop_column('maintenance_contact')
        batch_op.drop_column('test_ani')

    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_trunk_received')
        batch_op.drop_column('test_call')
        batch_op.drop_column('language')
        batch_op.drop_column('line')
        batch_op.drop_column('priority')

    op.drop_table('number_lists')
    op.drop_table('flood_rules')
    op.drop_table('dnis_rules')
