"""A broker outage loses nothing: the worker's MQTT sink is connected, the broker stops, sipp routes
500 calls from 500 registered lift phones (every one answered 302 meanwhile), the broker starts
again, and every one of the 500 ``call.routed`` events arrives at a subscriber, each id at least
once. The SIP answer p99 with the broker up and down is printed, not asserted (machines are noisy;
bench/RESULTS.md keeps the numbers). And a worker killed with SIGKILL leaves the retained service
status ``offline``: its background process notices and says goodbye, or the broker sends the Last
Will."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import select

from bench.sip_load import seed
from integrations.models import SinkConfig
from registry.db import make_engine, make_session_factory
from tests.e2e.conftest import ROOT, start_worker
from tests.e2e.sipp import free_port
from tests.integration.integrations.mosquitto import Broker

CALLS = 500
TOPIC = "anigate/v1/sites/+/devices/+/calls"


class DurableSubscriber:
    """An MQTT 5 client with a persistent session (clean start off, a day's session expiry): the
    broker keeps its subscription and queues QoS 1 messages for it while it is away or restarting."""

    def __init__(self, port: int) -> None:
        self.ids: set[str] = set()
        self.lock = threading.Lock()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="outage-test", protocol=MQTTProtocolVersion.MQTTv5
        )
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 1)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 86_400
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_a: subscribed.set()
        self.client.on_connect = lambda client, _u, _f, _rc, _p: client.subscribe(TOPIC, qos=1)
        self.client.connect_async("127.0.0.1", port, clean_start=False, properties=props)
        self.client.loop_start()
        assert subscribed.wait(10)

    def _on_message(self, _c: object, _u: object, msg: paho.MQTTMessage) -> None:
        doc = json.loads(msg.payload)
        with self.lock:
            self.ids.add(doc["body"]["call_id"])

    def count(self) -> int:
        with self.lock:
            return len(self.ids)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.client._reset_sockets()


def sipp_calls(tmp: Path, port: int, anis: list[str], rate: int) -> tuple[int, int, list[float]]:
    """sipp's load scenario over ``anis``: (successful, failed, INVITE->302 times in ms)."""
    work = tmp / f"sipp-{rate}-{len(anis)}-{time.monotonic_ns()}"
    work.mkdir()
    inf = work / "anis.csv"
    inf.write_text("SEQUENTIAL\n" + "".join(f"{a}\n" for a in anis))
    shutil.copy(ROOT / "bench/sipp/load.xml", work / "load.xml")
    cmd = [
        "sipp",
        f"127.0.0.1:{port}",
        "-sf",
        "load.xml",
        "-inf",
        str(inf),
        "-r",
        str(rate),
        "-m",
        str(len(anis)),
        "-i",
        "127.0.0.1",
        "-p",
        str(free_port()),
        "-t",
        "u1",
        "-trace_rtt",
        "-rtt_freq",
        "1",
        "-trace_stat",
        "-fd",
        "1",
        "-timeout",
        "60s",
        "-nostdin",
        "-max_retrans",
        "5",
    ]
    subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=120)
    stat = next(work.glob("load_*_.csv"), None) or next(work.glob("load_*.csv"))
    lines = stat.read_text().strip().splitlines()
    last = dict(zip(lines[0].split(";"), lines[-1].split(";"), strict=False))
    rtts = sorted(
        float(row.split(";")[1])
        for f in work.glob("load_*_rtt.csv")
        for row in f.read_text().splitlines()[1:]
        if len(row.split(";")) >= 2
    )
    return int(last.get("SuccessfulCall(C)", 0)), int(last.get("FailedCall(C)", 0)), rtts


def p99(values: list[float]) -> float:
    return values[min(len(values) - 1, int(len(values) * 0.99))] if values else float("nan")


def test_calls_routed_while_the_broker_is_down_all_arrive_when_it_is_back(
    database_url: str, tmp_path: Path
) -> None:
    anis = seed(database_url, CALLS + 50)
    broker = Broker(tmp_path / "broker", persistence=True)
    (tmp_path / "broker").mkdir()
    broker.start()
    subscriber = DurableSubscriber(broker.port)
    sinks_file = tmp_path / "sinks.toml"
    sinks_file.write_text(
        f'[[sink]]\nname = "bms"\nkind = "mqtt"\n[sink.settings]\nhost = "127.0.0.1"\nport = {broker.port}\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANIGATE_")}
    env.update(
        {
            "ANIGATE_DATABASE_URL": database_url,
            "ANIGATE_INSTANCE_DIR": str(tmp_path / "instance"),
            "ANIGATE_SIP_HOST": "127.0.0.1",
            "ANIGATE_SIP_PORT": "0",
            "ANIGATE_SECRET_KEY": "e2e",
            "ANIGATE_SINKS_FILE": str(sinks_file),
            "ANIGATE_DEMO": "0",
        }
    )
    worker = start_worker(env, tmp_path / "worker.log")
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    try:

        def status() -> str:
            with factory() as s:
                return s.scalar(select(SinkConfig.status).where(SinkConfig.name == "bms")) or ""

        deadline = time.monotonic() + 20
        while status() != "connected":
            assert time.monotonic() < deadline, worker.log()[-3000:]
            time.sleep(0.1)
        ok, failed, up = sipp_calls(tmp_path, worker.port, anis[CALLS:], rate=100)  # broker up
        assert (ok, failed) == (50, 0)
        deadline = time.monotonic() + 30
        while subscriber.count() < 50:
            assert time.monotonic() < deadline, subscriber.count()
            time.sleep(0.1)

        broker.stop()
        ok, failed, down = sipp_calls(tmp_path, worker.port, anis[:CALLS], rate=100)
        assert (ok, failed) == (CALLS, 0), "every call got its 302 while the broker was down"
        time.sleep(2)
        assert subscriber.count() == 50
        broker.start()
        deadline = time.monotonic() + 90
        while subscriber.count() < CALLS + 50:
            assert time.monotonic() < deadline, f"{subscriber.count() - 50} of {CALLS} arrived"
            time.sleep(0.2)
        took = 90 - (deadline - time.monotonic())
        print(
            f"\nSIP answer p99: broker up {p99(up):.2f} ms ({len(up)} calls), broker down {p99(down):.2f} ms"
            f" ({len(down)} calls); all {CALLS} call.routed arrived {took:.1f} s after the broker was back"
        )
    finally:
        worker.stop()
        subscriber.close()
        broker.stop()
        engine.dispose()


def test_a_worker_killed_with_sigkill_leaves_the_service_offline_on_the_broker(
    database_url: str, tmp_path: Path
) -> None:
    seed(database_url, 1)
    (tmp_path / "broker").mkdir()
    broker = Broker(tmp_path / "broker").start()
    got: list[tuple[str, bool]] = []
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.on_message = lambda _c, _u, m: got.append((m.payload.decode(), bool(m.retain)))
    client.on_connect = lambda c, *_a: c.subscribe("anigate/v1/service/status", qos=1)
    client.connect_async("127.0.0.1", broker.port)
    client.loop_start()
    sinks_file = tmp_path / "sinks.toml"
    sinks_file.write_text(
        f'[[sink]]\nname = "bms"\nkind = "mqtt"\n[sink.settings]\nhost = "127.0.0.1"\nport = {broker.port}\n'
        "keepalive = 5\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANIGATE_")}
    env.update(
        {
            "ANIGATE_DATABASE_URL": database_url,
            "ANIGATE_INSTANCE_DIR": str(tmp_path / "instance"),
            "ANIGATE_SIP_HOST": "127.0.0.1",
            "ANIGATE_SIP_PORT": "0",
            "ANIGATE_SECRET_KEY": "e2e",
            "ANIGATE_SINKS_FILE": str(sinks_file),
            "ANIGATE_DEMO": "0",
        }
    )
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 20
        while ("online", False) not in got and ("online", True) not in got:
            assert time.monotonic() < deadline, (got, worker.log()[-2000:])
            time.sleep(0.05)
        worker.proc.kill()  # SIGKILL: the worker says nothing; its background process or the Will does
        worker.proc.wait(5)
        deadline = time.monotonic() + 15
        while not got or got[-1][0] != "offline":
            assert time.monotonic() < deadline, got
            time.sleep(0.05)
        late: list[str] = []  # and it stays: a subscriber that comes later reads the retained offline
        other = paho.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        other.on_message = lambda _c, _u, m: late.append(m.payload.decode())
        other.on_connect = lambda c, *_a: c.subscribe("anigate/v1/service/status", qos=1)
        other.connect_async("127.0.0.1", broker.port)
        other.loop_start()
        deadline = time.monotonic() + 10
        while not late:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert late == ["offline"]
        other.disconnect()
        other.loop_stop()
        other._reset_sockets()
    finally:
        worker.stop()
        client.disconnect()
        client.loop_stop()
        client._reset_sockets()
        broker.stop()
