"""decide() where rules meet: several floods at once, the priority rank of line and device kind,
test calls without an ANI or a rule, the 480 and 603 decisions with their anomalies, the language
of the answer, shared URIs, and the exact reason an operator reads. The estate is test_rules'."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from registry.choices import CallPriority, DeviceKind, DeviceStatus, FloodScope, LineKind
from routing.policy import (
    Anomaly,
    CallFacts,
    Decision,
    Recent,
    Severity,
    Target,
    Window,
    decide,
    history_query,
)
from routing.snapshot import CenterEntry, DeviceEntry, DnisEntry, ScheduleEntry, SiteEntry, TrunkEntry
from tests.unit.routing.test_rules import (
    CARRIER,
    CENTERS,
    CENTRAL,
    DAY_DESK,
    DEVICES,
    DNIS,
    EMERGENCY_LINE,
    GARAGE,
    GATE,
    INTERCOM_LINE,
    LIFT,
    LIFT_TEST_NUMBER,
    NIGHT_DESK,
    NOON,
    OLD,
    PBX,
    PRANKSTER,
    SERVICED,
    SERVICED_BARE,
    SERVICED_SITE,
    SNAP,
    STRANGER,
    TEST_LINE,
    TOWER,
    build,
    call,
    codes,
    counts,
    uris,
)

#: a carrier that signs its calls (STIR/SHAKEN)
SIGNING = TrunkEntry(5, "signing", True, "pai", "DE", True, ())
HELP_PHONE = "+493011110010"  # an emergency phone (not a lift) at the tower
TO_CENTERS = (
    "site has no business hours: always inside hours; day center 'Day desk' first; "
    "out-of-hours center 'Night desk' as fallback; default center 'Central' as fallback"
)
RECEIVER = (Target(None, "test receiver", "sip:test-receiver@10.8.0.1"),)
DAY, NIGHT, DEFAULT = (Target(c.id, c.name, c.uris[0]) for c in (DAY_DESK, NIGHT_DESK, CENTRAL))


def floods(d: Decision) -> list[tuple[str, int, Severity]]:
    return [
        (a.evidence["scope"], a.evidence["calls"], a.severity) for a in d.anomalies if a.code == "call_flood"
    ]


# --- several floods at once -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ani", "recent", "expected"),
    [
        # the caller itself is under its limit: its site and its trunk flood all the same
        (
            LIFT,
            counts(ani=2, site=21, trunk=301),
            [("site", 21, Severity.WARNING), ("trunk", 301, Severity.WARNING)],
        ),
        (GATE, counts(ani=1, site=25), [("site", 25, Severity.WARNING)]),
        (GATE, counts(site=20, trunk=301), [("trunk", 301, Severity.WARNING)]),
        (
            LIFT,
            counts(ani=4, site=21, trunk=301),
            [("ani", 4, Severity.CRITICAL), ("site", 21, Severity.WARNING), ("trunk", 301, Severity.WARNING)],
        ),
        # an unknown caller's trunk, its own count under the limit
        (STRANGER, counts(ani=5, trunk=400), [("trunk", 400, Severity.WARNING)]),
    ],
)
def test_every_scope_over_its_limit_is_reported_whatever_comes_first(
    ani: str, recent: Recent, expected: list[tuple[str, int, Severity]]
) -> None:
    d = decide(SNAP, call(ani, recent=recent))
    assert floods(d) == expected
    assert d.status == 302 and d.targets


@pytest.mark.parametrize(
    "recent",
    [
        counts(ani=4, site=21),
        counts(site=21, ani=4),
        counts(ani=4, trunk=301, site=21),
        counts(trunk=301, ani=4),
    ],
)
def test_a_lift_in_maintenance_flooding_is_an_emergency_again_whatever_else_floods(recent: Recent) -> None:
    d = decide(SNAP, call(SERVICED, recent=recent))
    assert d.priority is CallPriority.EMERGENCY  # someone may be trapped: alarm filtering lifted
    assert codes(d)[0] == "maintenance" and ("ani", 4, Severity.CRITICAL) in floods(d)
    assert len(floods(d)) == len(recent.counts)
    assert uris(d)[0] == "sip:tech@10.9.0.2"  # still the technician first


def test_a_lift_in_maintenance_with_only_a_site_flood_stays_alarm_filtered() -> None:
    d = decide(SNAP, call(SERVICED, recent=counts(ani=3, site=21)))
    assert d.priority is CallPriority.NORMAL and floods(d) == [("site", 21, Severity.WARNING)]


# --- priority: the line's rule against the device kind ----------------------------------------------


@pytest.mark.parametrize(
    ("ani", "dnis", "priority"),
    [
        # an emergency phone is an emergency, like a lift phone, even on an intercom line
        (HELP_PHONE, INTERCOM_LINE, CallPriority.EMERGENCY),
        (HELP_PHONE, "+4930123", CallPriority.EMERGENCY),
        # EMERGENCY outranks URGENT: a lift phone on the urgent short code stays an emergency
        (LIFT, "7777", CallPriority.EMERGENCY),
        # URGENT outranks NORMAL: the intercom on the urgent short code is urgent
        (GATE, "7777", CallPriority.URGENT),
        # NORMAL outranks NON_URGENT: the intercom on a non-urgent line is a normal call
        (GATE, "+4930555200", CallPriority.NORMAL),
        (STRANGER, "+4930555200", CallPriority.NON_URGENT),
        (LIFT, "+4930555200", CallPriority.EMERGENCY),
    ],
)
def test_the_higher_of_line_priority_and_device_kind_priority_wins(
    ani: str, dnis: str, priority: CallPriority
) -> None:
    snap = build(
        devices=[
            *DEVICES,
            DeviceEntry(10, HELP_PHONE, DeviceKind.EMERGENCY_PHONE, DeviceStatus.ACTIVE, 10, None, 1),
        ],
        dnis_rules=[*DNIS, DnisEntry(5, "+4930555200", LineKind.INTERCOM, CallPriority.NON_URGENT)],
    )
    d = decide(snap, call(ani, dnis, dnis_number=dnis))
    assert (d.status, d.priority, d.test_call) == (302, priority, False)


# --- test calls ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "device_id", "site", "line", "reason", "anomalies"),
    [
        # a test line dialled without a calling number
        (
            call(None, TEST_LINE, ani_verified=False),
            None,
            None,
            LineKind.TEST,
            "test call (dialled test line +4930555900); test receiver sip:test-receiver@10.8.0.1; "
            "anomalies: no_ani",
            [Anomaly("no_ani", Severity.WARNING, {})],
        ),
        # the marker or the test number on a number without a DNIS rule: the default receiver
        (
            call(LIFT, "+4930123", test_marker=True),
            1,
            "tower",
            None,
            "test call (test-call marker header); device 1 (elevator_phone, active) at site tower; "
            "test receiver sip:test-receiver@10.8.0.1",
            [],
        ),
        (
            call(LIFT_TEST_NUMBER, ""),
            1,
            "tower",
            None,
            "test call (test calling number of device 1); device 1 (elevator_phone, active) at site tower; "
            "test receiver sip:test-receiver@10.8.0.1",
            [],
        ),
        # the marker on the emergency line: the line is kept for the record, the call is still a test
        (
            call(SERVICED_SITE, test_marker=True),
            3,
            "tower",
            LineKind.EMERGENCY,
            "test call (test-call marker header); device 3 (elevator_phone, maintenance) at site tower; "
            "test receiver sip:test-receiver@10.8.0.1",
            [],
        ),
        # an unverified caller testing: flagged, still only the receiver
        (
            call(LIFT, TEST_LINE, ani_verified=False, presented_number="+4930999", withheld=True),
            1,
            "tower",
            LineKind.TEST,
            "test call (dialled test line +4930555900); device 1 (elevator_phone, active) at site tower; "
            "test receiver sip:test-receiver@10.8.0.1; anomalies: withheld, unverified_identity",
            [
                Anomaly("withheld", Severity.INFO, {"ani_known": True}),
                Anomaly("unverified_identity", Severity.WARNING, {"presented_number": "+4930999"}),
            ],
        ),
        (
            call(STRANGER, "+4930123", test_marker=True, trunk=SIGNING),
            None,
            None,
            None,
            "test call (test-call marker header); unknown ANI +493099990000; "
            "test receiver sip:test-receiver@10.8.0.1; anomalies: unknown_ani, low_attestation",
            [
                Anomaly(
                    "unknown_ani", Severity.WARNING, {"ani": STRANGER, "region": "DE", "line_type": "fixed"}
                ),
                Anomaly(
                    "low_attestation", Severity.WARNING, {"attestation": None, "verstat": None, "trunk_id": 5}
                ),
            ],
        ),
    ],
)
def test_a_test_call_of_any_kind_goes_to_the_test_receiver_with_what_looked_wrong(
    facts: CallFacts,
    device_id: int | None,
    site: str | None,
    line: LineKind | None,
    reason: str,
    anomalies: list[Anomaly],
) -> None:
    d = decide(SNAP, facts)
    assert (d.status, d.reason_phrase, d.targets, d.test_call) == (302, "Moved Temporarily", RECEIVER, True)
    assert (d.device.id if d.device else None, d.site.slug if d.site else None) == (device_id, site)
    assert (d.line, d.priority, d.language, d.adopt_site_id) == (line, CallPriority.NON_URGENT, None, None)
    assert d.reason == reason
    assert list(d.anomalies) == anomalies


def test_a_test_line_gives_its_own_priority_to_its_test_calls() -> None:
    snap = build(dnis_rules=[DnisEntry(3, TEST_LINE, LineKind.TEST, CallPriority.NORMAL, "sip:atu@10.8.0.2")])
    d = decide(snap, call(LIFT, TEST_LINE))
    assert (d.priority, d.line, uris(d)) == (CallPriority.NORMAL, LineKind.TEST, ["sip:atu@10.8.0.2"])
    # the marker on another line: the test line's receiver, not its priority
    marked = decide(snap, call(LIFT, EMERGENCY_LINE, test_marker=True))
    assert (marked.priority, marked.line, uris(marked)) == (
        CallPriority.NON_URGENT,
        None,
        ["sip:atu@10.8.0.2"],
    )


def test_a_test_call_without_a_receiver_keeps_its_anomalies_in_the_480() -> None:
    snap = build(dnis_rules=[r for r in DNIS if r.line is not LineKind.TEST])
    d = decide(snap, call(None, test_marker=True, withheld=True))
    assert (d.status, d.reason_phrase, d.targets, d.test_call) == (480, "Temporarily Unavailable", (), True)
    assert d.reason == (
        "test call (test-call marker header); "
        "no test receiver is configured (a test line's DNIS rule or ANIGATE_TEST_RECEIVER); "
        "anomalies: no_ani, withheld"
    )
    assert codes(d) == ["no_ani", "withheld"]


def test_a_test_call_from_a_device_whose_site_is_gone_still_reaches_the_receiver() -> None:
    # the registry keeps a device's site; a snapshot built without it must not crash the listener
    orphan = build(sites=[])
    d = decide(orphan, call(LIFT, TEST_LINE))
    assert (d.status, d.targets, d.site) == (302, RECEIVER, None)
    assert codes(d) == ["unknown_ani"] and d.device is not None and d.device.id == 1


def test_a_registered_devices_own_number_is_never_another_devices_test_number() -> None:
    twin = DeviceEntry(
        9, "+493011119999", DeviceKind.ELEVATOR_PHONE, DeviceStatus.ACTIVE, 10, None, 1, test_ani=GATE
    )
    snap = build(devices=[*DEVICES, twin])
    d = decide(snap, call(GATE, INTERCOM_LINE))
    assert (d.test_call, d.device.id if d.device else None) == (False, 6)
    assert uris(d) == CENTERS


# --- the 480 and 603 decisions ----------------------------------------------------------------------


def test_no_center_reachable_is_480_and_keeps_every_anomaly() -> None:
    mute = build(centers=[CenterEntry(1, "Mute", (), ("de",))], default_center=None)
    d = decide(mute, call(STRANGER, trunk=SIGNING, attestation="B", withheld=True))
    assert (d.status, d.reason_phrase, d.targets, d.contacts()) == (480, "Temporarily Unavailable", (), [])
    assert codes(d) == ["unknown_ani", "withheld", "low_attestation"]
    assert d.reason == (
        "dialled emergency line +4930555000; unknown ANI +493099990000; number of DE (fixed); "
        "no center serves DE; no center speaks de; default center 'Mute' first; "
        "no security center with a SIP URI is configured; "
        "anomalies: unknown_ani, withheld, low_attestation"
    )
    # the language of the default center, which has no URI to offer
    assert (d.priority, d.line, d.language) == (CallPriority.EMERGENCY, LineKind.EMERGENCY, "de")


def test_a_blocklisted_caller_withheld_and_low_attested_is_declined_with_every_anomaly() -> None:
    d = decide(SNAP, call(PRANKSTER, INTERCOM_LINE, withheld=True, trunk=SIGNING, attestation="C"))
    assert (d.status, d.reason_phrase, d.targets, d.device, d.site) == (603, "Decline", (), None, None)
    assert (d.priority, d.line, d.language, d.test_call) == (
        CallPriority.NORMAL,
        LineKind.INTERCOM,
        None,
        False,
    )
    assert d.reason == (
        "dialled intercom line +4930555100; unknown ANI +493099990001; "
        "+493099990001 is on the blocklist (+493099990001): declined on an intercom line; "
        "anomalies: unknown_ani, blocklisted, withheld, low_attestation"
    )
    assert list(d.anomalies) == [
        Anomaly("unknown_ani", Severity.WARNING, {"ani": PRANKSTER}),
        Anomaly("blocklisted", Severity.WARNING, {"pattern": PRANKSTER, "reason": "prank calls at the gate"}),
        Anomaly("withheld", Severity.INFO, {"ani_known": True}),
        Anomaly("low_attestation", Severity.WARNING, {"attestation": "C", "verstat": None, "trunk_id": 5}),
    ]


@pytest.mark.parametrize(
    ("ani", "dnis", "why", "listed"),
    [
        (
            PRANKSTER,
            EMERGENCY_LINE,
            "dialled emergency line +4930555000; unknown ANI +493099990001; "
            "+493099990001 is on the blocklist (+493099990001) but is never declined on this line; "
            "number of DE (fixed); unknown caller from DE: regional center 'Day desk' "
            "(day center of 2 sites in DE) first; default center 'Central' as fallback; "
            "anomalies: unknown_ani, blocklisted",
            Anomaly(
                "blocklisted", Severity.WARNING, {"pattern": PRANKSTER, "reason": "prank calls at the gate"}
            ),
        ),
        # a graylisted caller is routed with a flag and no word of a blocklist
        (
            "+493099998812",
            INTERCOM_LINE,
            "dialled intercom line +4930555100; unknown ANI +493099998812; number of DE (fixed); "
            "unknown caller from DE: regional center 'Day desk' (day center of 2 sites in DE) first; "
            "default center 'Central' as fallback; anomalies: unknown_ani, graylisted",
            Anomaly(
                "graylisted", Severity.WARNING, {"pattern": "+4930999988*", "reason": "unverified range"}
            ),
        ),
        (
            GATE,
            INTERCOM_LINE,
            "dialled intercom line +4930555100; device 6 (door_intercom, active) at site garage; "
            + TO_CENTERS
            + "; anomalies: blocklisted",
            Anomaly(
                "blocklisted",
                Severity.INFO,
                {"pattern": GATE, "reason": "typed in by mistake", "ignored": "registered device"},
            ),
        ),
    ],
)
def test_listed_callers_that_are_routed_say_so_in_the_reason(
    ani: str, dnis: str, why: str, listed: Anomaly
) -> None:
    d = decide(SNAP, call(ani, dnis, trunk=PBX if ani == GATE else CARRIER))
    assert (d.status, d.reason_phrase, d.reason) == (302, "Moved Temporarily", why)
    assert listed in d.anomalies


# --- the reason, the targets and the language -------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "reason", "targets", "language"),
    [
        (
            call(LIFT, EMERGENCY_LINE, recent=Recent(2)),  # the age of the last call is not known
            "dialled emergency line +4930555000; device 1 (elevator_phone, active) at site tower; "
            "repeat caller (last call just ago went to) 'Night desk' first; "
            "site has no business hours: always inside hours; day center 'Day desk' as fallback; "
            "default center 'Central' as fallback; anomalies: blocklisted",
            (NIGHT, DAY, DEFAULT),
            "de",
        ),
        (
            call(SERVICED_SITE, ""),
            "device 3 (elevator_phone, maintenance) at site tower; "
            "in maintenance: maintenance contact sip:lift-co@10.9.0.1 first; "
            + TO_CENTERS
            + "; anomalies: maintenance",
            (Target(None, "maintenance contact", "sip:lift-co@10.9.0.1"), DAY, NIGHT, DEFAULT),
            "de",
        ),
        (
            call(SERVICED_BARE, ""),
            "device 4 (elevator_phone, maintenance) at site garage; "
            "in maintenance, no maintenance contact: to the centers; "
            + TO_CENTERS
            + "; anomalies: maintenance",
            (DAY, NIGHT, DEFAULT),
            "de",
        ),
        (
            call("+358912345678", ""),  # Finland: fi or sv, which nobody speaks; the default speaks en
            "unknown ANI +358912345678; number of FI (fixed); no center serves FI; "
            "no center speaks fi/sv; default center 'Central' first; anomalies: unknown_ani",
            (DEFAULT,),
            "en",
        ),
        (
            call("+80012345678", ""),  # international freephone: no country
            "unknown ANI +80012345678; number of no known country (toll_free); "
            "default center 'Central' first; anomalies: unknown_ani",
            (DEFAULT,),
            "en",
        ),
        (
            call("+33123456789", ""),
            "unknown ANI +33123456789; number of FR (fixed); no center serves FR; "
            "center speaking 'fr' 'Paris' first; default center 'Central' as fallback; "
            "anomalies: unknown_ani",
            (Target(4, "Paris", "sip:paris@10.0.0.4"), DEFAULT),
            "fr",
        ),
        (call(None, ""), "no ANI; default center 'Central' first; anomalies: no_ani", (DEFAULT,), "en"),
    ],
)
def test_the_operator_reads_why_each_target_was_chosen(
    facts: CallFacts, reason: str, targets: tuple[Target, ...], language: str
) -> None:
    d = decide(SNAP, facts)
    assert (d.status, d.reason_phrase) == (302, "Moved Temporarily")
    assert (d.reason, d.targets, d.language) == (reason, targets, language)


@pytest.mark.parametrize(
    ("at", "why"),
    [
        (
            datetime(2026, 11, 25, 22, 0, tzinfo=UTC),
            "outside business hours (Wed 2026-11-25 23:00 CET Europe/Berlin); "
            "out-of-hours center 'Night desk' first; day center 'Day desk' as fallback",
        ),
        (
            NOON,
            "inside business hours (Wed 2026-11-25 11:00 CET Europe/Berlin); "
            "day center 'Day desk' first; out-of-hours center 'Night desk' as fallback",
        ),
    ],
)
def test_the_reason_names_the_center_of_the_hour_and_its_fallback(at: datetime, why: str) -> None:
    office = ScheduleEntry(60, "office", ({"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "18:00"},))
    snap = build(sites=[replace(TOWER, business_hours_id=60), GARAGE], schedules=[office], number_lists=[])
    d = decide(snap, call(LIFT, at=at))
    assert d.reason == (
        "dialled emergency line +4930555000; device 1 (elevator_phone, active) at site tower; "
        + why
        + "; default center 'Central' as fallback"
    )


def test_the_no_ani_anomaly_is_a_warning_without_evidence() -> None:
    d = decide(SNAP, call(None, ani_verified=False))
    assert list(d.anomalies) == [Anomaly("no_ani", Severity.WARNING, {})]
    assert d.anomaly_dicts() == [{"code": "no_ani", "severity": "warning", "evidence": {}}]


@pytest.mark.parametrize(
    ("changes", "anomaly"),
    [
        ({"withheld": True}, Anomaly("withheld", Severity.INFO, {"ani_known": True})),
        (
            {"ani_verified": False, "presented_number": "+4930999"},
            Anomaly("unverified_identity", Severity.WARNING, {"presented_number": "+4930999"}),
        ),
        (
            {"trunk": replace(CARRIER, id=2, name="carrier-b")},
            Anomaly(
                "wrong_trunk", Severity.WARNING, {"expected_trunk_id": 1, "trunk_id": 2, "trunk": "carrier-b"}
            ),
        ),
        (
            {"trunk": replace(CARRIER, id=2, name="carrier-b"), "forwarded": True},
            Anomaly(
                "forwarded", Severity.INFO, {"expected_trunk_id": 1, "trunk_id": 2, "trunk": "carrier-b"}
            ),
        ),
    ],
)
def test_identity_and_trunk_anomalies_in_full(changes: dict[str, object], anomaly: Anomaly) -> None:
    d = decide(build(number_lists=[]), call(LIFT, **changes))
    assert list(d.anomalies) == [anomaly]


def test_a_withheld_call_without_an_ani_says_the_ani_is_not_known() -> None:
    d = decide(SNAP, call(None, withheld=True))
    assert list(d.anomalies)[1] == Anomaly("withheld", Severity.INFO, {"ani_known": False})


def test_out_of_hours_is_a_warning() -> None:
    snap = build(
        devices=[replace(DEVICES[0], active_schedule_id=50)],
        number_lists=[],
        schedules=[
            ScheduleEntry(50, "nights", ({"days": [0, 1, 2, 3, 4, 5, 6], "start": "22:00", "end": "06:00"},))
        ],
    )
    [anomaly] = decide(snap, call(LIFT)).anomalies
    assert anomaly == Anomaly(
        "out_of_hours",
        Severity.WARNING,
        {"schedule_id": 50, "local_time": "2026-11-25T11:00+01:00", "timezone": "Europe/Berlin"},
    )


def test_maintenance_ends_at_its_until_instant() -> None:
    until = datetime(2026, 12, 1, tzinfo=UTC)
    assert decide(SNAP, call(SERVICED, at=until)).priority is CallPriority.EMERGENCY
    assert codes(decide(SNAP, call(SERVICED, at=until))) == []
    just_before = decide(SNAP, call(SERVICED, at=datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)))
    assert just_before.priority is CallPriority.NORMAL and codes(just_before) == ["maintenance"]


def test_a_uri_shared_by_two_centers_is_offered_once() -> None:
    shared = "sip:desk@10.0.0.9"
    snap = build(
        centers=[
            CenterEntry(1, "Day desk", (shared, "sip:day@10.0.0.1"), ("de",)),
            CenterEntry(2, "Night desk", ("sip:night@10.0.0.2", shared), ("de",)),
            CenterEntry(3, "Central", (shared,), ("en",)),
        ]
    )
    d = decide(snap, call(LIFT))
    assert d.targets == (
        Target(1, "Day desk", shared),
        Target(1, "Day desk", "sip:day@10.0.0.1"),
        Target(2, "Night desk", "sip:night@10.0.0.2"),
    )
    assert d.contacts() == [(shared, 1.0), ("sip:day@10.0.0.1", 0.9), ("sip:night@10.0.0.2", 0.8)]


def test_a_device_at_a_site_without_centers_is_answered_in_the_default_centers_language() -> None:
    bare = SiteEntry(12, "bare", "Bare", "DE", "Europe/Berlin", None, None)
    snap = build(
        sites=[*build().sites.values(), bare],
        devices=[*DEVICES, replace(DEVICES[0], id=20, ani="+493011110020", site_id=12)],
    )
    d = decide(snap, call("+493011110020"))
    assert (d.targets, d.language) == ((DEFAULT,), "en")
    assert d.reason.startswith(
        "dialled emergency line +4930555000; device 20 (elevator_phone, active) at site bare;"
    )


def test_a_device_whose_site_is_gone_is_routed_as_an_unknown_caller() -> None:
    d = decide(build(sites=[]), call(LIFT, ""))
    assert (d.device, d.site, d.targets) == (None, None, (DAY, DEFAULT))
    assert d.reason == (
        "device 1 has no site in the snapshot: routed as an unknown caller; "
        "+493011110001 is on the blocklist (+493011110001) but is never declined on this line; "
        "number of DE (fixed); no center serves DE; center speaking 'de' 'Day desk' first; "
        "default center 'Central' as fallback; anomalies: unknown_ani, blocklisted"
    )
    assert d.anomalies[0] == Anomaly(
        "unknown_ani", Severity.WARNING, {"ani": LIFT, "device_id": 1, "region": "DE", "line_type": "fixed"}
    )


def test_an_unknown_caller_without_a_known_trunk_is_routed_and_not_adopted() -> None:
    d = decide(SNAP, call(STRANGER, trunk=None))
    assert (d.status, d.adopt_site_id, uris(d)) == (302, None, ["sip:day@10.0.0.1", "sip:central@10.0.0.3"])


# --- what to ask the call memory --------------------------------------------------------------------


def test_history_windows_of_callers_that_are_not_routed_as_devices() -> None:
    # a decommissioned lift phone counts as an unknown caller: no lift limit, no site window
    assert history_query(SNAP, OLD, CARRIER).windows == (
        Window(FloodScope.ANI, OLD, 300),
        Window(FloodScope.TRUNK, "1", 60),
    )
    assert history_query(SNAP, None, CARRIER).windows == (Window(FloodScope.TRUNK, "1", 60),)
    assert history_query(SNAP, LIFT, None).windows == (
        Window(FloodScope.ANI, LIFT, 600),
        Window(FloodScope.SITE, "10", 300),
    )
    assert history_query(SNAP, None, None).windows == ()


def test_the_flood_rule_of_the_device_kind_applies_only_to_routed_devices() -> None:
    assert [a.code for a in decide(SNAP, call(OLD, recent=counts(ani=4))).anomalies] == [
        "decommissioned_device"
    ]
    assert floods(decide(SNAP, call(OLD, recent=counts(ani=6)))) == [("ani", 6, Severity.WARNING)]
