"""docs/asyncapi.yaml: valid against the official AsyncAPI 3.0.0 JSON Schema (kept in
tests/data/asyncapi/ with its licence), and in step with the code: every event type has a message
with its schema, every topic the sink publishes is a channel address, every parameter is declared."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from integrations.homeassistant import Discovery
from integrations.mqtt_topics import Topics, publications
from registry.events import EVENT_TYPES
from tests.event_examples import call, examples

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "asyncapi.yaml"
OFFICIAL = ROOT / "tests" / "data" / "asyncapi" / "3.0.0.json"


def load() -> dict[str, Any]:
    return yaml.safe_load(DOC.read_text())


def official() -> Draft7Validator:
    return Draft7Validator(json.loads(OFFICIAL.read_text()))


def test_the_document_is_valid_asyncapi_3_0_0():
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in official().iter_errors(load())]
    assert problems == []


def test_the_official_schema_catches_a_broken_document():
    doc = load()
    doc["channels"]["deviceCalls"]["address"] = 5
    doc["operations"]["publishDeviceCall"]["bindings"]["mqtt"]["qos"] = 3
    assert len(list(official().iter_errors(doc))) == 2


def test_every_event_type_is_a_message_whose_payload_is_its_committed_schema():
    messages = load()["components"]["messages"]
    by_name = {m["name"]: m for m in messages.values()}
    for name in EVENT_TYPES:
        assert by_name[name]["payload"] == {"$ref": f"./schemas/{name}.json"}
    for m in messages.values():
        ref = m["payload"].get("$ref")
        assert ref is None or (DOC.parent / ref).is_file(), ref


def _pattern(address: str) -> re.Pattern[str]:
    """A parameter (the prefix is substituted before) is one topic level."""
    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(address)) + "$")


def _channel_of(topic: str) -> str:
    """The channel whose address (prefix substituted) matches ``topic``."""
    channels = load()["channels"]
    found = []
    for name, ch in channels.items():
        address = ch["address"].replace("{prefix}", "acme/anigate").replace("{haPrefix}", "ha")
        if _pattern(address).match(topic):
            found.append(name)
    assert len(found) == 1, (topic, found)
    return found[0]


def test_every_topic_the_sink_publishes_is_one_channel_carrying_that_message():
    topics = Topics("acme/anigate")
    channels = load()["channels"]
    events = [*examples().values(), call(device_id=None), call(device_id=None, site_id=None)]
    events.append(call(test_call=True))
    for ev in events:
        for pub in publications(topics, ev, ev.envelope(), 300):
            channel = channels[_channel_of(pub.topic)]
            names = [m["$ref"].rsplit("/", 1)[1] for m in channel["messages"].values()]
            assert ev.type.replace(".", "_") in names or pub.retain, (pub.topic, names)
    for special in (topics.service_status, *Discovery(topics, "ha").config_topics(7)):
        _channel_of(special)


@pytest.mark.parametrize("name", sorted(yaml.safe_load(DOC.read_text())["channels"]))
def test_each_channel_declares_exactly_the_parameters_of_its_address(name: str):
    channel = load()["channels"][name]
    assert set(re.findall(r"\{(\w+)\}", channel["address"])) == set(channel.get("parameters", {}))


def test_retained_channels_are_marked_retain_and_everything_is_qos_1():
    doc = load()
    for op in doc["operations"].values():
        channel = op["channel"]["$ref"].rsplit("/", 1)[1]
        binding = op["bindings"]["mqtt"]
        assert binding["qos"] == 1
        retained = doc["channels"][channel]["description"].startswith("Retained")
        assert binding["retain"] is retained, channel
