"""The report pages: figures that match the calls and alarms recorded (through the recorder and the
alarm service, as the worker does), scoping per role and filter, SVG charts with escaped text, and
the EN 81-28 test-call compliance report as a printable page and as CSV."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alarms.models import Alarm
from bootstrap import Services, build_services
from config import Settings
from registry.actors import Actor
from registry.db import Base
from routing.journal import JournalWriter
from routing.recorder import CallRecorder
from tests import factories as f
from tests.fakes import FakeClock
from tests.web_support import login, text_of, user

#: "now" for the app: the compliance report and the default period read it
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
NOVEMBER = "since=2026-11-01&until=2026-12-01"
XSS = "<img src=x onerror=alert(1)>"
XSS_ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def services(settings: Settings, clock: FakeClock) -> Iterator[Services]:
    svc = build_services(settings, clock=clock)
    Base.metadata.create_all(svc.engine)
    yield svc
    svc.close()


class Calls:
    """Calls as the SIP worker journals them, stored by the recorder with the alarm engine
    observing (the worker's wiring)."""

    def __init__(self, services: Services, directory: Path):
        self.services = services
        self.directory = directory
        self.writer = JournalWriter(directory)
        self.n = 0

    def add(self, at: datetime, device: Any = None, **kw: Any) -> None:
        self.n += 1
        record = {
            "type": "call",
            "record_id": f"rep{self.n:029d}",
            "call_id": f"call-{self.n}@pbx",
            "received_at": at.timestamp(),
            "source": "127.0.0.1:5062",
            "transport": "UDP",
            "trunk_name": "loopback",
            "ani": device.ani if device is not None else "+4989111222",
            "ani_source": "pai-tel",
            "device_id": device.id if device is not None else None,
            "site_id": device.site_id if device is not None else None,
            "status": 302,
            "line": "emergency",
            "targets": ["sip:berlin@127.0.0.1:5070"],
            "reason": "device",
            "anomalies": [],
            "latency_us": 100,
        } | kw
        self.writer.append(record)

    def store(self) -> None:
        recorder = CallRecorder(
            self.services.session_factory, self.directory, observers=self.services.call_observers
        )
        recorder.drain()


@pytest.fixture
def calls(services: Services, tmp_path: Path) -> Iterator[Calls]:
    c = Calls(services, tmp_path / "journal")
    yield c
    c.writer.close()


@pytest.fixture
def est(session: Session) -> dict[str, Any]:
    e = f.estate(session)
    e["other_center"] = f.center(session, name="Hamburg Control", sip_uris=["sip:hh@127.0.0.1:5071"])
    e["far"] = f.site(session, name="Far Tower", slug="far", day_center=e["other_center"].id)
    e["far_lift"] = f.device(session, e["far"].id, ani="+494011122233")
    session.commit()
    return e


def page(client: Any, path: str) -> str:
    resp = client.get(path)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return str(resp.get_data(as_text=True))


def day_row(html: str, table: str, day: str) -> str:
    """The count of ``day`` in a two-column data table."""
    text = text_of(html, table) or ""
    cells = text.split()
    return cells[cells.index(day) + 1]


def berlin_calls(calls: Calls, est: dict[str, Any]) -> None:
    """3 calls on 10 November (10:00, 10:30 and 15:00 in Berlin), 1 on the 12th (11:00)."""
    lift, c = est["device"], est["center"].id
    for at in ("2026-11-10T09:00", "2026-11-10T09:30", "2026-11-10T14:00", "2026-11-12T10:00"):
        calls.add(datetime.fromisoformat(at).replace(tzinfo=UTC), lift, center_id=c)


# ---- the figures -----------------------------------------------------------------------------------


def test_the_data_tables_count_the_recorded_calls_per_local_day_and_hour(client, session, calls, est) -> None:
    berlin_calls(calls, est)
    calls.store()
    user(session, "ada")
    login(client, "ada")
    html = page(client, f"/reports/?site={est['site'].id}&{NOVEMBER}")
    assert day_row(html, "calls-per-day-table", "2026-11-10") == "3"
    assert day_row(html, "calls-per-day-table", "2026-11-12") == "1"
    assert day_row(html, "calls-per-day-table", "2026-11-11") == "0"
    # the site's time zone (Europe/Berlin, UTC+1 in November)
    assert day_row(html, "calls-per-hour-table", "10:00") == "2"
    assert day_row(html, "calls-per-hour-table", "15:00") == "1"
    assert day_row(html, "calls-per-hour-table", "11:00") == "1"
    assert day_row(html, "calls-per-hour-table", "09:00") == "0"
    assert text_of(html, "calls-total") == "4"
    assert "Europe/Berlin" in (text_of(html, "report-period") or "")


def test_test_calls_are_not_counted_as_calls_but_shown_apart(client, session, calls, est) -> None:
    berlin_calls(calls, est)
    calls.add(datetime(2026, 11, 10, 3, 0, tzinfo=UTC), est["device"], test_call=True, line="test")
    calls.store()
    user(session, "ada")
    login(client, "ada")
    html = page(client, f"/reports/?{NOVEMBER}")
    assert day_row(html, "calls-per-day-table", "2026-11-10") == "3"
    assert (text_of(html, "calls-total"), text_of(html, "test-calls-total")) == ("4", "1")


def test_the_period_is_from_inclusive_until_exclusive(client, session, calls, est) -> None:
    berlin_calls(calls, est)
    calls.store()
    user(session, "ada")
    login(client, "ada")
    html = page(client, "/reports/?since=2026-11-11&until=2026-11-12")
    assert text_of(html, "calls-total") == "0"
    html = page(client, "/reports/?since=2026-11-12&until=2026-11-13")
    assert text_of(html, "calls-total") == "1"


def test_the_default_period_is_the_last_30_days_up_to_today(client, session) -> None:
    user(session, "ada")
    login(client, "ada")
    html = page(client, "/reports/")
    assert (text_of(html, "report-period") or "").startswith("2026-11-03 until 2026-12-03")
    bad = page(client, "/reports/?since=2026-12-01&until=2026-11-01")
    assert "ends before it starts" in (text_of(bad, "period-error") or "")


def test_anomalies_are_counted_per_kind(client, session, calls, est) -> None:
    wrong = [{"code": "wrong_trunk", "severity": "warning", "evidence": {}}]
    calls.add(
        datetime(2026, 11, 10, 9, 0, tzinfo=UTC), est["device"], center_id=est["center"].id, anomalies=wrong
    )
    calls.add(datetime(2026, 11, 11, 9, 0, tzinfo=UTC), None, center_id=est["center"].id, anomalies=wrong)
    calls.add(
        datetime(2026, 11, 11, 10, 0, tzinfo=UTC),
        None,
        center_id=est["center"].id,
        ani=None,
        anomalies=[{"code": "no_ani", "severity": "warning", "evidence": {}}],
    )
    calls.store()
    user(session, "ada")
    login(client, "ada")
    table = text_of(page(client, f"/reports/?{NOVEMBER}"), "anomalies-table") or ""
    assert "no_ani 1 2026-11-11: 1" in table
    assert "wrong_trunk 2 2026-11-10: 1, 2026-11-11: 1" in table


def test_alarms_by_severity_with_the_median_and_p90_time_to_acknowledge(
    client, session, calls, est, services, clock
) -> None:
    lifts = [est["device"]] + [f.device(session, est["site"].id, ani=f"+4930123456{n:02d}") for n in range(3)]
    session.commit()
    t0 = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    for i, lift in enumerate(lifts):
        calls.add(t0 + timedelta(hours=i), lift, center_id=est["center"].id)
    calls.store()
    admin = Actor.system("test", "tester")
    alarms = session.scalars(select(Alarm).order_by(Alarm.first_at)).all()
    assert len(alarms) == 4
    # acknowledged after 1 min, 2 min and 10 min; the fourth never
    for alarm, wait in zip(alarms, (60, 120, 600), strict=False):
        clock.set(alarm.first_at + timedelta(seconds=wait))
        services.alarms.acknowledge(session, admin, alarm.id, "on it")
    session.commit()
    clock.set(NOW)
    user(session, "ada")
    login(client, "ada")
    html = page(client, f"/reports/?{NOVEMBER}")
    assert text_of(html, "alarms-table") == (
        "Severity Raised Acknowledged Median time to acknowledge 90th percentile Critical 4 3 2 min 10 min"
    )
    assert text_of(html, "alarms-total") == "4"


def test_top_anis_and_repeat_callers_name_the_registered_device(client, session, calls, est) -> None:
    berlin_calls(calls, est)
    calls.add(datetime(2026, 11, 13, 9, 0, tzinfo=UTC), None, center_id=est["center"].id)
    calls.store()
    user(session, "ada")
    login(client, "ada")
    html = page(client, f"/reports/?{NOVEMBER}")
    top = text_of(html, "top-anis-table") or ""
    assert "+493012345678 4 2026-11-10 09:00 2026-11-12 10:00 Tower A" in top
    assert "+4989111222 1" in top and "not registered" in top
    assert text_of(html, "repeat-count") == "1 ANI called twice or more."
    assert "+4989111222" not in (text_of(html, "repeat-callers-table") or "")
    assert f'href="/devices/{est["device"].id}/"' in html


# ---- scoping ---------------------------------------------------------------------------------------


def test_an_operator_of_another_center_sees_no_call(client, session, calls, est) -> None:
    berlin_calls(calls, est)
    calls.store()
    user(session, "olga", role="operator", center=est["other_center"].id)
    login(client, "olga")
    html = page(client, f"/reports/?{NOVEMBER}")
    assert text_of(html, "calls-total") == "0"
    assert "Hamburg Control" in (text_of(html, "report-scope") or "")
    assert "+493012345678" not in html


def test_a_facility_manager_sees_only_the_calls_of_their_sites(client, session, calls, est) -> None:
    berlin_calls(calls, est)
    calls.add(datetime(2026, 11, 10, 9, 0, tzinfo=UTC), est["far_lift"], center_id=est["other_center"].id)
    calls.store()
    user(session, "fm", role="facility_manager", sites=[est["far"].id])
    login(client, "fm")
    html = page(client, f"/reports/?{NOVEMBER}")
    assert text_of(html, "calls-total") == "1"
    assert day_row(html, "calls-per-day-table", "2026-11-10") == "1"
    assert "+494011122233" in (text_of(html, "top-anis-table") or "")
    assert "+493012345678" not in html
    # the filter offers only their own site
    assert "Tower A" not in html and "Far Tower" in html


def test_a_site_or_center_out_of_scope_is_not_found_never_other_data(client, session, calls, est) -> None:
    berlin_calls(calls, est)
    calls.store()
    user(session, "fm", role="facility_manager", sites=[est["far"].id])
    login(client, "fm")
    for path in (
        f"/reports/?site={est['site'].id}",
        "/reports/?site=abc",
        f"/reports/?center={est['center'].id}",
        f"/reports/test-calls?site={est['site'].id}",
        f"/reports/test-calls.csv?site={est['site'].id}",
        f"/reports/charts/calls_per_day.svg?site={est['site'].id}",
    ):
        assert client.get(path).status_code == 404, path


def test_an_integration_account_sees_no_report(client, session) -> None:
    user(session, "pbx", role="integration")
    login(client, "pbx")
    assert client.get("/reports/").status_code == 403


def test_the_nav_links_the_reports_for_everyone_who_browses(client, session, est) -> None:
    user(session, "fm", role="facility_manager", sites=[est["far"].id])
    login(client, "fm")
    html = page(client, "/devices/")
    assert 'href="/reports/"' in html and ">Reports</a>" in html
    assert 'href="/reports/" aria-current="page"' in page(client, "/reports/test-calls")


def test_anonymous_visitors_are_sent_to_the_login_page(client) -> None:
    for path in (
        "/reports/",
        "/reports/test-calls",
        "/reports/test-calls.csv",
        "/reports/charts/anomalies.svg",
    ):
        resp = client.get(path)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], path


# ---- charts ----------------------------------------------------------------------------------------


def test_each_chart_is_an_svg_image_with_a_title_and_the_page_keeps_a_strict_policy(
    client, session, calls, est
) -> None:
    berlin_calls(calls, est)
    calls.store()
    user(session, "ada")
    login(client, "ada")
    html = page(client, f"/reports/?{NOVEMBER}")
    assert "unsafe-inline" not in client.get(f"/reports/?{NOVEMBER}").headers["Content-Security-Policy"]
    for name in ("calls_per_day", "calls_per_hour", "anomalies", "alarms_by_severity", "time_to_ack"):
        src = f"/reports/charts/{name}.svg?since=2026-11-01&amp;until=2026-12-01"
        assert f'<img src="{src}"' in html, name
        resp = client.get(src.replace("&amp;", "&"))
        assert resp.status_code == 200 and resp.mimetype == "image/svg+xml", name
        assert "script-src" not in resp.headers["Content-Security-Policy"]
        root = ET.fromstring(resp.get_data())
        title = root.find("{http://www.w3.org/2000/svg}title")
        assert title is not None and title.text and "2026-11-01" in title.text, name
    assert client.get("/reports/charts/nope.svg").status_code == 404


def test_a_site_name_in_a_chart_is_escaped_text(client, session, calls, est) -> None:
    site = f.site(session, name=XSS + " $x$", slug="xss", day_center=est["center"].id)
    lift = f.device(session, site.id, ani="+493055544433")
    session.commit()
    calls.add(datetime(2026, 11, 10, 9, 0, tzinfo=UTC), lift, center_id=est["center"].id)
    calls.store()
    user(session, "ada")
    login(client, "ada")
    svg = client.get(f"/reports/charts/calls_per_day.svg?site={site.id}&{NOVEMBER}").get_data(as_text=True)
    assert XSS not in svg and "<img" not in svg
    assert XSS_ESCAPED in svg  # in the <title> and in the chart's own title text, as written ($ too)
    assert svg.count(XSS_ESCAPED + " $x$") >= 2
    ET.fromstring(svg.encode())  # still a well-formed document


def test_outside_text_on_the_report_pages_is_escaped(client, session, calls, est) -> None:
    site = f.site(session, name=XSS, slug="xss", day_center=est["center"].id)
    lift = f.device(session, site.id, ani="+493055544433")
    session.commit()
    calls.add(datetime(2026, 11, 10, 9, 0, tzinfo=UTC), lift, center_id=est["center"].id, display_name=XSS)
    calls.add(datetime(2026, 11, 10, 9, 5, tzinfo=UTC), lift, center_id=est["center"].id, display_name=XSS)
    calls.add(datetime(2026, 11, 20, 3, 0, tzinfo=UTC), lift, test_call=True, line="test")
    calls.store()
    user(session, "ada")
    login(client, "ada")
    for path in (f"/reports/?site={site.id}&{NOVEMBER}", f"/reports/test-calls?site={site.id}&{NOVEMBER}"):
        html = page(client, path)
        assert XSS not in html, path
        assert XSS_ESCAPED in html, path
    # the caller's From display name, as text, beside its ANI among the top callers
    report = page(client, f"/reports/?site={site.id}&{NOVEMBER}")
    assert f'<td class="display-name">{XSS_ESCAPED}</td>' in report


# ---- EN 81-28 test-call compliance -----------------------------------------------------------------


@pytest.fixture
def lifts(session: Session, calls: Calls, est: dict[str, Any]) -> dict[str, Any]:
    """Tower A: one lift phone that tested 1 day ago, one whose last test was 5 days ago (overdue
    with a 72 h interval), a door intercom (not a lift) and a decommissioned lift phone."""
    site = est["site"].id
    ok, late = est["device"], f.device(session, site, ani="+493012345699")
    f.device(session, site, ani="+493012345600", kind="door_intercom")
    f.device(session, site, ani="+493012345601", status="decommissioned")
    session.commit()
    for days in (9, 6, 3, 1):
        calls.add(NOW - timedelta(days=days), ok, test_call=True, line="test")
    for days in (8, 5):
        calls.add(NOW - timedelta(days=days), late, test_call=True, line="test")
    calls.store()
    return {"ok": ok, "late": late}


def test_the_compliance_share_counts_supervised_lift_phones_inside_their_interval(
    client, session, est, lifts
) -> None:
    user(session, "ada")
    login(client, "ada")
    html = page(client, f"/reports/test-calls?site={est['site'].id}")
    share = text_of(html, "compliance-share")
    assert share == "1 of 2 supervised lift phones (50 %) made a test call inside their interval."
    assert text_of(html, "not-supervised") == (
        "1 lift phone is not supervised (out of service, or without a test interval)."
    )
    assert "+493012345600" not in html  # the intercom is no lift


def test_the_overdue_list_shows_the_last_test_call_of_each(client, session, est, lifts) -> None:
    user(session, "ada")
    login(client, "ada")
    html = page(client, f"/reports/test-calls?site={est['site'].id}")
    overdue = text_of(html, "overdue-table") or ""
    # 5 days before 2 December 12:00 UTC is 27 November 13:00 in Berlin; due 72 h 15 min later
    assert "+493012345699 Tower A 72 h 2026-11-27 13:00 2026-11-30 13:15" in overdue
    assert "+493012345678" not in overdue


def test_the_history_lists_each_lifts_test_calls_in_the_period(client, session, est, lifts) -> None:
    user(session, "ada")
    login(client, "ada")
    html = page(client, f"/reports/test-calls?site={est['site'].id}&since=2026-11-25&until=2026-12-03")
    ok = text_of(html, f"lift-{lifts['ok'].id}") or ""
    assert ok.startswith("+493012345678 Tower A A, Lift 1 ok 3")
    assert "2026-11-26 13:00, 2026-11-29 13:00, 2026-12-01 13:00" in ok  # the 9-day-old call is before
    late = text_of(html, f"lift-{lifts['late'].id}") or ""
    assert late.startswith("+493012345699 Tower A overdue 1")
    assert "2026-11-27 13:00" in late


def test_the_compliance_page_prints_black_on_white_without_nav_with_period_scope_and_time(
    client, session, est, lifts
) -> None:
    user(session, "ada")
    login(client, "ada")
    html = page(client, "/reports/test-calls")
    assert text_of(html, "generated-at") == "2026-12-02 12:00 UTC"
    assert text_of(html, "report-scope") == "all sites and centers"
    assert (text_of(html, "report-period") or "").startswith("2026-11-03 until 2026-12-03")
    assert '<link rel="stylesheet" href="/static/reports/reports.css">' in html
    resp = client.get("/static/reports/reports.css")
    css = resp.get_data(as_text=True)
    resp.close()  # a file
    printed = css[css.index("@media print") :]
    assert ".topbar, nav, .no-print" in printed and "display: none" in printed
    assert "color: #000" in printed and "background: #fff" in printed
    assert "page-break-before: always" in printed
    assert 'class="report-section page-break"' in html


def test_the_compliance_csv_has_one_row_per_lift_phone(client, session, est, lifts) -> None:
    user(session, "ada")
    login(client, "ada")
    resp = client.get(f"/reports/test-calls.csv?site={est['site'].id}&since=2026-11-25&until=2026-12-03")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    by_ani = {r["ani"]: r for r in rows}
    assert set(by_ani) == {"+493012345678", "+493012345699", "+493012345601"}
    late = by_ani["+493012345699"]
    assert (late["compliance"], late["interval_hours"], late["test_calls_in_period"]) == (
        "overdue",
        "72",
        "1",
    )
    assert late["last_test_call"] == "2026-11-27T12:00:00+00:00"
    assert late["due_by"] == "2026-11-30T12:15:00+00:00"
    ok = by_ani["+493012345678"]
    assert ok["compliance"] == "ok" and ok["test_calls_in_period"] == "3"
    assert ok["test_call_times"].split() == [
        "2026-11-26T12:00:00+00:00",
        "2026-11-29T12:00:00+00:00",
        "2026-12-01T12:00:00+00:00",
    ]
    assert by_ani["+493012345601"]["compliance"] == "not supervised"


def test_csv_cells_from_outside_cannot_run_as_formulas(client, session, calls, est) -> None:
    site = f.site(session, name="=HYPERLINK(1)", slug="formula", day_center=est["center"].id)
    f.device(session, site.id, ani="+493055544433")
    session.commit()
    user(session, "ada")
    login(client, "ada")
    rows = list(csv.DictReader(io.StringIO(client.get("/reports/test-calls.csv").get_data(as_text=True))))
    (row,) = [r for r in rows if r["ani"] == "+493055544433"]
    assert row["site"] == "'=HYPERLINK(1)"


def test_a_facility_manager_reports_only_their_lift_phones(client, session, est, lifts) -> None:
    user(session, "fm", role="facility_manager", sites=[est["far"].id])
    login(client, "fm")
    html = page(client, "/reports/test-calls")
    assert "+494011122233" in (text_of(html, "history-table") or "")
    assert "+493012345678" not in html and "+493012345699" not in html
    rows = list(csv.DictReader(io.StringIO(client.get("/reports/test-calls.csv").get_data(as_text=True))))
    assert [r["ani"] for r in rows] == ["+494011122233"]
