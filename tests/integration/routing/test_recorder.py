"""The recorder drains the journal into the database: every call once, device times moved."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from registry.events import CallRouted
from registry.models import ChangeLog, Device
from registry.outbox import head, read_events
from routing.journal import JournalWriter, checkpoint_name
from routing.models import CallRecord, JournalCheckpoint
from routing.recorder import CallRecorder
from routing.snapshot import registry_revision
from tests import factories as f


def _call(n: int, device_id: int | None = None, at: str = "2026-11-26T03:00:00+00:00") -> dict:
    return {
        "type": "call",
        "record_id": f"r{n:031d}",
        "call_id": f"call-{n}@pbx",
        "branch": f"z9hG4bK{n}",
        "received_at": at,
        "source": "127.0.0.1:5062",
        "transport": "UDP",
        "trunk_id": 1,
        "trunk_name": "loopback",
        "ani": "+493012345678",
        "ani_source": "pai-tel",
        "device_id": device_id,
        "site_id": None,
        "center_id": 1,
        "status": 302,
        "targets": ["sip:berlin@127.0.0.1:5070"],
        "reason": "device",
        "latency_us": 120,
    }


def test_calls_and_heartbeats_reach_the_database_once(services, session, tmp_path) -> None:
    est = f.estate(session)
    dev = est["device"].id
    revision = registry_revision(session)
    w = JournalWriter(tmp_path)
    for n in range(250):
        w.append(_call(n, dev, at=f"2026-11-26T03:{n // 60:02d}:{n % 60:02d}+00:00"))
    w.append({"type": "heartbeat", "device_id": dev, "at": "2026-11-26T04:00:00+00:00"})
    rec = CallRecorder(services.session_factory, tmp_path, batch_size=100)
    assert rec.drain() == 251
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(CallRecord)) == 250
    device = session.get(Device, dev)
    assert device.last_call_at == datetime(2026, 11, 26, 3, 4, 9, tzinfo=UTC)
    assert device.last_heartbeat_at == datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
    # call records are not registry changes: the snapshot revision does not move
    assert registry_revision(session) == revision
    # a second recorder (a restarted worker) starts from the committed checkpoint
    again = CallRecorder(services.session_factory, tmp_path)
    assert again.drain() == 0
    cp = session.get(JournalCheckpoint, "calls")
    assert cp is not None and cp.offset > 0


def test_a_database_outage_delays_records_but_loses_none(services, session, tmp_path) -> None:
    w = JournalWriter(tmp_path)
    for n in range(10):
        w.append(_call(n))
    failures = {"left": 2}
    real = services.session_factory

    def flaky():  # type: ignore[no-untyped-def]
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("connect", {}, Exception("database is down"))
        return real()

    rec = CallRecorder(flaky, tmp_path)  # type: ignore[arg-type]
    for _ in range(2):
        with pytest.raises(OperationalError):
            rec.drain_once()
    for n in range(10, 15):
        w.append(_call(n))  # calls keep coming while the database is away
    assert rec.drain() == 15
    assert session.scalar(select(func.count()).select_from(CallRecord)) == 15


def test_a_test_call_moves_the_last_test_call_and_the_last_call(services, session, tmp_path) -> None:
    dev = f.estate(session)["device"].id
    w = JournalWriter(tmp_path)
    w.append(_call(1, dev, at="2026-11-26T03:00:00+00:00") | {"test_call": True, "priority": "non-urgent"})
    w.append(_call(2, dev, at="2026-11-26T03:05:00+00:00"))  # an alarm after it
    CallRecorder(services.session_factory, tmp_path).drain()
    session.expire_all()
    device = session.get(Device, dev)
    assert device.last_test_call_at == datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    assert device.last_call_at == datetime(2026, 11, 26, 3, 5, tzinfo=UTC)
    rows = session.execute(select(CallRecord.record_id, CallRecord.test_call, CallRecord.priority)).all()
    assert sorted(rows) == [(f"r{1:031d}", True, "non-urgent"), (f"r{2:031d}", False, "")]


def test_unknown_callers_of_an_opted_in_trunk_become_pending_devices(services, session, tmp_path) -> None:
    est = f.estate(session)
    site, trunk = est["site"].id, est["trunk"].id
    revision = session.scalar(select(func.max(ChangeLog.id)))
    stranger = "+493099990000"
    w = JournalWriter(tmp_path)
    for n, ani in enumerate([stranger, stranger, est["device"].ani, "+493099990001"]):
        w.append(_call(n) | {"ani": ani, "trunk_id": trunk, "adopt_site_id": site, "call_id": f"c{n}@pbx"})
    CallRecorder(services.session_factory, tmp_path).drain()
    session.expire_all()
    pending = session.scalars(select(Device).where(Device.status == "pending").order_by(Device.ani)).all()
    # one device per new number; the registered lift is left alone
    assert [(d.ani, d.site_id, d.trunk_id, d.kind.value) for d in pending] == [
        (stranger, site, trunk, "other"),
        ("+493099990001", site, trunk, "other"),
    ]
    assert pending[0].notes == "first called on trunk loopback at 2026-11-26T03:00:00+00:00 (call c0@pbx)"
    # through the registry's change log, so the SIP snapshot learns them
    log = session.scalars(select(ChangeLog).where(ChangeLog.id > revision).order_by(ChangeLog.id)).all()
    assert [(c.action.value, c.object_type, c.actor, c.source) for c in log] == [
        ("create", "device", "anigate SIP front door", "sip"),
        ("create", "device", "anigate SIP front door", "sip"),
    ]
    assert session.scalar(select(func.count()).select_from(CallRecord)) == 4


def test_a_pending_device_that_cannot_be_added_never_holds_up_the_calls(services, session, tmp_path) -> None:
    f.estate(session)
    w = JournalWriter(tmp_path)
    w.append(_call(1) | {"ani": "+493099990000", "adopt_site_id": 999999})  # the site is gone
    assert CallRecorder(services.session_factory, tmp_path).drain() == 1
    assert session.scalar(select(func.count()).select_from(CallRecord)) == 1
    assert session.scalar(select(func.count()).select_from(Device).where(Device.status == "pending")) == 0


def test_a_site_takes_at_most_max_pending_devices(services, session, tmp_path, caplog) -> None:
    est = f.estate(session)
    w = JournalWriter(tmp_path)
    for n in range(5):  # a scanner changing its number on every call
        w.append(_call(n) | {"ani": f"+49309999000{n}", "adopt_site_id": est["site"].id, "call_id": f"c{n}"})
    CallRecorder(services.session_factory, tmp_path, max_pending=3).drain()
    pending = session.scalars(select(Device.ani).where(Device.status == "pending").order_by(Device.ani)).all()
    assert pending == ["+493099990000", "+493099990001", "+493099990002"]
    assert "site 1 already has 3 pending devices" in caplog.text
    assert session.scalar(select(func.count()).select_from(CallRecord)) == 5  # every call recorded


def test_each_recorded_call_commits_its_call_routed_event_with_the_place(services, session, tmp_path) -> None:
    est = f.estate(session)
    dev, loc, site = est["device"], est["location"], est["site"]
    mark = head(session)  # the estate's own device events come before
    w = JournalWriter(tmp_path)
    for n in range(3):
        rec = _call(n, dev.id)
        rec.update(
            site_id=site.id,
            center_id=est["center"].id,
            target_center_ids=[est["center"].id],
            anomalies=[{"code": "out_of_hours", "severity": "warning", "evidence": {}}],
        )
        w.append(rec)
    w.append(_call(3))  # an unknown caller: no device, no place
    assert CallRecorder(services.session_factory, tmp_path).drain() == 4
    events = read_events(session, after=mark)
    assert [e.event.type for e in events] == ["call.routed"] * 4
    assert [e.event.call_id for e in events] == ["call-0@pbx", "call-1@pbx", "call-2@pbx", "call-3@pbx"]
    first = events[0].event
    assert isinstance(first, CallRouted)
    assert (first.device_id, first.device_kind, first.site_id, first.site_name) == (
        dev.id,
        "elevator_phone",
        site.id,
        site.name,
    )
    assert (first.building, first.location, first.floor, first.camera_ref) == (
        loc.building,
        loc.name,
        loc.floor,
        loc.camera_ref,
    )
    assert first.center_name == est["center"].name and first.target_center_ids == (est["center"].id,)
    assert first.anomalies[0]["code"] == "out_of_hours"
    assert first.occurred_at == datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    assert events[0].center_id == est["center"].id and events[0].device_id == dev.id
    unknown = events[3].event
    assert isinstance(unknown, CallRouted) and unknown.device_id is None and unknown.site_name == ""
    # the rows and their events are one transaction: as many events as call rows
    assert session.scalar(select(func.count()).select_from(CallRecord)) == 4


def test_a_failed_batch_writes_neither_rows_nor_events(services, session, tmp_path) -> None:
    w = JournalWriter(tmp_path)
    w.append(_call(0))
    w.append({"type": "call", "record_id": "broken"})  # no received_at: the batch fails
    with pytest.raises(KeyError):
        CallRecorder(services.session_factory, tmp_path).drain_once()
    assert read_events(session) == []
    assert session.scalar(select(func.count()).select_from(CallRecord)) == 0


def test_two_instances_on_one_database_each_drain_their_own_journal_once(services, session, tmp_path) -> None:
    journals = {name: tmp_path / name for name in ("a", "b")}
    for i, folder in enumerate(journals.values()):
        w = JournalWriter(folder)
        for n in range(5):
            w.append(_call(100 * i + n))
        w.close()
    recorders = [
        CallRecorder(services.session_factory, folder, checkpoint=checkpoint_name(folder, "host-1"))
        for folder in journals.values()
    ]
    assert [r.drain() for r in recorders] == [5, 5]
    assert [r.drain() for r in recorders] == [0, 0]  # neither takes the other's position
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(CallRecord)) == 10
    names = set(session.scalars(select(JournalCheckpoint.name)))
    assert names == {checkpoint_name(f, "host-1") for f in journals.values()} and len(names) == 2
    assert checkpoint_name(journals["a"], "host-1") != checkpoint_name(journals["a"], "host-2")


def test_the_checkpoint_of_a_database_from_before_takes_its_new_name_and_records_nothing_twice(
    services, session, tmp_path
) -> None:
    w = JournalWriter(tmp_path)
    for n in range(3):
        w.append(_call(n))
    assert CallRecorder(services.session_factory, tmp_path).drain() == 3  # the one row, "calls"
    w.append(_call(3))
    w.close()
    mine = checkpoint_name(tmp_path, "host-1")
    assert CallRecorder(services.session_factory, tmp_path, checkpoint=mine).drain() == 1
    session.expire_all()
    assert list(session.scalars(select(JournalCheckpoint.name))) == [mine]
    assert session.scalar(select(func.count()).select_from(CallRecord)) == 4
