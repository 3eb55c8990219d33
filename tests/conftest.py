"""Shared fixtures: a fresh database per test (SQLite file, or a PostgreSQL schema when
``ANIGATE_TEST_DATABASE_URL`` points at one), the app, a client, a session and an admin actor.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

import alarms.models  # noqa: F401  (alarm tables on the metadata)
import routing.models  # noqa: F401  (call tables on the metadata)
from app import create_app
from bootstrap import Services, build_services
from config import Settings
from registry.actors import Actor
from registry.db import Base

PG_URL = os.environ.get("ANIGATE_TEST_DATABASE_URL", "")


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A private, empty database: a SQLite file, or a throw-away PostgreSQL schema."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings.from_env(
        {},
        database_url=database_url,
        instance_dir=tmp_path / "instance",
        secret_key="test-secret",
        demo=False,
    )


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    svc = build_services(settings)
    Base.metadata.create_all(svc.engine)
    yield svc
    svc.close()


@pytest.fixture
def app(services: Services):  # type: ignore[no-untyped-def]
    flask_app = create_app(services=services)
    flask_app.config.update(TESTING=True)
    return flask_app


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def runner(app):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


@pytest.fixture
def session(services: Services) -> Iterator[Session]:
    with services.session_factory() as s:
        yield s


@pytest.fixture
def admin() -> Actor:
    return Actor.system("test", "tester")
