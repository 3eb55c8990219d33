"""The Last Will: when the process holding the MQTT sink is killed (SIGKILL: no clean close), the
broker publishes the retained service status ``offline``; Home Assistant shows the devices
unavailable. Also the discovery configs of a real run: retained, removed when a device is deleted."""

from __future__ import annotations

import gc
import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from integrations.mqtt import MqttSink
from integrations.ports import Outgoing
from registry.events import DeviceChanged
from tests.event_examples import AT, call
from tests.integration.integrations.mosquitto import Broker, Subscriber

ROOT = Path(__file__).resolve().parents[3]
HOLDER = textwrap.dedent(
    """
    import sys, time
    from integrations.mqtt import MqttSink
    sink = MqttSink.build("bms", {"host": "127.0.0.1", "port": int(sys.argv[1]), "keepalive": 5}, {})
    sink.open()
    print("open", flush=True)
    time.sleep(60)
    """
)


def test_a_process_killed_with_sigkill_leaves_the_retained_service_status_offline(broker: Broker):
    watcher = Subscriber(broker, ["anigate/v1/service/status"])
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(broker.port)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        assert watcher.next().payload == b"online"
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        will = watcher.next()  # the broker sees the socket close without DISCONNECT at once
        assert will.payload == b"offline"
    finally:
        watcher.close()
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
    late = Subscriber(broker, ["anigate/v1/service/status"])
    try:
        retained = late.next()
        assert (retained.payload, retained.retain) == (b"offline", True)
        assert retained.properties["ContentType"] == "text/plain"
    finally:
        late.close()


def test_home_assistant_discovery_configs_are_retained_and_removed_when_the_device_is_deleted(
    make_sink,  # type: ignore[no-untyped-def]
    broker: Broker,
):
    sink: MqttSink = make_sink(ha_discovery=True, ha_prefix="ha")
    ev = call()
    [result] = sink.send([Outgoing(1, 1, ev, ev.envelope())], timeout=5)
    assert result.ok, result.error
    late = Subscriber(broker, ["ha/#"])
    try:
        configs = {m.topic: m for m in late.drain()}
    finally:
        late.close()
    assert set(configs) == {
        "ha/binary_sensor/anigate_7/problem/config",
        "ha/sensor/anigate_7/last_test_call/config",
    }
    assert all(m.retain for m in configs.values())
    problem = json.loads(configs["ha/binary_sensor/anigate_7/problem/config"].payload)
    assert problem["device"]["identifiers"] == ["anigate_7"]
    assert problem["state_topic"] == "anigate/v1/sites/2/devices/7/status"
    assert problem["availability_topic"] == "anigate/v1/service/status"

    gone = DeviceChanged(occurred_at=AT, device_id=7, site_id=2, action="delete")
    [result] = sink.send([Outgoing(2, 2, gone, gone.envelope())], timeout=5)
    assert result.ok, result.error
    after = Subscriber(broker, ["ha/#"])
    try:
        assert after.drain() == []  # empty retained configs: Home Assistant removes the entities
    finally:
        after.close()


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA) and its key, as PEM files."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = folder / "broker.pem", folder / "broker.key"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return certfile, keyfile


# paho 2.2 leaves the TLS socket of a failed handshake unclosed (client.py _ssl_wrap_socket: no close
# when do_handshake() raises); the refused connection below is the point of the test
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_over_tls_the_sink_verifies_the_broker_against_its_ca_file_and_delivers(tmp_path: Path):
    certfile, keyfile = _self_signed(tmp_path)
    b = Broker(tmp_path, certfile=certfile, keyfile=keyfile).start()
    try:
        settings = {"host": "127.0.0.1", "port": b.port, "tls": True}
        unverified = MqttSink.build("bms", settings, {})  # system CAs: our broker's cert is unknown
        with pytest.raises(ConnectionError):
            unverified.open()
        gc.collect()  # finalise paho's leaked socket here, under this test's filter, not in a later test
        sink = MqttSink.build("bms", settings | {"ca_file": str(certfile)}, {})
        sink.open()
        try:
            ev = call()
            [result] = sink.send([Outgoing(1, 1, ev, ev.envelope())], timeout=5)
            assert result.ok, result.error
        finally:
            sink.close()
    finally:
        b.stop()
