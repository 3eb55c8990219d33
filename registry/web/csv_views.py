"""CSV in the browser: upload, preview (a dry run of :func:`registry.csvio.import_csv`), confirm,
template and filtered export for devices, sites and locations. The CSV rules live in csvio, not here.

An upload waits for its confirmation in ``instance_dir/uploads/<token>.csv`` (0600) for at most an
hour; the token is bound to the uploading user through the signed session.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response
from wtforms import HiddenField
from wtforms.validators import DataRequired

from registry.actors import Actor
from registry.choices import DeviceKind, DeviceStatus, LocationKind
from registry.csvio import COLUMNS, ImportReport, export_csv, import_csv, neutralise_cell
from registry.errors import Forbidden
from registry.web import bp
from registry.web.auth import current_actor
from webcore.context import db, services

#: URL plural -> csvio object type
OBJECT_TYPES = {"devices": "device", "sites": "site", "locations": "location"}
_PLURAL = "<any(devices, sites, locations):plural>"
LIST_ENDPOINTS = {
    "device": "registry.device_list",
    "site": "registry.site_list",
    "location": "registry.location_list",
}
#: query parameters of each list page that the export honours (same names as the list's filters)
EXPORT_FILTERS = {
    "device": ("site", "kind", "status", "trunk", "location", "q"),
    "site": ("country",),
    "location": ("site", "kind"),
}
#: the largest file accepted (the app's MAX_CONTENT_LENGTH caps the whole request above this)
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: an upload not confirmed within this many seconds is deleted
UPLOAD_TTL_SECONDS = 3600
#: pending uploads remembered per session (older ones are dropped with their files)
MAX_PENDING = 5
#: errors listed on the preview page; the rest are counted
MAX_ERRORS_SHOWN = 500
_KINDS = {"device": DeviceKind.values(), "site": [], "location": LocationKind.values()}
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")
_SESSION_KEY = "csv_uploads"

#: one example row per type, valid against the demo estate (`make run`), for the template download
EXAMPLES: dict[str, dict[str, str]] = {
    "device": {
        "ani": "030 2390 5990",
        "kind": "elevator_phone",
        "vendor": "Telegärtner",
        "model": "TLT 3.0",
        "serial": "TG-24-9990",
        "site": "spree-tower",
        "location": "North core/Lift 1",
        "trunk": "loopback",
        "test_interval_hours": "72",
        "status": "active",
        "notes": "Second phone in the cabin",
    },
    "site": {
        "name": "Example House",
        "slug": "example-house",
        "address": "Example Street 1, 10115 Berlin",
        "country": "DE",
        "timezone": "Europe/Berlin",
        "day_center": "Leitstelle Berlin",
        "out_of_hours_center": "Leitstelle Berlin",
        "business_hours": "Office hours Mon-Fri 07-19",
        "holidays": "2026-12-24 2026-12-31",
        "notes": "Concierge on site during business hours",
    },
    "location": {
        "site": "spree-tower",
        "building": "North core",
        "kind": "elevator_cabin",
        "name": "Lift 9",
        "floor": "",
        "notes": "Goods lift",
        "camera_ref": "cam-tower-lift9",
    },
}


class CsvUploadForm(FlaskForm):
    file = FileField("CSV file", validators=[FileRequired("Choose a CSV file to upload.")])


class CsvConfirmForm(FlaskForm):
    token = HiddenField(validators=[DataRequired()])


# --- helpers -------------------------------------------------------------------------------------


def _object_type(plural: str) -> str:
    return OBJECT_TYPES[plural]


def _require_import(actor: Actor, object_type: str) -> None:
    """Importing writes: sites are the admins'; devices and locations also their facility managers'."""
    try:
        if object_type == "site":
            actor.require_admin("sites")
        else:
            actor.require_site_writer()
    except Forbidden:
        abort(403)


def _uploads_dir() -> Path:
    path = Path(services().settings.instance_dir) / "uploads"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _sweep(folder: Path, now: float) -> None:
    """Remove uploads nobody confirmed within the hour (any user's: the folder is shared)."""
    for path in folder.glob("*.csv"):
        with contextlib.suppress(FileNotFoundError):  # another request swept it first
            if now - path.stat().st_mtime > UPLOAD_TTL_SECONDS:
                path.unlink()


def _pending() -> dict[str, list[Any]]:
    """token -> [user id, object type, upload time, file name] of the uploads awaiting confirmation."""
    value = session.get(_SESSION_KEY)
    return dict(value) if isinstance(value, dict) else {}


def _keep(text: str, user_id: int | None, object_type: str, filename: str) -> str:
    folder = _uploads_dir()
    now = time.time()
    _sweep(folder, now)
    token = secrets.token_urlsafe(24)  # 32 URL-safe characters
    fd = os.open(folder / f"{token}.csv", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        out.write(text)
    pending = _pending()
    pending[token] = [user_id, object_type, now, filename]
    for old in sorted(pending, key=lambda t: pending[t][2])[:-MAX_PENDING]:
        (folder / f"{old}.csv").unlink(missing_ok=True)
        del pending[old]
    session[_SESSION_KEY] = pending
    return token


def _forget(token: str) -> None:
    (_uploads_dir() / f"{token}.csv").unlink(missing_ok=True)
    pending = _pending()
    pending.pop(token, None)
    session[_SESSION_KEY] = pending


def _read_upload(form: CsvUploadForm) -> str | None:
    """The uploaded file as text, or None with the reason added to the form's errors."""
    stream = form.file.data.stream
    raw = stream.read(MAX_UPLOAD_BYTES + 1)
    if len(raw) > MAX_UPLOAD_BYTES:
        form.file.errors.append(
            f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it into smaller files."
        )
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        form.file.errors.append(
            f"The file is not UTF-8 text (byte {exc.start + 1} cannot be read). "
            'Save it as "CSV UTF-8" in your spreadsheet program and upload it again.'
        )
        return None


def _run(object_type: str, text: str, *, dry_run: bool) -> ImportReport:
    actor = current_actor()
    try:
        return import_csv(
            db(),
            actor,
            object_type,
            io.StringIO(text, newline=""),
            dry_run=dry_run,
            default_region=services().settings.default_region,
        )
    except Forbidden:
        abort(403)


def _preview(plural: str, report: ImportReport, *, filename: str, token: str = "", status: int = 200) -> Any:
    html = render_template(
        "registry/csv_preview.html",
        plural=plural,
        report=report,
        errors=report.errors[:MAX_ERRORS_SHOWN],
        filename=filename,
        confirm_form=CsvConfirmForm(token=token) if token else None,
        upload_form=CsvUploadForm(),
    )
    return html, status


# --- pages ---------------------------------------------------------------------------------------


@bp.route(f"/{_PLURAL}/import", methods=["GET", "POST"], endpoint="csv_import")
@login_required
def csv_import(plural: str) -> Any:
    object_type = _object_type(plural)
    actor = current_actor()
    _require_import(actor, object_type)
    form = CsvUploadForm()
    if form.validate_on_submit():
        text = _read_upload(form)
        if text is not None:
            report = _run(object_type, text, dry_run=True)
            filename = (form.file.data.filename or "upload.csv")[:120]
            token = _keep(text, actor.user_id, object_type, filename) if report.ok else ""
            return _preview(plural, report, filename=filename, token=token)
    status = 400 if form.errors else 200
    return render_template(
        "registry/csv_import.html",
        form=form,
        plural=plural,
        object_type=object_type,
        columns=COLUMNS[object_type],
    ), status


@bp.route(f"/{_PLURAL}/import/confirm", methods=["POST"], endpoint="csv_import_confirm")
@login_required
def csv_import_confirm(plural: str) -> Any:
    object_type = _object_type(plural)
    actor = current_actor()
    _require_import(actor, object_type)
    form = CsvConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    token = form.token.data or ""
    owner = _pending().get(token)
    if not _TOKEN.match(token) or owner is None or owner[:2] != [actor.user_id, object_type]:
        abort(404)  # not this user's upload (or not for this list): nothing to tell
    path = _uploads_dir() / f"{token}.csv"
    try:
        fresh = time.time() - path.stat().st_mtime <= UPLOAD_TTL_SECONDS
        text = path.read_text(encoding="utf-8") if fresh else None
    except FileNotFoundError:
        text = None
    _forget(token)  # one attempt per upload, whatever its outcome
    if text is None:
        flash("That upload has expired (uploads are kept for an hour). Upload the file again.", "error")
        return redirect(url_for("registry.csv_import", plural=plural))
    try:
        report = _run(object_type, text, dry_run=False)
        if not report.ok:
            db().rollback()
            # the registry changed since the preview: show what is wrong now, nothing was written
            return _preview(plural, report, filename=owner[3], status=409)
        db().commit()
    except IntegrityError:
        # someone else wrote a clashing row (same ANI, slug, place) between our checks and the insert
        db().rollback()
        flash("The registry changed during the import; nothing was imported. Upload the file again.", "error")
        return redirect(url_for("registry.csv_import", plural=plural))
    counts = f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged"
    flash(f"Imported {plural}: {counts}.", "success")
    return redirect(url_for(LIST_ENDPOINTS[object_type]))


def _csv_response(body: Iterator[bytes] | bytes, filename: str) -> Response:
    resp = Response(body, mimetype="text/csv")
    resp.headers["Content-Type"] = "text/csv; charset=utf-8"
    resp.headers["Content-Disposition"] = f"attachment; filename={filename}"
    resp.headers["Cache-Control"] = "no-store"  # registry data: not for shared caches
    return resp


@bp.route(f"/{_PLURAL}/template.csv", endpoint="csv_template")
@login_required
def csv_template(plural: str) -> Response:
    object_type = _object_type(plural)
    columns = [c for c in COLUMNS[object_type] if c != "id"]
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerow([neutralise_cell(EXAMPLES[object_type].get(c, "")) for c in columns])
    return _csv_response(out.getvalue().encode("utf-8"), f"{plural}-template.csv")


@bp.route(f"/{_PLURAL}/export.csv", endpoint="csv_export")
@login_required
def csv_export(plural: str) -> Response:
    object_type = _object_type(plural)
    filters = {k: request.args.get(k, "").strip() for k in EXPORT_FILTERS[object_type]}
    # an unknown kind or status filters nothing, as on the list page (the columns reject the value)
    for key, choices in (("kind", _KINDS[object_type]), ("status", DeviceStatus.values())):
        if key in filters and filters[key] not in choices:
            filters[key] = ""
    # written in full before the first byte goes out (no session held open while a slow client
    # reads); spooled to disk beyond a few MB so a large registry does not sit in memory
    spool = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024, mode="w+b")  # noqa: SIM115
    try:
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="", write_through=True)
        export_csv(db(), current_actor(), object_type, text, **filters)
        text.detach()  # keep the spool open: the response reads it
        spool.seek(0)
    except BaseException:
        spool.close()
        raise

    def chunks() -> Iterator[bytes]:
        with spool:  # closed when sent, or by call_on_close when the body is never read
            while block := spool.read(64 * 1024):
                yield block

    stamp = datetime.now(UTC).strftime("%Y%m%d")
    resp = _csv_response(chunks(), f"{plural}-{stamp}.csv")
    resp.call_on_close(spool.close)
    return resp
