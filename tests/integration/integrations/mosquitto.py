"""A private Mosquitto for the MQTT sink's tests (on a free loopback port, in a temporary folder,
always stopped) and a recording MQTT 5 subscriber. Never the system's broker or port 1883."""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from tests.e2e.sipp import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
STEP = 10.0


@dataclass
class Broker:
    """A running mosquitto: ``port`` on 127.0.0.1; ``users`` set means anonymous clients are refused."""

    folder: Path
    port: int = 0
    users: dict[str, str] = field(default_factory=dict)
    certfile: Path | None = None
    keyfile: Path | None = None
    #: keep sessions and queued messages across a restart (saved on a clean stop)
    persistence: bool = False
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Broker:
        self.port = self.port or free_port()
        persist = [f"persistence true\npersistence_location {self.folder}/"] if self.persistence else []
        lines = [f"listener {self.port} 127.0.0.1", *(persist or ["persistence false"]), "log_dest stderr"]
        lines.append("log_type error\nlog_type warning\nlog_type notice\nlog_type information")
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to its own user, who cannot read tmp_path
        if self.users:
            pwfile = self.folder / "passwd"
            for i, (name, password) in enumerate(self.users.items()):
                flags = ["-c"] if i == 0 else []
                subprocess.run(["mosquitto_passwd", *flags, "-b", str(pwfile), name, password], check=True)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines.append("allow_anonymous true")
        if self.certfile and self.keyfile:
            lines += [f"certfile {self.certfile}", f"keyfile {self.keyfile}"]
        conf = self.folder / f"mosquitto-{self.port}.conf"
        conf.write_text("\n".join(lines) + "\n")
        self.log = self.folder / f"mosquitto-{self.port}.log"
        with self.log.open("ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + STEP
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int
    properties: dict[str, Any]


class Subscriber:
    """An MQTT 5 client that records every message of its subscriptions (retained ones included)."""

    def __init__(self, broker: Broker, topics: Iterable[str], **auth: str) -> None:
        self.messages: queue.Queue[Received] = queue.Queue()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        if auth:
            self.client.username_pw_set(auth["username"], auth["password"])
        self.client.on_message = self._on_message
        subscribed: queue.Queue[bool] = queue.Queue()
        wanted = [(t, 1) for t in topics]
        self.client.on_connect = lambda client, *_a: client.subscribe(wanted)
        self.client.on_subscribe = lambda *_a: subscribed.put(True)
        # connect_async: a blocking connect() before loop_start() leaks a socket pair in paho 2.2
        self.client.connect_async("127.0.0.1", broker.port)
        self.client.loop_start()
        subscribed.get(timeout=STEP)

    def _on_message(self, _client: Any, _userdata: Any, msg: paho.MQTTMessage) -> None:
        props: dict[str, Any] = {}
        if msg.properties is not None:
            props = {k: v for k, v in msg.properties.json().items() if v not in (None, [])}
        self.messages.put(Received(msg.topic, msg.payload, bool(msg.retain), msg.qos, props))

    def next(self, timeout: float = STEP) -> Received:
        return self.messages.get(timeout=timeout)

    def on(self, topic: str, timeout: float = STEP) -> Received:
        """The next message on ``topic`` (others before it are dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            msg = self.messages.get(timeout=max(deadline - time.monotonic(), 0.01))
            if msg.topic == topic:
                return msg

    def drain(self, quiet: float = 0.3) -> list[Received]:
        """Everything that arrives until ``quiet`` seconds pass without a message."""
        out = []
        while True:
            try:
                out.append(self.messages.get(timeout=quiet))
            except queue.Empty:
                return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.client._reset_sockets()  # paho 2.2 closes its wake-up socket pair only in __del__
