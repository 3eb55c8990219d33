"""The registry detail pages with history: the device page's panel (last calls, open and earlier
alarms, last test calls, the EN 81-28 supervision state as the missed-test-call job sees it) and the
change history naming the objects a change refers to instead of their ids."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from registry.actors import Actor
from registry.choices import Role
from registry.db import utcnow
from registry.services import delete_object, update_object
from tests import factories as f
from tests.integration.web.history_support import XSS, XSS_ESCAPED, Calls, lift_record
from tests.web_support import login, text_of, user


def html(resp: Any) -> str:
    assert resp.status_code == 200, resp.status_code
    return str(resp.get_data(as_text=True))


@pytest.fixture
def est(session) -> dict[str, Any]:
    return f.estate(session)


@pytest.fixture
def calls(services, tmp_path) -> Calls:
    return Calls(services, tmp_path / "journal")


def test_the_device_page_lists_its_last_ten_calls_and_its_alarms(
    client, services, session, est, calls
) -> None:
    now = utcnow()
    calls.record(*(lift_record(est, n, now - timedelta(minutes=30 - n)) for n in range(12)))
    user(session, "ada", "admin")
    login(client, "ada")

    page = html(client.get(f"/devices/{est['device'].id}/"))
    panel = text_of(page, "device-calls") or ""
    assert panel.count("+493012345678") == 10
    assert len(re.findall(r'href="/calls/\d+/"', page)) == 10  # no test calls: only the last calls link
    assert f'href="/calls/?device={est["device"].id}"' in page
    open_alarms = text_of(page, "device-open-alarms") or ""
    # twelve emergency calls in half an hour are one de-duplicated lift alarm
    assert "Lift emergency call" in open_alarms and "Critical" in open_alarms
    assert text_of(page, "device-last-alarms") == "None."

    from sqlalchemy import select

    from alarms.models import Alarm

    alarm_id = session.scalars(select(Alarm.id)).one()
    admin = Actor(name="ada", role=Role.ADMIN, source="web")
    services.alarms.reset(session, admin, alarm_id, "rescue done, checked on site")
    session.commit()
    page = html(client.get(f"/devices/{est['device'].id}/"))
    assert text_of(page, "device-open-alarms") == "None open."
    assert f"#{alarm_id} Lift emergency call" in (text_of(page, "device-last-alarms") or "")


def test_a_lift_phone_without_a_test_call_for_three_days_is_overdue_on_its_page(
    client, session, est, calls
) -> None:
    last_test = utcnow() - timedelta(hours=73)
    calls.record(lift_record(est, 1, last_test, test_call=True, line="test"))
    user(session, "ada", "admin")
    login(client, "ada")

    page = html(client.get(f"/devices/{est['device'].id}/"))
    assert text_of(page, "test-interval") == "72 h (plus 15 min grace)"
    assert text_of(page, "test-last") == last_test.strftime("%Y-%m-%d %H:%M:%S UTC")
    due = last_test + timedelta(hours=72, minutes=15)
    assert text_of(page, "test-next-due") == due.strftime("%Y-%m-%d %H:%M UTC")
    assert text_of(page, "test-overdue") == "yes"
    assert len((text_of(page, "device-tests") or "").split("UTC")) == 2  # one test call listed

    calls.record(lift_record(est, 2, utcnow() - timedelta(minutes=5), test_call=True, line="test"))
    page = html(client.get(f"/devices/{est['device'].id}/"))
    assert text_of(page, "test-overdue") == "no"


def test_a_device_without_an_interval_expects_no_test_calls(client, session, est) -> None:
    intercom = f.device(session, est["site"].id, ani="+493012345679", kind="door_intercom")
    session.commit()
    user(session, "ada", "admin")
    login(client, "ada")
    page = html(client.get(f"/devices/{intercom.id}/"))
    assert text_of(page, "test-not-supervised") == "No test calls expected: no test-call interval set."


def test_the_device_panel_shows_only_what_the_actor_may_see(client, session, est, calls) -> None:
    """An operator sees the device of a site their center covers, with the calls to their center,
    but not a call the site's device made to another center they do not serve."""
    other = f.center(session, name="Hamburg Control", sip_uris=["sip:hh@127.0.0.1:5071"])
    harbour = f.site(
        session, name="Harbour", slug="harbour", day_center=other.id, out_of_hours_center=other.id
    )
    session.commit()
    now = utcnow()
    # a call from the Tower A phone that went to Hamburg (say, forwarded): recorded under Harbour's site
    stray = lift_record(
        est,
        2,
        now,
        center_id=other.id,
        site_id=harbour.id,
        display_name="stray",
        target_center_ids=[other.id],
    )
    calls.record(lift_record(est, 1, now - timedelta(minutes=1)), stray)
    user(session, "olga", "operator", center=est["center"].id)
    login(client, "olga")
    page = html(client.get(f"/devices/{est['device'].id}/"))
    assert "Lift 1 Tower A" in (text_of(page, "device-calls") or "")
    assert "stray" not in page


def test_a_hostile_display_name_is_escaped_on_the_device_panel(client, session, est, calls) -> None:
    calls.record(lift_record(est, 1, utcnow(), display_name=XSS))
    user(session, "ada", "admin")
    login(client, "ada")
    page = html(client.get(f"/devices/{est['device'].id}/"))
    assert XSS_ESCAPED in page and XSS not in page


# ---- change history with names ---------------------------------------------------------------------


def changes(page: str) -> str:
    return text_of(page, "history") or ""


def test_the_change_history_names_the_site_trunk_location_center_and_schedule(client, session, est) -> None:
    admin = f.ADMIN
    lift2 = f.location(session, est["site"].id, name="Lift 2")
    session.commit()
    device = est["device"]
    update_object(session, admin, "device", device.id, {"location": lift2.id})
    session.commit()
    user(session, "ada", "admin")
    login(client, "ada")

    page = changes(html(client.get(f"/devices/{device.id}/")))
    assert "site: Tower A" in page and "trunk: loopback" in page
    assert "location: A / Lift 1 → A / Lift 2" in page
    assert "site_id" not in page and "location_id" not in page
    site_page = changes(html(client.get(f"/sites/{est['site'].id}/")))
    assert "day_center: Berlin Control" in site_page and "out_of_hours_center: Berlin Control" in site_page
    assert "business_hours: office hours" in site_page


def test_an_object_deleted_since_shows_as_its_id_marked_deleted(client, session, est) -> None:
    admin = f.ADMIN
    device = est["device"]
    old = est["location"]
    lift2 = f.location(session, est["site"].id, name="Lift 2")
    session.commit()
    update_object(session, admin, "device", device.id, {"location": lift2.id})
    delete_object(session, admin, "location", old.id)
    session.commit()
    user(session, "ada", "admin")
    login(client, "ada")

    page = changes(html(client.get(f"/devices/{device.id}/")))
    assert f"location: #{old.id} (deleted) → A / Lift 2" in page
    assert f"location: #{old.id} (deleted)" in page.split("Created")[-1]


def test_the_names_of_a_whole_history_take_one_query_per_referenced_table(services, session, est) -> None:
    from sqlalchemy import event

    from registry.queries import change_history
    from registry.web.tables import history

    device = est["device"]
    lifts = [f.location(session, est["site"].id, name=f"Lift {n}") for n in range(2, 7)]
    for loc in lifts:
        update_object(session, f.ADMIN, "device", device.id, {"location": loc.id})
    session.commit()
    entries = change_history(session, "device", device.id)
    assert len(entries) == 6
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(services.engine, "before_cursor_execute", count)
    try:
        rows = history(entries)
    finally:
        event.remove(services.engine, "before_cursor_execute", count)
    # sites, locations, trunks: each once, however many entries name them
    assert len(statements) == 3
    assert rows[0].changes == ["location: A / Lift 5 → A / Lift 6"]
