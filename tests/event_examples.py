"""Example events (one of each type, plain values, no database) and validation of a document
against its JSON Schema in docs/schemas/, for the MQTT sink's unit and integration tests."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from registry import events as e

SCHEMAS = Path(__file__).resolve().parents[1] / "docs" / "schemas"
AT = datetime(2026, 12, 2, 8, 30, 15, 250000, tzinfo=UTC)
XSS = "<img src=x onerror=alert(1)>"


def _id(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


def call(**kw: Any) -> e.CallRouted:
    values: dict[str, Any] = {
        "occurred_at": AT,
        "event_id": _id(1),
        "call_id": "a84b4c76e66710@pbx.example",
        "record_id": "r-1",
        "ani": "+493012345678",
        "ani_source": "pai",
        "display_name": f"Lift 1 {XSS}",
        "dnis": "+493023905000",
        "trunk_id": 3,
        "trunk_name": "carrier",
        "device_id": 7,
        "device_kind": "elevator_phone",
        "site_id": 2,
        "site_name": "Tower A",
        "building": "A",
        "location": "Lift 1",
        "floor": "3",
        "center_id": 1,
        "center_name": "Berlin Control",
        "targets": ("sip:berlin@127.0.0.1:5070",),
        "target_center_ids": (1,),
        "line": "emergency",
        "anomalies": ({"code": "low_attestation", "detail": "B"},),
    }
    return e.CallRouted(**(values | kw))


def alarm_fields(**kw: Any) -> dict[str, Any]:
    return {
        "occurred_at": AT,
        "alarm_id": 11,
        "kind": "lift_emergency",
        "severity": "critical",
        "state": "active",
        "center_id": 1,
        "device_id": 7,
        "site_id": 2,
        "trunk_id": 3,
        "resource": "device:7",
        "by": "anigate",
    } | kw


def examples() -> dict[str, e.DomainEvent]:
    """One event of every type, by type name."""
    a = alarm_fields
    out: list[e.DomainEvent] = [
        call(),
        e.AlarmRaised(
            **a(event_id=_id(2)),
            event_type="communicationsAlarm",
            probable_cause="callEstablishmentError",
            additional_text=XSS,
            call_id="a84b4c76e66710@pbx.example",
            device_kind="elevator_phone",
            device_ani="+493012345678",
            site_name="Tower A",
            building="A",
            location="Lift 1",
            latched=True,
        ),
        e.AlarmRepeated(**a(event_id=_id(3)), count=2, call_id="x@pbx"),
        e.AlarmAcknowledged(**a(event_id=_id(4), state="acknowledged", by="operator1")),
        e.AlarmNoted(**a(event_id=_id(5), note=f"technician called {XSS}", by="operator1")),
        e.AlarmEscalated(**a(event_id=_id(6)), from_center_id=1, to_center_id=4),
        e.AlarmCleared(**a(event_id=_id(7), state="cleared")),
        e.AlarmReset(**a(event_id=_id(8), state="cleared", note="rescue ended")),
        e.AlarmShelved(**a(event_id=_id(9), state="shelved"), until=AT),
        e.AlarmSuppressed(**a(event_id=_id(10), state="suppressed"), silence_id=5),
        e.DeviceChanged(
            occurred_at=AT,
            event_id=_id(12),
            device_id=7,
            site_id=2,
            action="create",
            ani="+493012345678",
            changes={"ani": [None, "+493012345678"], "kind": [None, "elevator_phone"], "site_id": [None, 2]},
            by="admin",
        ),
        e.DeviceStatusChanged(
            occurred_at=AT,
            event_id=_id(13),
            device_id=7,
            site_id=2,
            status="overdue",
            previous="online",
            reason="alarm 11: missed en 81-28 test call",
        ),
        e.SinkTest(occurred_at=AT, event_id=_id(14), sink_id=3, sink_name="bms", by="admin"),
        e.AlarmsGrouped(
            occurred_at=AT,
            event_id=_id(15),
            site_id=2,
            site_name=f"Tower A {XSS}",
            center_id=1,
            window_start=AT,
            window_end=AT,
            raised={"call_flood": 2, "lift_emergency": 14},
            repeated={"call_flood": 40},
            active={"call_flood": 2, "lift_emergency": 14},
            total_raised=16,
            first=True,
            through_seq=1234,
        ),
    ]
    return {ev.type: ev for ev in out}


@cache
def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors(name: str, document: Any) -> list[str]:
    """Why ``document`` does not match schema ``name`` (empty: it does)."""
    found = validator(name).iter_errors(document)
    return [f"{'/'.join(map(str, err.absolute_path))}: {err.message}" for err in found]


def assert_valid(name: str, document: Any) -> None:
    problems = errors(name, document)
    assert not problems, f"{name}: {problems}"
