"""The call history pages: ``/calls/`` (filtered, newest first, paginated) and ``/calls/<id>/`` (the
identity as received, the decision, the anomalies with their evidence, and the alarms the call
raised). Reads only, scoped by ``routing.queries``; nothing is marked safe.

A web module: may import flask, webcore, the registry, routing and alarms cores.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import render_template, request
from flask_login import login_required

from alarms.models import Alarm
from alarms.queries import AlarmFilter, alarm_query
from history import bp
from history.common import (
    PER_PAGE,
    center_options,
    chosen_id,
    device_options,
    names_of,
    page_number,
    page_url,
    site_options,
    utc,
    when,
)
from history.forms import UTC_HINT, CallFilterForm
from registry.numbers import InvalidNumber, normalise_ani
from registry.queries import paginate
from registry.web.auth import current_actor
from registry.web.tables import DASH, Cell
from routing.models import CallRecord
from routing.queries import call_query, get_call
from webcore.context import db, services

#: characters of a decision's reason shown in the list (the detail page shows all of it)
SHORT_REASON = 80


def short(text: str, limit: int = SHORT_REASON) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def status_cell(status: int) -> Cell:
    """The SIP answer: a 3xx sent the call on; anything else turned it away."""
    return Cell(str(status), badge="ok" if 300 <= status < 400 else "bad")


@dataclass(frozen=True)
class CallRow:
    id: int
    at: str
    ani: str
    display_name: str
    device: Cell
    site: Cell
    center: Cell
    status: Cell
    test_call: bool
    anomalies: int
    reason: str


def call_rows(calls: list[CallRecord]) -> list[CallRow]:
    names = names_of(
        db(), (c.device_id for c in calls), (c.site_id for c in calls), (c.center_id for c in calls)
    )
    return [
        CallRow(
            id=c.id,
            at=when(c.received_at),
            ani=c.ani or "no number",
            display_name=c.display_name or "",
            device=names.device(c.device_id),
            site=names.site(c.site_id),
            center=names.center(c.center_id),
            status=status_cell(c.status),
            test_call=c.test_call,
            anomalies=len(c.anomalies or []),
            reason=short(c.reason or ""),
        )
        for c in calls
    ]


@bp.get("/calls/")
@login_required
def call_list() -> str:
    actor = current_actor()
    session = db()
    form = CallFilterForm(formdata=request.args)
    form.device.choices = device_options(session, actor)
    form.site.choices = site_options(session, actor)
    form.center.choices = center_options(session, actor)
    form.validate()  # the time fields' parse errors; the selects accept anything (filtered to ids)
    ani = None
    raw_ani = (form.ani.data or "").strip()
    if raw_ani:
        try:
            ani = normalise_ani(raw_ani, services().settings.default_region)
        except InvalidNumber as e:
            form.ani.errors = [str(e)]
    invalid = any(field.errors for field in form)
    result = None
    if not invalid:
        stmt = call_query(
            actor,
            device=chosen_id(form.device.data),
            site=chosen_id(form.site.data),
            center=chosen_id(form.center.data),
            ani=ani,
            since=utc(form.since.data),
            until=utc(form.until.data),
        )
        result = paginate(session, stmt, page_number(), PER_PAGE)
    return render_template(
        "history/calls.html",
        form=form,
        ani=ani,
        result=result,
        rows=call_rows(list(result.items)) if result else [],
        filtering=any(v for k, v in request.args.items() if k != "page"),
        page_url=page_url,
        utc_hint=UTC_HINT,
    )


# --- the detail page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    key: str
    value: str


@dataclass(frozen=True)
class AnomalyView:
    code: str
    severity: str
    evidence: list[Evidence]


def _evidence_value(value: Any) -> str:
    if value is None or value == "":
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def anomaly_views(anomalies: list[dict[str, Any]]) -> list[AnomalyView]:
    """The record's anomaly dicts (``routing.policy.Anomaly.as_dict``) as rows of text; a dict of
    another shape still shows what it holds."""
    out = []
    for a in anomalies or []:
        if not isinstance(a, dict):
            out.append(AnomalyView(_evidence_value(a), "", []))
            continue
        evidence = a.get("evidence")
        items = evidence.items() if isinstance(evidence, dict) else []
        rest = {k: v for k, v in a.items() if k not in ("code", "severity", "evidence")}
        out.append(
            AnomalyView(
                code=str(a.get("code") or DASH),
                severity=str(a.get("severity") or ""),
                evidence=[Evidence(str(k), _evidence_value(v)) for k, v in [*items, *rest.items()]],
            )
        )
    return out


@dataclass(frozen=True)
class Prop:
    key: str
    label: str
    cell: Cell


def _text(value: Any) -> Cell:
    if value is None or value == "" or value == []:
        return Cell()
    if isinstance(value, bool):
        return Cell("yes" if value else "no")
    return Cell(str(value))


def call_props(c: CallRecord) -> tuple[list[Prop], list[Prop], list[Prop]]:
    """Three groups: the identity as received, where it came from, and what anigate decided."""
    names = names_of(db(), [c.device_id], [c.site_id], [c.center_id])
    identity = [
        Prop("ani", "ANI", _text(c.ani or "no number")),
        Prop("ani_source", "ANI taken from", _text(c.ani_source)),
        Prop("ani_raw", "Header value as received", _text(c.ani_raw)),
        Prop("presented_number", "Presented number (From)", _text(c.presented_number)),
        Prop("display_name", "Display name", _text(c.display_name)),
        Prop("privacy", "Privacy", _text(c.privacy)),
        Prop("attestation", "STIR/SHAKEN attestation", _text(c.attestation)),
        Prop(
            "identity_verified",
            "Identity verified",
            Cell("yes", badge="ok") if c.identity_verified else Cell("no", badge="warn"),
        ),
    ]
    origin = [
        Prop("received_at", "Received", Cell(when(c.received_at))),
        Prop("call_id", "Call-ID", _text(c.call_id)),
        Prop("source", "Source address", _text(c.source)),
        Prop("transport", "Transport", _text(c.transport)),
        Prop("trunk", "Trunk", _text(c.trunk_name or (f"#{c.trunk_id}" if c.trunk_id else None))),
        Prop("dnis", "Dialled number (DNIS)", _text(c.dnis)),
    ]
    decision = [
        Prop("device", "Device", names.device(c.device_id)),
        Prop("site", "Site", names.site(c.site_id)),
        Prop("center", "Center", names.center(c.center_id)),
        Prop("status", "SIP answer", status_cell(c.status)),
        Prop("reason", "Reason", _text(c.reason)),
        Prop(
            "targets",
            "Targets (Contact)",
            Cell("\n".join(c.targets), multiline=True) if c.targets else Cell(),
        ),
        Prop("priority", "Priority", _text(c.priority)),
        Prop("line", "Line", _text(c.line)),
        Prop("language", "Language", _text(c.language)),
        Prop("test_call", "EN 81-28 test call", _text(c.test_call)),
        Prop("latency", "Answer latency", Cell(f"{c.latency_us / 1000:.3f} ms")),
    ]
    return identity, origin, decision


@bp.get("/calls/<id:id>/")
@login_required
def call_detail(id: int) -> str:
    actor = current_actor()
    session = db()
    call = get_call(session, actor, id)  # NotFound (out of scope too): the 404 page
    raised = session.scalars(
        alarm_query(actor, AlarmFilter()).where(Alarm.call_id == call.call_id).limit(50)
    ).all()
    identity, origin, decision = call_props(call)
    return render_template(
        "history/call_detail.html",
        call=call,
        identity=identity,
        origin=origin,
        decision=decision,
        anomalies=anomaly_views(call.anomalies),
        alarms=raised,
        when=when,
    )
