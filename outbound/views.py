"""Admin pages of events out: the sinks with their backlog, a sink's dead letters (retry one or all),
a test event, and the create/edit forms, whose secret fields are write-only (never shown again; an
empty one keeps the stored value)."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import BooleanField, IntegerField, PasswordField, SelectMultipleField, StringField
from wtforms.validators import NumberRange
from wtforms.widgets import CheckboxInput, ListWidget

from integrations import relay, sinks
from integrations.models import DEAD, Delivery, SinkConfig
from integrations.secretbox import SecretBox
from outbound import bp
from registry import errors
from registry.actors import Actor
from registry.db import utcnow
from registry.events import EVENT_TYPES
from registry.web.auth import current_actor
from registry.web.views import error_page
from webcore.context import commit, db


def _admin() -> Actor:
    actor = current_actor()
    actor.require_admin("sinks")
    return actor


def _box() -> SecretBox:
    return SecretBox(current_app.config["SECRET_KEY"])


class ActionForm(FlaskForm):
    """A button's POST: the CSRF token only."""


class SinkForm(FlaskForm):
    name = StringField("Name", description="letters, digits, - and _; the relay logs it")
    enabled = BooleanField("Enabled", default=True)
    event_types = SelectMultipleField(
        "Event types",
        choices=sorted(EVENT_TYPES),
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
        description="none ticked: every type this kind carries",
    )
    max_attempts = IntegerField(
        "Attempts before a dead letter", default=10, validators=[NumberRange(1, 1000)]
    )
    max_age_seconds = IntegerField("Age limit (s)", default=86_400, validators=[NumberRange(60, 30 * 86_400)])


def _form_class(kind_cls: Any, creating: bool) -> type[SinkForm]:
    """The form of one kind: its settings as text fields, its secrets as password fields."""
    keep = "" if creating else " (stored: leave empty to keep it)"
    fields: dict[str, Any] = {
        f"setting_{name}": StringField(name, description=help_text)
        for name, help_text in kind_cls.setting_fields.items()
    }
    fields |= {
        f"secret_{name}": PasswordField(name, description=help_text + keep)
        for name, help_text in kind_cls.secret_fields.items()
    }
    return type("KindForm", (SinkForm,), fields)


def _values(form: SinkForm, kind_cls: Any) -> tuple[dict[str, Any], dict[str, str]]:
    settings = {
        name: form[f"setting_{name}"].data
        for name in kind_cls.setting_fields
        if (form[f"setting_{name}"].data or "").strip() != ""
    }
    secrets = {name: form[f"secret_{name}"].data or "" for name in kind_cls.secret_fields}
    return settings, secrets


def _show_errors(form: SinkForm, errs: dict[str, str]) -> dict[str, str]:
    rest = {}
    for key, message in errs.items():
        for candidate in (key, f"setting_{key}", f"secret_{key}"):
            if candidate in form._fields:
                form[candidate].errors = [message]
                break
        else:
            rest[key] = message
    return rest


@bp.route("/admin/sinks/", endpoint="sink_list")
@login_required
def sink_list() -> str:
    _admin()
    session = db()
    rows = session.scalars(select(SinkConfig).order_by(SinkConfig.name)).all()
    now = utcnow()
    return render_template(
        "outbound/sinks.html",
        rows=[(x, relay.backlog(session, x.id)) for x in rows],
        kinds=sorted(sinks.kinds()),
        now=now,
    )


@bp.route("/admin/sinks/<id:id>/", endpoint="sink_detail")
@login_required
def sink_detail(id: int) -> str:
    actor = _admin()
    session = db()
    sink = sinks.get_sink(session, actor, id)
    dead = session.scalars(
        select(Delivery)
        .where(Delivery.sink_id == id, Delivery.state == DEAD)
        .order_by(Delivery.seq)
        .limit(500)
    ).all()
    try:
        secret_names = sorted(_box().open(sink.secrets))
    except ValueError as e:
        secret_names = []
        flash(str(e), "warning")
    return render_template(
        "outbound/sink.html",
        sink=sink,
        backlog=relay.backlog(session, id),
        dead=dead,
        secret_names=secret_names,
        form=ActionForm(),
        now=utcnow(),
    )


@bp.route("/admin/sinks/new", methods=["GET", "POST"], endpoint="sink_create")
@login_required
def sink_create() -> Any:
    actor = _admin()
    kind = request.args.get("kind", "")
    kind_cls = sinks.kinds().get(kind)
    if kind_cls is None:
        abort(404)
    form = _form_class(kind_cls, creating=True)()
    other: dict[str, str] = {}
    status = 200
    if form.validate_on_submit():
        settings, secrets = _values(form, kind_cls)
        try:
            sink = sinks.create_sink(
                db(),
                actor,
                _box(),
                name=form.name.data or "",
                kind=kind,
                settings=settings,
                secrets=secrets,
                event_types=list(form.event_types.data or []),
                enabled=bool(form.enabled.data),
                max_attempts=form.max_attempts.data or 10,
                max_age_seconds=form.max_age_seconds.data or 86_400,
            )
            commit()
        except errors.ValidationFailed as e:
            db().rollback()
            status, other = 422, _show_errors(form, {k: str(v) for k, v in e.errors.items()})
        except errors.Conflict as e:
            db().rollback()
            status, other = 409, _show_errors(form, {e.field or "": e.message})
        else:
            flash(f"Sink {sink.name} created; the relay starts it within seconds.", "success")
            return redirect(url_for("outbound.sink_detail", id=sink.id), 303)
    elif request.method == "POST":
        status = 422
    page = render_template("outbound/sink_form.html", form=form, kind=kind, sink=None, other=other)
    return (page, status) if status != 200 else page


@bp.route("/admin/sinks/<id:id>/edit", methods=["GET", "POST"], endpoint="sink_edit")
@login_required
def sink_edit(id: int) -> Any:
    actor = _admin()
    session = db()
    sink = sinks.get_sink(session, actor, id)
    kind_cls = sinks.kinds().get(sink.kind)
    if kind_cls is None:
        abort(404)
    form = _form_class(kind_cls, creating=False)()
    other: dict[str, str] = {}
    status = 200
    if request.method == "GET":
        form.name.data, form.enabled.data = sink.name, sink.enabled
        form.event_types.data = list(sink.event_types or [])
        form.max_attempts.data, form.max_age_seconds.data = sink.max_attempts, sink.max_age_seconds
        for name in kind_cls.setting_fields:
            value = (sink.settings or {}).get(name)
            form[f"setting_{name}"].data = "" if value is None else str(value)
    elif form.validate_on_submit():
        settings, secrets = _values(form, kind_cls)
        try:
            sinks.update_sink(
                session,
                actor,
                _box(),
                id,
                settings=settings,
                secrets=secrets,
                event_types=list(form.event_types.data or []),
                enabled=bool(form.enabled.data),
                max_attempts=form.max_attempts.data,
                max_age_seconds=form.max_age_seconds.data,
            )
            commit()
        except (errors.ValidationFailed, ValueError) as e:
            session.rollback()
            errs = e.errors if isinstance(e, errors.ValidationFailed) else {"": str(e)}
            status, other = 422, _show_errors(form, {k: str(v) for k, v in errs.items()})
        else:
            flash(f"Sink {sink.name} saved; the relay restarts it within seconds.", "success")
            return redirect(url_for("outbound.sink_detail", id=id), 303)
    else:
        status = 422
    form.name.render_kw = {"readonly": True}
    page = render_template("outbound/sink_form.html", form=form, kind=sink.kind, sink=sink, other=other)
    return (page, status) if status != 200 else page


def _act(id: int, what: str) -> Response:
    actor = _admin()
    if not ActionForm().validate_on_submit():
        abort(400)
    session = db()
    sink = sinks.get_sink(session, actor, id)
    if what == "test":
        sinks.send_test_event(session, actor, id)
        message = f"A test event is on its way to {sink.name}."
    elif what == "delete":
        name = sink.name
        sinks.delete_sink(session, actor, id)
        commit()
        flash(f"Sink {name} deleted.", "success")
        return redirect(url_for("outbound.sink_list"), 303)
    else:
        delivery = request.form.get("delivery", type=int)
        n = relay.retry_dead(session, id, delivery)
        message = f"{n} dead letter{'s' if n != 1 else ''} of {sink.name} queued again."
    commit()
    flash(message, "success")
    return redirect(url_for("outbound.sink_detail", id=id), 303)


@bp.post("/admin/sinks/<id:id>/test", endpoint="sink_test")
@login_required
def sink_test(id: int) -> Response:
    return _act(id, "test")


@bp.post("/admin/sinks/<id:id>/retry", endpoint="sink_retry")
@login_required
def sink_retry(id: int) -> Response:
    return _act(id, "retry")


@bp.post("/admin/sinks/<id:id>/delete", endpoint="sink_delete")
@login_required
def sink_delete(id: int) -> Response:
    return _act(id, "delete")


@bp.app_template_filter("age")
def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


@bp.errorhandler(errors.NotFound)
def _not_found(e: errors.NotFound) -> Any:
    return error_page(404)


@bp.errorhandler(errors.Forbidden)
def _forbidden(e: errors.Forbidden) -> Any:
    return error_page(403, str(e))
