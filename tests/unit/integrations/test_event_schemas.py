"""docs/schemas: a JSON Schema (2020-12) per event type, generated from the event dataclasses and
committed; every example event's envelope validates, a wrong one does not."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from registry.events import EVENT_TYPES
from tests.event_examples import SCHEMAS, errors, examples

ROOT = Path(__file__).resolve().parents[3]


def generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("event_schemas", ROOT / "scripts" / "event_schemas.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_event_type_has_a_committed_schema_equal_to_the_generated_one():
    gen = generator()
    for name, schema in gen.all_schemas().items():
        path = SCHEMAS / f"{name}.json"
        assert path.exists(), f"missing {path.name}: run scripts/event_schemas.py"
        assert path.read_text() == gen.render(schema), f"{path.name} is stale: run scripts/event_schemas.py"
    assert set(EVENT_TYPES) <= {p.stem for p in SCHEMAS.glob("*.json")}


def test_every_committed_schema_is_a_valid_2020_12_schema():
    for path in SCHEMAS.glob("*.json"):
        Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_the_examples_cover_every_event_type():
    assert set(examples()) == set(EVENT_TYPES)


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_an_example_of_each_type_validates_against_its_schema(name: str):
    assert errors(name, examples()[name].envelope()) == []


def test_an_envelope_with_a_missing_body_field_or_a_wrong_type_is_refused():
    doc = examples()["call.routed"].envelope()
    del doc["body"]["ani"]
    doc["body"]["device_id"] = "7"
    assert errors("call.routed", doc) == [
        "body: 'ani' is a required property",
        "body/device_id: '7' is not of type 'integer', 'null'",
    ]


def test_an_envelope_of_another_type_is_refused():
    assert errors("alarm.raised", examples()["alarm.cleared"].envelope())
