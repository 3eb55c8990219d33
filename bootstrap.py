"""Composition of anigate's services: engines and clients are built here and nowhere else.

``build_services(settings, **overrides)`` is called by app.py and worker.py; tests pass fakes through
``overrides``. Nothing happens at import time.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import integrations.models  # noqa: F401  (its tables on the metadata: create_all, alembic)
from alarms.service import AlarmService
from config import Settings
from registry.csvjobs import CsvJobRunner, uploads_dir
from registry.db import PRIVATE_FILE_MODE, make_engine, make_session_factory, owner_only, private_dir, utcnow
from routing.recorder import CallObserver


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
