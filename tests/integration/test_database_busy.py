"""A SQLite file write-locked by another connection (``BEGIN IMMEDIATE``): reads still answer, since
authentication writes nothing in the request; writes answer 503 with ``Retry-After`` within the busy
timeout, as problem+json on the API and as an HTML page in the web app."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from app import create_app
from bootstrap import Services, build_services
from config import Settings
from registry.db import Base, utcnow
from registry.models import ApiToken, WebSession
from tests import factories as f
from tests.api_support import PROBLEM_JSON, READ, bearer
from tests.web_support import csrf_token, login, user

#: SQLite's busy timeout (registry.db) plus slack for a loaded machine
BUSY_TIMEOUT = 5.0
SLACK = 3.0


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    return tmp_path / "busy.db"


@pytest.fixture
def busy_services(sqlite_file: Path, tmp_path: Path) -> Iterator[Services]:
    """Always a SQLite file (also in the PostgreSQL run): the lock under test is SQLite's."""
    settings = Settings.from_env(
        {},
        database_url=f"sqlite:///{sqlite_file}",
        instance_dir=tmp_path / "instance",
        secret_key="t",
        demo=False,
    )
    svc = build_services(settings)
    Base.metadata.create_all(svc.engine)
    yield svc
    svc.close()


@pytest.fixture
def busy_app(busy_services: Services) -> Any:
    app = create_app(services=busy_services)
    app.config.update(TESTING=True)
    return app


@pytest.fixture
def locker(sqlite_file: Path) -> Iterator[Any]:
    """Another connection that takes the write lock when told to, and always lets go."""
    conn = sqlite3.connect(sqlite_file, isolation_level=None, timeout=0)
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()


def _timed(call: Any) -> tuple[Any, float]:
    start = time.monotonic()
    resp = call()
    return resp, time.monotonic() - start


def test_reads_answer_and_writes_get_503_while_another_connection_holds_the_write_lock(
    busy_app, busy_services, locker
) -> None:
    with busy_services.session_factory() as s:
        site = f.site(s)
        auth = bearer(s, "pbx-admin")
        user(s, "ada")
        site_id = site.id
    client = busy_app.test_client()
    web = busy_app.test_client()
    login(web, "ada")
    with busy_services.session_factory() as s:  # the web session's stamp is due on the next page
        row = s.scalars(select(WebSession)).one()
        row.last_seen_at = utcnow() - timedelta(minutes=10)
        s.commit()
    form_token = csrf_token(web, "/sites/new")

    locker.execute("BEGIN IMMEDIATE")

    # reads: 200, without waiting out the lock, and without writing
    read, took = _timed(lambda: client.get("/api/v1/sites", headers=auth))
    assert read.status_code == 200, read.get_data(as_text=True)
    assert [x["id"] for x in read.get_json()["items"]] == [site_id]
    assert took < 1.5, f"a read waited {took:.1f} s on the write lock"
    detail, _ = _timed(lambda: client.get(f"/api/v1/sites/{site_id}", headers=auth))
    assert detail.status_code == 200
    page, took = _timed(lambda: web.get("/sites/"))
    assert page.status_code == 200 and took < 1.5
    with busy_services.session_factory() as s:
        assert s.scalars(select(ApiToken.last_used_at)).one() is None  # the stamp was skipped

    # writes: 503 + Retry-After within the busy timeout
    new_site = {"name": "Pier", "slug": "pier", "country": "GB", "timezone": "Europe/London"}
    write, took = _timed(lambda: client.post("/api/v1/sites", json=new_site, headers=auth))
    assert write.status_code == 503, write.get_data(as_text=True)
    assert write.mimetype == PROBLEM_JSON and write.headers["Retry-After"] == "5"
    body = write.get_json(force=True)
    assert body["status"] == 503 and body["title"] == "Service Unavailable"
    assert "busy or unavailable" in body["detail"]
    assert took < BUSY_TIMEOUT + SLACK
    form = {
        "csrf_token": form_token,
        "name": "Pier",
        "slug": "pier",
        "country": "GB",
        "timezone": "Europe/London",
    }
    page_write, took = _timed(lambda: web.post("/sites/new", data=form))
    assert page_write.status_code == 503 and page_write.mimetype == "text/html"
    assert page_write.headers["Retry-After"] == "5"
    assert "The registry is busy" in page_write.get_data(as_text=True)
    assert took < BUSY_TIMEOUT + SLACK

    locker.execute("ROLLBACK")
    assert client.get("/api/v1/sites", headers=auth).status_code == 200
    with busy_services.session_factory() as s:
        assert s.scalars(select(ApiToken.last_used_at)).one() is not None  # stamped once free
    assert client.post("/api/v1/sites", json=new_site, headers=auth).status_code == 201


def test_a_read_does_not_wait_on_a_locked_token_row(client, session, services, database_url: str) -> None:
    """The same on either backend: another transaction holds a lock on the token's row (PostgreSQL
    ``SELECT ... FOR UPDATE``) or on the whole file (SQLite); the read answers at once, unstamped."""
    auth = bearer(session, "reader", scopes=READ)
    with ExitStack() as stack:
        if services.engine.dialect.name == "postgresql":
            other = stack.enter_context(services.engine.connect())
            other.execute(select(ApiToken).with_for_update())
            stack.callback(other.rollback)
        else:
            raw = sqlite3.connect(make_url(database_url).database or "", isolation_level=None, timeout=0)
            stack.callback(raw.close)
            raw.execute("BEGIN IMMEDIATE")
            stack.callback(raw.execute, "ROLLBACK")
        read, took = _timed(lambda: client.get("/api/v1/sites", headers=auth))
        assert read.status_code == 200 and took < 1.5, took
        session.expire_all()
        assert session.scalars(select(ApiToken.last_used_at)).one() is None
    assert client.get("/api/v1/sites", headers=auth).status_code == 200
    session.expire_all()
    assert session.scalars(select(ApiToken.last_used_at)).one() is not None
