"""The registry revision the SIP snapshot follows: every registry write path moves it once per commit,
and on PostgreSQL a change that commits after a later one (out of change-log id order) still reaches
the snapshot."""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from registry.accounts import create_token, create_user
from registry.cli import upgrade_database
from registry.csvio import import_csv
from registry.db import before_commit
from registry.demo import load_demo
from registry.models import ChangeLog, RegistryRevision
from registry.services import delete_object, update_object
from routing.journal import JournalWriter
from routing.recorder import CallRecorder
from routing.snapshot import SnapshotHolder, SnapshotRefresher, registry_revision
from tests import factories as f
from tests.conftest import PG_URL

#: how long a step of the concurrent tests may take before the test fails instead of hanging
STEP = 10.0

needs_postgres = pytest.mark.skipif(
    not PG_URL,
    reason="PostgreSQL only: SQLite lets one writer at a time hold a transaction open, so two registry "
    "transactions cannot commit out of order there (make test-postgres runs this)",
)


def _wait(event: threading.Event, what: str) -> None:
    assert event.wait(STEP), f"timed out waiting for {what}"


def test_each_registry_commit_moves_the_revision_by_one(session, admin) -> None:
    assert registry_revision(session) == 0  # an empty registry (create_all: no seed row yet)
    center = f.center(session)
    f.site(session, day_center=center.id)
    session.commit()  # two changes, one transaction
    assert registry_revision(session) == 1
    update_object(session, admin, "center", center.id, {"languages": ["de"]})
    session.commit()
    assert registry_revision(session) == 2
    rule = f.dnis_rule(session)
    session.commit()
    delete_object(session, admin, "dnis_rule", rule.id)
    session.commit()
    assert registry_revision(session) == 4
    row = session.get(RegistryRevision, 1)
    assert row is not None and row.value == 4 and row.changed_at.tzinfo is UTC


def test_a_rolled_back_change_or_an_unchanged_update_leaves_the_revision(session, admin) -> None:
    center = f.center(session)
    session.commit()
    f.site(session, day_center=center.id)
    session.rollback()
    session.commit()  # the next transaction has nothing to log: the rolled-back change is forgotten
    update_object(session, admin, "center", center.id, {"name": center.name})
    session.commit()
    assert registry_revision(session) == 1


def test_users_and_tokens_are_not_registry_changes_for_the_snapshot(session, admin) -> None:
    f.center(session)
    session.commit()
    user = create_user(session, "fay", "correct horse battery", "admin", actor=admin)
    create_token(session, user, "ci")
    session.commit()
    assert session.scalar(select(func.count()).select_from(ChangeLog).where(ChangeLog.object_type == "user"))
    assert registry_revision(session) == 1


def test_a_csv_import_moves_the_revision(session, admin) -> None:
    est = f.estate(session)
    before = registry_revision(session)
    csv = "ani,kind,site,trunk\n030 23000001,elevator_phone,tower-a,loopback\n030 23000002,other,tower-a,\n"
    report = import_csv(session, admin, "device", io.StringIO(csv, newline=""))
    assert report.ok and report.created == 2
    session.commit()
    assert registry_revision(session) == before + 1
    update = f"id,ani,kind,site\n{est['device'].id},{est['device'].ani},door_intercom,tower-a\n"
    assert import_csv(session, admin, "device", io.StringIO(update, newline="")).updated == 1
    session.commit()
    assert registry_revision(session) == before + 2


def test_the_demo_load_moves_the_revision(session) -> None:
    load_demo(session)
    session.commit()
    assert registry_revision(session) == 1


def test_the_recorder_moves_the_revision_only_when_it_adds_a_pending_device(services, session, tmp_path):
    est = f.estate(session)
    before = registry_revision(session)
    writer = JournalWriter(tmp_path)

    def call(n: int, ani: str, adopt: bool) -> dict[str, Any]:
        return {
            "type": "call",
            "record_id": f"r{n:031d}",
            "call_id": f"c{n}@pbx",
            "received_at": "2026-11-26T03:00:00+00:00",
            "source": "127.0.0.1:5062",
            "transport": "UDP",
            "trunk_id": est["trunk"].id,
            "ani": ani,
            "device_id": None if adopt else est["device"].id,
            "status": 302,
            "latency_us": 100,
        } | ({"adopt_site_id": est["site"].id} if adopt else {})

    writer.append(call(1, est["device"].ani, adopt=False))
    recorder = CallRecorder(services.session_factory, tmp_path)
    assert recorder.drain() == 1
    assert registry_revision(session) == before  # a call moves device times, not the registry
    writer.append(call(2, "+493099990000", adopt=True))
    assert recorder.drain() == 1
    assert registry_revision(session) == before + 1


def test_the_migration_continues_from_the_highest_change_log_id(database_url: str) -> None:
    upgrade_database(database_url, "0004")
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            for n in (7, 41):
                conn.execute(
                    text(
                        "INSERT INTO change_log (id, at, actor, source, request_id, action, object_type, "
                        "object_id, object_repr) VALUES (:id, CURRENT_TIMESTAMP, 'cli', 'cli', '', "
                        "'create', 'site', 1, 'Tower A')"
                    ),
                    {"id": n},
                )
        upgrade_database(database_url)
        with Session(engine) as s:
            row = s.get(RegistryRevision, 1)
            assert row is not None and row.value == 41
            assert abs((datetime.now(UTC) - row.changed_at).total_seconds()) < 60
            assert registry_revision(s) == 41
    finally:
        engine.dispose()


@needs_postgres
def test_a_change_committed_after_a_later_one_still_reaches_the_snapshot(services, session, admin) -> None:
    """T1 writes its change first (the lower change-log id), T2 writes one later and commits first; a
    refresh in between sees T2 only. After T1 commits, the next refresh must see both: with the
    highest change-log id as the revision, it saw nothing new and kept T1's change out for good."""
    est = f.estate(session)
    london = f.center(session, name="London", sip_uris=["sip:london@127.0.0.1:5080"], languages=["en"])
    session.commit()
    site, device = est["site"].id, est["device"]
    holder = SnapshotHolder()
    refresher = SnapshotRefresher(holder, services.session_factory)
    assert refresher.refresh()
    assert holder.current.sites[site].day_center_id == est["center"].id

    t1_written, t1_may_commit = threading.Event(), threading.Event()
    log_ids: dict[str, int] = {}

    def t1() -> None:
        with services.session_factory() as s:
            update_object(s, admin, "site", site, {"day_center": london.id})
            log_ids["t1"] = s.scalar(select(func.max(ChangeLog.id))) or 0
            t1_written.set()
            _wait(t1_may_commit, "the refresh between the commits")
            s.commit()

    def t2() -> None:
        _wait(t1_written, "T1's change")
        with services.session_factory() as s:
            update_object(s, admin, "device", device.id, {"kind": "door_intercom"})
            log_ids["t2"] = s.scalar(select(func.max(ChangeLog.id))) or 0
            s.commit()

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(t1)
        try:
            pool.submit(t2).result(STEP)
            assert log_ids["t1"] < log_ids["t2"]  # the commits come in reverse change-log id order
            assert refresher.refresh()
            between = holder.current
            assert between.devices[device.ani].kind == "door_intercom"
            assert between.sites[site].day_center_id == est["center"].id  # T1 not committed yet
        finally:
            t1_may_commit.set()
        first.result(STEP)

    assert refresher.refresh(), "T1's commit did not move the revision"
    after = holder.current
    assert after.revision > between.revision
    assert after.sites[site].day_center_id == london.id
    assert after.devices[device.ani].kind == "door_intercom"


@needs_postgres
def test_registry_commits_take_revisions_in_commit_order(services, session, admin) -> None:
    """T1 has moved the revision and not yet committed: T2's commit waits on the counter row until
    T1's commit is done, so revision N being visible means every change before N is visible too."""
    est = f.estate(session)
    base = registry_revision(session)
    t1_bumped, t1_may_commit = threading.Event(), threading.Event()
    #: the revision each transaction wrote, read inside it just after its bump
    wrote: dict[str, int] = {}
    t2_pid: list[int] = []

    def t1() -> None:
        with services.session_factory() as s:
            update_object(s, admin, "site", est["site"].id, {"name": "Tower A (north)"})

            def pause(s: Session) -> None:  # runs after the revision's bump, before the COMMIT
                wrote["t1"] = registry_revision(s)
                t1_bumped.set()
                _wait(t1_may_commit, "T2 to wait on the counter")

            before_commit(s, "test-pause", pause)
            s.commit()

    def t2() -> None:
        _wait(t1_bumped, "T1's bump")
        with services.session_factory() as s:
            t2_pid.append(s.scalar(text("SELECT pg_backend_pid()")) or 0)
            update_object(s, admin, "device", est["device"].id, {"notes": "checked"})
            before_commit(s, "test-observe", lambda s: wrote.setdefault("t2", registry_revision(s)))
            s.commit()

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.submit(t1), pool.submit(t2)
        try:
            _wait(t1_bumped, "T1's bump")
            deadline = time.monotonic() + STEP
            waiting = None
            while time.monotonic() < deadline and waiting != "Lock":
                if t2_pid:
                    waiting = session.scalar(
                        text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                        {"pid": t2_pid[0]},
                    )
                    session.rollback()  # a fresh statement snapshot of pg_stat_activity each time
                time.sleep(0.01)
            assert waiting == "Lock", "T2 did not wait for T1's commit"
            assert not second.done() and "t2" not in wrote
            assert registry_revision(session) == base  # T1's bump is not visible before its commit
            session.rollback()
        finally:
            t1_may_commit.set()
        first.result(STEP)
        second.result(STEP)

    assert wrote == {"t1": base + 1, "t2": base + 2}
    assert registry_revision(session) == base + 2
