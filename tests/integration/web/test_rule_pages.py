"""Routing-rule pages (schedules, DNIS rules, number lists, flood rules) through the forms, as an
admin builds them, and as facility managers and operators read them."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from registry.choices import ChangeAction, FloodEffect, ListKind
from registry.db import utcnow
from registry.models import ChangeLog, DnisRule, FloodRule, NumberListEntry, Schedule
from routing.snapshot import DEFAULT_FLOOD_LIMITS, registry_revision
from tests import factories as f
from tests.web_support import form_values, login, post_form, text_of, user


def html(resp: Any) -> str:
    return resp.get_data(as_text=True)


def edit(client: Any, path: str, **changes: str) -> Any:
    """Open the edit form at ``path``, change some fields and press Save, as a browser would."""
    values = form_values(html(client.get(path)))
    return client.post(path, data=values | changes)


def count(session: Any, model: type) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


def delete(client: Any, path: str) -> Any:
    assert "Delete" in html(client.get(path + "delete"))
    return post_form(client, path + "delete", {})


@pytest.fixture
def admin(client, session) -> None:
    user(session, "ada")
    login(client, "ada")


def test_schedule_windows_are_written_as_text_and_read_back_the_same(client, session, admin) -> None:
    windows = "mon-fri 08:00-18:00\r\nsat 22:00-03:00"
    resp = post_form(
        client,
        "/schedules/new",
        {"name": "Office hours", "windows": windows, "holidays": "2026-12-26, 2026-12-25\r\n2027-01-01"},
    )
    assert resp.status_code == 302, html(resp)
    schedule = session.scalars(select(Schedule)).one()
    assert resp.headers["Location"] == f"/schedules/{schedule.id}/"
    # stored in the JSON form the API and the snapshot read
    assert schedule.windows == [
        {"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "18:00"},
        {"days": [5], "start": "22:00", "end": "03:00"},
    ]
    assert schedule.holidays == ["2026-12-25", "2026-12-26", "2027-01-01"]
    page = html(client.get(resp.headers["Location"]))
    assert "Saved schedule Office hours" in page
    assert text_of(page, "prop-windows") == "mon-fri 08:00-18:00 sat 22:00-03:00"
    assert text_of(page, "prop-holidays") == "2026-12-25, 2026-12-26, 2027-01-01"
    assert "holidays: 2026-12-25, 2026-12-26, 2027-01-01" in text_of(page, "history")

    path = f"/schedules/{schedule.id}/edit"
    values = form_values(html(client.get(path)))
    assert values["windows"] == "mon-fri 08:00-18:00\nsat 22:00-03:00"
    assert values["holidays"] == "2026-12-25\n2026-12-26\n2027-01-01"
    resp = edit(client, path, windows="Saturday, sunday 9:00 - 14:00\nfri-mon 22:00-24:00")
    assert resp.status_code == 302, html(resp)
    assert form_values(html(client.get(path)))["windows"] == "sat,sun 09:00-14:00\nmon,fri-sun 22:00-24:00"
    assert "windows: " in text_of(html(client.get(resp.headers["Location"])), "history")

    resp = edit(client, path, windows="mon-fri 08:00-18:00\nmon-fry 08:00-12:00")
    assert resp.status_code == 422
    page = html(resp)
    assert text_of(page, "error-windows") == (
        "line 2 ('mon-fry 08:00-12:00'): 'fry' is not a day (mon, tue, wed, thu, fri, sat, sun)"
    )
    assert form_values(page)["windows"] == "mon-fri 08:00-18:00\nmon-fry 08:00-12:00"  # kept as typed
    session.expire_all()
    assert session.get(Schedule, schedule.id).windows[0]["days"] == [5, 6]

    # the site form's business-hours select offers it, and the site links to it
    f.center(session)
    session.commit()
    site_form = html(client.get("/sites/new"))
    assert re.search(rf'<option value="{schedule.id}">Office hours</option>', site_form)
    resp = post_form(
        client,
        "/sites/new",
        {
            "name": "Tower A",
            "slug": "tower-a",
            "country": "DE",
            "timezone": "Europe/Berlin",
            "business_hours": str(schedule.id),
        },
    )
    assert resp.status_code == 302, html(resp)
    site_path = resp.headers["Location"]
    page = html(client.get(site_path))
    assert f'<a href="/schedules/{schedule.id}/">Office hours</a>' in page

    resp = delete(client, f"/schedules/{schedule.id}/")
    assert resp.headers["Location"] == f"/schedules/{schedule.id}/"
    assert "is still used by 1 site(s)" in html(client.get(resp.headers["Location"]))
    edit(client, site_path + "edit", business_hours="")
    resp = delete(client, f"/schedules/{schedule.id}/")
    assert resp.headers["Location"] == "/schedules/"
    assert "Deleted schedule Office hours" in html(client.get("/schedules/"))
    assert count(session, Schedule) == 0


def test_dnis_rules_through_the_forms_move_the_registry_revision(client, session, admin) -> None:
    before = registry_revision(session)
    resp = post_form(client, "/dnis-rules/new", {"number": "030 555900", "line": "emergency"})
    assert resp.status_code == 302, html(resp)
    rule = session.scalars(select(DnisRule)).one()
    page = html(client.get(resp.headers["Location"]))
    assert "Saved DNIS rule +4930555900" in page
    assert text_of(page, "prop-number") == "+4930555900"
    assert text_of(page, "prop-line") == "Emergency line"
    assert text_of(page, "prop-priority") == "Emergency"  # the line's default
    # the SIP worker rebuilds its snapshot when the change log grows
    session.expire_all()
    logged = session.scalars(select(ChangeLog).where(ChangeLog.object_type == "dnis_rule")).one()
    assert (logged.object_id, logged.action, logged.source, logged.actor) == (
        rule.id,
        ChangeAction.CREATE,
        "web",
        "ada",
    )
    assert registry_revision(session) > before

    path = f"/dnis-rules/{rule.id}/edit"
    assert form_values(html(client.get(path)))["number"] == "+4930555900"
    resp = edit(client, path, line="test")
    assert resp.status_code == 422
    assert text_of(html(resp), "error-target_uri") == "a test line needs the test receiver's SIP URI"
    resp = edit(client, path, line="test", priority="", target_uri="sip:receiver@192.0.2.7")
    assert resp.status_code == 302, html(resp)
    page = html(client.get(resp.headers["Location"]))
    assert text_of(page, "prop-line") == "Periodic test line"
    assert text_of(page, "prop-priority") == "Non-urgent"  # blank: the default of the new line
    assert text_of(page, "prop-target_uri") == "sip:receiver@192.0.2.7"
    assert "line: emergency → test" in text_of(page, "history")

    resp = post_form(client, "/dnis-rules/new", {"number": "+49 30 555900", "line": "intercom"})
    assert resp.status_code == 422
    assert text_of(html(resp), "error-number") == f"number '+4930555900' is already used by id {rule.id}"
    resp = post_form(client, "/dnis-rules/new", {"number": "", "line": "test"})
    assert text_of(html(resp), "error-number") == "required"
    assert text_of(html(resp), "error-target_uri") == "a test line needs the test receiver's SIP URI"

    list_page = html(client.get("/dnis-rules/"))
    assert "<h1>DNIS rules</h1>" in list_page and "New DNIS rule" in list_page
    assert f'<a href="/dnis-rules/{rule.id}/">+4930555900</a>' in list_page
    resp = delete(client, f"/dnis-rules/{rule.id}/")
    assert resp.headers["Location"] == "/dnis-rules/"
    assert "Deleted DNIS rule +4930555900" in html(client.get("/dnis-rules/"))
    assert count(session, DnisRule) == 0


def test_number_list_entries_show_when_they_have_expired(client, session, admin) -> None:
    resp = post_form(client, "/number-lists/new", {"pattern": "+49x*", "kind": "block"})
    assert resp.status_code == 422
    assert text_of(html(resp), "error-pattern") == (
        "'+49x*' is not a prefix: + then 1 to 15 digits then * (e.g. +4930*)"
    )
    resp = post_form(
        client,
        "/number-lists/new",
        {"pattern": "+4930555*", "kind": "block", "reason": "prank calls", "expires_at": "2026-01-01"},
    )
    assert text_of(html(resp), "error-expires_at") == "needs a UTC offset (e.g. 2026-12-01T08:00:00+01:00)"
    assert count(session, NumberListEntry) == 0

    resp = post_form(
        client,
        "/number-lists/new",
        {
            "pattern": "+4930555*",
            "kind": "block",
            "reason": "prank calls",
            "expires_at": "2099-12-01T08:00:00+01:00",
        },
    )
    assert resp.status_code == 302, html(resp)
    entry = session.scalars(select(NumberListEntry)).one()
    page = html(client.get(resp.headers["Location"]))
    assert "Saved number list entry +4930555*" in page
    assert text_of(page, "prop-pattern") == "+4930555*"
    assert text_of(page, "prop-kind") == ListKind.BLOCK.label
    assert text_of(page, "prop-expires_at") == "2099-12-01 07:00 UTC"
    assert text_of(page, "prop-state") == "in force"

    path = f"/number-lists/{entry.id}/edit"
    assert form_values(html(client.get(path)))["expires_at"] == "2099-12-01T07:00:00+00:00"
    resp = edit(client, path, pattern="030 5559999", kind="gray")
    assert resp.status_code == 302, html(resp)
    page = html(client.get(resp.headers["Location"]))
    assert text_of(page, "prop-pattern") == "+49305559999"
    assert text_of(page, "prop-kind") == ListKind.GRAY.label
    assert "pattern: +4930555* → +49305559999" in text_of(page, "history")

    gone = f.number_list_entry(session, pattern="+4940*", expires_at=utcnow() - timedelta(days=1))
    session.commit()
    list_page = html(client.get("/number-lists/"))
    assert "<h1>Number list entries</h1>" in list_page
    assert re.search(r'<span class="badge\s*">expired</span>', list_page)  # neutral: no longer applies
    assert '<span class="badge ok">in force</span>' in list_page
    assert text_of(html(client.get(f"/number-lists/{gone.id}/")), "prop-state") == "expired"

    resp = delete(client, f"/number-lists/{entry.id}/")
    assert resp.headers["Location"] == "/number-lists/"
    assert count(session, NumberListEntry) == 1


def test_flood_rules_override_the_built_in_limits(client, session, admin) -> None:
    page = html(client.get("/flood-rules/"))
    intro = text_of(page, "list-intro")
    assert intro.startswith("A rule replaces the built-in limit for the same scope and device kind.")
    assert len(DEFAULT_FLOOD_LIMITS) == intro.count("more than ")
    assert "Per calling number, Elevator emergency phone: more than 3 calls in 600 s (raise urgency)" in intro
    assert "Per trunk, any kind: more than 300 calls in 60 s (flag only)" in intro
    assert "No flood rules yet." in page

    resp = post_form(
        client,
        "/flood-rules/new",
        {"scope": "ani", "device_kind": "", "max_calls": "8", "window_seconds": "120", "effect": "flag"},
    )
    assert resp.status_code == 302, html(resp)
    rule = session.scalars(select(FloodRule)).one()
    assert rule.device_kind is None and rule.effect == FloodEffect.FLAG
    page = html(client.get(resp.headers["Location"]))
    assert text_of(page, "prop-scope") == "Per calling number"
    assert text_of(page, "prop-device_kind") == "any kind"
    assert text_of(page, "prop-max_calls") == "8"
    assert text_of(page, "prop-window_seconds") == "120"

    resp = post_form(
        client,
        "/flood-rules/new",
        {"scope": "ani", "device_kind": "", "max_calls": "9", "window_seconds": "60", "effect": "flag"},
    )
    assert resp.status_code == 422
    assert (
        text_of(html(resp), "error-device_kind")
        == f"scope 'ani' already has a rule for any kind (id {rule.id})"
    )
    resp = post_form(client, "/flood-rules/new", {"scope": "site", "max_calls": "x", "window_seconds": ""})
    assert text_of(html(resp), "error-max_calls") == "'x' is not a whole number"
    assert text_of(html(resp), "error-window_seconds") == "required"
    assert count(session, FloodRule) == 1

    path = f"/flood-rules/{rule.id}/edit"
    assert form_values(html(client.get(path)))["device_kind"] == ""
    resp = edit(client, path, device_kind="elevator_phone", max_calls="2", effect="urgent")
    assert resp.status_code == 302, html(resp)
    page = html(client.get(resp.headers["Location"]))
    assert text_of(page, "prop-device_kind") == "Elevator emergency phone"
    assert text_of(page, "prop-effect") == "Raise urgency"
    assert "max_calls: 8 → 2" in text_of(page, "history")
    row = text_of(html(client.get("/flood-rules/")), "list-intro")
    assert row == intro  # the defaults line reads the constant, not the rules

    resp = delete(client, f"/flood-rules/{rule.id}/")
    assert resp.headers["Location"] == "/flood-rules/"
    assert count(session, FloodRule) == 0


@pytest.mark.parametrize(
    ("role", "kw"),
    [("facility_manager", "sites"), ("operator", "center")],
)
def test_facility_managers_and_operators_read_the_rules_but_never_change_them(
    client, session, role: str, kw: str
) -> None:
    center = f.center(session)
    site = f.site(session)
    schedule = f.schedule(session)
    dnis = f.dnis_rule(session)
    entry = f.number_list_entry(session)
    flood = f.flood_rule(session)
    session.commit()
    user(session, "someone", role, **({"sites": [site.id]} if kw == "sites" else {"center": center.id}))
    login(client, "someone")

    nav = html(client.get("/devices/"))
    for href, label in (
        ("/schedules/", "Schedules"),
        ("/dnis-rules/", "DNIS rules"),
        ("/number-lists/", "Number lists"),
        ("/flood-rules/", "Flood rules"),
    ):
        assert re.search(rf'<a href="{href}"\s*>{label}</a>', nav)
    for plural, obj in (
        ("schedules", schedule),
        ("dnis-rules", dnis),
        ("number-lists", entry),
        ("flood-rules", flood),
    ):
        page = html(client.get(f"/{plural}/"))
        assert client.get(f"/{plural}/").status_code == 200
        assert "New " not in page and 'aria-current="page">' in page
        page = html(client.get(f"/{plural}/{obj.id}/"))
        assert ">Edit<" not in page and ">Delete<" not in page
        assert "Created" in text_of(page, "history")
        for path in (f"/{plural}/new", f"/{plural}/{obj.id}/edit", f"/{plural}/{obj.id}/delete"):
            resp = client.get(path)
            assert resp.status_code == 403 and "Not allowed" in html(resp), path
    resp = post_form(client, "/dnis-rules/new", {"number": "112", "line": "emergency"}, form_path="/devices/")
    assert resp.status_code == 403
    assert count(session, DnisRule) == 1
