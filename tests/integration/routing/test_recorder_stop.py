"""The recorder's loop ends when asked, and its last drain is bounded: with the database away the
journal is left for the next start, nothing is lost."""

from __future__ import annotations

from sqlalchemy import func, select

from registry.db import make_engine, make_session_factory
from routing.journal import JournalWriter
from routing.models import CallRecord
from routing.recorder import CallRecorder
from tests.integration.routing.test_recorder import _call

UNREACHABLE = "postgresql+psycopg://anigate@127.0.0.1:1/anigate?connect_timeout=2"


def test_run_stores_calls_until_asked_to_stop(services, session, tmp_path) -> None:
    writer = JournalWriter(tmp_path)
    for n in range(5):
        writer.append(_call(n))
    asked: list[float] = []

    def stop(timeout: float) -> bool:
        asked.append(timeout)
        return len(asked) >= 3

    CallRecorder(services.session_factory, tmp_path, idle_sleep=0.05).run(stop)
    assert asked == [0.05, 0.05, 0.05]  # caught up each time: it waits the idle time for more
    assert session.scalar(select(func.count()).select_from(CallRecord)) == 5


def test_the_last_drain_leaves_the_journal_when_the_database_is_away(
    services, session, tmp_path, caplog
) -> None:
    writer = JournalWriter(tmp_path)
    for n in range(5):
        writer.append(_call(n))
    engine = make_engine(UNREACHABLE)
    try:
        away = CallRecorder(make_session_factory(engine), tmp_path)
        assert away.drain_for(2.0) is False
    finally:
        engine.dispose()
    assert "journal left for the next start (the database is away" in caplog.text
    # the next start stores every call
    back = CallRecorder(services.session_factory, tmp_path)
    assert back.drain_for(5.0) is True
    assert session.scalar(select(func.count()).select_from(CallRecord)) == 5
