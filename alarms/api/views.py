"""REST endpoints under /api/v1 for alarms (list, get, acknowledge, note, clear, reset, shelve),
silences (CRUD; delete ends one now) and the alarm rules (admins' edits over the defaults).

Same bearer tokens, problem+json errors and pagination as the registry API; reads need
``alarms:read``, everything else ``alarms:write``. Each view calls one use case of ``alarms`` with
the request session and commits once, at the end. No ``session.add``, no SQL here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import timedelta
from functools import cache
from typing import Any

from flask import Response, jsonify, url_for
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel

from alarms import silences as sl
from alarms.api import schemas as a
from alarms.choices import AlarmKind, AlarmState, PerceivedSeverity, SilenceScope, Trigger
from alarms.lifecycle import TransitionRefused
from alarms.models import Alarm, Silence
from alarms.queries import AlarmFilter, Place, alarm_places, alarm_query, alarm_transitions
from alarms.rule_edits import RuleInForce, delete_rule, put_rule, rules_in_force
from alarms.rules import ANY_KIND, Rule
from alarms.service import AlarmService, get_alarm
from registry.actors import Actor
from registry.api import auth, problems
from registry.api import schemas as s
from registry.api.views import SECURITY, Spec
from registry.choices import DeviceKind, TokenScope
from registry.errors import ValidationFailed
from registry.queries import paginate
from webcore.context import commit, db, services

ALARMS = [Tag(name="alarms", description="Alarms: ISA-18.2 states, X.733 fields, every transition kept")]
SILENCES = [Tag(name="silences", description="Maintenance windows per device, site or trunk")]
RULES = [Tag(name="alarm-rules", description="Which trigger raises which alarm, per device kind")]


def _actor() -> Actor:
    return auth.current_actor()


def _service() -> AlarmService:
    """The alarm service of this app (bootstrap: the app's clock, the configured deadlines)."""
    return services().alarms


def _annotate(func: Callable[..., Any], **annotations: Any) -> Callable[..., Any]:
    """flask-openapi3 reads a view's ``path``/``query``/``body`` models from its annotations."""
    func.__annotations__ = {**annotations, "return": Response}
    return func


# --- serialising -----------------------------------------------------------------------------------


def _alarm_values(alarm: Alarm, place: Place) -> dict[str, Any]:
    values = {name: getattr(alarm, name) for name in a.Alarm.model_fields if name != "place"}
    return values | {"place": asdict(place)}


def _alarms_json(alarms: Sequence[Alarm]) -> list[dict[str, Any]]:
    places = alarm_places(db(), alarms)
    return [a.Alarm.model_validate(_alarm_values(x, places[x.id])).model_dump(mode="json") for x in alarms]


def _alarm_detail(alarm: Alarm) -> Response:
    session = db()
    values = _alarm_values(alarm, alarm_places(session, [alarm])[alarm.id])
    values["transitions"] = alarm_transitions(session, alarm.id)
    return jsonify(a.AlarmDetail.model_validate(values).model_dump(mode="json"))


def _silence_json(silence: Silence) -> dict[str, Any]:
    now = _service().clock()
    values = {name: getattr(silence, name) for name in a.Silence.model_fields if name != "active"}
    values["active"] = silence.starts_at <= now < silence.ends_at
    return a.Silence.model_validate(values).model_dump(mode="json")


def _rule_values(rule: Rule) -> dict[str, Any]:
    return {"kind": rule.kind, "severity": rule.severity, "latched": rule.latched, "enabled": rule.enabled}


def _rule_json(r: RuleInForce) -> dict[str, Any]:
    values = _rule_values(r.rule) | {
        "trigger": r.rule.trigger,
        "device_kind": r.rule.device_kind or None,
        "custom": r.custom,
        "default": _rule_values(r.default) if r.default is not None else None,
    }
    return a.AlarmRule.model_validate(values).model_dump(mode="json")


def _page(items: list[dict[str, Any]], total: int, page: int, per_page: int) -> Response:
    return jsonify(items=items, total=total, page=page, per_page=per_page)


# --- alarms ----------------------------------------------------------------------------------------


def _register_alarms(bp: APIBlueprint, spec: Spec, query_model: type[BaseModel]) -> None:
    common: dict[str, Any] = {"tags": ALARMS, "security": SECURITY}
    refused = spec.problem("The action does not apply to the alarm in its state; `detail` says why")
    action_errors = {**spec.errors(400, 401, 403, 404, 413, 415, 422), 409: refused}

    def list_alarms(query: Any) -> Response:
        f = AlarmFilter(
            states=[AlarmState(v) for v in query.state or ()],
            active=query.active,
            severities=[PerceivedSeverity(v) for v in query.severity or ()],
            kinds=[AlarmKind(v) for v in query.kind or ()],
            site=query.site,
            center=query.center,
            device=query.device,
            first_since=query.first_since,
            first_until=query.first_until,
            last_since=query.last_since,
            last_until=query.last_until,
        )
        result = paginate(db(), alarm_query(_actor(), f), query.page, query.per_page)
        return _page(_alarms_json(result.items), result.total, result.page, result.per_page)

    bp.get(
        "/alarms",
        summary="List alarms",
        description="The alarms the caller may see (operators: their center's; facility managers: their "
        "sites'; admins: all), newest first (by first occurrence). Repeat `state`, `severity` or `kind` "
        "for several; `active=true` keeps the annunciated states.",
        operation_id="list_alarms",
        endpoint="alarm_list",
        responses={200: spec.json(s.page_model(a.Alarm), "A page of alarms"), **spec.errors(401, 403, 422)},
        **common,
    )(_annotate(list_alarms, query=query_model))

    def alarm_detail(path: a.AlarmPath) -> Response:
        return _alarm_detail(get_alarm(db(), _actor(), path.id))

    bp.get(
        "/alarms/<id:id>",
        summary="Get an alarm with its transitions",
        operation_id="get_alarm",
        endpoint="alarm_detail",
        responses={200: spec.json(a.AlarmDetail, "The alarm"), **spec.errors(401, 403, 404, 422)},
        **common,
    )(_annotate(alarm_detail, path=a.AlarmPath))

    def action(
        name: str, summary: str, body: type[BaseModel], run: Callable[[AlarmService, Actor, int, Any], Alarm]
    ) -> None:
        def view(path: a.AlarmPath, body: Any) -> Response:
            alarm = run(_service(), _actor(), path.id, body)
            commit()
            return _alarm_detail(alarm)

        view.__name__ = view.__qualname__ = f"alarm_{name}"
        bp.post(
            f"/alarms/<id:id>/{name}",
            summary=summary,
            operation_id=f"alarm_{name}",
            endpoint=f"alarm_{name}",
            description="Operators of the alarm's center and admins; facility managers read alarms only.",
            responses={200: spec.json(a.AlarmDetail, "The alarm after the action"), **action_errors},
            **common,
        )(_annotate(view, path=a.AlarmPath, body=body))

    def shelve(svc: AlarmService, actor: Actor, alarm_id: int, body: Any) -> Alarm:
        if (body.until is None) == (body.minutes is None):
            raise ValidationFailed({"until": "give either until or minutes"})
        until = body.until if body.until is not None else svc.clock() + timedelta(minutes=body.minutes)
        return svc.shelve(db(), actor, alarm_id, until, body.note)

    action(
        "acknowledge",
        "Acknowledge an alarm",
        a.NoteBody,
        lambda svc, actor, i, b: svc.acknowledge(db(), actor, i, b.note),
    )
    action(
        "notes", "Add a note", a.NoteRequired, lambda svc, actor, i, b: svc.add_note(db(), actor, i, b.note)
    )
    action(
        "clear",
        "Clear an alarm (not a latched lift alarm)",
        a.NoteBody,
        lambda svc, actor, i, b: svc.clear(db(), actor, i, b.note),
    )
    action(
        "reset",
        "Reset an alarm with a reason (latched ones too)",
        a.ResetBody,
        lambda svc, actor, i, b: svc.reset(db(), actor, i, b.reason),
    )
    action("shelve", "Shelve an alarm for a time", a.ShelveBody, shelve)


# --- silences --------------------------------------------------------------------------------------


def _register_silences(bp: APIBlueprint, spec: Spec, query_model: type[BaseModel]) -> None:
    common: dict[str, Any] = {"tags": SILENCES, "security": SECURITY}
    ended = spec.problem("The silence has ended", s.ConflictProblem)
    writers = "Admins any; facility managers the devices and sites of their sites (trunks: admins only)."

    def list_silences(query: Any) -> Response:
        scope = SilenceScope(query.scope) if query.scope else None
        stmt = sl.silence_query(
            _actor(), _service().clock(), active=query.active, scope=scope, target=query.target
        )
        result = paginate(db(), stmt, query.page, query.per_page)
        return _page([_silence_json(x) for x in result.items], result.total, result.page, result.per_page)

    bp.get(
        "/silences",
        summary="List silences",
        description="The silences touching a site the caller sees (of its devices, the site, or a trunk "
        "its devices call over), latest start first.",
        operation_id="list_silences",
        endpoint="silence_list",
        responses={
            200: spec.json(s.page_model(a.Silence), "A page of silences"),
            **spec.errors(401, 403, 422),
        },
        **common,
    )(_annotate(list_silences, query=query_model))

    def silence_detail(path: a.SilencePath) -> Response:
        return jsonify(_silence_json(sl.get_silence(db(), _actor(), path.id)))

    bp.get(
        "/silences/<id:id>",
        summary="Get a silence",
        operation_id="get_silence",
        endpoint="silence_detail",
        responses={200: spec.json(a.Silence, "The silence"), **spec.errors(401, 403, 404, 422)},
        **common,
    )(_annotate(silence_detail, path=a.SilencePath))

    def create_view(body: a.SilenceCreate) -> Response:
        session = db()
        silence = sl.create_silence(
            session,
            _actor(),
            scope=body.scope,
            target_id=body.target_id,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            reason=body.reason,
            now=_service().clock(),
        )
        commit()
        resp = jsonify(_silence_json(silence))
        resp.status_code = 201
        resp.headers["Location"] = url_for("alarms_api.silence_detail", id=silence.id)
        return resp

    bp.post(
        "/silences",
        summary="Create a silence",
        description="Alarms of the target raised while it is in force are recorded as suppressed; alarms "
        f"already open stay as they are. {writers}",
        operation_id="create_silence",
        endpoint="silence_create",
        responses={
            201: spec.json(
                a.Silence,
                "The new silence",
                headers={
                    "Location": {
                        "description": "URL of the silence",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                },
            ),
            **spec.errors(400, 401, 403, 413, 415, 422),
        },
        **common,
    )(_annotate(create_view, body=a.SilenceCreate))

    def update_view(path: a.SilencePath, body: a.SilenceUpdate) -> Response:
        session = db()
        silence = sl.update_silence(
            session,
            _actor(),
            path.id,
            ends_at=body.ends_at,
            reason=body.reason,
            now=_service().clock(),
        )
        commit()
        return jsonify(_silence_json(silence))

    bp.patch(
        "/silences/<id:id>",
        summary="Change a silence",
        description=f"Only `ends_at` and `reason` change, while it has not ended. {writers}",
        operation_id="update_silence",
        endpoint="silence_update",
        responses={
            200: spec.json(a.Silence, "The changed silence"),
            **spec.errors(400, 401, 403, 404, 413, 415, 422),
            409: ended,
        },
        **common,
    )(_annotate(update_view, path=a.SilencePath, body=a.SilenceUpdate))

    def delete_view(path: a.SilencePath) -> Response:
        session = db()
        silence = sl.end_silence(session, _actor(), path.id, _service())
        commit()
        return jsonify(_silence_json(silence))

    bp.delete(
        "/silences/<id:id>",
        summary="End a silence now",
        description="Its end becomes now and the row is kept; the alarms it suppressed whose condition still "
        f"holds become active at once. {writers}",
        operation_id="end_silence",
        endpoint="silence_delete",
        responses={
            200: spec.json(a.Silence, "The ended silence"),
            **spec.errors(401, 403, 404, 422),
            409: ended,
        },
        **common,
    )(_annotate(delete_view, path=a.SilencePath))


# --- alarm rules -----------------------------------------------------------------------------------


def _kind(path: a.RulePath) -> str:
    return ANY_KIND if path.device_kind == "any" else str(path.device_kind)


def _register_rules(bp: APIBlueprint, spec: Spec) -> None:
    common: dict[str, Any] = {"tags": RULES, "security": SECURITY}
    # an unknown trigger or kind matches no route (404), like an id out of range
    triggers = ",".join(Trigger.values())
    kinds = ",".join([*DeviceKind.values(), "any"])
    detail = f"/alarm-rules/<any({triggers}):trigger>/<any({kinds}):device_kind>"
    no_rule = spec.problem("No such trigger or device kind (DELETE: no administrator's rule for it)")

    def list_rules() -> Response:
        rules = [_rule_json(r) for r in rules_in_force(db(), _actor())]
        return _page(rules, len(rules), 1, max(len(rules), 1))

    bp.get(
        "/alarm-rules",
        summary="List the alarm rules in force",
        description="The shipped defaults, each replaced by an administrator's rule of the same trigger and "
        "device kind, by trigger. A rule for a kind wins over the rule for any kind.",
        operation_id="list_alarm_rules",
        endpoint="alarm_rule_list",
        responses={
            200: spec.json(s.page_model(a.AlarmRule), "Every rule, on one page"),
            **spec.errors(401, 403, 422),  # flask-openapi3 documents a 422 on every operation
        },
        **common,
    )(_annotate(list_rules))

    def put_view(path: a.RulePath, body: a.RulePut) -> Response:
        session = db()
        rule = put_rule(
            session,
            _actor(),
            path.trigger,
            _kind(path),
            kind=body.kind,
            severity=body.severity,
            latched=body.latched,
            enabled=body.enabled,
        )
        commit()
        return jsonify(_rule_json(rule))

    bp.put(
        detail,
        summary="Set the rule of a trigger for a device kind",
        description="Admins only. `enabled: false` turns the trigger off for that kind (a kind's rule hides "
        "the any-kind one).",
        operation_id="put_alarm_rule",
        endpoint="alarm_rule_put",
        responses={
            200: spec.json(a.AlarmRule, "The rule in force"),
            **spec.errors(400, 401, 403, 409, 413, 415, 422),
            404: no_rule,
        },
        **common,
    )(_annotate(put_view, path=a.RulePath, body=a.RulePut))

    def delete_view(path: a.RulePath) -> Response:
        session = db()
        delete_rule(session, _actor(), path.trigger, _kind(path))
        commit()
        return Response(status=204)

    bp.delete(
        detail,
        summary="Return to the shipped default",
        description="Admins only: removes the administrator's rule (404 when there is none).",
        operation_id="delete_alarm_rule",
        endpoint="alarm_rule_delete",
        responses={
            204: {"description": "Removed; the default applies"},
            **spec.errors(401, 403, 422),
            404: no_rule,
        },
        **common,
    )(_annotate(delete_view, path=a.RulePath))


def _refused(e: TransitionRefused) -> Response:
    return problems.problem(409, detail=str(e))


@cache  # a blueprint may be registered on several apps (tests build one app per test)
def build_blueprint(page_size: int, max_page_size: int) -> APIBlueprint:
    bp = APIBlueprint("alarms_api", __name__, url_prefix="/api/v1", doc_ui=True)
    auth.init_blueprint(bp, write_scope=TokenScope.ALARMS_WRITE, read_scope=TokenScope.ALARMS_READ)
    problems.register(bp)
    bp.register_error_handler(TransitionRefused, _refused)
    spec = Spec(bp)
    _register_alarms(bp, spec, a.alarm_filter(page_size, max_page_size))
    _register_silences(bp, spec, a.silence_filter(page_size, max_page_size))
    _register_rules(bp, spec)
    return bp
