"""What the relay (``integrations.relay``) asks of a sink, and what it hands it: the ports every
adapter (MQTT, SNMP, webhooks, VMS) implements.

A sink is built from its stored configuration (``settings``: plain values shown to admins;
``secrets``: passwords and keys, never shown again once written), opened once, then handed batches
of events in commit order; it answers each event with a :class:`Result`. It never touches the
database: the relay keeps the delivery state. May import ``registry.events`` only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from registry.events import DomainEvent


class SinkConfigError(ValueError):
    """A sink's configuration is unusable; ``errors`` maps each field to its message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class Outgoing:
    """One event on its way to one sink."""

    delivery_id: int
    #: the event's place in the outbox (commit order)
    seq: int
    event: DomainEvent
    #: ``event.envelope()``: the JSON document every sink carries (documented in docs/events.md)
    payload: Mapping[str, Any]
    #: 1 on the first try
    attempt: int = 1


@dataclass(frozen=True)
class Result:
    """How one event went: delivered (the peer acknowledged it: PUBACK, an inform's response, a
    2xx), or not, with the reason; ``permanent`` when trying again cannot help (dead letter now)."""

    delivery_id: int
    ok: bool
    error: str = ""
    permanent: bool = False

    @classmethod
    def delivered(cls, item: Outgoing) -> Result:
        return cls(item.delivery_id, True)

    @classmethod
    def failed(cls, item: Outgoing, error: str, permanent: bool = False) -> Result:
        return cls(item.delivery_id, False, error[:1000], permanent)


class Sink(Protocol):
    """An open connection to one consumer of events."""

    #: ``mqtt``, ``snmp``, ``webhook``, ``vms``
    kind: ClassVar[str]
    name: str

    def open(self) -> None:
        """Connect (and announce the service, where the protocol has that); may raise, the relay
        retries with backoff. Called again after :meth:`close`."""
        ...

    def send(self, batch: Sequence[Outgoing], timeout: float) -> list[Result]:
        """Deliver ``batch`` (at most one event per device and batch: the relay keeps the order per
        device) and answer each item, within ``timeout`` seconds in all; an item not acknowledged
        by then is a failed one (it is sent again later: consumers de-duplicate by event id)."""
        ...

    def close(self) -> None:
        """Disconnect cleanly (announce the service offline where the protocol has that)."""
        ...

    # optional: ``ready() -> bool``, False while the sink knows it cannot reach its peer (an MQTT
    # client between reconnects); the relay then claims nothing, so an outage costs no attempts


class SinkFactory(Protocol):
    """How a sink kind is made: ``validate`` checks a configuration for the admin pages and the API
    (raising :class:`SinkConfigError`), ``build`` makes the sink from a valid one. ``instance`` is
    the stable name of the anigate instance that builds it (several share one database): a kind
    whose peer knows its clients by an identity of their own (MQTT's client id) makes it unique
    with it; the others ignore it."""

    kind: ClassVar[str]
    #: the fields of ``settings`` and of ``secrets``, with their help text, for forms and docs
    setting_fields: ClassVar[Mapping[str, str]]
    secret_fields: ClassVar[Mapping[str, str]]

    @classmethod
    def validate(cls, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, Any]: ...

    @classmethod
    def build(
        cls, name: str, settings: Mapping[str, Any], secrets: Mapping[str, str], instance: str = ""
    ) -> Sink: ...
