"""The outbox: events commit with their cause or not at all, and the reader's cursor ("after seq N")
never skips an event, also when two transactions commit in the reverse order of their writes on
PostgreSQL."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from registry.db import before_commit
from registry.events import DeviceChanged, DeviceStatusChanged
from registry.models import OutboxEvent
from registry.outbox import add_event, add_events, head, pending_events, read_events
from registry.services import delete_object, update_object
from tests import factories as f
from tests.conftest import PG_URL

STEP = 10.0
AT = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)

needs_postgres = pytest.mark.skipif(
    not PG_URL,
    reason="PostgreSQL only: SQLite has one writer at a time, so two transactions cannot commit out of "
    "order there (make test-postgres runs this)",
)


def status(device: int, to: str = "overdue", site: int | None = 1) -> DeviceStatusChanged:
    return DeviceStatusChanged(occurred_at=AT, device_id=device, site_id=site, status=to)


def _wait(event: threading.Event, what: str) -> None:
    assert event.wait(STEP), f"timed out waiting for {what}"


def test_events_commit_with_their_transaction_in_seq_order(session: Session) -> None:
    assert head(session) == 0
    first = status(1)
    add_events(session, [first, status(2)])
    session.commit()
    add_event(session, status(3, "online"))
    session.commit()
    got = read_events(session)
    assert [(e.seq, e.event.device_id, e.event.status) for e in got] == [  # type: ignore[attr-defined]
        (1, 1, "overdue"),
        (2, 2, "overdue"),
        (3, 3, "online"),
    ]
    assert got[0].event == first and got[0].site_id == 1 and got[0].device_id == 1
    assert head(session) == 3
    assert [e.seq for e in read_events(session, after=1, limit=1)] == [2]


def test_a_rolled_back_transaction_writes_no_event_and_takes_no_seq(session: Session) -> None:
    add_event(session, status(1))
    session.rollback()
    assert pending_events(session) == []
    add_event(session, status(2))
    session.commit()
    assert [(e.seq, e.device_id) for e in read_events(session)] == [(1, 2)]


def test_an_event_of_a_rolled_back_savepoint_is_dropped_the_rest_kept(session: Session) -> None:
    add_event(session, status(1))
    with pytest.raises(RuntimeError), session.begin_nested():
        add_event(session, status(2))
        raise RuntimeError("this caller could not be added")
    with session.begin_nested():
        add_event(session, status(3))
    session.commit()
    assert [e.device_id for e in read_events(session)] == [1, 3]


def test_a_failed_commit_leaves_no_event(session: Session) -> None:
    add_event(session, status(1))

    def fail(s: Session) -> None:
        raise RuntimeError("the commit fails after the outbox hook")

    before_commit(session, "zz-fail", fail)
    with pytest.raises(RuntimeError):
        session.commit()
    session.rollback()
    assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 0
    assert head(session) == 0


def test_scoped_reads_keep_the_events_filed_under_a_center_or_site(session: Session) -> None:
    add_events(session, [status(1, site=10), status(2, site=20), status(3, site=None)])
    session.commit()
    assert [e.device_id for e in read_events(session, site_ids=[20])] == [2]
    assert [e.device_id for e in read_events(session, site_ids=[])] == []
    assert [e.device_id for e in read_events(session, types=["device.status_changed"])] == [1, 2, 3]
    assert read_events(session, types=["alarm.raised"]) == []


@needs_postgres
def test_a_late_commit_is_not_skipped_by_the_cursor(services, session: Session) -> None:
    """T1 writes its event first and commits last; a reader between the commits has moved its cursor
    past T2's event. An id cursor would now skip T1 for good; "after seq" must return it."""
    t1_written, t1_may_commit = threading.Event(), threading.Event()

    def t1() -> None:
        with services.session_factory() as s:
            s.execute(text("SELECT 1"))
            add_event(s, status(1))
            s.flush()
            t1_written.set()
            _wait(t1_may_commit, "the read between the commits")
            s.commit()

    def t2() -> None:
        _wait(t1_written, "T1's event")
        with services.session_factory() as s:
            add_event(s, status(2))
            s.commit()

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(t1)
        try:
            pool.submit(t2).result(STEP)
            seen = read_events(session)
            session.rollback()
            assert [e.device_id for e in seen] == [2]
            cursor = seen[-1].seq
        finally:
            t1_may_commit.set()
        first.result(STEP)
    late = read_events(session, after=cursor)
    assert [e.device_id for e in late] == [1], "the late commit was skipped"


@needs_postgres
def test_a_commit_waits_while_an_earlier_seq_is_uncommitted(services, session: Session) -> None:
    """T1 has taken its seq and not committed: T2's commit waits on the counter until T1's is done,
    so seq N visible means every seq below N is visible (or was rolled back and reused)."""
    t1_reserved, t1_may_commit = threading.Event(), threading.Event()
    t2_pid: list[int] = []

    def t1() -> None:
        with services.session_factory() as s:
            add_event(s, status(1))

            def pause(s: Session) -> None:  # after the outbox hook took the seq, before COMMIT
                t1_reserved.set()
                _wait(t1_may_commit, "T2 to wait on the counter")

            before_commit(s, "zz-pause", pause)
            s.commit()

    def t2() -> None:
        _wait(t1_reserved, "T1's seq")
        with services.session_factory() as s:
            t2_pid.append(s.scalar(text("SELECT pg_backend_pid()")) or 0)
            add_event(s, status(2))
            s.commit()

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.submit(t1), pool.submit(t2)
        try:
            _wait(t1_reserved, "T1's seq")
            deadline, waiting = time.monotonic() + STEP, None
            while time.monotonic() < deadline and waiting != "Lock":
                if t2_pid:
                    waiting = session.scalar(
                        text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                        {"pid": t2_pid[0]},
                    )
                    session.rollback()
                time.sleep(0.01)
            assert waiting == "Lock", "T2 did not wait for T1's commit"
            assert read_events(session) == [] and head(session) == 0
            session.rollback()
        finally:
            t1_may_commit.set()
        first.result(STEP)
        second.result(STEP)
    assert [(e.seq, e.device_id) for e in read_events(session)] == [(1, 1), (2, 2)]


def _summary(session: Session, after: int = 0) -> list[tuple[str, object, object]]:
    out = []
    for e in read_events(session, after=after):
        ev = e.event
        detail = ev.status if isinstance(ev, DeviceStatusChanged) else ev.action  # type: ignore[attr-defined]
        out.append((ev.type, ev.device_id, detail))  # type: ignore[attr-defined]
    return out


def test_every_device_change_writes_its_events_in_the_changes_transaction(session: Session, admin) -> None:
    est = f.estate(session)
    dev = est["device"]
    assert _summary(session) == [
        ("device.changed", dev.id, "create"),
        ("device.status_changed", dev.id, "online"),
    ]
    created = read_events(session)[0].event
    assert isinstance(created, DeviceChanged)
    assert created.site_id == est["site"].id and created.ani == dev.ani and created.by == "factory"
    assert created.changes["ani"] == [None, dev.ani]
    mark = head(session)

    update_object(session, admin, "device", dev.id, {"notes": "machine-room key at reception"})
    session.commit()
    update_object(session, admin, "device", dev.id, {"status": "maintenance"})
    session.commit()
    update_object(session, admin, "device", dev.id, {"notes": "never committed"})
    session.rollback()
    delete_object(session, admin, "device", dev.id)
    session.commit()
    assert _summary(session, mark) == [
        ("device.changed", dev.id, "update"),
        ("device.changed", dev.id, "update"),
        ("device.status_changed", dev.id, "maintenance"),
        ("device.changed", dev.id, "delete"),
        ("device.status_changed", dev.id, "decommissioned"),
    ]
    noted = read_events(session, after=mark)[0].event
    assert isinstance(noted, DeviceChanged)
    assert noted.changes == {"notes": ["", "machine-room key at reception"]}
    moved = read_events(session, after=mark)[2].event
    assert isinstance(moved, DeviceStatusChanged) and moved.previous == "online"


def test_a_change_to_another_object_writes_no_device_event(session: Session, admin) -> None:
    est = f.estate(session)
    mark = head(session)
    update_object(session, admin, "site", est["site"].id, {"name": "Spree Tower"})
    session.commit()
    assert read_events(session, after=mark) == []
