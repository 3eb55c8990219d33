"""The MQTT sink: anigate's events to an MQTT broker with paho-mqtt 2 (MQTT 3.1.1 or 5), QoS 1, a
retained service status with a Last Will, a persistent session, and opt-in Home Assistant discovery.

An event counts as delivered only when the broker acknowledged (PUBACK) every message it became.
May import ``registry.events``, paho and the other ``integrations`` modules; no database, no flask.
Topics and payloads: ``integrations.mqtt_topics`` and docs/events.md.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from integrations.homeassistant import Discovery, DiscoveryState
from integrations.mqtt_topics import (
    OFFLINE,
    ONLINE,
    Publication,
    Topics,
    check_prefix,
    publications,
    service_status,
)
from integrations.ports import Outgoing, Result, SinkConfigError

log = logging.getLogger(__name__)

QOS = 1
#: paho's reconnect backoff (doubling from the first to the last, reset once connected)
RECONNECT_MIN, RECONNECT_MAX = 1, 60
#: messages paho may hold while waiting for the broker: a bound on memory during an outage
MAX_QUEUED = 10_000
#: how long open() waits for the CONNACK and the retained ``online``; close() for ``offline``
CONNECT_TIMEOUT = 10.0
CLOSE_TIMEOUT = 2.0

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("must be true or false")


def _int(value: Any, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    try:
        number = int(value.strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise ValueError("must be a whole number") from None
    if isinstance(value, float) and value != number:
        raise ValueError("must be a whole number")
    if not low <= number <= high:
        raise ValueError(f"must be between {low} and {high}")
    return number


def _text(value: Any, limit: int = 255) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text")
    text = value.strip()
    if len(text) > limit or any(ord(c) < 32 for c in text):
        raise ValueError(f"at most {limit} printable characters")
    return text


@dataclass(frozen=True)
class MqttConfig:
    """A validated configuration (see :attr:`MqttSink.setting_fields`)."""

    host: str
    port: int = 1883
    protocol: str = "5"
    client_id: str = ""
    topic_prefix: str = "anigate"
    tls: bool = False
    ca_file: str = ""
    keepalive: int = 60
    session_expiry_seconds: int = 86_400
    call_expiry_seconds: int = 300
    ha_discovery: bool = False
    ha_prefix: str = "homeassistant"
    username: str = ""
    password: str = ""


class MqttSink:
    """One connection to one broker (a :class:`integrations.ports.Sink`)."""

    kind: ClassVar[str] = "mqtt"
    setting_fields: ClassVar[Mapping[str, str]] = {
        "host": "Broker host name or address.",
        "port": "Broker port (1883; 8883 is usual with TLS).",
        "protocol": 'MQTT version: "3.1.1" or "5" (default 5: content type, expiry, user properties).',
        "client_id": "Client identifier (default anigate-<sink name>); each anigate instance connects as "
        "<client_id>-<instance> (a broker drops a connection whose id another client takes), stable "
        "across restarts for the persistent session.",
        "topic_prefix": "First level(s) of every topic (default anigate): <prefix>/v1/...",
        "tls": "Connect with TLS (true/false).",
        "ca_file": "With TLS: CA certificate file (PEM) to verify the broker; empty = system CAs.",
        "keepalive": "Keep-alive in seconds (5-3600, default 60): the Last Will fires after 1.5 times it.",
        "session_expiry_seconds": "MQTT 5: how long the broker keeps the session (default 86400).",
        "call_expiry_seconds": "MQTT 5: calls expire after this many seconds undelivered (default 300, "
        "0 = never).",
        "ha_discovery": "Publish Home Assistant MQTT discovery configs (true/false, default false).",
        "ha_prefix": "Home Assistant discovery prefix (default homeassistant).",
    }
    secret_fields: ClassVar[Mapping[str, str]] = {
        "username": "User name at the broker (optional).",
        "password": "Password at the broker (optional; needs a user name).",
    }

    @classmethod
    def validate(cls, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, Any]:
        """Normalised settings; :class:`SinkConfigError` names each field that is wrong."""
        errors: dict[str, str] = {}
        out: dict[str, Any] = {}
        defaults = MqttConfig(host="")
        checks: dict[str, Any] = {
            "host": lambda v: _text(v),
            "port": lambda v: _int(v, 1, 65535),
            "protocol": lambda v: {"3.1.1": "3.1.1", "311": "3.1.1", "5": "5", "5.0": "5"}[str(v).strip()],
            "client_id": lambda v: _text(v, 128),
            "topic_prefix": lambda v: _text(v, 200),
            "tls": _bool,
            "ca_file": lambda v: _text(v, 1000),
            "keepalive": lambda v: _int(v, 5, 3600),
            "session_expiry_seconds": lambda v: _int(v, 0, 4_294_967_295),
            "call_expiry_seconds": lambda v: _int(v, 0, 4_294_967_295),
            "ha_discovery": _bool,
            "ha_prefix": lambda v: _text(v, 200),
        }
        for name in settings:
            if name not in checks:
                errors[name] = (
                    "unknown setting"
                    if name not in ("qos", "clean_session")
                    else ("fixed: QoS 1 and a persistent session")
                )
        for name, check in checks.items():
            raw = settings.get(name, getattr(defaults, name))
            try:
                out[name] = check(raw)
            except (ValueError, KeyError, TypeError) as exc:
                errors[name] = 'must be "3.1.1" or "5"' if name == "protocol" else str(exc)
        if not errors.get("host") and not out.get("host"):
            errors["host"] = "required"
        for name in ("topic_prefix", "ha_prefix"):
            if name not in errors and (why := check_prefix(out[name])):
                errors[name] = why
        if out.get("ca_file") and not out.get("tls"):
            errors["ca_file"] = "only with tls"
        elif out.get("ca_file") and not os.path.isfile(out["ca_file"]):
            errors["ca_file"] = "no such file"
        for name in secrets:
            if name not in cls.secret_fields:
                errors[name] = "unknown secret"
        if secrets.get("password") and not secrets.get("username"):
            errors["username"] = "required with a password"
        if errors:
            raise SinkConfigError(errors)
        return out

    @classmethod
    def build(
        cls, name: str, settings: Mapping[str, Any], secrets: Mapping[str, str], instance: str = ""
    ) -> MqttSink:
        """``instance``: this anigate instance's stable name (``worker.instance_name``), appended to
        the client id, so that several instances on one database each keep their own connection
        and session at the broker instead of taking over each other's."""
        clean = cls.validate(settings, secrets)
        client_id = clean["client_id"] or f"anigate-{name}"
        clean["client_id"] = f"{client_id}-{instance}" if instance else client_id
        config = MqttConfig(
            **clean, username=secrets.get("username", ""), password=secrets.get("password", "")
        )
        return cls(name, config)

    def __init__(self, name: str, config: MqttConfig) -> None:
        self.name = name
        self.config = config
        self.topics = Topics(config.topic_prefix)
        self.v5 = config.protocol == "5"
        self.discovery = (
            DiscoveryState(Discovery(self.topics, config.ha_prefix)) if config.ha_discovery else None
        )
        self._client: paho.Client | None = None
        self._connack = threading.Event()
        self._refused = ""
        self._online: paho.MQTTMessageInfo | None = None
        self._lock = threading.Lock()

    # ---- connection ----------------------------------------------------------------------------

    def _client_for(self) -> paho.Client:
        c = self.config
        protocol = MQTTProtocolVersion.MQTTv5 if self.v5 else MQTTProtocolVersion.MQTTv311
        # persistent session: 3.1.1 clean_session=False here; MQTT 5 clean_start=False in connect()
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=c.client_id,
            clean_session=None if self.v5 else False,
            protocol=protocol,
        )
        will = service_status(self.topics, OFFLINE)
        client.will_set(will.topic, will.payload, QOS, retain=True, properties=self._properties(will))
        if c.username:
            client.username_pw_set(c.username, c.password or None)
        if c.tls:
            client.tls_set(ca_certs=c.ca_file or None)
        client.reconnect_delay_set(RECONNECT_MIN, RECONNECT_MAX)
        client.max_queued_messages_set(MAX_QUEUED)
        client.connect_timeout = CONNECT_TIMEOUT
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        return client

    def _on_connect_fail(self, _client: paho.Client, _userdata: Any) -> None:
        if not self._connack.is_set():  # open() is waiting: tell it now rather than at its timeout
            self._refused = "cannot connect (is the broker running and reachable?)"
            self._connack.set()

    def _on_connect(
        self, client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            self._refused = str(reason)
            log.warning("mqtt sink %s: broker refused the connection: %s", self.name, reason)
        else:
            self._refused = ""
            # after every (re)connect: the broker may have published the Last Will meanwhile
            status = service_status(self.topics, ONLINE)
            self._online = client.publish(
                status.topic, status.payload, QOS, retain=True, properties=self._properties(status)
            )
            log.info("mqtt sink %s: connected to %s:%s", self.name, self.config.host, self.config.port)
        self._connack.set()

    def _on_disconnect(
        self, _client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("mqtt sink %s: connection lost (%s); reconnecting", self.name, reason)

    def open(self) -> None:
        """Connect with the Last Will set, then publish the retained ``online``; raises when the broker
        cannot be reached, refuses us or does not acknowledge within :data:`CONNECT_TIMEOUT`."""
        with self._lock:
            if self._client is not None:
                return
            c = self.config
            client = self._client_for()
            self._connack.clear()
            self._refused, self._online = "", None
            # connect_async: paho's thread makes the connection (and every reconnection); a blocking
            # connect() before loop_start() would leak the socket pair loop_start() replaces
            if self.v5:
                props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                props.SessionExpiryInterval = c.session_expiry_seconds
                client.connect_async(c.host, c.port, c.keepalive, clean_start=False, properties=props)
            else:
                client.connect_async(c.host, c.port, c.keepalive)
            client.loop_start()
            deadline = time.monotonic() + CONNECT_TIMEOUT
            problem = ""
            if not self._connack.wait(CONNECT_TIMEOUT):
                problem = "no CONNACK"
            elif self._refused:
                problem = self._refused if self._refused.startswith("cannot") else f"refused: {self._refused}"
            elif not _acked(client, self._online, deadline):
                problem = "no PUBACK for the service status"
            if problem:
                client.disconnect()
                _release(client)
                raise ConnectionError(f"MQTT broker {c.host}:{c.port}: {problem}")
            self._client = client

    def close(self) -> None:
        """Publish the retained ``offline`` (a clean disconnect sends no Last Will) and disconnect."""
        with self._lock:
            client, self._client = self._client, None
            if client is None:
                return
            try:
                if client.is_connected():
                    status = service_status(self.topics, OFFLINE)
                    info = client.publish(
                        status.topic, status.payload, QOS, retain=True, properties=self._properties(status)
                    )
                    _acked(client, info, time.monotonic() + CLOSE_TIMEOUT)
                client.disconnect()
            finally:
                _release(client)

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected()

    def ready(self) -> bool:
        """For the relay: while paho reconnects, nothing is claimed (an outage costs no attempts)."""
        return self.connected

    # ---- delivery ------------------------------------------------------------------------------

    def _properties(self, pub: Publication) -> Properties | None:
        if not self.v5:
            return None
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.PayloadFormatIndicator = 1  # UTF-8 text
        props.ContentType = pub.content_type
        if pub.expiry:
            props.MessageExpiryInterval = pub.expiry
        if pub.event_id:
            props.UserProperty = [("event_id", pub.event_id), ("event_type", pub.event_type)]
        return props

    def _messages(self, item: Outgoing) -> tuple[list[Publication], Any]:
        expiry = self.config.call_expiry_seconds or None
        own = publications(self.topics, item.event, item.payload, expiry)
        if self.discovery is None:
            return own, None
        announce, info = self.discovery.publications(item.event)
        return announce + own, info

    def send(self, batch: Sequence[Outgoing], timeout: float) -> list[Result]:
        """Publish each item's messages at QoS 1 and wait (within ``timeout`` in all) for the PUBACKs:
        an item is delivered when all its messages were acknowledged. Never raises for a delivery
        problem; while disconnected every item fails at once (paho reconnects in the background)."""
        client = self._client
        if client is None or not client.is_connected():
            why = "not open" if client is None else "not connected (reconnecting)"
            err = f"MQTT broker {self.config.host}:{self.config.port}: {why}"
            return [Result.failed(item, err) for item in batch]
        deadline = time.monotonic() + max(timeout, 0.0)
        results: list[Result | None] = [None] * len(batch)
        waiting: list[tuple[int, list[paho.MQTTMessageInfo], Any]] = []
        for i, item in enumerate(batch):
            try:
                pubs, info = self._messages(item)
                sent = [
                    client.publish(p.topic, p.payload, QOS, retain=p.retain, properties=self._properties(p))
                    for p in pubs
                ]
            except ValueError as exc:  # an event no topic can carry: trying again cannot help
                results[i] = Result.failed(item, f"cannot publish: {exc}", permanent=True)
                continue
            bad = [m.rc for m in sent if m.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS,)]
            if bad:
                results[i] = Result.failed(item, f"publish: {paho.error_string(bad[0])}")
                continue
            waiting.append((i, sent, info))
        for i, sent, info in waiting:
            item = batch[i]
            if all(_acked(client, m, deadline) for m in sent):
                if self.discovery is not None and info is not None:
                    self.discovery.confirm(item.event, info)
                results[i] = Result.delivered(item)
            elif not client.is_connected():
                results[i] = Result.failed(item, "connection lost before the broker's PUBACK")
            else:
                results[i] = Result.failed(item, f"no PUBACK within {timeout:g} s")
        return [r for r in results if r is not None]


def _release(client: paho.Client) -> None:
    """Stop paho's thread and close its sockets now: paho 2.2 closes the socket pair that wakes its
    loop only in ``__del__``, which a reference cycle defers to a garbage collection."""
    client.loop_stop()
    reset = getattr(client, "_reset_sockets", None)
    if reset is not None:
        reset()


def _acked(client: paho.Client, info: paho.MQTTMessageInfo | None, deadline: float) -> bool:
    """Wait until ``info``'s PUBACK arrived, the deadline passed or the connection dropped."""
    if info is None:
        return False
    while True:
        try:
            if info.is_published():
                return True
        except (RuntimeError, ValueError):
            return False
        left = deadline - time.monotonic()
        if left <= 0 or not client.is_connected():
            return False
        try:
            info.wait_for_publish(min(left, 0.1))
        except (RuntimeError, ValueError):
            return False
