"""The console's page, its event stream and the alarm actions (operators of a center and admins).

The page renders the live calls and active alarms once; ``/console/stream`` then sends every change
as an SSE message carrying the same server-rendered (escaped) HTML, which the page swaps in by key.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import login_required
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from alarms.choices import AlarmKind, AlarmState, PerceivedSeverity
from alarms.groups import GroupSettings, latest_groups
from alarms.lifecycle import TransitionRefused
from alarms.service import MAX_SHELVE
from console import bp, cards, may_use_console
from console.stream import Feed, Message, stream
from registry import errors
from registry.actors import Actor
from registry.db import utcnow
from registry.events import AlarmEvent, AlarmsGrouped
from registry.models import Site
from registry.outbox import StoredEvent
from registry.queries import visible
from registry.web.auth import current_actor
from registry.web.views import error_page
from webcore.context import commit, db, services

#: streams one web process serves at once; beyond, a console is told to retry (503) so that pages
#: and the API keep threads (gunicorn.conf.py gives each process more threads than this)
DEFAULT_MAX_STREAMS = 40


class ConsoleState:
    """Per app: the outbox reader and the count of open streams."""

    def __init__(self, feed: Feed, max_streams: int) -> None:
        self.feed = feed
        self.slots = threading.BoundedSemaphore(max_streams)
        self.max_streams = max_streams
        self.stopping = threading.Event()


def state() -> ConsoleState:
    return current_app.extensions["console"]  # type: ignore[no-any-return]


def _console_actor() -> Actor:
    actor = current_actor()
    if not may_use_console(actor):
        raise errors.Forbidden("the console is for security center operators and admins")
    return actor


def _scope_key(actor: Actor) -> str:
    return "admin" if actor.is_admin else f"center:{actor.center_id}"


def iso(dt: datetime | None) -> str:
    """An instant for the page's script (stored instants are UTC, SQLite hands them back naive)."""
    if dt is None:
        return ""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


@bp.app_template_filter("console_time")
def _console_time(dt: datetime | None) -> str:
    return "" if dt is None else dt.strftime("%Y-%m-%d %H:%M:%S")


# ---- rendering ------------------------------------------------------------------------------------


def _fragment(name: str, **context: Any) -> str:
    """A fragment template rendered by the app's Jinja environment (autoescaped like every .html)
    without the request's context processors: the stream renders after its request ended."""
    return current_app.jinja_env.get_template(name).render(**context)


def _render_card(card: cards.CallCard, fresh: bool = False) -> str:
    return _fragment("console/_card.html", card=card, fresh=fresh, iso=iso)


def _render_alarm(row: cards.AlarmRow, csrf: str = "", root: str = "") -> str:
    """An alarm row; ``root``: the app's script root (the stream renders outside the request)."""
    return _fragment(
        "console/_alarm.html",
        row=row,
        iso=iso,
        csrf=csrf,
        max_shelve=_max_shelve_minutes(),
        action_base=f"{root}/console/alarms/{row.alarm.id}/",
    )


def _kind_label(kind: str) -> str:
    try:
        return AlarmKind(kind).label
    except ValueError:
        return kind


def _render_group(group: AlarmsGrouped) -> str:
    """A site's grouped alarm notification (``alarms.groups``): counts only, no actions."""
    return _fragment("console/_group.html", g=group, kind_label=_kind_label)


def _groups_on_load(actor: Actor, now: datetime) -> list[AlarmsGrouped]:
    """The last grouped notification of each site the actor's console shows, from the horizon."""
    if not actor.is_admin and actor.center_id is None:
        return []
    since = now - GroupSettings().horizon
    return latest_groups(db(), None if actor.is_admin else actor.center_id, since)


def _max_shelve_minutes() -> int:
    return int(MAX_SHELVE // timedelta(minutes=1))


def _messages(actor: Actor, events: Sequence[StoredEvent], root: str = "") -> list[Message]:
    """The SSE messages of a batch of visible events: a card per call, the current row per alarm
    (one per alarm and batch; a removal once it left the console)."""
    if not events:
        return []
    feed = state().feed
    scope = _scope_key(actor)
    calls = [ev for ev in events if ev.event.type == "call.routed"]
    last_per_alarm: dict[int, StoredEvent] = {}
    alert: set[int] = set()
    out: list[Message] = []
    for ev in events:
        if isinstance(ev.event, AlarmsGrouped):  # a site's counts: replaces its previous one
            html = feed.rendered((ev.seq, "group"), lambda g=ev.event: _render_group(g))  # type: ignore[misc]
            key = f"group-{ev.event.site_id}-{ev.event.center_id or 0}"
            out.append(Message(ev.seq, "group", {"key": key, "html": html}))
        elif isinstance(ev.event, AlarmEvent):  # one alarm's change: its row
            alarm_id = ev.event.alarm_id
            last_per_alarm[alarm_id] = ev
            if ev.event.type == "alarm.raised" and ev.event.severity == PerceivedSeverity.CRITICAL.value:
                alert.add(alarm_id)
    with services().session_factory() as session:
        needed = [ev for ev in calls if not feed.has_rendered((ev.seq, scope))]
        records = {
            r.record_id: r
            for r in cards.records_by_id(session, actor, [ev.event.record_id for ev in needed])  # type: ignore[attr-defined]
        }
        built = {c.record.record_id: c for c in cards.call_cards(session, actor, list(records.values()))}
        for ev in calls:
            record_id = ev.event.record_id  # type: ignore[attr-defined]
            card = built.get(record_id)
            if card is None and not feed.has_rendered((ev.seq, scope)):
                continue  # not (or no longer) in this console's scope
            html = feed.rendered((ev.seq, scope), lambda c=card: _render_card(c, fresh=True))  # type: ignore[misc]
            out.append(Message(ev.seq, "call", {"key": f"call-{record_id}", "html": html}))
        alarms = {a.id: a for a in cards.alarms_by_id(session, actor, sorted(last_per_alarm))}
        rows = {r.alarm.id: r for r in cards.alarm_rows(session, list(alarms.values()))}
        for alarm_id, ev in last_per_alarm.items():
            row = rows.get(alarm_id)
            data: dict[str, object] = {"key": f"alarm-{alarm_id}"}
            if row is None or not cards.on_console(row.alarm):
                data["remove"] = True
            else:
                data.update(
                    html=_render_alarm(row, root=root),
                    severity=row.severity.value,
                    unacknowledged=row.unacknowledged,
                    alert=alarm_id in alert and row.unacknowledged,
                )
            out.append(Message(ev.seq, "alarm", data))
    return sorted(out, key=lambda m: m.id)


# ---- pages ----------------------------------------------------------------------------------------


@bp.get("/console/")
@login_required
def console() -> str:
    actor = _console_actor()
    session = db()
    head = state().feed.head()  # first: whatever commits after it comes over the stream
    now = utcnow()
    call_cards = cards.call_cards(session, actor, cards.recent_records(session, actor, now))
    rows = cards.active_alarms(session, actor)
    groups = _groups_on_load(actor, now)
    sites = session.scalars(visible(actor, Site).order_by(Site.name, Site.id)).all()
    return render_template(
        "console/console.html",
        head=head,
        cards=call_cards,
        alarms=rows,
        alarm_groups=groups,
        render_group=lambda g: Markup(_render_group(g)),
        sites=sites,
        severities=list(PerceivedSeverity),
        states=[s for s in AlarmState if s not in (AlarmState.CLOSED, AlarmState.SUPPRESSED)],
        # the fragments are templates of their own, escaped there
        render_card=lambda card: Markup(_render_card(card)),
        render_alarm=lambda row, csrf: Markup(_render_alarm(row, csrf, request.script_root)),
        csrf=ActionForm().csrf_token.current_token,
        window_hours=int(cards.CALL_WINDOW // timedelta(hours=1)),
    )


def _after() -> int:
    given = request.headers.get("Last-Event-ID") or request.args.get("after") or "0"
    try:
        value = int(given)
    except ValueError:
        abort(400, "Last-Event-ID must be an event id")
    if value < 0 or value > 2**62:
        abort(400, "Last-Event-ID must be an event id")
    return value


@bp.get("/console/stream")
@login_required
def console_stream() -> Response:
    actor = _console_actor()
    after = _after()
    st = state()
    if not st.slots.acquire(blocking=False):
        return Response(
            "too many open consoles on this server process; retrying\n",
            status=503,
            headers={"Retry-After": "3"},
            mimetype="text/plain",
        )
    try:
        st.feed.attach()
    except Exception:
        st.slots.release()
        raise

    # the stream outlives the request's context (a WSGI server iterates the body after the view
    # returned): it renders in an app context of its own and with what it took from the request
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    root = request.script_root

    def messages(events: Sequence[StoredEvent]) -> list[Message]:
        with app.app_context():
            return _messages(actor, events, root)

    def body() -> Any:
        try:
            yield from stream(st.feed, actor, after, messages, stopping=st.stopping.is_set)
        finally:
            st.feed.detach()
            st.slots.release()

    return Response(
        body(),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# ---- actions --------------------------------------------------------------------------------------


class ActionForm(FlaskForm):
    """Acknowledge, clear: an optional note."""

    note = TextAreaField("Note", validators=[Optional(), Length(max=2000)])


class NoteForm(FlaskForm):
    note = TextAreaField(
        "Note", validators=[DataRequired(message="a note needs some text"), Length(max=2000)]
    )


class ResetForm(FlaskForm):
    reason = StringField(
        "Reason",
        validators=[
            DataRequired(
                message="a reset needs a reason (for example: passengers freed by the fire brigade)"
            ),
            Length(max=2000),
        ],
    )


class ShelveForm(FlaskForm):
    minutes = IntegerField(
        "Minutes", validators=[DataRequired(message="for how many minutes?"), NumberRange(min=1)]
    )
    note = StringField("Note", validators=[Optional(), Length(max=2000)])


_FORMS: dict[str, type[FlaskForm]] = {
    "acknowledge": ActionForm,
    "note": NoteForm,
    "clear": ActionForm,
    "reset": ResetForm,
    "shelve": ShelveForm,
}


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _done(message: str, status: int) -> Response:
    if _wants_json():
        return Response(json.dumps({"message": message}), status=status, mimetype="application/json")
    flash(message, "success" if status < 400 else "error")
    return redirect(url_for("console.console"), 303)


@bp.post("/console/alarms/<id:id>/<any(acknowledge, note, clear, reset, shelve):action>")
@login_required
def alarm_action(id: int, action: str) -> Response:
    actor = _console_actor()
    form = _FORMS[action]()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400, "The form expired; reload the console.")
        first = next(iter(form.errors.values()))[0]
        return _done(f"Alarm {id}: {first}", 422)
    svc = services().alarms
    session = db()
    try:
        if action == "acknowledge":
            svc.acknowledge(session, actor, id, form.note.data or "")
        elif action == "note":
            svc.add_note(session, actor, id, form.note.data or "")
        elif action == "clear":
            svc.clear(session, actor, id, form.note.data or "")
        elif action == "reset":
            svc.reset(session, actor, id, form.reason.data or "")
        else:
            until = svc.clock() + timedelta(minutes=form.minutes.data)
            svc.shelve(session, actor, id, until, form.note.data or "")
        commit()
    except TransitionRefused as e:
        session.rollback()
        return _done(f"Alarm {id}: {e}", 409)
    except errors.ValidationFailed as e:
        session.rollback()
        return _done(f"Alarm {id}: " + "; ".join(str(v) for v in e.errors.values()), 422)
    return _done(f"Alarm {id}: {_DONE[action]}", 200)


_DONE = {
    "acknowledge": "acknowledged",
    "note": "note added",
    "clear": "cleared",
    "reset": "reset",
    "shelve": "shelved",
}


@bp.errorhandler(errors.NotFound)
def _not_found(e: errors.NotFound) -> Any:
    if _wants_json():
        return Response('{"message": "not found"}', status=404, mimetype="application/json")
    return error_page(404)


@bp.errorhandler(errors.Forbidden)
def _forbidden(e: errors.Forbidden) -> Any:
    return error_page(403, str(e))
