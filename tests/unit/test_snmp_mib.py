"""Events as ANIGATE-MIB notifications: which notification, which varbinds in which order, and the
values (severities, states, strings, times) as the MIB defines them; the table in
``integrations.snmp_mib`` and the MIB text say the same."""

from __future__ import annotations

import re
import struct
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from alarms.choices import AlarmState, PerceivedSeverity
from integrations import snmp_mib
from registry.events import AlarmNoted, AlarmRepeated, AlarmShelved, DeviceChanged
from tests.unit import snmp_events as ev

ROOT = snmp_mib.parse_oid(snmp_mib.DEFAULT_ENTERPRISE_OID)
MIB = (Path(__file__).resolve().parents[2] / "docs" / "mib" / "ANIGATE-MIB.txt").read_text()


def names(note: snmp_mib.Notification | None) -> list[str]:
    assert note is not None
    return [vb.name for vb in note.varbinds]


def mib_objects(notification: str) -> list[str]:
    """The OBJECTS clause of ``notification`` in the MIB text."""
    found = re.search(rf"^{notification} NOTIFICATION-TYPE\s+OBJECTS \{{([^}}]*)\}}", MIB, re.M)
    assert found, notification
    return [name.strip() for name in found.group(1).split(",")]


def test_the_default_enterprise_is_rfc_5612s_documentation_number() -> None:
    assert ROOT == (1, 3, 6, 1, 4, 1, 32473)
    assert "::= { enterprises 32473 }" in MIB


def test_a_raised_alarm_becomes_anigate_alarm_raised_with_the_x733_fields_and_the_place() -> None:
    note = snmp_mib.notification(ev.raised(), ROOT)
    assert note is not None
    assert note.name == "anigateAlarmRaised"
    assert note.oid == (*ROOT, 0, 1)
    values = note.values()
    assert values["anigateAlarmId"] == 42
    assert values["anigateAlarmKind"] == b"lift_emergency"
    assert values["anigateAlarmSeverity"] == 3  # critical(3)
    assert values["anigateAlarmState"] == 2  # activeUnacknowledged(2)
    assert values["anigateAlarmEventType"] == b"environmentalAlarm"
    assert values["anigateAlarmProbableCause"] == b"personTrapped"
    assert values["anigateAlarmText"] == b"Emergency call from the lift"
    assert values["anigateDeviceAni"] == b"+493012345678"
    assert values["anigateSiteName"] == "Hauptstraße 1".encode()
    assert values["anigateBuilding"] == b"A"
    assert values["anigateLocation"] == b"Lift 2 car"
    assert values["anigateFloor"] == b"3"
    assert values["anigateCallId"] == b"c1@pbx"


def test_every_notification_carries_the_event_id_to_de_duplicate_by() -> None:
    for event in (ev.raised(), ev.acknowledged(), ev.cleared(), ev.reset(), ev.escalated(), ev.call()):
        note = snmp_mib.notification(event, ROOT)
        assert note is not None
        assert note.values()["anigateEventId"] == str(event.event_id).encode()


@pytest.mark.parametrize(
    ("event", "notification"),
    [
        (ev.raised(), "anigateAlarmRaised"),
        (ev.acknowledged(), "anigateAlarmAcknowledged"),
        (ev.cleared(), "anigateAlarmCleared"),
        (ev.reset(), "anigateAlarmCleared"),
        (ev.escalated(), "anigateAlarmEscalated"),
        (ev.call(), "anigateCallRouted"),
    ],
)
def test_varbinds_follow_the_objects_clause_of_the_mib(event: object, notification: str) -> None:
    note = snmp_mib.notification(event, ROOT)  # type: ignore[arg-type]
    assert note is not None and note.name == notification
    assert names(note) == mib_objects(notification)


def mib_definitions(macro: str) -> dict[str, tuple[str, int, str]]:
    """Each ``macro`` definition of the MIB text: name -> (parent, arc, its clauses)."""
    found = re.finditer(rf"^(\w+) {macro}\b(.*?)::= \{{ (\w+) (\d+) \}}", MIB, re.M | re.S)
    return {m.group(1): (m.group(3), int(m.group(4)), m.group(2)) for m in found}


def test_the_object_and_notification_numbers_and_sizes_are_those_of_the_mib() -> None:
    objects = mib_definitions("OBJECT-TYPE")
    assert set(objects) == set(snmp_mib.OBJECTS)
    for name, (arc, syntax, size) in snmp_mib.OBJECTS.items():
        parent, mib_arc, clauses = objects[name]
        assert (parent, mib_arc) == ("anigateObjects", arc), name
        if syntax == "string":
            assert re.search(rf"SnmpAdminString \(SIZE \((0\.\.)?{size}\)\)", clauses), name
    notifications = mib_definitions("NOTIFICATION-TYPE")
    assert {n: (p, a) for n, (p, a, _) in notifications.items()} == {
        n: ("anigateNotifications", a) for n, a in snmp_mib.NOTIFICATIONS.items()
    }


def test_a_clear_and_a_reset_carry_severity_cleared_and_who_did_it_with_the_reason() -> None:
    for event in (ev.cleared(), ev.reset()):
        values = snmp_mib.notification(event, ROOT).values()  # type: ignore[union-attr]
        assert values["anigateAlarmSeverity"] == 1  # cleared(1)
        assert values["anigateAlarmState"] == 8  # closed(8)
        assert values["anigateActor"] == event.by.encode()
        assert values["anigateAlarmText"] == event.note.encode()


def test_an_acknowledgement_names_the_operator_and_the_latched_state() -> None:
    values = snmp_mib.notification(ev.acknowledged(), ROOT).values()  # type: ignore[union-attr]
    assert values["anigateActor"] == b"olga"
    assert values["anigateAlarmText"] == b"on my way"
    assert values["anigateAlarmState"] == 5  # latched(5)


def test_an_escalation_names_the_center_the_alarm_moved_to() -> None:
    values = snmp_mib.notification(ev.escalated(), ROOT).values()  # type: ignore[union-attr]
    assert values["anigateCenterId"] == 9


def test_a_routed_call_names_the_first_target_and_whether_it_was_a_test_call() -> None:
    values = snmp_mib.notification(ev.call(), ROOT).values()  # type: ignore[union-attr]
    assert values["anigateCallTarget"] == b"sip:112@psap.example"
    assert values["anigateTestCall"] == 2  # false(2)
    assert values["anigateCallerName"] == ev.XSS.encode()  # text, carried as it came
    test_call = snmp_mib.notification(ev.call(test_call=True, targets=()), ROOT).values()  # type: ignore[union-attr]
    assert test_call["anigateTestCall"] == 1
    assert test_call["anigateCallTarget"] == b""


def test_an_unknown_ani_and_no_center_are_sent_empty_and_zero() -> None:
    values = snmp_mib.notification(ev.call(ani=None, center_id=None, display_name=None), ROOT).values()  # type: ignore[union-attr]
    assert values["anigateDeviceAni"] == b""
    assert values["anigateCallerName"] == b""
    assert values["anigateCenterId"] == 0


def test_events_without_a_notification_map_to_none() -> None:
    common = {"occurred_at": ev.WHEN, "alarm_id": 1, "kind": "k", "severity": "minor", "state": "shelved"}
    for event in (
        AlarmNoted(**common),
        AlarmShelved(**common),
        AlarmRepeated(**common),
        DeviceChanged(occurred_at=ev.WHEN, device_id=1, site_id=1, action="update"),
    ):
        assert snmp_mib.notification(event, ROOT) is None


def test_every_x733_severity_has_its_itu_number_and_an_unknown_one_is_indeterminate() -> None:
    assert {s.value: snmp_mib.severity(s.value) for s in PerceivedSeverity} == {
        "cleared": 1,
        "indeterminate": 2,
        "critical": 3,
        "major": 4,
        "minor": 5,
        "warning": 6,
    }
    assert snmp_mib.severity("catastrophic") == 2


def test_every_alarm_state_of_anigate_has_a_number_and_an_unknown_one_is_other() -> None:
    assert all(snmp_mib.state(s.value) > 1 for s in AlarmState)
    assert len({snmp_mib.state(s.value) for s in AlarmState}) == len(AlarmState)
    assert snmp_mib.state("quantum") == 1
    for s in AlarmState:  # each number named in the MIB's enumeration
        label = re.sub(r"_(\w)", lambda m: m.group(1).upper(), s.value)
        assert f"{label}({snmp_mib.state(s.value)})" in MIB


def test_strings_are_cut_to_their_size_at_a_character_boundary() -> None:
    site = "ß" * 100  # 200 octets in UTF-8, the limit is 128
    values = snmp_mib.notification(ev.raised(site_name=site, additional_text="x" * 300), ROOT).values()  # type: ignore[union-attr]
    assert values["anigateSiteName"] == ("ß" * 64).encode()
    assert values["anigateAlarmText"] == b"x" * 255
    assert snmp_mib.admin_string("aß", 2) == b"a"  # never half a character


def test_control_characters_from_outside_cannot_forge_lines() -> None:
    assert snmp_mib.admin_string("Lift\r\nEND\x00\x1b[31m", 64) == b"Lift  END  [31m"


def test_the_event_time_is_a_date_and_time_in_utc() -> None:
    cest = timezone(timedelta(hours=2))
    raw = snmp_mib.date_and_time(datetime(2026, 7, 1, 14, 0, 9, 250_000, tzinfo=cest))
    assert struct.unpack(">HBBBBBBcBB", raw) == (2026, 7, 1, 12, 0, 9, 2, b"+", 0, 0)
    note = snmp_mib.notification(ev.raised(), ROOT)
    assert note is not None
    assert note.values()["anigateEventTime"] == struct.pack(
        ">HBBBBBBcBB", 2026, 1, 15, 10, 30, 5, 7, b"+", 0, 0
    )


def test_ids_beyond_unsigned32_saturate_and_none_is_zero() -> None:
    assert snmp_mib.unsigned32(None) == 0
    assert snmp_mib.unsigned32(2**40) == 2**32 - 1
    assert snmp_mib.unsigned32(-5) == 0


def test_another_enterprise_oid_moves_every_oid_under_it() -> None:
    root = snmp_mib.parse_oid("1.3.6.1.4.1.99999.7")
    note = snmp_mib.notification(ev.raised(), root)
    assert note is not None
    assert note.oid == (1, 3, 6, 1, 4, 1, 99999, 7, 0, 1)
    assert all(vb.oid[: len(root) + 1] == (*root, 1) and vb.oid[-1] == 0 for vb in note.varbinds)


def test_a_naive_time_is_taken_as_utc() -> None:
    assert snmp_mib.date_and_time(datetime(2026, 1, 1, 0, 0)) == snmp_mib.date_and_time(
        datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    )
