"""Domain events: what a subscriber receives (envelope and body), and that it reads back as the same
event, also when a newer or older version wrote it."""

from __future__ import annotations

import json
import uuid
from dataclasses import FrozenInstanceError, dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import ClassVar

import pytest

from registry.events import (
    EVENT_TYPES,
    AlarmRaised,
    AlarmShelved,
    CallRouted,
    DeviceChanged,
    DomainEvent,
    from_envelope,
)

AT = datetime(2026, 12, 2, 3, 0, 5, tzinfo=UTC)


def call(**kw: object) -> CallRouted:
    values: dict[str, object] = {
        "occurred_at": AT,
        "call_id": "a84b4c76e66710@pbx",
        "record_id": "0a1b2c3d4e5f1",
        "ani": "+493023905601",
        "device_id": 7,
        "site_id": 3,
        "site_name": "Spree Tower",
        "building": "North core",
        "location": "Lift 1 cabin",
        "floor": "12",
        "center_id": 1,
        "targets": ("sip:berlin@127.0.0.1:5080",),
        "anomalies": ({"code": "out_of_hours", "severity": "warning", "evidence": {}},),
    }
    values.update(kw)
    return CallRouted(**values)  # type: ignore[arg-type]


def test_the_envelope_is_json_with_id_type_version_time_and_body() -> None:
    ev = call(event_id=uuid.UUID("12345678-1234-5678-1234-567812345678"))
    env = json.loads(json.dumps(ev.envelope()))
    assert env["event_id"] == "12345678-1234-5678-1234-567812345678"
    assert env["type"] == "call.routed"
    assert env["schema_version"] == 1
    assert env["occurred_at"] == "2026-12-02T03:00:05+00:00"
    body = env["body"]
    assert body["ani"] == "+493023905601"
    assert body["site_name"] == "Spree Tower" and body["floor"] == "12"
    assert body["targets"] == ["sip:berlin@127.0.0.1:5080"]
    assert body["anomalies"][0]["code"] == "out_of_hours"
    assert "event_id" not in body and "occurred_at" not in body


def test_times_in_a_body_are_utc_iso_8601() -> None:
    local = datetime(2026, 12, 2, 4, 0, tzinfo=timezone(timedelta(hours=1)))
    ev = AlarmShelved(
        occurred_at=AT, alarm_id=1, kind="out_of_hours", severity="minor", state="shelved", until=local
    )
    assert ev.body()["until"] == "2026-12-02T03:00:00+00:00"


@pytest.mark.parametrize(
    "ev",
    [
        call(),
        AlarmRaised(
            occurred_at=AT,
            alarm_id=5,
            kind="lift_emergency",
            severity="critical",
            state="unack",
            device_id=7,
            site_id=3,
            center_id=1,
            call_id="a84b",
            latched=True,
            building="North core",
        ),
        DeviceChanged(
            occurred_at=AT, device_id=7, site_id=3, action="update", changes={"floor": ["11", "12"]}
        ),
    ],
    ids=lambda ev: ev.type,
)
def test_an_event_reads_back_from_its_stored_envelope(ev: DomainEvent) -> None:
    stored = json.loads(json.dumps(ev.envelope()))
    back = from_envelope(stored)
    assert type(back) is type(ev)
    assert back.event_id == ev.event_id and back.occurred_at == ev.occurred_at
    assert back.envelope() == ev.envelope()


def test_a_newer_body_key_is_ignored_and_a_missing_field_takes_its_default() -> None:
    env = call().envelope()
    env["body"]["added_in_version_2"] = "x"
    del env["body"]["camera_ref"]
    back = from_envelope(env)
    assert isinstance(back, CallRouted) and back.camera_ref == ""


def test_events_are_immutable_and_each_gets_its_own_id() -> None:
    a, b = call(), call()
    assert a.event_id != b.event_id
    with pytest.raises(FrozenInstanceError):
        a.ani = "+4930"  # type: ignore[misc]


def test_every_event_type_of_the_issue_is_registered_once() -> None:
    assert {
        "call.routed",
        "alarm.raised",
        "alarm.acknowledged",
        "alarm.escalated",
        "alarm.cleared",
        "alarm.reset",
        "alarm.shelved",
        "alarm.suppressed",
        "device.changed",
        "device.status_changed",
    } <= set(EVENT_TYPES)
    with pytest.raises(TypeError, match="defined twice"):

        @dataclass(frozen=True, kw_only=True)
        class Again(DomainEvent):
            type: ClassVar[str] = "call.routed"
