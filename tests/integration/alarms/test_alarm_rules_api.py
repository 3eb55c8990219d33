"""The alarm rules API: every rule in force (the shipped defaults merged with admins' rows), an admin
setting the rule of a trigger for a device kind (and the next call raising by it), removing it to
return to the default; everyone else reads only."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alarms.models import Alarm, AlarmRule
from alarms.rules import DEFAULT_RULES
from alarms.service import AlarmService
from registry.models import ChangeLog
from tests import factories as f
from tests.api_support import assert_problem, bearer

ALARMS_RW = ("alarms:read", "alarms:write")
URL = "/api/v1/alarm-rules"


@pytest.fixture
def est(session: Session) -> dict[str, Any]:
    return f.estate(session)


@pytest.fixture
def ada(session: Session) -> dict[str, str]:
    return bearer(session, "ada", scopes=ALARMS_RW)


def _rules(client: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    resp = client.get(URL, headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["items"]  # type: ignore[no-any-return]


def _find(rules: list[dict[str, Any]], trigger: str, kind: str | None) -> dict[str, Any] | None:
    return next((r for r in rules if (r["trigger"], r["device_kind"]) == (trigger, kind)), None)


def test_the_list_shows_the_shipped_defaults_by_trigger(client, est, ada) -> None:
    body = client.get(URL, headers=ada).get_json()
    assert body["total"] == len(DEFAULT_RULES) == len(body["items"])
    rules = body["items"]
    assert [(r["trigger"], r["device_kind"]) for r in rules[:3]] == [
        ("emergency_call", "car_park_help_point"),
        ("emergency_call", "elevator_phone"),
        ("emergency_call", "emergency_phone"),
    ]
    assert _find(rules, "emergency_call", "elevator_phone") == {
        "kind": "lift_emergency",
        "severity": "critical",
        "latched": True,
        "enabled": True,
        "trigger": "emergency_call",
        "device_kind": "elevator_phone",
        "custom": False,
        "default": {"kind": "lift_emergency", "severity": "critical", "latched": True, "enabled": True},
    }
    flood = [(r["device_kind"], r["kind"], r["severity"]) for r in rules if r["trigger"] == "call_flood"]
    assert flood == [
        ("door_intercom", "suspected_abuse", "minor"),
        ("elevator_phone", "call_flood", "critical"),
        (None, "call_flood", "major"),  # any kind last
    ]


def test_an_admin_sets_a_rule_and_the_next_call_raises_by_it(client, session, est, ada) -> None:
    resp = client.put(
        f"{URL}/emergency_call/elevator_phone",
        json={"kind": "lift_emergency", "severity": "major", "latched": False, "enabled": True},
        headers=ada,
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json() == {
        "kind": "lift_emergency",
        "severity": "major",
        "latched": False,
        "enabled": True,
        "trigger": "emergency_call",
        "device_kind": "elevator_phone",
        "custom": True,
        "default": {"kind": "lift_emergency", "severity": "critical", "latched": True, "enabled": True},
    }
    assert _find(_rules(client, ada), "emergency_call", "elevator_phone")["custom"] is True  # type: ignore[index]
    call = f.lift_call(est)
    AlarmService().on_calls(session, [call])
    session.commit()
    alarm = session.scalars(select(Alarm)).one()
    assert (alarm.severity.value, alarm.latched) == ("major", False)
    log = session.scalars(select(ChangeLog).where(ChangeLog.object_type == "alarm_rule")).one()
    assert (log.action.value, log.actor, log.object_repr) == (
        "create",
        "ada",
        "emergency_call / elevator_phone",
    )


def test_a_rule_for_any_kind_or_one_without_a_default_and_turning_a_trigger_off(
    client, session, est, ada
) -> None:
    off = client.put(
        f"{URL}/out_of_hours/door_intercom",
        json={"kind": "out_of_hours", "severity": "minor", "enabled": False},
        headers=ada,
    )
    assert off.status_code == 200
    assert (off.get_json()["enabled"], off.get_json()["default"]) == (False, None)
    anyk = client.put(
        f"{URL}/low_attestation/any", json={"kind": "low_attestation", "severity": "major"}, headers=ada
    )
    assert (anyk.get_json()["device_kind"], anyk.get_json()["severity"], anyk.get_json()["custom"]) == (
        None,
        "major",
        True,
    )
    rules = _rules(client, ada)
    assert (
        len(rules) == len(DEFAULT_RULES) + 1
    )  # the intercom rule is new; the any-kind one replaced a default
    assert _find(rules, "out_of_hours", "door_intercom")["enabled"] is False  # type: ignore[index]
    again = client.put(
        f"{URL}/out_of_hours/door_intercom", json={"kind": "out_of_hours", "severity": "warning"}, headers=ada
    )
    assert again.get_json()["severity"] == "warning"
    assert len(session.scalars(select(AlarmRule)).all()) == 2  # one row per trigger and kind


def test_deleting_a_rule_returns_to_the_default(client, session, est, ada) -> None:
    client.put(
        f"{URL}/call_flood/door_intercom", json={"kind": "call_flood", "severity": "critical"}, headers=ada
    )
    resp = client.delete(f"{URL}/call_flood/door_intercom", headers=ada)
    assert resp.status_code == 204
    rule = _find(_rules(client, ada), "call_flood", "door_intercom")
    assert rule is not None and (rule["kind"], rule["severity"], rule["custom"]) == (
        "suspected_abuse",
        "minor",
        False,
    )
    assert session.scalars(select(AlarmRule)).all() == []
    missing = assert_problem(client.delete(f"{URL}/call_flood/door_intercom", headers=ada), 404)
    assert missing["detail"] == "alarm rule call_flood/door_intercom not found"
    actions = [
        r.action.value
        for r in session.scalars(select(ChangeLog).where(ChangeLog.object_type == "alarm_rule"))
    ]
    assert actions == ["create", "delete"]


def test_the_rule_body_and_path_are_checked(client, est, ada) -> None:
    # an unknown trigger or device kind is no resource at all
    body = {"kind": "call_flood", "severity": "minor"}
    assert_problem(client.put(f"{URL}/sneezing/any", json=body, headers=ada), 404)
    assert_problem(client.put(f"{URL}/call_flood/toaster", json=body, headers=ada), 404)
    assert_problem(client.delete(f"{URL}/call_flood/toaster", headers=ada), 404)
    missing = assert_problem(
        client.put(f"{URL}/call_flood/any", json={"kind": "call_flood"}, headers=ada), 422
    )
    assert missing["errors"] == {"severity": "Field required"}
    fire = assert_problem(
        client.put(f"{URL}/call_flood/any", json={"kind": "fire", "severity": "minor"}, headers=ada), 422
    )
    assert list(fire["errors"]) == ["kind"]


@pytest.mark.parametrize("role", ["operator", "facility_manager"])
def test_only_an_admin_changes_the_rules_everyone_reads_them(client, session, est, role: str) -> None:
    kw: dict[str, Any] = {"center": est["center"].id} if role == "operator" else {"sites": [est["site"].id]}
    headers = bearer(session, "someone", role=role, scopes=ALARMS_RW, **kw)
    assert len(_rules(client, headers)) == len(DEFAULT_RULES)
    body = assert_problem(
        client.put(
            f"{URL}/call_flood/any", json={"kind": "call_flood", "severity": "minor"}, headers=headers
        ),
        403,
    )
    assert body["detail"] == "only an administrator may change the alarm rules"
    assert_problem(client.delete(f"{URL}/call_flood/any", headers=headers), 403)
    assert session.scalars(select(AlarmRule)).all() == []
