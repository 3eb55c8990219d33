"""REST endpoints under /api/v1 for the sinks of events out: each sink with its delivery backlog
(pending, oldest undelivered age, dead letters), its dead letters, retry one or all, and a test event.

Admins only, with ``registry:read`` to read and ``registry:write`` to act. Secrets never leave: a
sink's answer lists which secret fields are set, not their values.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from flask import Response, current_app, jsonify
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field
from sqlalchemy import select

from integrations import relay, sinks
from integrations.models import DEAD, Delivery, SinkConfig
from integrations.secretbox import SecretBox
from registry.actors import Actor
from registry.api import auth, problems
from registry.api import schemas as s
from registry.api.views import SECURITY, Spec
from registry.choices import TokenScope
from registry.db import utcnow
from registry.errors import NotFound
from webcore.context import commit, db

TAGS = [Tag(name="sinks", description="Events out: MQTT, SNMP, webhook and VMS sinks, dead letters")]


class SinkPath(BaseModel):
    id: s.Id


class DeadLetterPath(BaseModel):
    id: s.Id
    delivery: s.Id


class SinkOut(BaseModel):
    id: int
    name: str
    kind: str
    enabled: bool
    settings: dict[str, Any]
    secrets_set: list[str] = Field(description="the secret fields that hold a value (never the values)")
    event_types: list[str]
    max_attempts: int
    max_age_seconds: int
    status: str
    status_at: datetime | None
    pending: int
    oldest_pending_at: datetime | None
    oldest_pending_age_seconds: float | None
    dead: int
    delivered: int


class SinkList(BaseModel):
    items: list[SinkOut]
    total: int


class DeadLetter(BaseModel):
    id: int
    seq: int
    event_id: str
    event_type: str
    attempts: int
    last_error: str
    created_at: datetime
    dead_at: datetime | None


class DeadLetters(BaseModel):
    items: list[DeadLetter]
    total: int


class Retried(BaseModel):
    retried: int


class TestSent(BaseModel):
    event_id: str


def _actor() -> Actor:
    actor = auth.current_actor()
    actor.require_admin("sinks")
    return actor


def box() -> SecretBox:
    """Sealed with the app's secret key: the worker derives the same box from the same key."""
    return SecretBox(current_app.config["SECRET_KEY"])


def sink_json(sink: SinkConfig, secret_names: list[str]) -> dict[str, Any]:
    b = relay.backlog(db(), sink.id)
    oldest = b.oldest_pending_at
    return SinkOut(
        id=sink.id,
        name=sink.name,
        kind=sink.kind,
        enabled=sink.enabled,
        settings=sink.settings or {},
        secrets_set=secret_names,
        event_types=list(sink.event_types or []),
        max_attempts=sink.max_attempts,
        max_age_seconds=sink.max_age_seconds,
        status=sink.status,
        status_at=sink.status_at,
        pending=b.pending,
        oldest_pending_at=oldest,
        oldest_pending_age_seconds=(utcnow() - oldest).total_seconds() if oldest else None,
        dead=b.dead,
        delivered=b.delivered,
    ).model_dump(mode="json")


def secret_names(sink: SinkConfig) -> list[str]:
    try:
        return sorted(box().open(sink.secrets))
    except ValueError:
        return []


@cache  # one blueprint object for every app the tests build
def build_blueprint() -> APIBlueprint:
    bp = APIBlueprint("sinks_api", __name__, url_prefix="/api/v1", doc_ui=True)
    auth.init_blueprint(bp, write_scope=TokenScope.REGISTRY_WRITE, read_scope=TokenScope.REGISTRY_READ)
    problems.register(bp)
    spec = Spec(bp)
    common: dict[str, Any] = {"tags": TAGS, "security": SECURITY}
    admins = "Admins only."

    def list_sinks() -> Response:
        _actor()
        rows = db().scalars(select(SinkConfig).order_by(SinkConfig.name)).all()
        return jsonify({"items": [sink_json(x, secret_names(x)) for x in rows], "total": len(rows)})

    list_sinks.__annotations__ = {"return": Response}
    bp.get(
        "/sinks",
        summary="List the sinks with their backlog",
        description=admins,
        operation_id="list_sinks",
        endpoint="sink_list",
        responses={200: spec.json(SinkList, "Every sink"), **spec.errors(401, 403, 422)},
        **common,
    )(list_sinks)

    def sink_detail(path: SinkPath) -> Response:
        sink = sinks.get_sink(db(), _actor(), path.id)
        return jsonify(sink_json(sink, secret_names(sink)))

    bp.get(
        "/sinks/<id:id>",
        summary="Get a sink with its backlog",
        description=admins,
        operation_id="get_sink",
        endpoint="sink_detail",
        responses={200: spec.json(SinkOut, "The sink"), **spec.errors(401, 403, 404, 422)},
        **common,
    )(sink_detail)

    def dead_letters(path: SinkPath) -> Response:
        sink = sinks.get_sink(db(), _actor(), path.id)
        rows = (
            db()
            .scalars(
                select(Delivery)
                .where(Delivery.sink_id == sink.id, Delivery.state == DEAD)
                .order_by(Delivery.seq)
            )
            .all()
        )
        items = [DeadLetter.model_validate(d, from_attributes=True).model_dump(mode="json") for d in rows]
        return jsonify({"items": items, "total": len(items)})

    bp.get(
        "/sinks/<id:id>/dead-letters",
        summary="The sink's dead letters, oldest first",
        description=admins,
        operation_id="list_dead_letters",
        endpoint="dead_letter_list",
        responses={200: spec.json(DeadLetters, "The dead letters"), **spec.errors(401, 403, 404, 422)},
        **common,
    )(dead_letters)

    def retry_all(path: SinkPath) -> Response:
        sink = sinks.get_sink(db(), _actor(), path.id)
        n = relay.retry_dead(db(), sink.id)
        commit()
        return jsonify({"retried": n})

    bp.post(
        "/sinks/<id:id>/dead-letters/retry",
        summary="Retry every dead letter of the sink",
        description=admins + " They are due at once, with their attempts counted from zero.",
        operation_id="retry_dead_letters",
        endpoint="dead_letter_retry_all",
        responses={200: spec.json(Retried, "How many"), **spec.errors(401, 403, 404, 422)},
        **common,
    )(retry_all)

    def retry_one(path: DeadLetterPath) -> Response:
        sink = sinks.get_sink(db(), _actor(), path.id)
        n = relay.retry_dead(db(), sink.id, path.delivery)
        if n == 0:
            raise NotFound("dead letter", path.delivery)
        commit()
        return jsonify({"retried": n})

    bp.post(
        "/sinks/<id:id>/dead-letters/<id:delivery>/retry",
        summary="Retry one dead letter",
        description=admins,
        operation_id="retry_dead_letter",
        endpoint="dead_letter_retry",
        responses={200: spec.json(Retried, "Retried"), **spec.errors(401, 403, 404, 422)},
        **common,
    )(retry_one)

    def test_event(path: SinkPath) -> Response:
        ev = sinks.send_test_event(db(), _actor(), path.id)
        commit()
        resp = jsonify({"event_id": str(ev.event_id)})
        resp.status_code = 202
        return resp

    bp.post(
        "/sinks/<id:id>/test",
        summary="Send a test event to this sink only",
        description=admins + " A `sink.test` event goes through the outbox and the relay like any other.",
        operation_id="test_sink",
        endpoint="sink_test",
        responses={202: spec.json(TestSent, "Queued"), **spec.errors(401, 403, 404, 422)},
        **common,
    )(test_event)
    return bp
