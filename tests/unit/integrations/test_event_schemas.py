"""docs/schemas: a JSON Schema (2020-12) per event type, generated from the event dataclasses and
committed; every example event's envelope validates, a wrong one does not."""

from __future__ import annotations

import importlib.util
import json
import re
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


def _documented_examples() -> list[tuple[str, object]]:
    """Each JSON example of docs/events.md with the schema its section names."""
    text = (ROOT / "docs" / "events.md").read_text()
    sections = {"Device status": "device.status", "Last test call": "device.last_test_call"}
    found = []
    for match in re.finditer(r"^### (.+?)\n(.*?)(?=^### |^## |\Z)", text, re.M | re.S):
        title, content = match.group(1).strip(), match.group(2)
        name = title.strip("`") if title.startswith("`") else sections.get(title)
        for block in re.findall(r"```json\n(.*?)```", content, re.S):
            found.append((name, json.loads(block)))
    return found


def test_every_event_type_has_a_section_with_an_example_in_docs_events_md():
    documented = {name for name, _doc in _documented_examples()}
    assert set(EVENT_TYPES) | {"device.status", "device.last_test_call"} <= documented


def test_every_example_in_docs_events_md_validates_against_its_schema():
    for name, doc in _documented_examples():
        assert name is not None
        assert errors(name, doc) == [], name
