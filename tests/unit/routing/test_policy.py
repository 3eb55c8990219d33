"""decide() over a hand-built snapshot: business hours (holidays, DST nights), device status,
unknown callers by country and language, and anomalies that never move a registered device's call."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from registry.choices import DeviceKind, DeviceStatus
from routing.policy import CallFacts, Decision, Priority, Severity, decide
from routing.snapshot import (
    CenterEntry,
    DeviceEntry,
    ScheduleEntry,
    SiteEntry,
    Snapshot,
    TrunkEntry,
)

WEEKDAYS_8_TO_18 = {"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "18:00"}

CENTERS = [
    CenterEntry(1, "Central", ("sip:central@10.0.0.1",), ()),
    CenterEntry(2, "Berlin", ("sip:berlin@10.0.0.2",), ("de", "en")),
    CenterEntry(3, "London", ("sip:london@10.0.0.3",), ("en",)),
    CenterEntry(4, "Paris", ("sip:paris@10.0.0.4",), ("fr",)),
    CenterEntry(5, "Tower desk", ("sip:desk@10.0.0.5", "sip:desk-backup@10.0.0.6"), ("de",)),
    CenterEntry(6, "Night desk", ("sip:night@10.0.0.7",), ("en",)),
    CenterEntry(7, "Mute", (), ("it",)),  # no SIP URI: never chosen for its language
]
SCHEDULES = [
    ScheduleEntry(100, "office", (WEEKDAYS_8_TO_18,), ("2026-12-25",)),
    ScheduleEntry(101, "help point", ({"days": [0, 1, 2, 3, 4, 5, 6], "start": "06:00", "end": "22:00"},)),
    # a Saturday night shift across the DST switch nights (Sunday 02:00/03:00 in Berlin)
    ScheduleEntry(102, "saturday night", ({"days": ["sat"], "start": "22:00", "end": "03:00"},)),
]
TOWER = SiteEntry(10, "tower-a", "Tower A", "DE", "Europe/Berlin", 5, 6, 100, ("2026-12-24",))
NO_HOURS = SiteEntry(11, "no-hours", "Car park", "DE", "Europe/Berlin", 5, 6)
HOLIDAY_ONLY = SiteEntry(12, "holiday-only", "Depot", "DE", "Europe/Berlin", 5, 6, None, ("2026-05-01",))
NIGHT = SiteEntry(13, "night", "Club", "DE", "Europe/Berlin", 5, 6, 102)
BROKEN = SiteEntry(14, "broken", "Broken", "DE", "Mars/Olympus", 5, 6, 100)
NO_OOH = SiteEntry(15, "no-ooh", "Annex", "DE", "Europe/Berlin", 5, None, 100)

CARRIER = TrunkEntry(1, "carrier-de", True, "pai", "DE", False, ())
OTHER = TrunkEntry(2, "carrier-b", True, "pai", "DE", False, ())
SHAKEN = TrunkEntry(3, "carrier-us", True, "pai", "US", True, ())

LIFT = "+493012345678"
DEVICES = [
    DeviceEntry(1, LIFT, DeviceKind.ELEVATOR_PHONE, DeviceStatus.ACTIVE, 10, None, 1),
    DeviceEntry(2, "+493012345679", DeviceKind.ELEVATOR_PHONE, DeviceStatus.MAINTENANCE, 10, None, 1),
    DeviceEntry(3, "+493012345670", DeviceKind.ELEVATOR_PHONE, DeviceStatus.DECOMMISSIONED, 10, None, 1),
    DeviceEntry(4, "+493012345671", DeviceKind.OTHER, DeviceStatus.PENDING, 10, None, None),
    DeviceEntry(5, "+493023905601", DeviceKind.DOOR_INTERCOM, DeviceStatus.ACTIVE, 10, None, 1, 101),
    DeviceEntry(6, "+493012345601", DeviceKind.CAR_PARK_HELP_POINT, DeviceStatus.ACTIVE, 11, None, None),
    DeviceEntry(7, "+493012345602", DeviceKind.ELEVATOR_PHONE, DeviceStatus.ACTIVE, 12, None, None),
    DeviceEntry(8, "+493012345603", DeviceKind.ELEVATOR_PHONE, DeviceStatus.ACTIVE, 13, None, None),
    DeviceEntry(9, "+493012345604", DeviceKind.ELEVATOR_PHONE, DeviceStatus.ACTIVE, 14, None, None),
    DeviceEntry(10, "+493012345605", DeviceKind.ELEVATOR_PHONE, DeviceStatus.ACTIVE, 15, None, None),
]


def build(**kw: object) -> Snapshot:
    args: dict[str, object] = {
        "devices": DEVICES,
        "sites": [TOWER, NO_HOURS, HOLIDAY_ONLY, NIGHT, BROKEN, NO_OOH],
        "centers": CENTERS,
        "trunks": [CARRIER, OTHER, SHAKEN],
        "default_center": "Central",
        "schedules": SCHEDULES,
    } | kw
    return Snapshot.build(7, **args)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def snap() -> Snapshot:
    return build()


def test_a_schedule_that_cannot_be_compiled_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="routing.snapshot"):
        build()
    assert "site broken: business hours not usable" in caplog.text


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


#: a Wednesday, 11:00 in Berlin: inside office hours
NOON = utc("2026-11-25T10:00")


def facts(ani: str | None = LIFT, at: datetime = NOON, **kw: object) -> CallFacts:
    base = CallFacts(ani=ani, at=at, ani_verified=True, trunk=CARRIER, dnis="112")
    return replace(base, **kw)  # type: ignore[arg-type]


def centers(d: Decision) -> list[str]:
    out: list[str] = []
    for t in d.targets:
        if t.center_name not in out:
            out.append(t.center_name)
    return out


def codes(d: Decision) -> list[str]:
    return [a.code for a in d.anomalies]


DAY = ["Tower desk", "Night desk", "Central"]
OUT = ["Night desk", "Tower desk", "Central"]


@pytest.mark.parametrize(
    ("ani", "instant", "expected", "why"),
    [
        (LIFT, "2026-11-25T10:00", DAY, "inside business hours (Wed 2026-11-25 11:00 CET"),
        (LIFT, "2026-11-25T06:59", OUT, "outside business hours (Wed 2026-11-25 07:59 CET"),
        (LIFT, "2026-11-25T17:00", OUT, "outside business hours (Wed 2026-11-25 18:00 CET"),
        (LIFT, "2026-11-28T10:00", OUT, "outside business hours (Sat"),
        # a site holiday (Thursday) and a holiday of the schedule itself (Friday)
        (LIFT, "2026-12-24T10:00", OUT, "2026-12-24 11:00 CET Europe/Berlin, a holiday)"),
        (LIFT, "2026-12-25T10:00", OUT, "a holiday"),
        # Monday after spring forward: 06:30 UTC is 08:30 CEST (a fixed CET offset would say 07:30)
        (LIFT, "2026-03-30T06:30", DAY, "08:30 CEST"),
        (LIFT, "2026-03-30T05:59", OUT, "07:59 CEST"),
        # Monday after fall back: 06:30 UTC is 07:30 CET (a fixed CEST offset would say 08:30)
        (LIFT, "2026-10-26T06:30", OUT, "07:30 CET"),
        (LIFT, "2026-10-26T07:00", DAY, "08:00 CET"),
        # the switch nights: Saturday 22:00 to Sunday 03:00 local
        ("+493012345603", "2026-03-29T00:30", DAY, "01:30 CET"),
        ("+493012345603", "2026-03-29T01:00", OUT, "03:00 CEST"),  # 02:00 never happened
        ("+493012345603", "2026-10-25T00:30", DAY, "02:30 CEST"),  # the first 02:30
        ("+493012345603", "2026-10-25T01:30", DAY, "02:30 CET"),  # the repeated hour
        ("+493012345603", "2026-10-25T01:59", DAY, "02:59 CET"),
        ("+493012345603", "2026-10-25T02:00", OUT, "03:00 CET"),
        # no business-hours schedule: always inside, except the site's own holidays
        ("+493012345601", "2026-11-28T02:00", DAY, "site has no business hours: always inside hours"),
        ("+493012345602", "2026-11-28T02:00", DAY, "inside business hours"),
        ("+493012345602", "2026-05-01T10:00", OUT, "a holiday"),
        # a schedule that cannot be compiled (bad timezone) is treated as no schedule
        ("+493012345604", "2026-11-28T02:00", DAY, "always inside hours"),
        # no out-of-hours center: outside hours the day center still takes the call
        ("+493012345605", "2026-11-28T10:00", ["Tower desk", "Central"], "outside business hours"),
    ],
)
def test_registered_device_goes_to_the_center_of_the_hour(
    snap: Snapshot, ani: str, instant: str, expected: list[str], why: str
) -> None:
    d = decide(snap, facts(ani, utc(instant)))
    assert (d.status, centers(d)) == (302, expected)
    assert why in d.reason
    assert d.device is not None and d.device.ani == ani and d.site is not None
    assert d.language == {"Tower desk": "de", "Night desk": "en"}[expected[0]]
    assert d.priority is Priority.EMERGENCY


def test_targets_keep_every_uri_of_a_center_in_order_with_q_values(snap: Snapshot) -> None:
    d = decide(snap, facts())
    assert d.contacts() == [
        ("sip:desk@10.0.0.5", 1.0),
        ("sip:desk-backup@10.0.0.6", 0.9),
        ("sip:night@10.0.0.7", 0.8),
        ("sip:central@10.0.0.1", 0.7),
    ]
    assert d.center_id == 5
    assert d.reason.startswith("device 1 (elevator_phone, active) at site tower-a; inside business hours")
    assert "day center 'Tower desk' first" in d.reason and "default center 'Central' as fallback" in d.reason


@pytest.mark.parametrize(
    ("ani", "expected", "language", "region", "line_type"),
    [
        ("+493099999999", ["Berlin", "Central"], "de", "DE", "fixed"),
        ("+4915112345678", ["Berlin", "Central"], "de", "DE", "mobile"),
        ("+43122345678", ["Berlin", "Central"], "de", "AT", "fixed"),
        ("+41441234567", ["Berlin", "Central"], "de", "CH", "fixed"),
        ("+442079460958", ["London", "Central"], "en", "GB", "fixed"),  # first language en (Berlin: second)
        ("+33123456789", ["Paris", "Central"], "fr", "FR", "fixed"),
        ("+390612345678", ["Central"], None, "IT", "fixed"),  # only a center without URI speaks it
        ("+81312345678", ["Central"], None, "JP", "fixed"),  # no language known for the country
    ],
)
def test_unknown_ani_goes_to_a_center_speaking_its_country_language(
    ani: str, expected: list[str], language: str | None, region: str, line_type: str
) -> None:
    # no sites and no country lists: no center serves any country, the language rule alone decides
    d = decide(build(sites=[]), facts(ani))
    assert (d.status, centers(d), d.language) == (302, expected, language)
    assert d.device is None and d.site is None
    assert d.priority is Priority.EMERGENCY  # never dropped, never downgraded
    [anomaly] = d.anomalies
    assert (anomaly.code, anomaly.severity) == ("unknown_ani", Severity.WARNING)
    assert anomaly.evidence == {"ani": ani, "region": region, "line_type": line_type}
    assert f"unknown ANI {ani}" in d.reason and f"number of {region}" in d.reason
    assert f"no center serves {region}" in d.reason


def test_no_ani_goes_to_the_default_center(snap: Snapshot) -> None:
    d = decide(snap, facts(None, ani_verified=False))
    assert (centers(d), codes(d), d.language) == (["Central"], ["no_ani"], None)
    assert d.reason.startswith("no ANI; default center 'Central' first")


def test_device_in_maintenance_without_contact_goes_to_its_centers_alarm_filtered(snap: Snapshot) -> None:
    d = decide(snap, facts("+493012345679"))
    assert centers(d) == DAY and d.device is not None and d.device.id == 2
    assert d.priority is Priority.NORMAL  # EN 81-28 alarm filtering: the technician is on site
    [anomaly] = d.anomalies
    assert (anomaly.code, anomaly.severity, anomaly.evidence) == (
        "maintenance",
        Severity.INFO,
        {"device_id": 2, "alarm_filtered": True, "contact": None, "until": None},
    )


def test_decommissioned_device_is_routed_as_unknown_and_flagged(snap: Snapshot) -> None:
    d = decide(snap, facts("+493012345670"))
    # every site of the snapshot is in DE with the Tower desk by day: the regional center of DE
    assert centers(d) == ["Tower desk", "Berlin", "Central"] and d.device is None and d.site is None
    [anomaly] = d.anomalies
    assert anomaly.code == "decommissioned_device"
    assert anomaly.evidence == {"ani": "+493012345670", "device_id": 3, "region": "DE", "line_type": "fixed"}
    assert "device 3 is decommissioned: routed as an unknown caller" in d.reason


def test_pending_device_is_routed_as_unknown(snap: Snapshot) -> None:
    d = decide(snap, facts("+493012345671", trunk=OTHER))
    assert centers(d) == ["Tower desk", "Berlin", "Central"] and d.device is None
    assert codes(d) == ["unknown_ani"] and d.anomalies[0].evidence["pending_device_id"] == 4


def test_intercom_is_not_an_emergency(snap: Snapshot) -> None:
    d = decide(snap, facts("+493023905601"))
    assert d.priority is Priority.NORMAL and centers(d) == DAY


INTERCOM = "+493023905601"


@pytest.mark.parametrize(
    ("ani", "changes", "expected"),
    [
        (LIFT, {}, []),
        (LIFT, {"trunk": OTHER}, [("wrong_trunk", {"expected_trunk_id": 1, "trunk_id": 2})]),
        (LIFT, {"trunk": OTHER, "forwarded": True}, [("forwarded", {"expected_trunk_id": 1, "trunk_id": 2})]),
        (LIFT, {"trunk": None}, []),  # no trunk known for the call: nothing to compare
        ("+493012345601", {"trunk": OTHER}, []),  # the device expects no particular trunk
        (LIFT, {"ani_verified": False, "presented_number": "+4930999"}, [("unverified_identity", {})]),
        (LIFT, {"trunk": SHAKEN, "attestation": "A"}, [("wrong_trunk", {})]),
        (
            LIFT,
            {"trunk": SHAKEN, "attestation": "B"},
            [("wrong_trunk", {}), ("low_attestation", {"attestation": "B", "trunk_id": 3})],
        ),
        (LIFT, {"trunk": SHAKEN, "attestation": "C"}, [("wrong_trunk", {}), ("low_attestation", {})]),
        (LIFT, {"trunk": SHAKEN}, [("wrong_trunk", {}), ("low_attestation", {"attestation": None})]),
        (
            LIFT,
            {"trunk": SHAKEN, "attestation": "A", "verstat": "TN-Validation-Failed"},
            [("wrong_trunk", {}), ("low_attestation", {"verstat": "TN-Validation-Failed"})],
        ),
        (
            LIFT,
            {"trunk": SHAKEN, "attestation": "A", "verstat": "TN-Validation-Passed"},
            [("wrong_trunk", {})],
        ),
        # the device's active schedule: 06:00-22:00 every day, Berlin time
        (
            INTERCOM,
            {"at": utc("2026-11-25T04:59")},
            [("out_of_hours", {"local_time": "2026-11-25T05:59+01:00"})],
        ),
        (INTERCOM, {"at": utc("2026-11-25T05:00")}, []),
        (INTERCOM, {"at": utc("2026-03-29T04:30")}, []),  # 06:30 CEST on the switch day
        (INTERCOM, {"at": utc("2026-03-29T03:30")}, [("out_of_hours", {"schedule_id": 101})]),  # 05:30 CEST
        (
            INTERCOM,
            {"at": utc("2026-11-25T23:00"), "trunk": OTHER, "forwarded": True},
            [("forwarded", {}), ("out_of_hours", {"timezone": "Europe/Berlin"})],
        ),
    ],
)
def test_anomalies_never_move_a_registered_device(
    snap: Snapshot, ani: str, changes: dict[str, object], expected: list[tuple[str, dict[str, object]]]
) -> None:
    call = facts(ani, **changes)
    baseline = decide(snap, facts(ani, at=call.at))
    d = decide(snap, call)
    assert codes(d) == [code for code, _ in expected]
    for anomaly, (_, evidence) in zip(d.anomalies, expected, strict=True):
        assert evidence.items() <= anomaly.evidence.items()
    assert d.targets == baseline.targets and d.status == 302
    if expected:
        assert "anomalies: " + ", ".join(codes(d)) in d.reason


def test_low_attestation_is_flagged_for_unknown_callers_too(snap: Snapshot) -> None:
    d = decide(snap, facts("+33123456789", trunk=SHAKEN, attestation="C", ani_verified=False))
    assert codes(d) == ["unknown_ani", "unverified_identity", "low_attestation"]
    assert centers(d) == ["Paris", "Central"]


def test_anomalies_are_json_ready_for_the_call_record(snap: Snapshot) -> None:
    d = decide(snap, facts("+493012345679", trunk=SHAKEN, at=utc("2026-11-28T10:00")))
    records = d.anomaly_dicts()
    assert json.loads(json.dumps(records)) == records
    assert records[0] == {
        "code": "maintenance",
        "severity": "info",
        "evidence": {"device_id": 2, "alarm_filtered": True, "contact": None, "until": None},
    }


def test_no_center_with_a_uri_answers_480(snap: Snapshot) -> None:
    empty = build(centers=[CenterEntry(7, "Mute", (), ("de",))], default_center=None)
    d = decide(empty, facts())
    assert (d.status, d.targets, d.center_id) == (480, (), None)
    assert d.reason.endswith("no security center with a SIP URI is configured")
    assert decide(empty, facts("+49301111111")).status == 480


def test_decide_is_pure_for_the_same_facts(snap: Snapshot) -> None:
    assert decide(snap, facts(at=NOON)) == decide(snap, facts(at=NOON))


def test_device_schedules_are_compiled_once_per_schedule_and_timezone(snap: Snapshot) -> None:
    device = snap.devices[INTERCOM]
    site = snap.sites[device.site_id]
    again = replace(device, id=99, ani="+493023905699")
    other = build(devices=[*DEVICES, again])
    assert other.active_hours(again, site) is other.active_hours(device, site)
    assert snap.active_hours(snap.devices[LIFT], site) is None


def test_the_default_center_wins_a_language_it_speaks() -> None:
    # lists "en", like London, but is the default; no sites: the language rule alone
    snap = build(default_center="Night desk", sites=[])
    d = decide(snap, facts("+442079460958"))
    assert centers(d) == ["Night desk"] and d.language == "en"
    german = decide(snap, facts("+4989111222"))
    assert centers(german)[0] == "Berlin"  # de is its first language, and its id is the lowest


def test_a_withheld_caller_is_flagged_and_routed_all_the_same(snap: Snapshot) -> None:
    plain = decide(snap, facts(ani_verified=True))
    hidden = decide(snap, facts(ani_verified=True, withheld=True))
    assert centers(hidden) == centers(plain)
    assert "withheld" in codes(hidden) and "withheld" not in codes(plain)
    anonymous = decide(snap, facts(None, withheld=True))
    assert codes(anonymous) == ["no_ani", "withheld"]
