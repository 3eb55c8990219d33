"""Home Assistant discovery: one HA device per anigate device with a problem binary_sensor and a
last-test-call timestamp sensor, announced once per change of what anigate knows, removed on delete."""

from __future__ import annotations

import json

from integrations.homeassistant import Discovery, DiscoveryState
from integrations.mqtt_topics import Topics
from registry.events import AlarmCleared, DeviceChanged, DeviceStatusChanged
from tests.event_examples import AT, alarm_fields, call


def state() -> DiscoveryState:
    return DiscoveryState(Discovery(Topics("anigate"), "homeassistant"))


def announce(s: DiscoveryState, ev):  # type: ignore[no-untyped-def]
    pubs, info = s.publications(ev)
    if info is not None:
        s.confirm(ev, info)
    return {p.topic: (json.loads(p.payload) if p.payload else None) for p in pubs}


def test_a_device_first_seen_in_a_call_gets_both_entities_grouped_as_one_ha_device():
    configs = announce(state(), call())
    problem = configs["homeassistant/binary_sensor/anigate_7/problem/config"]
    last = configs["homeassistant/sensor/anigate_7/last_test_call/config"]
    device = {
        "identifiers": ["anigate_7"],
        "name": "Lift 1 (+493012345678)",
        "manufacturer": "anigate",
        "model": "elevator_phone",
        "suggested_area": "Tower A A",
    }
    availability = {
        "availability_topic": "anigate/v1/service/status",
        "payload_available": "online",
        "payload_not_available": "offline",
    }
    assert problem == {
        "name": "Problem",
        "unique_id": "anigate_7_problem",
        "device_class": "problem",
        "state_topic": "anigate/v1/sites/2/devices/7/status",
        "value_template": "{{ 'ON' if value_json.status in ['overdue', 'fault'] else 'OFF' }}",
        "payload_on": "ON",
        "payload_off": "OFF",
        "json_attributes_topic": "anigate/v1/sites/2/devices/7/status",
        **availability,
        "qos": 1,
        "device": device,
        "origin": {"name": "anigate"},
    }
    assert last == {
        "name": "Last test call",
        "unique_id": "anigate_7_last_test_call",
        "device_class": "timestamp",
        "state_topic": "anigate/v1/sites/2/devices/7/last_test_call",
        "value_template": "{{ value_json.at }}",
        **availability,
        "qos": 1,
        "device": device,
        "origin": {"name": "anigate"},
    }


def test_a_device_is_announced_again_only_when_what_is_known_of_it_changes():
    s = state()
    assert announce(s, call())
    assert announce(s, call()) == {}
    assert announce(s, AlarmCleared(**alarm_fields(state="cleared"))) == {}  # no names: keeps the call's
    moved = announce(s, call(location="Lift 2"))
    device = moved["homeassistant/binary_sensor/anigate_7/problem/config"]["device"]
    assert device["name"] == "Lift 2 (+493012345678)"


def test_an_unacknowledged_announcement_is_made_again_with_the_next_event():
    s = state()
    pubs, _info = s.publications(call())  # never confirmed: the broker did not PUBACK
    assert pubs
    assert announce(s, call())


def test_a_device_only_known_by_its_status_is_named_by_its_id():
    ev = DeviceStatusChanged(occurred_at=AT, device_id=9, site_id=None, status="online")
    configs = announce(state(), ev)
    problem = configs["homeassistant/binary_sensor/anigate_9/problem/config"]
    named = {"identifiers": ["anigate_9"], "name": "anigate device 9", "manufacturer": "anigate"}
    assert problem["device"] == named
    assert problem["state_topic"] == "anigate/v1/sites/unknown/devices/9/status"


def test_a_deleted_device_has_empty_retained_configs_and_its_last_status_does_not_bring_it_back():
    s = state()
    announce(s, call())
    gone = announce(s, DeviceChanged(occurred_at=AT, device_id=7, site_id=2, action="delete"))
    assert gone == {
        "homeassistant/binary_sensor/anigate_7/problem/config": None,
        "homeassistant/sensor/anigate_7/last_test_call/config": None,
    }
    status = DeviceStatusChanged(occurred_at=AT, device_id=7, site_id=2, status="decommissioned")
    assert announce(s, status) == {}
    created = DeviceChanged(occurred_at=AT, device_id=7, site_id=2, action="create", ani="+4930999")
    assert announce(s, created)


def test_a_call_from_no_device_announces_nothing():
    assert announce(state(), call(device_id=None)) == {}
