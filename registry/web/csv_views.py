"""CSV in the browser: upload, then a job page (the check's progress, its report, the confirmation,
the import's result), template and filtered export for devices, sites and locations.

The check and the import run as jobs (:mod:`registry.csvjobs`) in the job thread of a web process,
never in the request; the job page refreshes itself (``<meta http-equiv="refresh">``, no script)
until there is something to read. The CSV rules live in csvio, the job rules in csvjobs.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.wrappers import Response

from registry import csvjobs
from registry.actors import Actor
from registry.choices import CsvJobPhase, CsvJobState, DeviceKind, DeviceStatus, LocationKind
from registry.csvio import COLUMNS, export_csv, neutralise_cell
from registry.errors import Forbidden
from registry.models import CsvJob
from registry.web import bp
from registry.web.auth import current_actor
from webcore.context import commit, db, services

#: URL plural -> csvio object type
OBJECT_TYPES = {"devices": "device", "sites": "site", "locations": "location"}
PLURALS = {v: k for k, v in OBJECT_TYPES.items()}
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
#: errors listed on the job page; the rest are counted
MAX_ERRORS_SHOWN = csvjobs.MAX_ERRORS_KEPT
#: seconds between two loads of a job page that is still waiting or running
REFRESH_SECONDS = 2
_KINDS = {"device": DeviceKind.values(), "site": [], "location": LocationKind.values()}

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
    """The job's id is in the URL; the form is its CSRF token."""


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


def _uploads() -> Path:
    return csvjobs.uploads_dir(services().settings.instance_dir)


def _runner() -> csvjobs.CsvJobRunner:
    """This process's job thread, started on first use (gunicorn workers start it at boot, wsgi.py)."""
    runner = services().csv_jobs
    runner.start()
    return runner


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


def _import_page(plural: str, form: CsvUploadForm, status: int = 200) -> tuple[str, int]:
    object_type = _object_type(plural)
    jobs = csvjobs.list_jobs(db(), current_actor(), 10, object_type=object_type, own=True)
    return render_template(
        "registry/csv_import.html",
        form=form,
        plural=plural,
        object_type=object_type,
        columns=COLUMNS[object_type],
        jobs=[_job_row(j) for j in jobs],
        is_admin=False,  # the user's own uploads: no user column
        max_rows=csvjobs.MAX_WEB_ROWS,
    ), status


def _job_row(job: CsvJob) -> dict[str, Any]:
    return {"job": job, "status": _status(job), "plural": PLURALS[job.object_type]}


def _status(job: CsvJob) -> str:
    """The job's state in a few words, for lists and the page's heading."""
    report = csvjobs.report_of(job)
    if job.state == CsvJobState.FAILED:
        return "failed"
    if job.state == CsvJobState.QUEUED:
        return "waiting to be checked" if job.phase == CsvJobPhase.CHECK else "waiting to be imported"
    if job.state == CsvJobState.RUNNING:
        return "being checked" if job.phase == CsvJobPhase.CHECK else "being imported"
    if job.phase == CsvJobPhase.IMPORT:
        return "imported" if report is not None and report.ok else "not imported"
    if report is not None and not report.ok:
        return "has bad rows"
    return "expired" if csvjobs.expired(job) else "checked, waiting for confirmation"


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
            filename = form.file.data.filename or "upload.csv"
            region = services().settings.default_region
            job = csvjobs.submit_job(db(), actor, object_type, text, filename, _uploads(), region)
            commit()
            _runner().wake()
            return redirect(url_for("registry.csv_job", job_id=job.id), code=303)
    return _import_page(plural, form, 400 if form.errors else 200)


@bp.route("/imports/", endpoint="csv_job_list")
@login_required
def csv_job_list() -> str:
    actor = current_actor()
    jobs = csvjobs.list_jobs(db(), actor)
    return render_template(
        "registry/csv_jobs.html", jobs=[_job_row(j) for j in jobs], is_admin=actor.is_admin
    )


@bp.route("/imports/<id:job_id>/", endpoint="csv_job")
@login_required
def csv_job(job_id: int) -> str:
    actor = current_actor()
    job = csvjobs.visible_job(db(), actor, job_id)  # NotFound: not theirs, a 404 page
    _runner()
    report = csvjobs.report_of(job)
    waiting = job.state in (CsvJobState.QUEUED, CsvJobState.RUNNING)
    mine = job.user_id == actor.user_id
    return render_template(
        "registry/csv_job.html",
        job=job,
        plural=PLURALS[job.object_type],
        status=_status(job),
        report=report,
        errors=report.errors[:MAX_ERRORS_SHOWN] if report else [],
        waiting=waiting,
        writing=job.state == CsvJobState.RUNNING
        and job.phase == CsvJobPhase.IMPORT
        and 0 < job.rows_total == job.rows_done,
        refresh=REFRESH_SECONDS if waiting else None,
        confirm_form=CsvConfirmForm() if mine and csvjobs.awaits_confirmation(job) else None,
        expired=csvjobs.expired(job),
        upload_form=CsvUploadForm() if mine and not waiting else None,
        owner=job.user.username,
        mine=mine,
        list_endpoint=LIST_ENDPOINTS[job.object_type],
        max_rows=csvjobs.MAX_WEB_ROWS,
    )


@bp.route("/imports/<id:job_id>/confirm", methods=["POST"], endpoint="csv_job_confirm")
@login_required
def csv_job_confirm(job_id: int) -> Response:
    actor = current_actor()
    form = CsvConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    job = csvjobs.visible_job(db(), actor, job_id)
    _require_import(actor, job.object_type)
    problem = csvjobs.confirm_job(db(), actor, job, _uploads())  # Forbidden: an admin, not the owner
    commit()
    if problem:
        flash(problem, "error")
    else:
        _runner().wake()
    return redirect(url_for("registry.csv_job", job_id=job_id), code=303)


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
