"""The MQTT sink against a real Mosquitto: subscribers receive exactly the documented payloads
(schema-valid) on the documented topics, with MQTT 5 properties; retained device and service status;
an event counts as delivered only after the broker's PUBACK; a broken broker is a failed result."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from integrations.mqtt import MqttSink
from integrations.ports import Outgoing
from registry.events import DeviceStatusChanged, DomainEvent
from tests.event_examples import AT, XSS, assert_valid, call, examples
from tests.integration.integrations.mosquitto import Broker, Received, Subscriber

Make = Callable[..., MqttSink]


def out(*events: DomainEvent) -> list[Outgoing]:
    return [
        Outgoing(delivery_id=i, seq=i, event=ev, payload=ev.envelope(), attempt=1)
        for i, ev in enumerate(events, 1)
    ]


def compact(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.fixture
def sub(broker: Broker):  # type: ignore[no-untyped-def]
    s = Subscriber(broker, ["anigate/#"])
    yield s
    s.close()


def test_a_call_reaches_a_subscriber_as_its_exact_envelope_with_the_mqtt5_properties(
    make_sink: Make, sub: Subscriber
):
    ev = call(display_name=XSS)
    [result] = make_sink().send(out(ev), timeout=5)
    assert result.ok, result.error
    msg = sub.on("anigate/v1/sites/2/devices/7/calls")
    assert msg.payload == compact(ev.envelope())
    document = json.loads(msg.payload)
    assert document["body"]["display_name"] == "<img src=x onerror=alert(1)>"
    assert_valid("call.routed", document)
    assert (msg.qos, msg.retain) == (1, False)
    assert msg.properties["ContentType"] == "application/json"
    assert msg.properties["PayloadFormatIndicator"] == 1
    assert 0 < msg.properties["MessageExpiryInterval"] <= 300
    assert msg.properties["UserProperty"] == [
        ("event_id", "00000000-0000-0000-0000-000000000001"),
        ("event_type", "call.routed"),
    ]


def test_under_mqtt_3_1_1_the_payload_is_the_same_and_carries_no_properties(make_sink: Make, sub: Subscriber):
    ev = call()
    [result] = make_sink(protocol="3.1.1").send(out(ev), timeout=5)
    assert result.ok, result.error
    msg = sub.on("anigate/v1/sites/2/devices/7/calls")
    assert msg.payload == compact(ev.envelope())
    assert msg.properties == {}


def test_every_event_type_reaches_its_topic_schema_valid_and_in_batch_order(make_sink: Make, sub: Subscriber):
    evs = list(examples().values())
    results = make_sink().send(out(*evs), timeout=5)
    assert [(r.delivery_id, r.ok) for r in results] == [(i, True) for i in range(1, len(evs) + 1)]
    got = [m for m in sub.drain() if m.topic != "anigate/v1/service/status"]
    assert [m.topic.removeprefix("anigate/v1/sites/2/devices/7/") for m in got] == [
        "calls",
        "alarms",
        "alarms",
        "alarms",
        "alarms",
        "alarms",
        "alarms",
        "alarms",
        "alarms",
        "alarms",
        "changes",
        "status",
        "anigate/v1/service/test",
        "anigate/v1/sites/2/alarm-group",
    ]
    for ev, msg in zip(evs, got, strict=True):
        document = json.loads(msg.payload)
        if msg.topic.endswith("/status"):
            assert document["event_id"] == str(ev.event_id)
            assert_valid("device.status", document)
        else:
            assert document == ev.envelope()
            assert_valid(ev.type, document)


def test_a_late_subscriber_sees_the_retained_device_status_last_test_call_and_service_status(
    make_sink: Make, broker: Broker
):
    sink = make_sink()
    status = DeviceStatusChanged(occurred_at=AT, device_id=7, site_id=2, status="online")
    overdue = DeviceStatusChanged(occurred_at=AT, device_id=7, site_id=2, status="overdue", previous="online")
    test = call(test_call=True, line="test")
    assert all(r.ok for r in sink.send(out(status, test), timeout=5))
    assert all(r.ok for r in sink.send(out(overdue), timeout=5))

    late = Subscriber(broker, ["anigate/#"])
    try:
        retained = {m.topic: m for m in late.drain()}
    finally:
        late.close()
    assert set(retained) == {
        "anigate/v1/service/status",
        "anigate/v1/sites/2/devices/7/status",
        "anigate/v1/sites/2/devices/7/last_test_call",
    }
    assert all(m.retain for m in retained.values())
    assert retained["anigate/v1/service/status"].payload == b"online"
    doc = json.loads(retained["anigate/v1/sites/2/devices/7/status"].payload)
    assert doc == {
        "status": "overdue",
        "previous": "online",
        "since": "2026-12-02T08:30:15.250000+00:00",
        "reason": "",
        "device_id": 7,
        "site_id": 2,
        "event_id": str(overdue.event_id),
    }
    assert_valid("device.status", doc)
    last = json.loads(retained["anigate/v1/sites/2/devices/7/last_test_call"].payload)
    assert last["at"] == "2026-12-02T08:30:15.250000+00:00" and last["event_id"] == str(test.event_id)
    assert_valid("device.last_test_call", last)


def test_the_service_status_is_online_while_open_and_offline_after_a_clean_close(
    make_sink: Make, broker: Broker
):
    sink = make_sink(topic_prefix="acme/anigate")
    watcher = Subscriber(broker, ["acme/anigate/v1/service/status"])
    try:
        first = watcher.next()
        assert (first.payload, first.retain) == (b"online", True)
        assert first.properties["ContentType"] == "text/plain"
        assert_valid("service.status", first.payload.decode())
        sink.close()
        gone = watcher.next()
        assert (gone.payload, gone.retain) == (b"offline", False)  # live delivery: retain flag cleared
    finally:
        watcher.close()
    late = Subscriber(broker, ["acme/anigate/v1/service/status"])
    try:
        assert late.next().payload == b"offline"
    finally:
        late.close()


def test_a_stopped_broker_gives_failed_results_within_the_timeout_and_no_exception(
    make_sink: Make, broker: Broker
):
    sink = make_sink()
    broker.stop()
    deadline = time.monotonic() + 5
    while sink.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    results = sink.send(out(call(), call()), timeout=3)
    assert time.monotonic() - started < 0.5  # not connected: fails at once, the relay backs off
    assert [(r.ok, r.permanent) for r in results] == [(False, False), (False, False)]
    assert "not connected" in results[0].error


def test_opening_against_no_broker_raises_a_connection_error_naming_it(broker: Broker):
    broker.stop()
    sink = MqttSink.build("bms", {"host": "127.0.0.1", "port": broker.port}, {})
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{broker.port}"):
        sink.open()
    assert sink.send(out(call()), timeout=1)[0].error.endswith("not open")


def test_the_sink_reconnects_by_itself_after_a_broker_restart_and_announces_online_again(
    make_sink: Make, broker: Broker
):
    sink = make_sink()
    broker.stop()
    broker.start()  # same port; persistence off: the retained online is gone with the old broker
    watcher = Subscriber(broker, ["anigate/v1/service/status"])
    try:
        assert watcher.next(timeout=15).payload == b"online"
        [result] = sink.send(out(call()), timeout=5)
        assert result.ok, result.error
    finally:
        watcher.close()


def test_username_and_password_are_sent_and_a_wrong_password_is_refused(tmp_path):  # type: ignore[no-untyped-def]
    b = Broker(tmp_path, users={"anigate": "s3cret"}).start()
    try:
        settings = {"host": "127.0.0.1", "port": b.port}
        wrong = MqttSink.build("bms", settings, {"username": "anigate", "password": "nope"})
        with pytest.raises(ConnectionError, match="refused"):
            wrong.open()
        sink = MqttSink.build("bms", settings, {"username": "anigate", "password": "s3cret"})
        sink.open()
        try:
            watcher = Subscriber(b, ["anigate/#"], username="anigate", password="s3cret")
            try:
                [result] = sink.send(out(call()), timeout=5)
                assert result.ok, result.error
                assert watcher.on("anigate/v1/sites/2/devices/7/calls").payload == compact(call().envelope())
            finally:
                watcher.close()
        finally:
            sink.close()
    finally:
        b.stop()


def received(msgs: list[Received]) -> dict[str, object]:
    return {m.topic: json.loads(m.payload) if m.payload else None for m in msgs}
