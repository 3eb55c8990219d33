"""The SQLite default runs in WAL mode with foreign keys enforced; datetimes come back in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from config import Settings
from registry.db import make_engine
from registry.models import Device
from tests import factories as f


def test_sqlite_default_has_wal_and_foreign_keys(tmp_path) -> None:
    engine = make_engine(Settings.from_env({}, instance_dir=tmp_path / "inst").database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert (tmp_path / "inst" / "anigate.db").exists()
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(session) -> None:
    session.add(Device(ani="+493012345678", kind="other", site_id=999))
    with pytest.raises(IntegrityError):
        session.flush()


def test_datetimes_round_trip_as_aware_utc(session) -> None:
    est = f.estate(session)
    cet = timezone(timedelta(hours=1))
    est["device"].last_call_at = datetime(2026, 3, 29, 3, 30, tzinfo=cet)
    session.commit()
    session.expire_all()
    got = session.get(Device, est["device"].id).last_call_at
    assert got == datetime(2026, 3, 29, 2, 30, tzinfo=UTC) and got.tzinfo == UTC
