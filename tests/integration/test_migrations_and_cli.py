"""alembic migrations build exactly the models' schema; the CLI creates users, tokens and demo data."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, func, inspect, select, text

from registry.accounts import authenticate_token
from registry.cli import alembic_config, upgrade_database
from registry.db import Base
from registry.models import ChangeLog, Device, SecurityCenter, Site, Trunk, User


def test_migrations_match_the_models_and_downgrade(database_url: str) -> None:
    upgrade_database(database_url)
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
        command.downgrade(alembic_config(database_url), "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()


def test_users_and_tokens_from_the_cli(runner, session) -> None:
    result = runner.invoke(args=["users", "create", "admin", "--password", "correct horse battery"])
    assert result.exit_code == 0, result.output
    assert "created admin admin" in result.output
    short = runner.invoke(args=["users", "create", "bob", "--password", "short"])
    assert short.exit_code == 1
    assert "error: password: at least 10 characters" in short.output
    token = runner.invoke(args=["tokens", "create", "admin", "--scope", "registry:write"])
    assert token.exit_code == 0, token.output
    secret = token.output.strip()
    assert secret.startswith("ag_")
    actor = authenticate_token(session, secret)
    assert actor is not None and actor.name == "admin" and actor.scopes == {"registry:write"}
    stored = session.scalars(select(User)).one()
    assert stored.password_hash.startswith("scrypt:") and "correct horse" not in stored.password_hash
    assert authenticate_token(session, secret + "x") is None


def test_demo_load_seeds_a_realistic_estate_once(runner, session) -> None:
    result = runner.invoke(args=["demo", "load", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "30 devices" in result.output
    assert session.scalar(select(func.count()).select_from(SecurityCenter)) == 2
    sites = session.scalars(select(Site)).all()
    assert {s.country for s in sites} == {"DE", "GB"} and len(sites) == 3
    loop = session.scalars(select(Trunk).where(Trunk.name == "loopback")).one()
    assert "127.0.0.1" in loop.source_addresses and loop.trust.value == "trusted"
    kinds = {d.kind.value for d in session.scalars(select(Device))}
    assert kinds == {"elevator_phone", "car_park_help_point", "door_intercom", "emergency_phone"}
    assert session.scalar(select(func.count()).select_from(ChangeLog).where(ChangeLog.source == "demo")) > 60
    again = runner.invoke(args=["demo", "load", "--if-empty"])
    assert "registry not empty" in again.output
    assert session.scalar(select(func.count()).select_from(Device)) == 30


def test_existing_rows_survive_the_routing_rules_migration(database_url: str) -> None:
    """0002 -> 0003 on a populated registry: new NOT NULL columns take their defaults, and on SQLite
    the tables that batch mode recreates keep the rows that point at them."""
    upgrade_database(database_url, "0002")
    engine = create_engine(database_url)
    now = "2026-11-01 08:00:00+00:00"
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO sites (id, name, slug, address, country, timezone, holidays, notes, "
                    "created_at, updated_at) VALUES (1, 'Tower A', 'tower-a', '', 'DE', 'Europe/Berlin', "
                    "'[]', '', :now, :now)"
                ),
                {"now": now},
            )
            conn.execute(
                text(
                    "INSERT INTO trunks (id, name, carrier, source_addresses, trust, ani_header, "
                    "default_region, expects_attestation, notes, created_at, updated_at) VALUES (1, 'loop', "
                    "'', '[\"127.0.0.1\"]', 'trusted', 'pai', 'DE', false, '', :now, :now)"
                ),
                {"now": now},
            )
            conn.execute(
                text(
                    "INSERT INTO devices (id, ani, kind, vendor, model, serial, site_id, trunk_id, status, "
                    "notes, created_at, updated_at) VALUES (1, '+493012345678', 'elevator_phone', '', '', "
                    "'', 1, 1, 'active', '', :now, :now)"
                ),
                {"now": now},
            )
            conn.execute(
                text(
                    "INSERT INTO calls (record_id, call_id, branch, received_at, source, transport, "
                    "trunk_id, trunk_name, privacy, identity_verified, dnis, status, targets, reason, "
                    "anomalies, latency_us) VALUES ('r1', 'c1', 'b1', :now, '127.0.0.1:5060', 'udp', 1, "
                    "'loop', '', false, '112', 302, '[]', '', '[]', 120)"
                ),
                {"now": now},
            )
        upgrade_database(database_url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT maintenance_contact FROM sites")).all() == [("",)]
            assert conn.execute(text("SELECT test_call_marker, pending_site_id FROM trunks")).all() == [
                ("", None)
            ]
            assert conn.execute(
                text("SELECT ani, test_ani, maintenance_contact, trunk_id FROM devices")
            ).all() == [("+493012345678", None, "", 1)]
            assert conn.execute(text("SELECT priority, line, language, test_call FROM calls")).all() == [
                ("", "", None, False)
            ]
            fks = inspect(conn).get_foreign_keys("devices")
            assert {fk["referred_table"] for fk in fks} == {"sites", "locations", "trunks", "schedules"}
        # and back: the rows are still there without the new columns
        command.downgrade(alembic_config(database_url), "0002")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM devices")).scalar() == 1
            assert "pending_site_id" not in {c["name"] for c in inspect(conn).get_columns("trunks")}
    finally:
        engine.dispose()
