"""The SNMP sink against a real net-snmp snmptrapd with ANIGATE-MIB loaded: v2c traps and informs,
v3 (SHA-256, AES-128) informs and traps, each varbind read back by its symbolic name; an inform to
a manager that is down fails, and is delivered by a later send once the manager is up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from integrations.snmp import SnmpSink
from registry.events import AlarmNoted, DeviceChanged
from tests.e2e.sipp import free_port
from tests.integration.integrations import snmptrapd as trapd
from tests.unit import snmp_events as ev

A = "ANIGATE-MIB::"
MakeSink = Callable[..., SnmpSink]


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[trapd.Snmptrapd]:
    daemon = trapd.Snmptrapd(tmp_path / "snmptrapd", free_port())
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def make_sink() -> Iterator[MakeSink]:
    sinks: list[SnmpSink] = []

    def make(port: int, open_it: bool = True, **settings: Any) -> SnmpSink:
        version = str(settings.get("version", "2c"))
        secrets = (
            {"community": trapd.COMMUNITY}
            if version == "2c"
            else {"auth_key": trapd.AUTH_KEY, "priv_key": trapd.PRIV_KEY}
        )
        if version == "3":
            settings.setdefault("user", trapd.USER)
        sink = SnmpSink.build("nms", {"host": "127.0.0.1", "port": port, "timeout": 0.5} | settings, secrets)
        sinks.append(sink)
        if open_it:
            sink.open()
        return sink

    yield make
    for sink in sinks:
        sink.close()


def only(manager: trapd.Snmptrapd, notification: str, count: int = 1) -> list[trapd.Notification]:
    found = manager.wait_for(count, lambda n: n.trap_oid == f"OID: {A}{notification}")
    assert len(found) == count, manager.log.read_text()
    return found


def test_a_v2c_trap_carries_every_varbind_of_a_raised_alarm_by_symbolic_name(
    manager: trapd.Snmptrapd, make_sink: MakeSink
) -> None:
    sink = make_sink(manager.port, notify="trap")
    event = ev.raised()
    [result] = sink.send(ev.outgoing(event), timeout=5)
    assert (result.delivery_id, result.ok, result.error) == (1, True, "")
    [note] = only(manager, "anigateAlarmRaised")
    assert "TRAP2, SNMP v2c" in note.header
    assert note[f"{A}anigateAlarmId.0"] == "Gauge32: 42"
    assert note[f"{A}anigateAlarmKind.0"] == "STRING: lift_emergency"
    assert note[f"{A}anigateAlarmSeverity.0"] == "INTEGER: critical(3)"
    assert note[f"{A}anigateAlarmState.0"] == "INTEGER: activeUnacknowledged(2)"
    assert note[f"{A}anigateEventTime.0"] == "STRING: 2026-1-15,10:30:5.7,+0:0"
    assert note[f"{A}anigateEventId.0"] == f"STRING: {event.event_id}"
    assert note[f"{A}anigateAlarmEventType.0"] == "STRING: environmentalAlarm"
    assert note[f"{A}anigateAlarmProbableCause.0"] == "STRING: personTrapped"
    assert note[f"{A}anigateAlarmText.0"] == "STRING: Emergency call from the lift"
    assert note[f"{A}anigateDeviceAni.0"] == "STRING: +493012345678"
    assert note[f"{A}anigateSiteName.0"] == "STRING: Hauptstraße 1"
    assert note[f"{A}anigateBuilding.0"] == "STRING: A"
    assert note[f"{A}anigateLocation.0"] == "STRING: Lift 2 car"
    assert note[f"{A}anigateFloor.0"] == "STRING: 3"
    assert note[f"{A}anigateCallId.0"] == "STRING: c1@pbx"
    # sysUpTime.0 and snmpTrapOID.0 first, then the OBJECTS of the notification, in order
    assert list(note.varbinds)[:3] == [
        "SNMPv2-MIB::sysUpTime.0",
        "SNMPv2-MIB::snmpTrapOID.0",
        f"{A}anigateAlarmId.0",
    ]


def test_a_v2c_inform_is_delivered_when_the_manager_answers_it(
    manager: trapd.Snmptrapd, make_sink: MakeSink
) -> None:
    sink = make_sink(manager.port, notify="inform")
    [result] = sink.send(ev.outgoing(ev.acknowledged()), timeout=5)
    assert result.ok, result.error
    [note] = only(manager, "anigateAlarmAcknowledged")
    assert "INFORM, SNMP v2c" in note.header
    assert note[f"{A}anigateAlarmState.0"] == "INTEGER: latched(5)"
    assert note[f"{A}anigateActor.0"] == "STRING: olga"
    assert note[f"{A}anigateAlarmText.0"] == "STRING: on my way"


def test_a_v3_inform_with_sha256_and_aes128_is_delivered_and_readable(
    manager: trapd.Snmptrapd, make_sink: MakeSink
) -> None:
    sink = make_sink(manager.port, version="3", notify="inform")
    event = ev.cleared()
    [result] = sink.send(ev.outgoing(event), timeout=5)
    assert result.ok, result.error
    [note] = only(manager, "anigateAlarmCleared")
    assert f"INFORM, SNMP v3, user {trapd.USER}" in note.header
    assert note[f"{A}anigateAlarmSeverity.0"] == "INTEGER: cleared(1)"
    assert note[f"{A}anigateAlarmState.0"] == "INTEGER: closed(8)"
    assert note[f"{A}anigateAlarmText.0"] == "STRING: rescue ended"
    assert note[f"{A}anigateEventId.0"] == f"STRING: {event.event_id}"


@pytest.mark.parametrize(("auth", "priv"), sorted(trapd.OTHER_USERS))
def test_v3_informs_with_sha1_sha384_sha512_and_aes192_aes256_reach_net_snmp(
    manager: trapd.Snmptrapd, make_sink: MakeSink, auth: str, priv: str
) -> None:
    # SHA-1 is shorter than an AES-256 key: this case proves net-snmp's key extension (Blumenthal)
    user = trapd.OTHER_USERS[(auth, priv)][0]
    sink = make_sink(manager.port, version="3", user=user, auth_protocol=auth, priv_protocol=priv)
    [result] = sink.send(ev.outgoing(ev.raised()), timeout=5)
    assert result.ok, result.error
    [note] = only(manager, "anigateAlarmRaised")
    assert f"INFORM, SNMP v3, user {user}" in note.header
    assert note[f"{A}anigateAlarmSeverity.0"] == "INTEGER: critical(3)"


def test_a_v3_trap_is_sent_under_the_engine_id_the_manager_knows(
    manager: trapd.Snmptrapd, make_sink: MakeSink
) -> None:
    sink = make_sink(manager.port, version="3", notify="trap", engine_id=trapd.TRAP_ENGINE_ID)
    [result] = sink.send(ev.outgoing(ev.escalated()), timeout=5)
    assert result.ok
    [note] = only(manager, "anigateAlarmEscalated")
    assert f"TRAP2, SNMP v3, user {trapd.USER}" in note.header
    assert note[f"{A}anigateCenterId.0"] == "Gauge32: 9"


def test_an_inform_to_a_manager_that_is_down_fails_and_a_later_send_delivers_it(
    tmp_path: Path, make_sink: MakeSink
) -> None:
    down = trapd.Snmptrapd(tmp_path / "later", free_port())
    sink = make_sink(down.port, notify="inform", timeout=0.3, retries=1)
    item = ev.outgoing(ev.raised())
    [failed] = sink.send(item, timeout=2)
    assert not failed.ok and not failed.permanent
    assert "No SNMP response" in failed.error
    down.start()
    try:
        [again] = sink.send(item, timeout=5)  # what the relay's retry (or a manual one) does
        assert again.ok, again.error
        [note] = only(down, "anigateAlarmRaised")
        assert note[f"{A}anigateEventId.0"] == f"STRING: {item[0].event.event_id}"
    finally:
        down.stop()


def test_an_inform_that_is_not_answered_within_the_batch_timeout_fails(
    tmp_path: Path, make_sink: MakeSink
) -> None:
    # pysnmp would try for 4 x 2 s; the relay's timeout of 1 s wins
    sink = make_sink(free_port(), notify="inform", timeout=2, retries=3)
    [failed] = sink.send(ev.outgoing(ev.raised()), timeout=1)
    assert not failed.ok
    assert "within 1 s" in failed.error


def test_a_wrong_community_is_not_answered_so_the_inform_is_not_delivered(
    manager: trapd.Snmptrapd, make_sink: MakeSink
) -> None:
    sink = SnmpSink.build(
        "nms",
        {"host": "127.0.0.1", "port": manager.port, "timeout": 0.3, "retries": 0},
        {"community": "wrong"},
    )
    sink.open()
    try:
        [result] = sink.send(ev.outgoing(ev.raised()), timeout=3)
    finally:
        sink.close()
    assert not result.ok
    assert manager.wait_for(1, timeout=0.5) == []


def test_a_wrong_v3_passphrase_is_not_delivered(manager: trapd.Snmptrapd) -> None:
    sink = SnmpSink.build(
        "nms",
        {
            "host": "127.0.0.1",
            "port": manager.port,
            "version": "3",
            "user": trapd.USER,
            "timeout": 0.3,
            "retries": 0,
        },
        {"auth_key": "not-the-key", "priv_key": trapd.PRIV_KEY},
    )
    sink.open()
    try:
        [result] = sink.send(ev.outgoing(ev.raised()), timeout=3)
    finally:
        sink.close()
    assert not result.ok
    assert manager.wait_for(1, timeout=0.5) == []


def test_a_batch_is_answered_item_by_item_in_order_and_other_events_send_nothing(
    manager: trapd.Snmptrapd, make_sink: MakeSink
) -> None:
    sink = make_sink(manager.port, notify="inform")
    batch = ev.outgoing(
        ev.raised(alarm_id=1, device_id=1),
        AlarmNoted(occurred_at=ev.WHEN, alarm_id=2, kind="k", severity="minor", state="latched"),
        ev.call(),  # calls are off by default
        DeviceChanged(occurred_at=ev.WHEN, device_id=3, site_id=1, action="update"),
        ev.reset(alarm_id=4, device_id=4),
    )
    results = sink.send(batch, timeout=5)
    assert [(r.delivery_id, r.ok) for r in results] == [(1, True), (2, True), (3, True), (4, True), (5, True)]
    received = manager.wait_for(2)
    assert sorted(n.trap_oid for n in received) == [
        f"OID: {A}anigateAlarmCleared",
        f"OID: {A}anigateAlarmRaised",
    ]
    assert manager.wait_for(3, timeout=0.5) == received  # nothing else came


def test_a_routed_call_is_sent_when_the_sink_is_asked_for_calls(
    manager: trapd.Snmptrapd, make_sink: MakeSink
) -> None:
    sink = make_sink(manager.port, notify="inform", calls=True)
    [result] = sink.send(ev.outgoing(ev.call(display_name="Lift\nEND\nTRAP forged")), timeout=5)
    assert result.ok
    [note] = only(manager, "anigateCallRouted")
    assert note[f"{A}anigateCallId.0"] == "STRING: c9@pbx"
    assert note[f"{A}anigateCallerName.0"] == "STRING: Lift END TRAP forged"  # no forged lines
    assert note[f"{A}anigateCallTarget.0"] == "STRING: sip:112@psap.example"
    assert note[f"{A}anigateTestCall.0"] == "INTEGER: false(2)"
    assert note[f"{A}anigateCenterId.0"] == "Gauge32: 3"
    assert len(manager.received()) == 1


def test_markup_in_outside_data_arrives_as_the_same_text(
    manager: trapd.Snmptrapd, make_sink: MakeSink
) -> None:
    sink = make_sink(manager.port, notify="trap", calls=True)
    assert sink.send(ev.outgoing(ev.call()), timeout=5)[0].ok
    [note] = only(manager, "anigateCallRouted")
    assert note[f"{A}anigateCallerName.0"] == f"STRING: {ev.XSS}"


def test_a_sink_can_be_closed_and_opened_again(manager: trapd.Snmptrapd, make_sink: MakeSink) -> None:
    sink = make_sink(manager.port, notify="inform")
    assert sink.send(ev.outgoing(ev.raised()), timeout=5)[0].ok
    sink.close()
    assert not sink.send(ev.outgoing(ev.raised()), timeout=1)[0].ok
    sink.open()
    assert sink.send(ev.outgoing(ev.raised()), timeout=5)[0].ok
    only(manager, "anigateAlarmRaised", count=2)
