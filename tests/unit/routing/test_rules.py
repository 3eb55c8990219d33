"""decide() for the rules beyond hours and fallbacks: the DNIS table, EN 81-28 test calls, repeat
callers, maintenance contacts, block- and graylists, call floods and pending devices. Each table
row is one call and what a responder (or the test receiver) must see."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from types import MappingProxyType

import pytest

from registry.choices import (
    CallPriority,
    DeviceKind,
    DeviceStatus,
    FloodEffect,
    FloodScope,
    LineKind,
    ListKind,
)
from routing.history import CallMemory
from routing.policy import CallFacts, Decision, Recent, Severity, Window, decide, history_query
from routing.snapshot import (
    CenterEntry,
    DeviceEntry,
    DnisEntry,
    FloodLimit,
    ListEntry,
    ScheduleEntry,
    SiteEntry,
    Snapshot,
    TrunkEntry,
)

DAY_DESK = CenterEntry(1, "Day desk", ("sip:day@10.0.0.1",), ("de",))
NIGHT_DESK = CenterEntry(2, "Night desk", ("sip:night@10.0.0.2",), ("de", "en"))
CENTRAL = CenterEntry(3, "Central", ("sip:central@10.0.0.3",), ("en",))
PARIS = CenterEntry(4, "Paris", ("sip:paris@10.0.0.4",), ("fr",))

TOWER = SiteEntry(
    10, "tower", "Tower", "DE", "Europe/Berlin", 1, 2, maintenance_contact="sip:lift-co@10.9.0.1"
)
GARAGE = SiteEntry(11, "garage", "Garage", "DE", "Europe/Berlin", 1, 2)

CARRIER = TrunkEntry(1, "carrier", True, "pai", "DE", False, (), test_call_marker="X-Call-Type: test")
PBX = TrunkEntry(2, "pbx", True, "pai", "DE", False, (), pending_site_id=11)

LIFT = "+493011110001"
LIFT_TEST_NUMBER = "+493011119001"
SERVICED = "+493011110002"  # in maintenance, with its own contact
SERVICED_SITE = "+493011110003"  # in maintenance, the site's contact
SERVICED_BARE = "+493011110004"  # in maintenance at a site without a contact
SERVICE_OVER = "+493011110005"  # maintenance ended yesterday
GATE = "+493011110006"  # a door intercom
OLD = "+493011110007"  # decommissioned
NEW = "+493011110008"  # pending adoption
STRANGER = "+493099990000"
PRANKSTER = "+493099990001"

DEVICES = [
    DeviceEntry(
        1, LIFT, DeviceKind.ELEVATOR_PHONE, DeviceStatus.ACTIVE, 10, None, 1, test_ani=LIFT_TEST_NUMBER
    ),
    DeviceEntry(
        2,
        SERVICED,
        DeviceKind.ELEVATOR_PHONE,
        DeviceStatus.MAINTENANCE,
        10,
        None,
        1,
        maintenance_contact="sip:tech@10.9.0.2",
        maintenance_until=datetime(2026, 12, 1, tzinfo=UTC),
    ),
    DeviceEntry(3, SERVICED_SITE, DeviceKind.ELEVATOR_PHONE, DeviceStatus.MAINTENANCE, 10, None, 1),
    DeviceEntry(4, SERVICED_BARE, DeviceKind.ELEVATOR_PHONE, DeviceStatus.MAINTENANCE, 11, None, 1),
    DeviceEntry(
        5,
        SERVICE_OVER,
        DeviceKind.ELEVATOR_PHONE,
        DeviceStatus.MAINTENANCE,
        10,
        None,
        1,
        maintenance_until=datetime(2026, 11, 24, tzinfo=UTC),
    ),
    DeviceEntry(6, GATE, DeviceKind.DOOR_INTERCOM, DeviceStatus.ACTIVE, 11, None, 2),
    DeviceEntry(7, OLD, DeviceKind.ELEVATOR_PHONE, DeviceStatus.DECOMMISSIONED, 10, None, 1),
    DeviceEntry(8, NEW, DeviceKind.OTHER, DeviceStatus.PENDING, 11, None, 2),
]

DNIS = [
    DnisEntry(1, "+4930555000", LineKind.EMERGENCY, CallPriority.EMERGENCY),
    DnisEntry(2, "+4930555100", LineKind.INTERCOM, CallPriority.NORMAL),
    DnisEntry(3, "+4930555900", LineKind.TEST, CallPriority.NON_URGENT, "sip:test-receiver@10.8.0.1"),
    DnisEntry(4, "7777", LineKind.INTERCOM, CallPriority.URGENT),  # a short code, as dialled
]
LISTS = [
    ListEntry(1, PRANKSTER, ListKind.BLOCK, "prank calls at the gate"),
    ListEntry(2, "+4930999977*", ListKind.BLOCK, "call-centre range"),
    ListEntry(3, "+4930999988*", ListKind.GRAY, "unverified range"),
    ListEntry(4, "+493099990002", ListKind.BLOCK, "lifted", datetime(2026, 11, 1, tzinfo=UTC)),
    ListEntry(5, LIFT, ListKind.BLOCK, "typed in by mistake"),
    ListEntry(6, GATE, ListKind.BLOCK, "typed in by mistake"),
]

EMERGENCY_LINE, INTERCOM_LINE, TEST_LINE = "+4930555000", "+4930555100", "+4930555900"
NOON = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # Wednesday 11:00 in Berlin, no business hours set


def build(**kw: object) -> Snapshot:
    args: dict[str, object] = {
        "devices": DEVICES,
        "sites": [TOWER, GARAGE],
        "centers": [DAY_DESK, NIGHT_DESK, CENTRAL, PARIS],
        "trunks": [CARRIER, PBX],
        "default_center": "Central",
        "dnis_rules": DNIS,
        "number_lists": LISTS,
    } | kw
    return Snapshot.build(1, **args)  # type: ignore[arg-type]


SNAP = build()


def call(ani: str | None = LIFT, dnis: str = EMERGENCY_LINE, **kw: object) -> CallFacts:
    base = CallFacts(ani=ani, at=NOON, ani_verified=True, trunk=CARRIER, dnis=dnis, dnis_number=dnis)
    return replace(base, **kw)  # type: ignore[arg-type]


def _keys(facts: CallFacts) -> tuple[str | None, TrunkEntry | None]:
    return facts.ani, facts.trunk


def counts(**by_scope: int) -> Recent:
    return Recent(counts=MappingProxyType({FloodScope(k): v for k, v in by_scope.items()}))


def uris(d: Decision) -> list[str]:
    return [t.uri for t in d.targets]


def codes(d: Decision) -> list[str]:
    return [a.code for a in d.anomalies]


CENTERS = ["sip:day@10.0.0.1", "sip:night@10.0.0.2", "sip:central@10.0.0.3"]


# --- the DNIS table ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ani", "dnis", "number", "line", "priority"),
    [
        (LIFT, EMERGENCY_LINE, EMERGENCY_LINE, LineKind.EMERGENCY, CallPriority.EMERGENCY),
        # the rule is found by the E.164 form when the number was dialled nationally
        (LIFT, "030555000", EMERGENCY_LINE, LineKind.EMERGENCY, CallPriority.EMERGENCY),
        # a lift phone on the intercom line is still an emergency: the device kind wins
        (LIFT, INTERCOM_LINE, INTERCOM_LINE, LineKind.INTERCOM, CallPriority.EMERGENCY),
        (GATE, INTERCOM_LINE, INTERCOM_LINE, LineKind.INTERCOM, CallPriority.NORMAL),
        (GATE, "7777", None, LineKind.INTERCOM, CallPriority.URGENT),  # short code matched as dialled
        (GATE, EMERGENCY_LINE, EMERGENCY_LINE, LineKind.EMERGENCY, CallPriority.EMERGENCY),
        (STRANGER, INTERCOM_LINE, INTERCOM_LINE, LineKind.INTERCOM, CallPriority.NORMAL),
        # no rule for the dialled number: an emergency call, whoever calls
        (STRANGER, "+4930123", "+4930123", None, CallPriority.EMERGENCY),
        (GATE, "", None, None, CallPriority.NORMAL),
    ],
)
def test_dnis_rules_give_line_and_priority(
    ani: str, dnis: str, number: str | None, line: LineKind | None, priority: CallPriority
) -> None:
    d = decide(SNAP, call(ani, dnis, dnis_number=number))
    assert (d.status, d.line, d.priority, d.test_call) == (302, line, priority, False)
    if line is not None:
        assert f"dialled {line.value} line" in d.reason


# --- EN 81-28 test calls ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "device_id", "by", "anomalies"),
    [
        (call(LIFT, TEST_LINE), 1, "test call (dialled test line +4930555900)", []),
        # the device's separate test calling number, dialled to the ordinary emergency line
        (call(LIFT_TEST_NUMBER), 1, "test call (test calling number of device 1)", []),
        # the trunk's header marker
        (call(LIFT, test_marker=True), 1, "test call (test-call marker header)", []),
        # a test call over the wrong trunk is still a test call, and flagged
        (call(LIFT, TEST_LINE, trunk=PBX), 1, "test call (dialled test line", ["wrong_trunk"]),
        # an unknown unit testing: still only the test receiver
        (call(STRANGER, TEST_LINE), None, "test call (dialled test line", ["unknown_ani"]),
        # a device in maintenance tests too; no maintenance contact, no center
        (call(SERVICED, TEST_LINE), 2, "test call (dialled test line", []),
    ],
)
def test_test_calls_go_to_the_test_receiver_only(
    facts: CallFacts, device_id: int | None, by: str, anomalies: list[str]
) -> None:
    d = decide(SNAP, facts)
    assert d.test_call is True
    assert (d.status, uris(d)) == (302, ["sip:test-receiver@10.8.0.1"])  # never a person
    assert d.center_id is None and d.priority is CallPriority.NON_URGENT
    assert (d.device.id if d.device else None) == device_id
    assert by in d.reason and codes(d) == anomalies


def test_test_calls_outside_the_devices_hours_are_not_out_of_hours() -> None:
    nights = build(
        devices=[replace(DEVICES[0], active_schedule_id=50)],
        number_lists=[],
        schedules=[
            ScheduleEntry(50, "nights", ({"days": [0, 1, 2, 3, 4, 5, 6], "start": "22:00", "end": "06:00"},))
        ],
    )
    assert codes(decide(nights, call(LIFT, TEST_LINE))) == []
    assert codes(decide(nights, call(LIFT))) == ["out_of_hours"]


def test_the_marker_and_test_number_use_the_configured_receiver_first() -> None:
    snap = build(test_receiver="sip:atu@10.8.0.9")
    assert uris(decide(snap, call(LIFT_TEST_NUMBER))) == ["sip:atu@10.8.0.9"]
    # a test line names its own receiver
    assert uris(decide(snap, call(LIFT, TEST_LINE))) == ["sip:test-receiver@10.8.0.1"]


def test_a_test_call_without_a_test_receiver_is_480_never_a_center() -> None:
    snap = build(dnis_rules=[r for r in DNIS if r.line is not LineKind.TEST])
    d = decide(snap, call(LIFT, test_marker=True))
    assert (d.status, d.targets, d.test_call) == (480, (), True)
    assert "no test receiver is configured" in d.reason


def test_without_the_marker_or_test_number_an_ordinary_call_is_an_alarm() -> None:
    d = decide(SNAP, call(LIFT))
    assert (d.test_call, uris(d), d.priority) == (False, CENTERS, CallPriority.EMERGENCY)


# --- repeat caller ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recent", "expected", "why"),
    [
        # the night desk took the last call 4 minutes ago: it takes this one, the day desk next
        (
            Recent(2, 240.0),
            ["sip:night@10.0.0.2", "sip:day@10.0.0.1", "sip:central@10.0.0.3"],
            "repeat caller (last call 240 s ago went to) 'Night desk' first",
        ),
        # the last center is already first: nothing changes but the reason
        (Recent(1, 30.0), CENTERS, "repeat caller (last call 30 s ago went to) 'Day desk' first"),
        # a center that is gone from the registry is skipped
        (Recent(99, 30.0), CENTERS, "day center 'Day desk' first"),
        (Recent(), CENTERS, "day center 'Day desk' first"),
    ],
)
def test_repeat_caller_goes_to_the_center_of_its_last_call(
    recent: Recent, expected: list[str], why: str
) -> None:
    d = decide(SNAP, call(LIFT, recent=recent))
    assert uris(d) == expected and why in d.reason


def test_repeat_caller_window_through_the_call_memory() -> None:
    memory = CallMemory()
    facts = call(LIFT)
    query = history_query(SNAP, *_keys(facts))
    assert query.device_id == 1 and query.repeat_seconds == 600
    memory.note(query, 1000.0, 2)
    inside = memory.recall(query, 1000.0 + 599)
    assert (inside.last_center_id, inside.last_call_age) == (2, 599)
    assert uris(decide(SNAP, replace(facts, recent=inside)))[0] == "sip:night@10.0.0.2"
    outside = memory.recall(query, 1000.0 + 601)
    assert outside.last_center_id is None
    assert uris(decide(SNAP, replace(facts, recent=outside))) == CENTERS
    # window 0 turns the rule off
    off = history_query(build(repeat_window=0), *_keys(facts))
    assert memory.recall(off, 1001.0).last_center_id is None


def test_unknown_callers_have_no_repeat_center() -> None:
    assert history_query(SNAP, *_keys(call(STRANGER))).device_id is None
    assert history_query(SNAP, *_keys(call(OLD))).device_id is None  # decommissioned: routed as unknown


# --- maintenance -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ani", "first", "contact", "until"),
    [
        (SERVICED, "sip:tech@10.9.0.2", "sip:tech@10.9.0.2", "2026-12-01T00:00:00+00:00"),
        (SERVICED_SITE, "sip:lift-co@10.9.0.1", "sip:lift-co@10.9.0.1", None),  # the site's contact
        (SERVICED_BARE, "sip:day@10.0.0.1", None, None),  # none set: to the centers
    ],
)
def test_device_in_maintenance_goes_to_the_maintenance_contact_alarm_filtered(
    ani: str, first: str, contact: str | None, until: str | None
) -> None:
    d = decide(SNAP, call(ani))
    assert uris(d)[0] == first
    assert uris(d)[-3:] == CENTERS  # the centers stay as fallbacks
    assert d.priority is CallPriority.NORMAL
    [anomaly] = d.anomalies
    assert (anomaly.code, anomaly.severity) == ("maintenance", Severity.INFO)
    assert anomaly.evidence["alarm_filtered"] is True
    assert (anomaly.evidence["contact"], anomaly.evidence["until"]) == (contact, until)
    assert d.targets[0].center_id is None if contact else d.targets[0].center_id == 1
    assert d.center_id == 1  # the center offered first is still the day desk


def test_maintenance_that_has_ended_is_an_ordinary_alarm() -> None:
    d = decide(SNAP, call(SERVICE_OVER))
    assert (uris(d), d.priority, codes(d)) == (CENTERS, CallPriority.EMERGENCY, [])


# --- block- and graylists --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ani", "dnis", "status", "anomaly", "severity"),
    [
        # a non-device caller on the blocklist, on an intercom line: declined
        (PRANKSTER, INTERCOM_LINE, 603, "blocklisted", Severity.WARNING),
        (PRANKSTER, "7777", 603, "blocklisted", Severity.WARNING),
        ("+493099997701", INTERCOM_LINE, 603, "blocklisted", Severity.WARNING),  # prefix entry
        # the same caller on the emergency line, or a line without a rule: never dropped
        (PRANKSTER, EMERGENCY_LINE, 302, "blocklisted", Severity.WARNING),
        (PRANKSTER, "+4930123", 302, "blocklisted", Severity.WARNING),
        # graylist: routed with a flag, on any line
        ("+493099998812", INTERCOM_LINE, 302, "graylisted", Severity.WARNING),
        # an expired entry no longer applies
        ("+493099990002", INTERCOM_LINE, 302, None, None),
        # registered devices are never blocked, whatever the list says; the entry shows as info
        (LIFT, INTERCOM_LINE, 302, "blocklisted", Severity.INFO),
        (GATE, INTERCOM_LINE, 302, "blocklisted", Severity.INFO),
        (LIFT, EMERGENCY_LINE, 302, "blocklisted", Severity.INFO),
    ],
)
def test_lists_apply_to_non_device_callers_on_intercom_lines(
    ani: str, dnis: str, status: int, anomaly: str | None, severity: Severity | None
) -> None:
    d = decide(SNAP, call(ani, dnis))
    assert d.status == status
    listed = [a for a in d.anomalies if a.code in ("blocklisted", "graylisted")]
    if anomaly is None:
        assert listed == []
        return
    [entry] = listed
    assert (entry.code, entry.severity) == (anomaly, severity)
    if status == 603:
        assert (d.reason_phrase, d.targets, d.contacts()) == ("Decline", (), [])
        assert "on the blocklist" in d.reason and "declined on an intercom line" in d.reason
    else:
        assert d.targets
    if severity is Severity.INFO:
        assert entry.evidence["ignored"] == "registered device"
        assert d.device is not None


def test_a_registered_lift_on_the_blocklist_keeps_its_targets() -> None:
    assert uris(decide(SNAP, call(LIFT, INTERCOM_LINE))) == CENTERS


# --- call floods -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ani", "recent", "expected", "priority"),
    [
        # a lift phone calling a 4th time in 10 minutes: someone may be trapped
        (LIFT, counts(ani=4), [("ani", 4, 3, 600, "urgent", Severity.CRITICAL)], CallPriority.EMERGENCY),
        (LIFT, counts(ani=3), [], CallPriority.EMERGENCY),  # at the limit: not yet a flood
        # an intercom rung a 6th time in 5 minutes: a prank; no more urgent than before
        (GATE, counts(ani=6), [("ani", 6, 5, 300, "abuse", Severity.WARNING)], CallPriority.NORMAL),
        (STRANGER, counts(ani=6), [("ani", 6, 5, 300, "flag", Severity.WARNING)], CallPriority.EMERGENCY),
        # per site and per trunk, separately
        (GATE, counts(site=21), [("site", 21, 20, 300, "flag", Severity.WARNING)], CallPriority.NORMAL),
        (GATE, counts(trunk=301), [("trunk", 301, 300, 60, "flag", Severity.WARNING)], CallPriority.NORMAL),
        (
            GATE,
            counts(ani=6, site=21),
            [("ani", 6, 5, 300, "abuse", Severity.WARNING), ("site", 21, 20, 300, "flag", Severity.WARNING)],
            CallPriority.NORMAL,
        ),
    ],
)
def test_call_flood_by_scope_and_device_kind(
    ani: str, recent: Recent, expected: list[tuple[object, ...]], priority: CallPriority
) -> None:
    d = decide(SNAP, call(ani, INTERCOM_LINE if ani == GATE else EMERGENCY_LINE, recent=recent))
    floods = [a for a in d.anomalies if a.code == "call_flood"]
    got = [
        (
            a.evidence["scope"],
            a.evidence["calls"],
            a.evidence["max_calls"],
            a.evidence["window_seconds"],
            a.evidence["effect"],
            a.severity,
        )
        for a in floods
    ]
    assert got == expected
    assert d.priority is priority
    assert d.status == 302 and d.targets  # a flood never blocks a call


def test_an_intercom_flood_made_urgent_by_a_registry_rule_raises_the_priority() -> None:
    snap = build(
        flood_limits=[FloodLimit(FloodScope.ANI, DeviceKind.DOOR_INTERCOM, 2, 120, FloodEffect.URGENT)]
    )
    d = decide(snap, call(GATE, INTERCOM_LINE, trunk=PBX, recent=counts(ani=3)))
    assert d.priority is CallPriority.EMERGENCY
    [flood] = [a for a in d.anomalies if a.code == "call_flood"]
    assert flood.evidence == {
        "scope": "ani",
        "calls": 3,
        "max_calls": 2,
        "window_seconds": 120,
        "effect": "urgent",
    }


def test_flood_windows_asked_per_device_kind() -> None:
    assert history_query(SNAP, *_keys(call(LIFT))).windows == (
        Window(FloodScope.ANI, LIFT, 600),
        Window(FloodScope.SITE, "10", 300),
        Window(FloodScope.TRUNK, "1", 60),
    )
    # unknown callers have no site
    assert history_query(SNAP, *_keys(call(STRANGER))).windows == (
        Window(FloodScope.ANI, STRANGER, 300),
        Window(FloodScope.TRUNK, "1", 60),
    )


def test_call_memory_counts_each_scope_in_its_window() -> None:
    memory = CallMemory()
    query = history_query(SNAP, *_keys(call(GATE, trunk=PBX)))
    for i in range(5):
        memory.note(query, 1000.0 + i, 1)
    recent = memory.recall(query, 1004.5)
    assert dict(recent.counts) == {FloodScope.ANI: 6, FloodScope.SITE: 6, FloodScope.TRUNK: 6}
    assert codes(decide(SNAP, call(GATE, trunk=PBX, recent=recent)))[-1] == "call_flood"
    # the trunk window is a minute: 61 s later only this call counts there
    later = memory.recall(query, 1065.0)
    assert dict(later.counts) == {FloodScope.ANI: 6, FloodScope.SITE: 6, FloodScope.TRUNK: 1}
    memory.prune(1000.0 + 3601 + 4)
    assert len(memory) == 0


def test_call_memory_seed_out_of_order_stays_sorted() -> None:
    memory = CallMemory()
    assert memory.seed([(10.0, LIFT, 10, 1, 1, 2), (5.0, LIFT, 10, 1, 1, 1), (20.0, LIFT, 10, 1, 1, 2)]) == 3
    query = history_query(SNAP, *_keys(call(LIFT)))
    recent = memory.recall(query, 21.0)
    assert recent.counts[FloodScope.ANI] == 4 and recent.last_center_id == 2


# --- pending devices -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ani", "trunk", "site_id"),
    [
        (STRANGER, PBX, 11),  # the trunk opted in: added to its site
        (STRANGER, CARRIER, None),  # not opted in
        (NEW, PBX, None),  # already pending
        (OLD, PBX, None),  # decommissioned: already in the registry
        (LIFT, PBX, None),
        (None, PBX, None),
    ],
)
def test_unknown_callers_of_opted_in_trunks_become_pending_devices(
    ani: str | None, trunk: TrunkEntry, site_id: int | None
) -> None:
    d = decide(SNAP, call(ani, trunk=trunk))
    assert d.adopt_site_id == site_id
    assert d.status == 302 and d.targets  # and the call is routed as always
    if site_id:
        assert "added to site 11 as a pending device (trunk pbx)" in d.reason


def test_an_unknown_caller_is_still_routed_by_language() -> None:
    d = decide(SNAP, call("+33123456789", trunk=PBX))
    assert (uris(d)[0], d.language, d.adopt_site_id) == ("sip:paris@10.0.0.4", "fr", 11)


def test_call_memory_is_bounded_per_key() -> None:
    memory = CallMemory(per_key=10)
    query = history_query(SNAP, *_keys(call(STRANGER)))
    for i in range(50):
        memory.note(query, 1000.0 + i / 100, None)
    assert memory.recall(query, 1001.0).counts[FloodScope.ANI] == 11  # saturated, still a flood
