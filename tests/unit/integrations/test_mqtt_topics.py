"""What each event becomes on MQTT: topics from ids only, payloads exactly the envelope, retained
state documents that match their schemas."""

from __future__ import annotations

import json

import pytest

from integrations.mqtt_topics import Topics, check_prefix, publications, segment
from registry.events import AlarmRaised, DeviceChanged, DeviceStatusChanged
from tests.event_examples import AT, alarm_fields, assert_valid, call, examples

T = Topics("acme/anigate")


def pubs(ev, expiry=300):  # type: ignore[no-untyped-def]
    return publications(T, ev, ev.envelope(), expiry)


def test_a_device_call_goes_to_its_device_calls_topic_as_the_compact_envelope_expiring():
    ev = call()
    [p] = pubs(ev)
    assert p.topic == "acme/anigate/v1/sites/2/devices/7/calls"
    assert p.payload == json.dumps(ev.envelope(), separators=(",", ":"), ensure_ascii=False).encode()
    assert list(json.loads(p.payload)) == ["event_id", "type", "schema_version", "occurred_at", "body"]
    assert (p.retain, p.expiry, p.content_type) == (False, 300, "application/json")
    assert (p.event_id, p.event_type) == ("00000000-0000-0000-0000-000000000001", "call.routed")


def test_a_display_name_with_markup_stays_text_in_the_payload_and_never_reaches_the_topic():
    [p] = pubs(call(display_name="a/b/+/#\0<img src=x onerror=alert(1)>"))
    assert json.loads(p.payload)["body"]["display_name"] == "a/b/+/#\0<img src=x onerror=alert(1)>"
    assert p.topic == "acme/anigate/v1/sites/2/devices/7/calls"


def test_calls_without_a_device_go_to_their_site_or_to_unregistered():
    assert pubs(call(device_id=None))[0].topic == "acme/anigate/v1/sites/2/calls"
    assert pubs(call(device_id=None, site_id=None))[0].topic == "acme/anigate/v1/unregistered/calls"


def test_a_test_call_also_replaces_the_retained_last_test_call():
    ev = call(test_call=True, line="test")
    first, last = pubs(ev)
    assert first.topic.endswith("/devices/7/calls")
    assert last.topic == "acme/anigate/v1/sites/2/devices/7/last_test_call" and last.retain
    doc = json.loads(last.payload)
    assert doc == {
        "at": "2026-12-02T08:30:15.250000+00:00",
        "call_id": "a84b4c76e66710@pbx.example",
        "device_id": 7,
        "site_id": 2,
        "event_id": "00000000-0000-0000-0000-000000000001",
    }
    assert_valid("device.last_test_call", doc)


def test_a_call_expiry_of_zero_means_the_call_never_expires():
    assert pubs(call(), expiry=None)[0].expiry is None


def test_alarms_go_to_the_device_then_site_then_trunk_then_the_global_alarms_topic():
    def topic(**kw: object) -> str:
        return pubs(AlarmRaised(**alarm_fields(**kw)))[0].topic

    assert topic() == "acme/anigate/v1/sites/2/devices/7/alarms"
    assert topic(device_id=None) == "acme/anigate/v1/sites/2/alarms"
    assert topic(device_id=None, site_id=None) == "acme/anigate/v1/trunks/3/alarms"
    assert topic(device_id=None, site_id=None, trunk_id=None) == "acme/anigate/v1/alarms"
    [p] = pubs(AlarmRaised(**alarm_fields()))
    assert (p.retain, p.expiry) == (False, None)


@pytest.mark.parametrize("status", ["online", "overdue", "maintenance", "fault", "decommissioned"])
def test_a_device_status_change_is_the_retained_status_document(status: str):
    ev = DeviceStatusChanged(occurred_at=AT, device_id=7, site_id=2, status=status, previous="online")
    [p] = pubs(ev)
    assert p.topic == "acme/anigate/v1/sites/2/devices/7/status" and p.retain
    doc = json.loads(p.payload)
    assert doc == {
        "status": status,
        "previous": "online",
        "since": "2026-12-02T08:30:15.250000+00:00",
        "reason": "",
        "device_id": 7,
        "site_id": 2,
        "event_id": str(ev.event_id),
    }
    assert_valid("device.status", doc)


def test_a_device_moved_to_another_site_has_its_retained_messages_under_the_old_site_deleted():
    ev = DeviceChanged(occurred_at=AT, device_id=7, site_id=5, action="update", changes={"site_id": [2, 5]})
    changed, status, last = pubs(ev)
    assert changed.topic == "acme/anigate/v1/sites/5/devices/7/changes" and not changed.retain
    old = "acme/anigate/v1/sites/2/devices/7"
    assert (status.topic, status.payload, status.retain) == (f"{old}/status", b"", True)
    assert (last.topic, last.payload, last.retain) == (f"{old}/last_test_call", b"", True)


def test_every_event_type_has_a_topic():
    for ev in examples().values():
        assert pubs(ev), ev.type


@pytest.mark.parametrize("bad", ["7", "a/b", "+", -1, True, 1.5, None])
def test_a_topic_segment_is_an_integer_id_only(bad: object):
    with pytest.raises(ValueError):
        segment(bad)


@pytest.mark.parametrize("prefix", ["", "a/+", "a/#", "/a", "a/", "a//b", "$SYS", "a\0b"])
def test_a_prefix_with_wildcards_empty_levels_or_a_dollar_is_refused(prefix: str):
    assert check_prefix(prefix)


def test_a_prefix_of_several_levels_is_fine():
    assert check_prefix("acme/anigate") is None
