#!/usr/bin/env python3
"""Writes docs/schemas/*.json: one JSON Schema (2020-12) per event type, generated from the event
dataclasses of ``registry.events``, plus the MQTT-only documents (device status, last test call,
service status). ``--check`` compares instead of writing (tests/unit/test_event_schemas.py does too).

Run from the checkout: ``.venv/bin/python scripts/event_schemas.py``. Imports ``registry.events`` only.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry.events import EVENT_TYPES, DomainEvent  # noqa: E402

SCHEMAS = ROOT / "docs" / "schemas"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
ENVELOPE = ("event_id", "type", "schema_version", "occurred_at", "body")
TIME = {"type": "string", "format": "date-time"}
STATUSES = ["online", "overdue", "maintenance", "fault", "decommissioned"]


def _schema_of(hint: Any) -> dict[str, Any]:
    """The JSON Schema of a field's type, as ``DomainEvent.body()`` writes it."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        inner = [_schema_of(a) for a in args if a is not type(None)]
        nullable = type(None) in args
        if len(inner) == 1 and "type" in inner[0] and nullable:
            one = dict(inner[0])
            one["type"] = [one["type"], "null"]
            return one
        return {"anyOf": [*inner, {"type": "null"}] if nullable else inner}
    if origin is tuple or origin is list:
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return {"type": "array", "items": _schema_of(args[0]) if args else {}}
    if origin is dict or hint is dict:
        values = typing.get_args(hint)[1:]
        if values and values[0] is not Any:  # counts by kind: the values' type is checked too
            return {"type": "object", "additionalProperties": _schema_of(values[0])}
        return {"type": "object"}
    if hint is Any:
        return {}
    simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if hint in simple:
        return {"type": simple[hint]}
    if hint is datetime:
        return dict(TIME)
    if hint is date:
        return {"type": "string", "format": "date"}
    if hint is uuid.UUID:
        return {"type": "string", "format": "uuid"}
    raise TypeError(f"no JSON Schema for {hint!r}")


def event_schema(cls: type[DomainEvent]) -> dict[str, Any]:
    """The envelope of ``cls`` (``DomainEvent.envelope()``) as a JSON Schema. The body lists every
    field as required (``body()`` always writes them all) and admits more: a later version of the
    same ``schema_version`` may add fields."""
    hints = typing.get_type_hints(cls)
    body = {
        f.name: _schema_of(hints[f.name])
        for f in dataclasses.fields(cls)
        if f.name not in ("event_id", "occurred_at")
    }
    doc = " ".join((cls.__doc__ or "").split())
    return {
        "$schema": DIALECT,
        "$id": f"{cls.type}.json",
        "title": f"{cls.type} (schema_version {cls.schema_version})",
        "description": doc,
        "type": "object",
        "required": list(ENVELOPE),
        "additionalProperties": False,
        "properties": {
            "event_id": {"type": "string", "format": "uuid"},
            "type": {"const": cls.type},
            "schema_version": {"const": cls.schema_version},
            "occurred_at": dict(TIME),
            "body": {
                "type": "object",
                "required": list(body),
                "additionalProperties": True,
                "properties": body,
            },
        },
    }


def _doc(name: str, title: str, description: str, props: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": DIALECT,
        "$id": f"{name}.json",
        "title": title,
        "description": description,
        "type": "object",
        "required": list(props),
        "additionalProperties": False,
        "properties": props,
    }


def mqtt_schemas() -> dict[str, dict[str, Any]]:
    """The documents only the MQTT sink publishes (retained state, not events)."""
    ids = {"device_id": {"type": "integer"}, "site_id": {"type": ["integer", "null"]}}
    event = {"event_id": {"type": "string", "format": "uuid"}}
    return {
        "device.status": _doc(
            "device.status",
            "Retained device status (MQTT .../devices/<device>/status)",
            "What a building-management system shows for a device, from its latest "
            "device.status_changed event (event_id).",
            {
                "status": {"enum": STATUSES},
                "previous": {"enum": [*STATUSES, None]},
                "since": dict(TIME),
                "reason": {"type": "string"},
                **ids,
                **event,
            },
        ),
        "device.last_test_call": _doc(
            "device.last_test_call",
            "Retained last test call (MQTT .../devices/<device>/last_test_call)",
            "When the device last made its periodic test call (EN 81-28), from that call.routed event.",
            {"at": dict(TIME), "call_id": {"type": "string"}, **ids, **event},
        ),
        "service.status": {
            "$schema": DIALECT,
            "$id": "service.status.json",
            "title": "Retained service status (MQTT <prefix>/v1/service/status)",
            "description": "online while anigate's relay is connected; offline after a clean stop or, "
            "as the Last Will, when the process died. A plain UTF-8 string, not JSON.",
            "enum": ["online", "offline"],
        },
    }


def all_schemas() -> dict[str, dict[str, Any]]:
    """Every schema by its file name (without ``.json``)."""
    out = {name: event_schema(cls) for name, cls in sorted(EVENT_TYPES.items())}
    return out | mqtt_schemas()


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    SCHEMAS.mkdir(parents=True, exist_ok=True)
    for name, schema in all_schemas().items():
        path = SCHEMAS / f"{name}.json"
        text = render(schema)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print("out of date (run scripts/event_schemas.py):", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
