"""The report pages: ``/reports/`` (charts and their data tables), each chart as its own SVG, and the
EN 81-28 test-call compliance report as a printable page and as CSV.

Charts are served at their own URL (``<img src>``), not inlined: matplotlib styles its SVG with
``style`` attributes, which the pages' Content-Security-Policy (no inline style) would strip from an
inline SVG; an SVG image gets its own policy (styles yes, nothing else). Reads only; no SQL here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Response, abort, render_template, request, url_for
from flask_login import login_required

from registry.actors import Actor
from registry.choices import Role
from registry.csvio import E164_COLUMNS, neutralise_cell
from registry.web.auth import current_actor
from reports import bp, charts
from reports.compliance import Compliance, compliance
from reports.filters import Filtered, report_filter
from reports.queries import ROW_LIMIT, alarm_stats, anomaly_counts, call_counts, callers
from reports.stats import days_between
from webcore.context import db, services

#: an SVG image may style itself and do nothing else (it is ours, drawn by matplotlib)
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"


def may_see_reports(actor: Actor) -> bool:
    """Everyone who browses the pages; an integration (PBX) account sees none."""
    return actor.role != Role.INTEGRATION


def _actor() -> Actor:
    actor = current_actor()
    if not may_see_reports(actor):
        abort(403)  # as the registry's pages answer an integration account
    return actor


def duration(seconds: float | None) -> str:
    """A time to acknowledge in words: ``45 s``, ``3 min 5 s``, ``2 h 10 min``; ``—`` without one."""
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


def hours(span: timedelta | None) -> str:
    if span is None:
        return ""
    value = span / timedelta(hours=1)
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


@bp.context_processor
def _helpers() -> dict[str, object]:
    return {
        "duration": duration,
        "hours": hours,
        "row_limit": ROW_LIMIT,
        "grace_minutes": f"{services().settings.test_call_grace_minutes:g}",
    }


def _now() -> datetime:
    return services().clock()


def _filtered() -> Filtered:
    return report_filter(db(), _actor(), _now())


def _args() -> dict[str, Any]:
    """The filter of this request, for the chart and CSV links of the page."""
    return {k: v for k in ("site", "center", "since", "until") if (v := request.args.get(k, "").strip())}


@bp.get("/reports/")
@login_required
def report() -> str:
    f = _filtered()
    session = db()
    args = _args()
    return render_template(
        "reports/report.html",
        f=f,
        calls=call_counts(session, f.scope),
        anomalies=anomaly_counts(session, f.scope),
        alarms=alarm_stats(session, f.scope),
        callers=callers(session, f.scope),
        chart={n: (title, url_for("reports.chart", name=n, **args)) for n, (title, _) in CHARTS.items()},
        generated_at=_now(),
    )


def _minutes(seconds: float | None) -> float:
    return round((seconds or 0) / 60, 1)


def _calls_per_day(f: Filtered, title: str) -> str:
    counts = call_counts(db(), f.scope)
    days = [d.isoformat() for d in counts.per_day]
    return charts.bars("calls_per_day", title, days, list(counts.per_day.values()), "calls")


def _calls_per_hour(f: Filtered, title: str) -> str:
    hours = [f"{h:02d}" for h in range(24)]
    return charts.bars("calls_per_hour", title, hours, call_counts(db(), f.scope).per_hour, "calls")


def _anomalies(f: Filtered, title: str) -> str:
    per_code = anomaly_counts(db(), f.scope).per_code
    days = days_between(f.scope.first_day, f.scope.end_day)
    series = [(code, [per_code[code].get(d, 0) for d in days]) for code in sorted(per_code)]
    return charts.stacked_bars("anomalies", title, [d.isoformat() for d in days], series, "calls")


def _alarms_by_severity(f: Filtered, title: str) -> str:
    rows = alarm_stats(db(), f.scope).by_severity
    labels = [s.severity.label for s in rows]
    return charts.bars("alarms_by_severity", title, labels, [s.raised for s in rows], "alarms")


def _time_to_ack(f: Filtered, title: str) -> str:
    rows = alarm_stats(db(), f.scope).by_severity
    pairs = [
        ("median", [_minutes(s.median_ack) for s in rows]),
        ("90th percentile", [_minutes(s.p90_ack) for s in rows]),
    ]
    return charts.paired_bars("time_to_ack", title, [s.severity.label for s in rows], pairs, "minutes")


#: name -> (title, drawing)
CHARTS: dict[str, tuple[str, Callable[[Filtered, str], str]]] = {
    "calls_per_day": ("Calls per day", _calls_per_day),
    "calls_per_hour": ("Calls per hour of day", _calls_per_hour),
    "anomalies": ("Anomalies by kind per day", _anomalies),
    "alarms_by_severity": ("Alarms by severity", _alarms_by_severity),
    "time_to_ack": ("Time to acknowledge (median and 90th percentile)", _time_to_ack),
}


@bp.get("/reports/charts/<name>.svg")
@login_required
def chart(name: str) -> Response:
    if name not in CHARTS:
        abort(404)
    f = _filtered()
    title, draw = CHARTS[name]
    svg = draw(f, f"{title} ({f.scope_label}), from {f.scope.first_day} until {f.scope.end_day}")
    resp = Response(svg, mimetype="image/svg+xml")
    resp.headers["Content-Security-Policy"] = SVG_POLICY
    resp.headers["Cache-Control"] = "private, no-cache"
    return resp


# ---- EN 81-28 test-call compliance ----------------------------------------------------------------


def _compliance() -> tuple[Filtered, Compliance]:
    f = _filtered()
    grace = timedelta(minutes=services().settings.test_call_grace_minutes)
    return f, compliance(db(), f.scope, _now(), grace)


@bp.get("/reports/test-calls")
@login_required
def test_call_compliance() -> str:
    f, c = _compliance()
    return render_template(
        "reports/test_calls.html",
        f=f,
        c=c,
        csv_url=url_for("reports.test_call_csv", **_args()),
        generated_at=c.now,
    )


CSV_COLUMNS = (
    "device_id",
    "ani",
    "site",
    "location",
    "status",
    "interval_hours",
    "compliance",
    "last_test_call",
    "due_by",
    "test_calls_in_period",
    "longest_gap_hours",
    "test_call_times",
)


def _cell(column: str, value: object) -> str:
    text = "" if value is None else value.isoformat() if isinstance(value, datetime) else str(value)
    # validated E.164 numbers go out as they are, as the registry's own export does
    if column in E164_COLUMNS and text.startswith("+") and text[1:].isdigit():
        return text
    return neutralise_cell(text)


@bp.get("/reports/test-calls.csv")
@login_required
def test_call_csv() -> Response:
    f, c = _compliance()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for p in c.phones:
        verdict = "overdue" if p.overdue else "ok" if p.supervised else "not supervised"
        row = {
            "device_id": p.device_id,
            "ani": p.ani,
            "site": p.site_name,
            "location": p.location,
            "status": p.status.value,
            "interval_hours": p.interval // timedelta(hours=1) if p.interval else "",
            "compliance": verdict,
            "last_test_call": p.last_test_at,
            "due_by": p.due_by,
            "test_calls_in_period": len(p.test_calls),
            "longest_gap_hours": round(p.longest_gap / timedelta(hours=1), 1) if p.longest_gap else "",
            "test_call_times": " ".join(t.isoformat() for t in p.test_calls),
        }
        writer.writerow([_cell(k, row[k]) for k in CSV_COLUMNS])
    stamp = c.now.strftime("%Y%m%d")
    resp = Response(out.getvalue(), mimetype="text/csv")
    resp.headers["Content-Disposition"] = (
        f'attachment; filename="test-calls-{f.scope.first_day:%Y%m%d}-{f.scope.end_day:%Y%m%d}-{stamp}.csv"'
    )
    return resp
