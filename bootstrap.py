"""Composition of anigate's services: engines and clients are built here and nowhere else.

``build_services(settings, **overrides)`` is called by app.py and worker.py; tests pass fakes through
``overrides``. Nothing happens at import time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

import integrations.models  # noqa: F401  (its tables on the metadata: create_all, alembic)
from alarms.service import AlarmService
from config import Settings
from registry.csvjobs import CsvJobRunner, uploads_dir
from registry.db import (
    PRIVATE_FILE_MODE,
    dialect_insert,
    make_engine,
    make_session_factory,
    owner_only,
    private_dir,
    utcnow,
)
from registry.models import SecretKeyFingerprint
from routing.recorder import CallObserver

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Long-lived resources of one process."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    clock: Callable[[], datetime]
    #: the alarm engine: fed by the recorder's batches and the route API, used by the alarm API
    alarms: AlarmService
    #: the web process's CSV job thread (started by the web app, never by the CLI or the worker)
    csv_jobs: CsvJobRunner

    @property
    def call_observers(self) -> list[CallObserver]:
        """What sees each recorded call in its transaction (the recorder's batch, the route API)."""
        return [self.alarms.on_calls]

    def close(self) -> None:
        self.csv_jobs.stop()
        self.engine.dispose()


def build_services(settings: Settings, **overrides: Any) -> Services:
    private_dir(Path(settings.instance_dir))  # database, secret key, journal: owner only (0700)
    engine = overrides.pop("engine", None) or make_engine(
        settings.database_url, **dict(settings.engine_options)
    )
    session_factory = overrides.pop("session_factory", None) or make_session_factory(engine)
    clock = overrides.pop("clock", utcnow)
    return Services(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        clock=clock,
        alarms=overrides.pop("alarms", None) or alarm_service(settings, clock),
        csv_jobs=overrides.pop("csv_jobs", None)
        or CsvJobRunner(session_factory, uploads_dir(settings.instance_dir), clock=clock),
        **overrides,
    )


def alarm_service(settings: Settings, clock: Callable[[], datetime] = utcnow) -> AlarmService:
    return AlarmService.from_settings(settings, clock)


def secret_key(settings: Settings) -> str:
    """The configured key, else one generated once and kept in ``instance/secret_key`` (0600)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.instance_dir) / "secret_key"
    if path.exists():
        owner_only(path, PRIVATE_FILE_MODE)
        return path.read_text().strip()
    private_dir(path.parent)
    key = secrets.token_hex(32)
    path.touch(mode=PRIVATE_FILE_MODE)
    path.write_text(key)
    return key


class SecretKeyMismatch(RuntimeError):
    """This process's secret key is not the one the database was first served with."""


def key_fingerprint(key: str) -> str:
    """An HMAC-SHA256 of a fixed text under the key: equal for equal keys, and reveals nothing of it."""
    return hmac.new(key.encode(), b"anigate secret key fingerprint v1", hashlib.sha256).hexdigest()


def check_secret_key(factory: sessionmaker[Session], settings: Settings, who: str) -> bool:
    """Every host serving one database needs the same ``ANIGATE_SECRET_KEY``: the first process to
    serve it records the key's fingerprint; one with another key raises :class:`SecretKeyMismatch`
    naming the variable. True when checked; False when the database cannot be read (a worker must
    start and answer calls while the database is away) or is not migrated yet: checked next start."""
    mine = key_fingerprint(secret_key(settings))
    try:
        with factory() as session:
            row = session.get(SecretKeyFingerprint, 1)
            if row is None:
                # two processes starting together: the second leaves the first one's row alone
                stmt = (
                    dialect_insert(session)(SecretKeyFingerprint)
                    .values(id=1, fingerprint=mine, set_at=utcnow(), set_by=who[:255])
                    .on_conflict_do_nothing()
                )
                session.execute(stmt)
                session.commit()
                row = session.get(SecretKeyFingerprint, 1)
            if row is None:
                return False
            theirs, since, by = row.fingerprint, row.set_at, row.set_by
    except SQLAlchemyError as exc:
        log.warning("secret key not checked against the database (%s): checked at the next start", exc)
        return False
    if theirs != mine:
        how = "is set to another key" if settings.secret_key else "is not set (this host generated its own)"
        raise SecretKeyMismatch(
            f"ANIGATE_SECRET_KEY {how}: this database has been served since {since:%Y-%m-%d %H:%M} UTC "
            f"(first by {by}) with another key. Every host serving one database needs the same "
            "ANIGATE_SECRET_KEY (web sessions, CSRF tokens and sealed sink secrets depend on it)."
        )
    if not settings.secret_key and not settings.database_url.startswith("sqlite"):
        log.warning(
            "ANIGATE_SECRET_KEY is not set: this host uses a key of its own (%s/secret_key); a second "
            "host on this database will be refused until every host sets the same ANIGATE_SECRET_KEY",
            settings.instance_dir,
        )
    return True
