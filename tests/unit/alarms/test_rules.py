"""Which call raises which alarm (the shipped rules and an admin's edits), and what a call ends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from alarms.choices import AlarmKind, EventType, PerceivedSeverity, Trigger
from alarms.rules import ANY_KIND, DEFAULT_RULES, End, Rule, RuleBook, evaluate_call
from registry.events import CallRouted

AT = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
C, MA, MI, W = (
    PerceivedSeverity.CRITICAL,
    PerceivedSeverity.MAJOR,
    PerceivedSeverity.MINOR,
    PerceivedSeverity.WARNING,
)


def anomaly(code: str, **evidence: Any) -> dict[str, Any]:
    return {"code": code, "severity": "warning", "evidence": evidence}


def call(kind: str | None = "elevator_phone", *anomalies: dict[str, Any], **kw: Any) -> CallRouted:
    values: dict[str, Any] = {
        "occurred_at": AT,
        "call_id": "c1@pbx",
        "record_id": "r1",
        "ani": "+493023905601",
        "device_id": 7 if kind else None,
        "device_kind": kind,
        "site_id": 3 if kind else None,
        "site_name": "Spree Tower",
        "building": "North core",
        "location": "Lift 1",
        "floor": "12",
        "trunk_id": 2,
        "center_id": 1,
        "target_center_ids": (1, 4),
        "line": "emergency",
        "reason": "device 7 at Spree Tower: day center",
        "anomalies": anomalies,
    }
    values.update(kw)
    return CallRouted(**values)


def raised(ev: CallRouted, book: RuleBook | None = None) -> list[tuple[AlarmKind, PerceivedSeverity, str]]:
    return [(r.kind, r.severity, r.resource) for r in evaluate_call(ev, book or RuleBook()).raises]


@pytest.mark.parametrize(
    ("kind", "line", "expected"),
    [
        ("elevator_phone", "emergency", [(AlarmKind.LIFT_EMERGENCY, C, "device:7")]),
        ("elevator_phone", "", [(AlarmKind.LIFT_EMERGENCY, C, "device:7")]),  # no DNIS rule: still help
        ("car_park_help_point", "emergency", [(AlarmKind.EMERGENCY_CALL, C, "device:7")]),
        ("emergency_phone", "emergency", [(AlarmKind.EMERGENCY_CALL, C, "device:7")]),
        ("door_intercom", "emergency", []),  # an intercom ringing is not an emergency
        ("other", "emergency", []),
        ("elevator_phone", "intercom", []),
        ("elevator_phone", "test", []),
    ],
)
def test_an_emergency_call_raises_by_device_kind_and_line(kind: str, line: str, expected: list) -> None:
    assert raised(call(kind, line=line)) == expected


def test_a_lift_emergency_is_latched_and_names_the_place() -> None:
    (r,) = evaluate_call(call(), RuleBook()).raises
    assert r.latched is True
    assert (
        r.specific_problem == "Emergency call from +493023905601 (Spree Tower, North core, Lift 1, floor 12)"
    )
    assert r.additional_text == "device 7 at Spree Tower: day center"
    assert (r.device_id, r.site_id, r.trunk_id, r.center_id, r.call_id) == (7, 3, 2, 1, "c1@pbx")
    assert r.target_center_ids == (1, 4)
    assert (r.event_type, r.probable_cause) == (EventType.ENVIRONMENTAL, "emergencyCall")


def test_a_help_point_emergency_is_not_latched() -> None:
    (r,) = evaluate_call(call("car_park_help_point"), RuleBook()).raises
    assert r.latched is False


def test_a_place_without_parts_is_left_out_of_the_text() -> None:
    (r,) = evaluate_call(call(site_name="", building="", location="", floor=""), RuleBook()).raises
    assert r.specific_problem == "Emergency call from +493023905601"
    (r,) = evaluate_call(call(ani=None, building="", floor=""), RuleBook()).raises
    assert r.specific_problem == "Emergency call from a withheld number (Spree Tower, Lift 1)"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("elevator_phone", (AlarmKind.CALL_FLOOD, C)),
        ("door_intercom", (AlarmKind.SUSPECTED_ABUSE, MI)),
        ("car_park_help_point", (AlarmKind.CALL_FLOOD, MA)),
        (None, (AlarmKind.CALL_FLOOD, MA)),
    ],
)
def test_a_call_flood_means_urgency_on_a_lift_and_abuse_on_an_intercom(
    kind: str | None, expected: tuple
) -> None:
    ev = call(kind, anomaly("call_flood", scope="ani"), line="intercom")
    assert [(k, s) for k, s, _ in raised(ev)] == [expected]


def test_each_flooded_scope_is_its_own_resource() -> None:
    ev = call(
        "door_intercom",
        anomaly("call_flood", scope="ani"),
        anomaly("call_flood", scope="site"),
        anomaly("call_flood", scope="trunk"),
        line="intercom",
    )
    assert [res for *_, res in raised(ev)] == ["device:7", "site:3", "trunk:2"]
    unknown = call(
        None, anomaly("call_flood", scope="site"), anomaly("call_flood", scope="trunk"), line="intercom"
    )
    # an unknown caller has no site: its site flood is filed under the caller
    assert [res for *_, res in raised(unknown)] == ["ani:+493023905601", "trunk:2"]
    nowhere = call(None, anomaly("call_flood", scope="trunk"), line="intercom", trunk_id=None, ani=None)
    assert [res for *_, res in raised(nowhere)] == ["call:c1@pbx"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("wrong_trunk", (AlarmKind.WRONG_TRUNK, MA)),
        ("out_of_hours", (AlarmKind.OUT_OF_HOURS, MI)),
        ("low_attestation", (AlarmKind.LOW_ATTESTATION, W)),
        ("decommissioned_device", (AlarmKind.DECOMMISSIONED_DEVICE, MA)),
    ],
)
def test_each_anomaly_raises_its_alarm(code: str, expected: tuple) -> None:
    assert [(k, s) for k, s, _ in raised(call("door_intercom", anomaly(code), line="intercom"))] == [expected]


@pytest.mark.parametrize("code", ["withheld", "unverified_identity", "forwarded", "graylisted", "no_ani", ""])
def test_flag_only_anomalies_raise_nothing(code: str) -> None:
    assert raised(call("door_intercom", anomaly(code), line="intercom")) == []


def test_an_unknown_number_raises_only_on_an_emergency_line() -> None:
    assert raised(call(None, anomaly("unknown_ani"), line="emergency")) == [
        (AlarmKind.UNKNOWN_ANI, MA, "ani:+493023905601")
    ]
    assert raised(call(None, anomaly("unknown_ani"), line="intercom")) == []
    assert raised(call(None, anomaly("unknown_ani"), line="")) == []


def test_an_unknown_caller_raises_no_emergency_alarm_of_its_own() -> None:
    assert raised(call(None, line="emergency")) == []


def test_a_test_call_raises_nothing_and_ends_the_devices_supervision_alarms() -> None:
    out = evaluate_call(call(anomaly("out_of_hours"), test_call=True), RuleBook())
    assert out.raises == ()
    assert out.ends == (
        End(AlarmKind.MISSED_TEST_CALL, "device:7"),
        End(AlarmKind.HEARTBEAT_LOST, "device:7"),
    )


def test_any_call_of_a_device_ends_its_supervision_alarms() -> None:
    out = evaluate_call(call(), RuleBook())
    assert End(AlarmKind.MISSED_TEST_CALL, "device:7") in out.ends
    assert [e.rescue for e in out.ends] == [False, False]
    assert evaluate_call(call(None), RuleBook()).ends == ()


def test_rescue_ended_from_the_device_ends_its_latched_alarm_and_raises_nothing() -> None:
    out = evaluate_call(call(rescue_ended=True), RuleBook())
    assert out.raises == ()
    assert End(AlarmKind.LIFT_EMERGENCY, "device:7", rescue=True) in out.ends
    assert End(AlarmKind.EMERGENCY_CALL, "device:7", rescue=True) in out.ends


def test_an_admins_rule_replaces_the_default_of_its_trigger_and_kind() -> None:
    book = RuleBook([Rule(Trigger.OUT_OF_HOURS, "door_intercom", AlarmKind.OUT_OF_HOURS, MA)])
    ev = call("door_intercom", anomaly("out_of_hours"), line="intercom")
    assert [(k, s) for k, s, _ in raised(ev, book)] == [(AlarmKind.OUT_OF_HOURS, MA)]
    other = call("car_park_help_point", anomaly("out_of_hours"), line="intercom")
    assert [(k, s) for k, s, _ in raised(other, book)] == [(AlarmKind.OUT_OF_HOURS, MI)]


def test_a_disabled_rule_turns_its_trigger_off_for_that_kind_only() -> None:
    off = Rule(
        Trigger.EMERGENCY_CALL, "elevator_phone", AlarmKind.LIFT_EMERGENCY, C, latched=True, enabled=False
    )
    assert raised(call(), RuleBook([off])) == []
    general_off = Rule(Trigger.WRONG_TRUNK, ANY_KIND, AlarmKind.WRONG_TRUNK, MA, enabled=False)
    assert (
        raised(call("door_intercom", anomaly("wrong_trunk"), line="intercom"), RuleBook([general_off])) == []
    )
    # a disabled kind rule hides the any-kind rule, an enabled one keeps its own severity
    book = RuleBook(
        [Rule(Trigger.CALL_FLOOD, "car_park_help_point", AlarmKind.CALL_FLOOD, MA, enabled=False)]
    )
    assert (
        raised(call("car_park_help_point", anomaly("call_flood", scope="ani"), line="intercom"), book) == []
    )


def test_the_rulebook_lists_one_rule_per_trigger_and_kind() -> None:
    book = RuleBook([Rule(Trigger.OUT_OF_HOURS, ANY_KIND, AlarmKind.OUT_OF_HOURS, W)])
    rules = book.rules()
    assert len(rules) == len(DEFAULT_RULES)
    assert book.find(Trigger.OUT_OF_HOURS, None) == Rule(
        Trigger.OUT_OF_HOURS, ANY_KIND, AlarmKind.OUT_OF_HOURS, W
    )
    assert book.find(Trigger.OUT_OF_HOURS, "elevator_phone") == book.find(Trigger.OUT_OF_HOURS, "")


def test_a_long_text_is_cut_to_the_column() -> None:
    (r,) = evaluate_call(call(site_name="S" * 400), RuleBook()).raises
    assert len(r.specific_problem) == 255


def test_an_anomaly_alarm_names_the_caller_and_the_place() -> None:
    (r,) = evaluate_call(call("door_intercom", anomaly("out_of_hours"), line="intercom"), RuleBook()).raises
    assert (
        r.specific_problem == "Call out of hours (+493023905601, Spree Tower, North core, Lift 1, floor 12)"
    )
    bare = call(
        None, anomaly("wrong_trunk"), line="intercom", ani=None, site_name="", building="", location=""
    )
    (r,) = evaluate_call(bare, RuleBook()).raises
    assert r.specific_problem == "Call on the wrong trunk (a withheld number, floor 12)"
    nowhere = call(
        None, anomaly("wrong_trunk"), line="intercom", site_name="", building="", location="", floor=""
    )
    (r,) = evaluate_call(nowhere, RuleBook()).raises
    assert r.specific_problem == "Call on the wrong trunk (+493023905601)"


def test_an_alarm_keeps_its_anomalys_evidence_and_an_emergency_has_none() -> None:
    ev = call(
        "elevator_phone",
        anomaly("call_flood", scope="ani", count=12, limit=5, window_s=60),
        anomaly("low_attestation"),
        {"code": "out_of_hours", "severity": "warning"},  # no evidence at all
    )
    emergency, flood, weak, late = evaluate_call(ev, RuleBook()).raises
    assert emergency.kind is AlarmKind.LIFT_EMERGENCY
    assert emergency.evidence == {}
    assert flood.evidence == {"scope": "ani", "count": 12, "limit": 5, "window_s": 60}
    assert (weak.evidence, late.evidence) == ({}, {})


def test_only_a_flood_is_filed_under_its_scope_any_other_anomaly_under_the_caller() -> None:
    ev = call("door_intercom", anomaly("wrong_trunk", scope="trunk"), anomaly("out_of_hours", scope="site"))
    assert [res for *_, res in raised(ev)] == ["device:7", "device:7"]


def test_a_caller_without_device_or_number_is_filed_under_the_call_cut_to_the_column() -> None:
    ev = call(None, anomaly("out_of_hours"), line="intercom", ani=None, call_id="a" * 80 + "@pbx")
    (r,) = evaluate_call(ev, RuleBook()).raises
    assert r.resource == "call:" + "a" * 59
    assert len(r.resource) == 64


def test_rescue_ended_ends_the_supervision_alarms_and_both_emergency_kinds() -> None:
    assert evaluate_call(call(rescue_ended=True), RuleBook()).ends == (
        End(AlarmKind.MISSED_TEST_CALL, "device:7"),
        End(AlarmKind.HEARTBEAT_LOST, "device:7"),
        End(AlarmKind.LIFT_EMERGENCY, "device:7", rescue=True),
        End(AlarmKind.EMERGENCY_CALL, "device:7", rescue=True),
    )


@pytest.mark.parametrize(
    ("skipped", "book"),
    [
        (anomaly("withheld"), RuleBook()),  # a flag only
        (anomaly("unknown_ani"), RuleBook()),  # an unknown number off the emergency line
        (
            anomaly("out_of_hours"),
            RuleBook(
                [Rule(Trigger.OUT_OF_HOURS, "door_intercom", AlarmKind.OUT_OF_HOURS, MI, enabled=False)]
            ),
        ),
    ],
)
def test_an_anomaly_that_raises_nothing_does_not_hide_the_next_one(skipped: dict, book: RuleBook) -> None:
    ev = call("door_intercom", skipped, anomaly("wrong_trunk"), line="intercom")
    assert raised(ev, book) == [(AlarmKind.WRONG_TRUNK, MA, "device:7")]
