"""alembic migrations build exactly the models' schema; the CLI creates users, tokens and demo data."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, func, inspect, select

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
