"""``service_degraded``: the supervision job raises one critical alarm per worker whose health row
holds answered calls it could not journal or answers from the registry snapshot on disk, with the
evidence (worker, counts, since); it returns to normal by itself when the row says held 0 and the
live snapshot. It goes out through the outbox like every alarm, and every center's operators see it
(no center owns it) on the alarm list and the console's live feed. A fault that came and went while
the database was away is still raised, once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alarms.choices import AlarmKind, AlarmState
from alarms.models import Alarm
from alarms.queries import alarm_query
from alarms.service import AlarmService
from alarms.supervision import check_service
from console.stream import visible_to
from registry.actors import Actor
from registry.choices import Role
from registry.outbox import head, read_events
from routing.models import WorkerStatus
from tests import factories as f
from tests.fakes import FakeClock

WORKER = "vm:127.0.0.1:5060"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def svc(clock: FakeClock) -> AlarmService:
    return AlarmService(clock)


def beat(session: Session, at: datetime, **kw: object) -> WorkerStatus:
    """The worker's row as its heartbeat writes it (healthy unless ``kw`` says otherwise)."""
    row = session.get(WorkerStatus, WORKER)
    if row is None:
        row = WorkerStatus(worker=WORKER, host="vm", pid=4242, started_at=at - timedelta(minutes=5))
        session.add(row)
    values: dict[str, object] = {
        "heartbeat_at": at,
        "recorder_state": "running",
        "recorder_pid": 4243,
        "recorder_restarts": 0,
        "recorder_last_error": "",
        "journal_backlog_bytes": 0,
        "sip_listening": True,
        "calls_held": 0,
        "calls_held_since": None,
        "calls_unjournaled": 0,
        "calls_lost": 0,
        "snapshot_source": "database",
        "snapshot_taken_at": at - timedelta(minutes=5),
    } | kw
    for name, value in values.items():
        setattr(row, name, value)
    session.commit()
    return row


def service_alarms(session: Session) -> list[Alarm]:
    return list(
        session.scalars(
            select(Alarm).where(Alarm.kind == AlarmKind.SERVICE_DEGRADED.value).order_by(Alarm.id)
        )
    )


def test_calls_held_unjournaled_raise_one_critical_alarm_with_the_evidence_until_the_journal_takes_them(
    session, svc, clock
) -> None:
    beat(session, clock())
    assert check_service(session, svc, clock()) == (0, 0)
    mark = head(session)
    since = clock()
    clock.advance(seconds=5)
    beat(session, clock(), calls_held=120, calls_held_since=since, calls_unjournaled=120)
    assert check_service(session, svc, clock()) == (1, 0)
    session.commit()
    clock.advance(seconds=5)
    beat(session, clock(), calls_held=300, calls_held_since=since, calls_unjournaled=300)
    assert check_service(session, svc, clock()) == (0, 0)  # deduplicated: still the one alarm
    session.commit()

    (alarm,) = service_alarms(session)
    assert (alarm.state, alarm.severity.value, alarm.resource, alarm.center_id) == (
        AlarmState.UNACK,
        "critical",
        f"worker:{WORKER}",
        None,
    )
    assert alarm.event_type.value == "qualityOfServiceAlarm"
    assert alarm.specific_problem == (
        f"{WORKER}: 120 answered calls not journaled (held since 2026-12-02 03:00:00 UTC)"
    )
    assert "answered while the journal failed 120, lost 0" in alarm.additional_text
    assert alarm.ack_deadline_at is None  # no center to escalate it to

    clock.advance(seconds=5)
    beat(session, clock(), calls_unjournaled=300)  # held back to 0: the journal took them
    assert check_service(session, svc, clock()) == (0, 1)
    session.commit()
    assert service_alarms(session)[0].state is AlarmState.RTN_UNACK
    assert check_service(session, svc, clock()) == (0, 0)  # and not raised again for the same fault
    events = [
        (e.event.type, e.event.kind, e.center_id)  # type: ignore[attr-defined]
        for e in read_events(session, after=mark)
    ]
    assert events == [
        ("alarm.raised", "service_degraded", None),
        ("alarm.cleared", "service_degraded", None),
    ]


def test_answering_from_the_snapshot_on_disk_raises_it_and_the_live_snapshot_ends_it(
    session, svc, clock
) -> None:
    taken = clock() - timedelta(hours=3)
    beat(session, clock(), snapshot_source="disk", snapshot_taken_at=taken)
    assert check_service(session, svc, clock()) == (1, 0)
    session.commit()
    (alarm,) = service_alarms(session)
    assert alarm.specific_problem == (
        f"{WORKER}: answering from the registry snapshot on disk of 2026-12-02 00:00:00 UTC"
    )
    clock.advance(seconds=30)
    beat(session, clock())
    assert check_service(session, svc, clock()) == (0, 1)
    session.commit()
    assert service_alarms(session)[0].state is AlarmState.RTN_UNACK


def test_calls_lost_while_the_database_was_away_are_raised_once_it_is_back_and_stay_counted(
    session, svc, clock
) -> None:
    # the first report after the outage: the journal works again, 40 calls could not be kept
    beat(session, clock(), calls_unjournaled=100_040, calls_lost=40)
    assert check_service(session, svc, clock()) == (1, 0)
    session.commit()
    (alarm,) = service_alarms(session)
    assert alarm.specific_problem == f"{WORKER}: 40 calls lost (never recorded)"
    assert alarm.state is AlarmState.RTN_UNACK  # over already, still to be acknowledged
    assert check_service(session, svc, clock()) == (0, 0)
    session.commit()
    assert len(service_alarms(session)) == 1


def test_every_centers_operators_see_the_service_alarm_and_not_another_centers_device_alarms(
    session, svc, clock
) -> None:
    est = f.estate(session)
    other = f.center(session, name="Hamburg", sip_uris=["sip:hh@127.0.0.1:5071"])
    session.commit()
    mark = head(session)
    beat(session, clock(), calls_held=1, calls_held_since=clock(), calls_unjournaled=1)
    check_service(session, svc, clock())
    session.commit()
    (raised,) = read_events(session, after=mark)
    for center in (est["center"].id, other.id):
        operator = Actor(name="olga", role=Role.OPERATOR, source="api", user_id=9, center_id=center)
        kinds = [a.kind for a in session.scalars(alarm_query(operator))]
        assert kinds == [AlarmKind.SERVICE_DEGRADED]
        assert visible_to(operator, raised)  # and on the console's live feed
    manager = Actor(name="fm", role=Role.FACILITY_MANAGER, source="api", site_ids=frozenset({est["site"].id}))
    assert list(session.scalars(alarm_query(manager))) == []
