"""Fixtures for the event sinks' tests: a private Mosquitto per test (free loopback port, tmp_path,
always stopped) and MQTT sinks that are always closed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from integrations.mqtt import MqttSink
from tests.integration.integrations.mosquitto import Broker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path).start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def make_sink(broker: Broker) -> Iterator[Callable[..., MqttSink]]:
    """``make_sink(name="bms", open=True, secrets={}, **settings)``: a sink on the private broker."""
    made: list[MqttSink] = []

    def make(
        name: str = "bms", open: bool = True, secrets: dict[str, str] | None = None, **kw: Any
    ) -> MqttSink:
        settings = {"host": "127.0.0.1", "port": broker.port, "keepalive": 5} | kw
        sink = MqttSink.build(name, settings, secrets or {})
        made.append(sink)
        if open:
            sink.open()
        return sink

    yield make
    for sink in made:
        sink.close()
