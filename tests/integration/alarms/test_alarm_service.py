"""The alarm service on a real database with a fake clock: the Done-when table of the alarms issue
(de-duplication, the 45 s escalation, latched lift alarms, silences, EN 81-28 supervision with
inhibition), each transition kept and each change an outbox event."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alarms.choices import AlarmAction, AlarmKind, AlarmState, SilenceScope
from alarms.lifecycle import TransitionRefused
from alarms.models import Alarm, AlarmTransition, Silence
from alarms.service import AlarmService
from alarms.supervision import check_heartbeats, check_test_calls
from registry.actors import Actor
from registry.choices import Role
from registry.errors import Forbidden, NotFound, ValidationFailed
from registry.events import CallRouted
from registry.models import Device
from registry.outbox import head, read_events
from registry.services import update_object
from tests import factories as f
from tests.fakes import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def svc(clock: FakeClock) -> AlarmService:
    return AlarmService(clock)


@pytest.fixture
def est(session: Session) -> dict[str, Any]:
    e = f.estate(session)
    e["backup"] = f.center(session, name="Hamburg Backup", sip_uris=["sip:hh@127.0.0.1:5071"])
    session.commit()
    return e


def operator(center_id: int, name: str = "olga") -> Actor:
    return Actor(name=name, role=Role.OPERATOR, source="api", user_id=9, center_id=center_id)


def routed(est: dict[str, Any], clock: FakeClock, n: int = 0, **kw: Any) -> CallRouted:
    dev = est["device"]
    values: dict[str, Any] = {
        "occurred_at": clock(),
        "call_id": f"call-{n}@pbx",
        "record_id": f"r{n}",
        "ani": dev.ani,
        "device_id": dev.id,
        "device_kind": "elevator_phone",
        "site_id": est["site"].id,
        "site_name": est["site"].name,
        "building": "A",
        "location": "Lift 1",
        "trunk_id": est["trunk"].id,
        "center_id": est["center"].id,
        "target_center_ids": (est["center"].id, est["backup"].id),
        "line": "emergency",
    }
    values.update(kw)
    return CallRouted(**values)


def alarms(session: Session) -> list[Alarm]:
    session.expire_all()
    return list(session.scalars(select(Alarm).order_by(Alarm.id)))


def transitions(session: Session, alarm: Alarm) -> list[tuple[str, str | None, str, str]]:
    rows = session.scalars(
        select(AlarmTransition).where(AlarmTransition.alarm_id == alarm.id).order_by(AlarmTransition.id)
    )
    return [
        (t.action.value, t.from_state.value if t.from_state else None, t.to_state.value, t.by) for t in rows
    ]


def alarm_events(session: Session, after: int = 0) -> list[tuple[str, str]]:
    return [
        (e.event.type, e.event.state)
        for e in read_events(session, after=after)
        if e.event.type.startswith("alarm.")
    ]  # type: ignore[attr-defined]


# ---- raising and de-duplication -------------------------------------------------------------------


def test_a_lift_call_raises_one_latched_critical_alarm_naming_the_place(session, svc, est, clock) -> None:
    mark = head(session)
    svc.on_calls(session, [routed(est, clock)])
    session.commit()
    (a,) = alarms(session)
    assert (a.kind, a.state, a.severity.value, a.latched) == (
        AlarmKind.LIFT_EMERGENCY,
        AlarmState.UNACK,
        "critical",
        True,
    )
    assert (a.device_id, a.site_id, a.center_id, a.call_id, a.count) == (
        est["device"].id,
        est["site"].id,
        est["center"].id,
        "call-0@pbx",
        1,
    )
    assert a.ack_deadline_at == clock() + timedelta(seconds=45)
    assert a.specific_problem == f"Emergency call from {est['device'].ani} (Tower A, A, Lift 1)"
    assert transitions(session, a) == [("raise", None, "active_unacknowledged", "anigate")]
    (ev,) = [e.event for e in read_events(session, after=mark)]
    assert ev.type == "alarm.raised"
    assert (ev.alarm_id, ev.building, ev.location, ev.device_ani, ev.latched) == (  # type: ignore[attr-defined]
        a.id,
        "A",
        "Lift 1",
        est["device"].ani,
        True,
    )


def test_a_hundred_calls_from_one_lift_in_five_minutes_give_one_alarm_with_count_100(
    session, svc, est, clock
) -> None:
    mark = head(session)
    for batch in range(4):  # as the recorder's batches bring them
        events = []
        for n in range(25):
            events.append(routed(est, clock, batch * 25 + n))
            clock.advance(seconds=3)
        svc.on_calls(session, events)
        session.commit()
    (a,) = alarms(session)
    assert a.count == 100
    assert a.first_at < a.last_at and (a.last_at - a.first_at) < timedelta(minutes=5)
    # one raised event, then one repeated event per batch (not one per call)
    assert [t for t, _ in alarm_events(session, mark)] == ["alarm.raised"] + ["alarm.repeated"] * 4


def test_a_closed_alarm_is_not_reused_the_next_call_raises_a_new_one(session, svc, est, clock) -> None:
    svc.on_calls(session, [routed(est, clock)])
    session.commit()
    (a,) = alarms(session)
    svc.reset(session, operator(est["center"].id), a.id, "passengers freed")
    session.commit()
    svc.on_calls(session, [routed(est, clock, 1)])
    session.commit()
    assert [(x.state, x.count) for x in alarms(session)] == [(AlarmState.CLOSED, 1), (AlarmState.UNACK, 1)]


def test_a_test_call_raises_nothing(session, svc, est, clock) -> None:
    svc.on_calls(session, [routed(est, clock, test_call=True, line="test")])
    session.commit()
    assert alarms(session) == []


# ---- escalation (ASME A17.1: 45 s) ----------------------------------------------------------------


def test_a_critical_alarm_unacknowledged_at_45_s_is_escalated_exactly_once(session, svc, est, clock) -> None:
    svc.on_calls(session, [routed(est, clock)])
    session.commit()
    clock.advance(seconds=44)
    assert svc.escalate_due(session) == []
    clock.advance(seconds=1)
    mark = head(session)
    assert len(svc.escalate_due(session)) == 1
    session.commit()
    for _ in range(3):
        clock.advance(seconds=60)
        assert svc.escalate_due(session) == []
    (a,) = alarms(session)
    assert (a.center_id, a.escalations, a.state) == (est["backup"].id, 1, AlarmState.UNACK)
    assert transitions(session, a)[-1] == (
        "escalate",
        "active_unacknowledged",
        "active_unacknowledged",
        "anigate",
    )
    (ev,) = [e.event for e in read_events(session, after=mark)]
    assert ev.type == "alarm.escalated"
    assert (ev.from_center_id, ev.to_center_id) == (est["center"].id, est["backup"].id)  # type: ignore[attr-defined]
    assert ev.note == f"not acknowledged within 45 s: moved to center {est['backup'].id}"


def test_a_storm_of_due_alarms_escalates_in_bounded_transactions_each_once(
    services, session, svc, est, clock, monkeypatch
) -> None:
    """The deadlines job takes ESCALATE_BATCH alarms per transaction (a blackout's 100,000 loaded at
    once held the worker's memory at its peak) and goes on until none is due."""
    import alarms.jobs as jobs

    phones = [est["device"]] + [
        f.device(session, est["site"].id, ani=f"+4930123456{n:02d}", trunk=est["trunk"].id) for n in range(6)
    ]
    session.commit()
    svc.on_calls(
        session,
        [routed(est, clock, n, device_id=d.id, ani=d.ani) for n, d in enumerate(phones)],
    )
    session.commit()
    clock.advance(seconds=45)
    assert [a.id for a in svc.escalate_due(session, limit=3)] == [a.id for a in alarms(session)[:3]]
    session.rollback()
    monkeypatch.setattr(jobs, "ESCALATE_BATCH", 3)
    commits: list[int] = []
    real_commit = Session.commit

    def counting_commit(self: Session) -> None:
        commits.append(1)
        real_commit(self)

    monkeypatch.setattr(Session, "commit", counting_commit)
    runner = jobs.JobRunner(services.session_factory, "w1", svc, jobs.JobSettings(), clock)
    with services.session_factory() as s:
        assert runner.deadlines(s, clock()) == "7 escalated"
        assert len(commits) == 2  # after 3 and after 6; the 7th is committed by the job's caller
        s.commit()
    assert [(a.escalations, a.center_id) for a in alarms(session)] == [(1, est["backup"].id)] * 7
    with services.session_factory() as s:
        assert runner.deadlines(s, clock()) == "0 escalated"


def test_an_acknowledged_alarm_is_never_escalated(session, svc, est, clock) -> None:
    svc.on_calls(session, [routed(est, clock)])
    session.commit()
    clock.advance(seconds=30)
    svc.acknowledge(session, operator(est["center"].id), alarms(session)[0].id, "on my way")
    session.commit()
    clock.advance(seconds=600)
    assert svc.escalate_due(session) == []
    (a,) = alarms(session)
    assert (a.center_id, a.escalations, a.acked_by) == (est["center"].id, 0, "olga")


def test_only_severities_with_a_deadline_escalate(session, clock, est) -> None:
    svc = AlarmService(clock, ack_deadlines={})
    svc.on_calls(session, [routed(est, clock)])
    session.commit()
    clock.advance(hours=1)
    assert svc.escalate_due(session) == [] and alarms(session)[0].ack_deadline_at is None


def test_without_a_further_center_the_escalation_is_still_recorded(session, svc, est, clock) -> None:
    svc.on_calls(session, [routed(est, clock, target_center_ids=(est["center"].id,))])
    session.commit()
    clock.advance(seconds=46)
    (a,) = svc.escalate_due(session)
    assert (a.center_id, a.escalations) == (est["center"].id, 1)
    assert transitions(session, a)[-1][0] == "escalate"


# ---- latched lift alarms (EN 81-28) ----------------------------------------------------------------


def test_a_latched_lift_alarm_stays_after_acknowledge_and_closes_on_rescue_ended(
    session, svc, est, clock
) -> None:
    op = operator(est["center"].id)
    svc.on_calls(session, [routed(est, clock)])
    session.commit()
    (a,) = alarms(session)
    svc.acknowledge(session, op, a.id)
    session.commit()
    assert alarms(session)[0].state is AlarmState.LATCHED
    with pytest.raises(TransitionRefused, match="rescue ended or a reset"):
        svc.clear(session, op, a.id)
    session.rollback()
    clock.advance(minutes=20)
    svc.on_calls(session, [routed(est, clock, 1, rescue_ended=True)])
    session.commit()
    (a,) = alarms(session)
    assert (a.state, a.closed_at) == (AlarmState.CLOSED, clock())
    assert [t[0] for t in transitions(session, a)] == ["raise", "acknowledge", "rescue_ended"]


def test_a_latched_lift_alarm_closes_on_a_reset_with_a_reason_only(session, svc, est, clock) -> None:
    op = operator(est["center"].id)
    svc.on_calls(session, [routed(est, clock)])
    session.commit()
    (a,) = alarms(session)
    with pytest.raises(ValidationFailed, match="reason"):
        svc.reset(session, op, a.id, "  ")
    svc.reset(session, op, a.id, "passengers freed by the fire brigade")
    session.commit()
    (a,) = alarms(session)
    assert a.state is AlarmState.CLOSED
    assert transitions(session, a)[-1] == ("reset", "active_unacknowledged", "closed", "olga")
    note = session.scalars(
        select(AlarmTransition.note).where(AlarmTransition.action == AlarmAction.RESET.value)
    ).one()
    assert note == "passengers freed by the fire brigade"


def test_rescue_ended_before_anyone_acknowledged_still_needs_an_acknowledgement(
    session, svc, est, clock
) -> None:
    svc.on_calls(session, [routed(est, clock)])
    svc.on_calls(session, [routed(est, clock, 1, rescue_ended=True)])
    session.commit()
    (a,) = alarms(session)
    assert a.state is AlarmState.RTN_UNACK
    svc.acknowledge(session, operator(est["center"].id), a.id)
    session.commit()
    assert alarms(session)[0].state is AlarmState.CLOSED


# ---- operators' actions and scope -----------------------------------------------------------------


def test_notes_and_shelving_keep_who_when_and_why(session, svc, est, clock) -> None:
    op = operator(est["center"].id)
    svc.on_calls(
        session,
        [
            routed(
                est,
                clock,
                line="intercom",
                device_kind="door_intercom",
                anomalies=({"code": "out_of_hours", "evidence": {}},),
            )
        ],
    )
    session.commit()
    (a,) = alarms(session)
    assert a.kind is AlarmKind.OUT_OF_HOURS
    svc.add_note(session, op, a.id, "cleaner with a late shift")
    with pytest.raises(ValidationFailed):
        svc.add_note(session, op, a.id, " ")
    with pytest.raises(ValidationFailed, match="at most 24 hours"):
        svc.shelve(session, op, a.id, clock() + timedelta(hours=25))
    svc.shelve(session, op, a.id, clock() + timedelta(hours=1), "known")
    session.commit()
    assert alarms(session)[0].state is AlarmState.SHELVED
    clock.advance(minutes=59)
    assert svc.expire_shelves(session) == []
    clock.advance(minutes=1)
    assert len(svc.expire_shelves(session)) == 1
    session.commit()
    (a,) = alarms(session)
    assert (a.state, a.shelved_until) == (AlarmState.UNACK, None)
    assert [t[0] for t in transitions(session, a)] == ["raise", "note", "shelve", "unshelve"]
    svc.clear(session, op, a.id, "spoke to the cleaner")
    session.commit()
    assert alarms(session)[0].state is AlarmState.CLOSED


def test_an_operator_acts_only_on_their_centers_alarms(session, svc, est, clock) -> None:
    svc.on_calls(session, [routed(est, clock)])
    session.commit()
    (a,) = alarms(session)
    with pytest.raises(NotFound):
        svc.acknowledge(session, operator(est["backup"].id), a.id)
    manager = Actor(name="fm", role=Role.FACILITY_MANAGER, source="api", site_ids=frozenset({est["site"].id}))
    with pytest.raises(Forbidden):
        svc.acknowledge(session, manager, a.id)
    with pytest.raises(NotFound):
        svc.acknowledge(session, operator(est["center"].id), 2**40)
    svc.acknowledge(session, Actor.system("cli", "root"), a.id)
    with pytest.raises(TransitionRefused, match="cannot be acknowledged"):
        svc.acknowledge(session, operator(est["center"].id), a.id)


# ---- silences ---------------------------------------------------------------------------------------


def test_a_silence_suppresses_and_its_end_re_raises_while_the_condition_holds(
    session, svc, est, clock
) -> None:
    session.add(
        Silence(
            scope=SilenceScope.SITE,
            target_id=est["site"].id,
            starts_at=clock(),
            ends_at=clock() + timedelta(hours=2),
            reason="lift modernisation",
            created_by="fm",
        )
    )
    session.commit()
    mark = head(session)
    clock.advance(minutes=5)
    svc.on_calls(session, [routed(est, clock)])
    session.commit()
    (a,) = alarms(session)
    assert a.state is AlarmState.SUPPRESSED and a.silence_id is not None
    assert alarm_events(session, mark) == [("alarm.suppressed", "suppressed")]
    clock.advance(hours=1)
    assert svc.end_silences(session) == []  # not over yet
    clock.advance(hours=1)
    assert len(svc.end_silences(session)) == 1
    session.commit()
    (a,) = alarms(session)
    assert (a.state, a.silence_id) == (AlarmState.UNACK, None)
    assert a.ack_deadline_at == clock() + timedelta(seconds=45)  # the deadline runs from the re-raise
    assert alarm_events(session, mark)[-1] == ("alarm.raised", "active_unacknowledged")
    assert [t[0] for t in transitions(session, a)] == ["raise", "unsuppress"]
    assert svc.end_silences(session) == []  # a silence ends once


def test_an_alarm_whose_condition_ended_in_the_silence_stays_closed(session, svc, est, clock) -> None:
    session.add(
        Silence(
            scope=SilenceScope.DEVICE,
            target_id=est["device"].id,
            starts_at=clock(),
            ends_at=clock() + timedelta(hours=1),
            reason="phone swap",
            created_by="fm",
        )
    )
    session.commit()
    svc.on_calls(session, [routed(est, clock)])
    svc.on_calls(session, [routed(est, clock, 1, rescue_ended=True)])
    session.commit()
    clock.advance(hours=2)
    assert svc.end_silences(session) == []
    assert alarms(session)[0].state is AlarmState.CLOSED


def test_a_device_in_maintenance_is_silenced_for_its_span(session, svc, est, clock, admin) -> None:
    update_object(
        session,
        admin,
        "device",
        est["device"].id,
        {"status": "maintenance", "maintenance_until": (clock() + timedelta(hours=1)).isoformat()},
    )
    session.commit()
    svc.on_calls(session, [routed(est, clock)])
    session.commit()
    assert alarms(session)[0].state is AlarmState.SUPPRESSED
    clock.advance(hours=2)
    update_object(session, admin, "device", est["device"].id, {"status": "active"})
    session.commit()
    assert len(svc.end_silences(session)) == 1
    session.commit()
    assert alarms(session)[0].state is AlarmState.UNACK


# ---- EN 81-28 supervision ----------------------------------------------------------------------------


def _set_last_test(session: Session, device_id: int, when) -> None:  # type: ignore[no-untyped-def]
    session.get(Device, device_id).last_test_call_at = when  # type: ignore[union-attr]
    session.commit()


def test_a_lift_phone_silent_past_72_h_and_grace_raises_missed_test_call_once(
    session, svc, est, clock
) -> None:
    dev = est["device"]
    start = clock()
    _set_last_test(session, dev.id, start)
    clock.set(start + timedelta(hours=72, minutes=14))
    assert check_test_calls(session, svc, clock()).raised == 0
    clock.set(start + timedelta(hours=72, minutes=15))
    report = check_test_calls(session, svc, clock())
    session.commit()
    assert (report.overdue, report.raised) == (1, 1)
    for _ in range(3):  # every minute after: no second alarm, no repeat
        clock.advance(minutes=1)
        assert check_test_calls(session, svc, clock()).raised == 0
        session.commit()
    (a,) = alarms(session)
    assert (a.kind, a.state, a.count, a.resource) == (
        AlarmKind.MISSED_TEST_CALL,
        AlarmState.UNACK,
        1,
        f"device:{dev.id}",
    )
    assert a.specific_problem.startswith(f"No test call from {dev.ani} (Tower A) within 72 h")
    # the next test call clears it (the recorder's batch)
    svc.on_calls(session, [routed(est, clock, 9, test_call=True, line="test")])
    session.commit()
    assert alarms(session)[0].state is AlarmState.RTN_UNACK
    assert alarms(session)[0].returned_at == clock()


def test_a_new_device_gets_one_interval_and_the_grace_from_its_registration(session, svc, est) -> None:
    created = session.get(Device, est["device"].id).created_at  # type: ignore[union-attr]
    assert check_test_calls(session, svc, created + timedelta(hours=72, minutes=14)).raised == 0
    assert check_test_calls(session, svc, created + timedelta(hours=72, minutes=15)).raised == 1


def test_a_phone_that_is_due_no_more_ends_its_alarm(session, svc, est, clock) -> None:
    dev = est["device"]
    _set_last_test(session, dev.id, clock() - timedelta(hours=100))
    check_test_calls(session, svc, clock())
    session.commit()
    _set_last_test(session, dev.id, clock())  # moved by other means than a call we saw
    assert check_test_calls(session, svc, clock()).ended == 1


def test_all_phones_of_a_trunk_silent_give_one_trunk_silent_with_the_device_alarms_inhibited(
    session, svc, est, clock
) -> None:
    site, trunk = est["site"], est["trunk"]
    devices = [est["device"]] + [
        f.device(session, site.id, ani=f"+4930123456{n:02d}", trunk=trunk.id) for n in range(10, 14)
    ]
    other = f.trunk(session, name="other", source_addresses=["127.0.0.9"])
    lone = f.device(session, site.id, ani="+493012345699", trunk=other.id)
    session.commit()
    for d in [*devices, lone]:
        _set_last_test(session, d.id, clock() - timedelta(hours=80))
    _set_last_test(session, lone.id, clock())  # the other trunk's phone still calls: the site is not silent
    report = check_test_calls(session, svc, clock())
    session.commit()
    assert (report.overdue, report.raised, report.groups, report.inhibited) == (5, 5, 1, 5)
    by_kind = {}
    for a in alarms(session):
        by_kind.setdefault(a.kind, []).append(a)
    (parent,) = by_kind[AlarmKind.TRUNK_SILENT]
    assert (parent.state, parent.resource, parent.severity.value) == (
        AlarmState.UNACK,
        f"trunk:{trunk.id}",
        "critical",
    )
    assert parent.specific_problem == "All 5 supervised phones of trunk loopback missed their test call"
    children = by_kind[AlarmKind.MISSED_TEST_CALL]
    assert len(children) == 5 and {c.state for c in children} == {AlarmState.SUPPRESSED}
    assert {c.inhibited_by_id for c in children} == {parent.id}
    assert AlarmKind.SITE_SILENT not in by_kind
    # a minute later: nothing new
    clock.advance(minutes=1)
    again = check_test_calls(session, svc, clock())
    assert (again.raised, again.inhibited) == (0, 0)
    # one phone calls (the recorder moves its last test call and ends its alarm): the trunk speaks
    # again, the other phones' own alarms count again
    _set_last_test(session, est["device"].id, clock())
    svc.on_calls(session, [routed(est, clock, 5, test_call=True, line="test")])
    check_test_calls(session, svc, clock())
    session.commit()
    states = {a.device_id: a.state for a in alarms(session) if a.kind is AlarmKind.MISSED_TEST_CALL}
    assert states[est["device"].id] is AlarmState.CLOSED  # it ended while inhibited: nothing to see
    assert [states[d.id] for d in devices[1:]] == [AlarmState.UNACK] * 4
    parent = next(a for a in alarms(session) if a.kind is AlarmKind.TRUNK_SILENT)
    assert parent.state is AlarmState.RTN_UNACK


def test_a_device_that_stops_its_heartbeats_raises_heartbeat_lost_until_it_is_back(
    session, svc, est, clock
) -> None:
    dev = session.get(Device, est["device"].id)
    dev.last_heartbeat_at = clock()  # type: ignore[union-attr]
    session.commit()
    clock.advance(minutes=9)
    assert check_heartbeats(session, svc, clock()) == (0, 0)
    clock.advance(minutes=1)
    assert check_heartbeats(session, svc, clock()) == (1, 0)
    assert check_heartbeats(session, svc, clock()) == (0, 0)
    session.commit()
    dev = session.get(Device, est["device"].id)
    dev.last_heartbeat_at = clock()  # type: ignore[union-attr]
    session.commit()
    assert check_heartbeats(session, svc, clock()) == (0, 1)


def test_a_missed_test_call_makes_the_device_overdue_and_its_next_call_online_again(
    session, svc, est, clock
) -> None:
    _set_last_test(session, est["device"].id, clock() - timedelta(hours=100))
    mark = head(session)
    check_test_calls(session, svc, clock())
    session.commit()
    svc.on_calls(session, [routed(est, clock, 1, test_call=True, line="test")])
    session.commit()
    statuses = [
        (e.event.status, e.event.previous)  # type: ignore[attr-defined]
        for e in read_events(session, after=mark)
        if e.event.type == "device.status_changed"
    ]
    assert statuses == [("overdue", "online"), ("online", "overdue")]


def test_a_centers_own_deadline_replaces_the_services_for_its_severity(
    session, svc, est, clock, admin
) -> None:
    update_object(session, admin, "center", est["center"].id, {"ack_deadlines": "critical=20"})
    session.commit()
    svc.on_calls(session, [routed(est, clock)])
    session.commit()
    assert alarms(session)[0].ack_deadline_at == clock() + timedelta(seconds=20)
    clock.advance(seconds=20)
    assert len(svc.escalate_due(session)) == 1


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("fatal=3", "'fatal' is not a severity (critical, major, minor, warning)"),
        ("critical=0", "the deadline of critical must be whole seconds from 1 to 3600"),
        ("critical=soon", "the deadline of critical must be whole seconds from 1 to 3600"),
        ({"major": 7200}, "the deadline of major must be whole seconds from 1 to 3600"),
    ],
)
def test_a_bad_deadline_is_refused_with_its_reason(session, est, admin, given, message) -> None:
    with pytest.raises(ValidationFailed) as err:
        update_object(session, admin, "center", est["center"].id, {"ack_deadlines": given})
    assert err.value.errors == {"ack_deadlines": message}


def test_deadlines_read_from_the_form_and_the_api_alike(session, est, admin) -> None:
    center = update_object(
        session, admin, "center", est["center"].id, {"ack_deadlines": " Critical=30, major = 300 "}
    )
    assert center.ack_deadlines == {"critical": 30, "major": 300}
    center = update_object(session, admin, "center", est["center"].id, {"ack_deadlines": {"minor": 600}})
    assert center.ack_deadlines == {"minor": 600}
    center = update_object(session, admin, "center", est["center"].id, {"ack_deadlines": ""})
    assert center.ack_deadlines == {}
