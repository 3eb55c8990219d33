"""The sink kinds and the use cases of their configuration: create, change (secrets write-only:
an empty secret keeps the stored one), delete, ask for a test event, read the delivery backlog.

Admins only; the web pages and the API call these. May import registry (actors, errors, outbox)
and the adapters; never flask.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.models import SinkConfig
from integrations.ports import Sink, SinkConfigError
from integrations.secretbox import SecretBox
from registry.actors import Actor
from registry.db import utcnow
from registry.errors import Conflict, NotFound, ValidationFailed
from registry.events import EVENT_TYPES, SinkTest
from registry.outbox import add_event, head


def kinds() -> dict[str, Any]:
    """kind -> adapter class (each a ``SinkFactory``). Every adapter's library is a pinned
    requirement: a missing one is a broken install and fails loudly here, not a kind gone quiet."""
    from integrations.mqtt import MqttSink
    from integrations.snmp import SnmpSink
    from integrations.vms import VmsSink
    from integrations.webhooks import WebhookSink

    return {"mqtt": MqttSink, "snmp": SnmpSink, "webhook": WebhookSink, "vms": VmsSink}


def build(
    kind: str, name: str, settings: Mapping[str, Any], secrets: Mapping[str, str], instance: str = ""
) -> Sink:
    """A sink from its row; ``instance``: this anigate instance's stable name (``SinkFactory``)."""
    cls = kinds().get(kind)
    if cls is None:
        raise SinkConfigError({"kind": f"unknown sink kind {kind!r}"})
    return cls.build(name, settings, secrets, instance=instance)  # type: ignore[no-any-return]


def carries(kind: str):  # type: ignore[no-untyped-def]
    """The event types a kind takes by default (its class's ``event_types``; None: all)."""
    cls = kinds().get(kind)
    types = getattr(cls, "event_types", None)
    return (lambda t: True) if types is None else (lambda t: t in types)


def _clean(
    kind: str, name: str, settings: Mapping[str, Any], secrets: Mapping[str, str], event_types: list[str]
) -> dict[str, Any]:
    errors: dict[str, str] = {}
    cls = kinds().get(kind)
    if cls is None:
        errors["kind"] = f"one of {', '.join(sorted(kinds()))}"
    name = name.strip()
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
        errors["name"] = "1 to 64 letters, digits, - or _"
    unknown = [t for t in event_types if t not in EVENT_TYPES]
    if unknown:
        errors["event_types"] = f"unknown event type {unknown[0]!r}"
    clean: dict[str, Any] = {}
    if cls is not None:
        try:
            clean = cls.validate(settings, secrets)
        except SinkConfigError as e:
            errors.update(e.errors)
    if errors:
        raise ValidationFailed(errors)
    return clean


def create_sink(
    session: Session,
    actor: Actor,
    box: SecretBox,
    *,
    name: str,
    kind: str,
    settings: Mapping[str, Any],
    secrets: Mapping[str, str],
    event_types: list[str] | None = None,
    enabled: bool = True,
    max_attempts: int = 10,
    max_age_seconds: int = 86_400,
) -> SinkConfig:
    """A new sink, receiving the events committed from now on (not the history)."""
    actor.require_admin("sinks")
    secrets = {k: v for k, v in secrets.items() if v}
    clean = _clean(kind, name, settings, secrets, event_types or [])
    if session.scalar(select(SinkConfig.id).where(SinkConfig.name == name.strip())) is not None:
        raise Conflict(f"a sink named {name.strip()!r} exists", "name")
    _limits(max_attempts, max_age_seconds)
    sink = SinkConfig(
        name=name.strip(),
        kind=kind,
        enabled=enabled,
        settings=clean,
        secrets=box.seal(secrets),
        event_types=list(event_types or []),
        max_attempts=max_attempts,
        max_age_seconds=max_age_seconds,
        cursor=head(session),
    )
    session.add(sink)
    session.flush()
    return sink


def _limits(max_attempts: int, max_age_seconds: int) -> None:
    errors = {}
    if not 1 <= max_attempts <= 1000:
        errors["max_attempts"] = "1 to 1000"
    if not 60 <= max_age_seconds <= 30 * 86_400:
        errors["max_age_seconds"] = "60 s to 30 days"
    if errors:
        raise ValidationFailed(errors)


def get_sink(session: Session, actor: Actor, sink_id: int) -> SinkConfig:
    actor.require_admin("sinks")
    sink = session.get(SinkConfig, sink_id)
    if sink is None:
        raise NotFound("sink", sink_id)
    return sink


def update_sink(
    session: Session,
    actor: Actor,
    box: SecretBox,
    sink_id: int,
    *,
    settings: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
    event_types: list[str] | None = None,
    enabled: bool | None = None,
    max_attempts: int | None = None,
    max_age_seconds: int | None = None,
) -> SinkConfig:
    """Change a sink; a secret left empty keeps its stored value (secrets are write-only)."""
    sink = get_sink(session, actor, sink_id)
    kept = box.open(sink.secrets) if sink.secrets else {}
    merged = kept | {k: v for k, v in (secrets or {}).items() if v}
    new_types = list(sink.event_types if event_types is None else event_types)
    clean = _clean(sink.kind, sink.name, sink.settings if settings is None else settings, merged, new_types)
    _limits(
        sink.max_attempts if max_attempts is None else max_attempts,
        sink.max_age_seconds if max_age_seconds is None else max_age_seconds,
    )
    sink.settings, sink.secrets, sink.event_types = clean, box.seal(merged), new_types
    if enabled is not None:
        sink.enabled = enabled
    if max_attempts is not None:
        sink.max_attempts = max_attempts
    if max_age_seconds is not None:
        sink.max_age_seconds = max_age_seconds
    sink.updated_at = utcnow()
    return sink


def delete_sink(session: Session, actor: Actor, sink_id: int) -> None:
    session.delete(get_sink(session, actor, sink_id))


def send_test_event(session: Session, actor: Actor, sink_id: int) -> SinkTest:
    """A ``sink.test`` event through the outbox to this sink only; the caller commits."""
    sink = get_sink(session, actor, sink_id)
    ev = SinkTest(occurred_at=utcnow(), sink_id=sink.id, sink_name=sink.name, by=actor.name)
    add_event(session, ev)
    return ev


def apply_sinks_file(session: Session, box: SecretBox, path: Path) -> list[str]:
    """Create or update the sinks a TOML file lists (``[[sink]]`` tables with ``name``, ``kind``,
    ``enabled``, ``event_types``, ``max_attempts``, ``max_age_seconds``, ``[sink.settings]`` and
    ``[sink.secrets]``); sinks it does not name are left alone. Returns what it did, per sink.
    A bad entry raises ``ValidationFailed`` naming the sink: the worker does not start on a file it
    cannot apply."""
    actor = Actor.system("sinks-file")
    data = tomllib.loads(path.read_text())
    done = []
    for entry in data.get("sink", []):
        name = str(entry.get("name", ""))
        options = {
            k: entry[k] for k in ("event_types", "enabled", "max_attempts", "max_age_seconds") if k in entry
        }
        settings = dict(entry.get("settings", {}))
        secrets = {k: str(v) for k, v in entry.get("secrets", {}).items()}
        existing = session.scalar(select(SinkConfig).where(SinkConfig.name == name))
        try:
            if existing is None:
                create_sink(
                    session,
                    actor,
                    box,
                    name=name,
                    kind=str(entry.get("kind", "")),
                    settings=settings,
                    secrets=secrets,
                    **options,
                )
                done.append(f"{name} created")
            else:
                update_sink(session, actor, box, existing.id, settings=settings, secrets=secrets, **options)
                done.append(f"{name} updated")
        except ValidationFailed as e:
            raise ValidationFailed({f"{name or '?'}.{k}": v for k, v in e.errors.items()}) from e
    return done
