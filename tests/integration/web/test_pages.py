"""Registry pages: list, detail, create, edit and delete through the forms, as a user sees them."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from registry.db import utcnow
from registry.models import Device, SecurityCenter, Site
from registry.numbers import InvalidNumber, normalise_ani
from tests import factories as f
from tests.api_support import assert_problem, bearer
from tests.web_support import csrf_token, form_values, login, post_form, text_of, user

_DEVICE_LINK = re.compile(r'<td><a href="/devices/(\d+)/">')


def html(resp: Any) -> str:
    return resp.get_data(as_text=True)


def device_rows(page: str) -> list[int]:
    """Ids of the devices listed in the table of a device list page."""
    return [int(i) for i in _DEVICE_LINK.findall(page)]


def select_options(page: str, field_id: str) -> list[str]:
    match = re.search(rf'<select id="{field_id}"[^>]*>(.*?)</select>', page, re.S)
    assert match, f"no select #{field_id}"
    return re.findall(r">([^<]*)</option>", match.group(1))


def edit(client: Any, path: str, **changes: str) -> Any:
    """Open the edit form at ``path``, change some fields and press Save, as a browser would."""
    values = form_values(html(client.get(path)))
    return client.post(path, data=values | changes)


def count(session: Any, model: type) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def estate(session) -> dict[str, Any]:
    return f.estate(session)


def test_admin_builds_an_estate_through_the_forms(client, session) -> None:
    user(session, "ada")
    login(client, "ada")

    resp = post_form(
        client,
        "/centers/new",
        {
            "name": "Berlin Control",
            "sip_uris": "sip:berlin@127.0.0.1:5070\r\nsip:backup@127.0.0.1",
            "languages": "de, en",
            "timezone": "Europe/Berlin",
        },
    )
    assert resp.status_code == 302
    center = session.scalars(select(SecurityCenter)).one()
    assert resp.headers["Location"] == f"/centers/{center.id}/"
    assert center.sip_uris == ["sip:berlin@127.0.0.1:5070", "sip:backup@127.0.0.1"]
    assert center.languages == ["de", "en"]
    page = html(client.get(resp.headers["Location"]))
    assert "Saved center Berlin Control" in page
    assert text_of(page, "prop-sip_uris") == "sip:berlin@127.0.0.1:5070 sip:backup@127.0.0.1"

    resp = post_form(
        client,
        "/sites/new",
        {
            "name": "Tower A",
            "slug": "tower-a",
            "country": "DE",
            "timezone": "Europe/Berlin",
            "day_center": str(center.id),
            "out_of_hours_center": str(center.id),
            "holidays": "2026-12-26, 2026-12-25",
        },
    )
    assert resp.status_code == 302, html(resp)
    site = session.scalars(select(Site)).one()
    assert site.holidays == ["2026-12-25", "2026-12-26"]
    assert "Saved site tower-a" in html(client.get(resp.headers["Location"]))

    resp = post_form(
        client,
        "/locations/new",
        {"site": str(site.id), "building": "A", "kind": "elevator_cabin", "name": "Lift 1"},
    )
    assert resp.status_code == 302, html(resp)
    location_path = resp.headers["Location"]
    assert "Saved location A/Lift 1" in html(client.get(location_path))

    new_device = html(client.get("/devices/new"))
    assert select_options(new_device, "site") == ["Choose…", "Tower A"]
    assert form_values(new_device)["site"] == str(site.id)  # the only site is chosen already
    location_id = location_path.strip("/").split("/")[-1]
    resp = post_form(
        client,
        "/devices/new",
        {
            "ani": "030 12345678",
            "kind": "elevator_phone",
            "status": "active",
            "site": str(site.id),
            "location": location_id,
            "notes": "key at reception",
        },
    )
    assert resp.status_code == 302, html(resp)
    device = session.scalars(select(Device)).one()
    assert resp.headers["Location"] == f"/devices/{device.id}/"
    page = html(client.get(resp.headers["Location"]))
    assert "Saved device +493012345678" in page
    assert text_of(page, "prop-ani") == "+493012345678"
    assert text_of(page, "prop-site") == "Tower A"
    assert f'<a href="/sites/{site.id}/">Tower A</a>' in page
    assert text_of(page, "prop-test_interval_hours") == "72"  # EN 81-28 default for a lift phone
    assert text_of(page, "prop-test_call_state") == "due"

    resp = edit(client, f"/devices/{device.id}/edit", notes="key at the porter's lodge")
    assert resp.status_code == 302, html(resp)
    page = html(client.get(resp.headers["Location"]))
    assert "Saved device +493012345678" in page
    history = text_of(page, "history")
    assert "notes: key at reception → key at the porter's lodge" in history
    assert "ada web Updated" in history
    session.expire_all()
    assert session.get(Device, device.id).notes == "key at the porter's lodge"
    assert session.get(Device, device.id).ani == "+493012345678"  # the rest kept as it was


def test_form_errors_show_next_to_the_field_and_nothing_is_saved(client, session, estate) -> None:
    user(session, "ada")
    login(client, "ada")
    site = estate["site"]
    with pytest.raises(InvalidNumber) as bad:
        normalise_ani("030 12ab", "DE")

    resp = post_form(
        client, "/devices/new", {"ani": "030 12ab", "kind": "door_intercom", "site": str(site.id)}
    )
    page = html(resp)
    assert resp.status_code == 422
    assert text_of(page, "error-ani") == str(bad.value)
    assert re.search(r'<div class="field has-error">\s*<label for="ani">', page)
    assert form_values(page)["ani"] == "030 12ab"  # the input keeps what was typed
    assert count(session, Device) == 1

    resp = post_form(client, "/devices/new", {"ani": "", "kind": "", "site": str(site.id)})
    assert text_of(html(resp), "error-kind") == "required"

    other = estate["device"]
    resp = post_form(
        client, "/devices/new", {"ani": "030 12345678", "kind": "door_intercom", "site": str(site.id)}
    )
    page = html(resp)
    assert resp.status_code == 409
    assert text_of(page, "error-ani") == f"ANI +493012345678 is already registered to device {other.id}"
    assert f'<a href="/devices/{other.id}/">device {other.id}</a>' in page
    assert count(session, Device) == 1


def test_a_facility_manager_sees_only_their_own_sites(client, session, estate) -> None:
    site_a = estate["site"]
    site_b = f.site(session, name="Wharf", slug="wharf", country="GB", timezone="Europe/London")
    theirs = f.device(session, site_b.id, ani="+442079460000", kind="door_intercom")
    session.commit()
    ours = estate["device"]
    user(session, "fay", "facility_manager", sites=[site_a.id])
    login(client, "fay")

    for path in (f"/devices/{theirs.id}/", f"/devices/{theirs.id}/edit", f"/devices/{theirs.id}/delete"):
        resp = client.get(path)
        assert resp.status_code == 404 and "Not found" in html(resp), path
    token = csrf_token(client, "/devices/")
    resp = client.post(f"/devices/{theirs.id}/delete", data={"csrf_token": token})
    assert resp.status_code == 404
    resp = client.post(f"/devices/{theirs.id}/edit", data={"csrf_token": token, "ani": "+442079460001"})
    assert resp.status_code == 404
    assert session.get(Device, theirs.id) is not None
    session.expire_all()
    assert session.get(Device, theirs.id).ani == "+442079460000"

    api = bearer(session, "fay-api", "facility_manager", sites=[site_a.id])
    assert_problem(client.get(f"/api/v1/devices/{theirs.id}", headers=api), 404)
    assert_problem(client.get("/api/v1/no-such-thing", headers=api), 404)

    page = html(client.get("/devices/"))
    assert device_rows(page) == [ours.id]
    assert "+442079460000" not in page
    assert client.get(f"/sites/{site_b.id}/").status_code == 404

    resp = client.get("/trunks/new")
    assert resp.status_code == 403 and "Not allowed" in html(resp)
    assert client.get(f"/sites/{site_a.id}/edit").status_code == 403
    assert client.get(f"/centers/{estate['center'].id}/edit").status_code == 403
    new_device = html(client.get("/devices/new"))
    assert select_options(new_device, "site") == ["Choose…", "Tower A"]
    assert "Lift 1" in " ".join(select_options(new_device, "location"))

    # what they may do: devices and locations of their site; no buttons for trunks, sites, centers
    assert "New device" in page
    assert "New trunk" not in html(client.get("/trunks/"))
    site_page = html(client.get(f"/sites/{site_a.id}/"))
    assert f"/sites/{site_a.id}/edit" not in site_page
    assert f"/devices/{ours.id}/edit" in html(client.get(f"/devices/{ours.id}/"))
    resp = edit(client, f"/devices/{ours.id}/edit", notes="checked by fay")
    assert resp.status_code == 302


def test_an_operator_reads_but_never_writes(client, session, estate) -> None:
    center, device = estate["center"], estate["device"]
    user(session, "otto", "operator", center=center.id)
    login(client, "otto")

    for path in ("/devices/", "/sites/", "/locations/", "/trunks/", "/centers/"):
        page = html(client.get(path))
        assert "New " not in page, path
    page = html(client.get(f"/devices/{device.id}/"))
    assert text_of(page, "prop-ani") == "+493012345678"
    assert ">Edit<" not in page and ">Delete<" not in page
    assert client.get(f"/devices/{device.id}/edit").status_code == 403

    token = csrf_token(client, "/devices/")
    resp = client.post(
        f"/devices/{device.id}/edit",
        data={
            "csrf_token": token,
            "ani": device.ani,
            "kind": "elevator_phone",
            "site": str(device.site_id),
            "notes": "x",
        },
    )
    assert resp.status_code == 403 and "read-only" in html(resp)
    session.expire_all()
    assert session.get(Device, device.id).notes == ""


def test_user_text_is_escaped_everywhere(client, session, estate) -> None:
    user(session, "ada")
    login(client, "ada")
    device = estate["device"]
    resp = edit(client, f"/devices/{device.id}/edit", notes="<script>alert(1)</script>")
    assert resp.status_code == 302
    search = "/devices/?q=%3Cscript%3Ealert(1)%3C/script%3E"
    for path in (f"/devices/{device.id}/", f"/devices/{device.id}/edit", search):
        page = html(client.get(path))
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path
        assert "<script>alert" not in page, path
    history = text_of(html(client.get(f"/devices/{device.id}/")), "history")
    assert "notes: — → <script>alert(1)</script>" in history


def test_a_post_without_csrf_token_is_refused(client, session, estate) -> None:
    user(session, "ada")
    login(client, "ada")
    site, device = estate["site"], estate["device"]
    resp = client.post("/devices/new", data={"ani": "+493012345699", "kind": "other", "site": str(site.id)})
    assert resp.status_code == 400
    assert client.post(f"/devices/{device.id}/delete").status_code == 400
    assert client.post(f"/devices/{device.id}/edit", data={"notes": "x"}).status_code == 400
    assert count(session, Device) == 1
    assert session.get(Device, device.id).notes == ""


def test_device_list_filters_pages_and_overdue_test_calls(client, session, estate) -> None:
    site, first = estate["site"], estate["device"]
    wharf = f.site(session, name="Wharf", slug="wharf", country="GB", timezone="Europe/London")
    f.device(session, wharf.id, ani="+442079460000", kind="car_park_help_point", notes="level -2")
    for i in range(60):
        intercom = i < 10
        f.device(
            session,
            site.id,
            ani=f"+49301234{i:04d}",
            kind="door_intercom" if intercom else "elevator_phone",
            status="maintenance" if intercom else "active",
        )
    overdue = session.scalars(select(Device).where(Device.ani == "+493012340059")).one()
    overdue.last_test_call_at = utcnow() - timedelta(days=4)
    first.last_test_call_at = utcnow() - timedelta(hours=1)
    session.commit()
    user(session, "ada")
    login(client, "ada")

    page = html(client.get("/devices/"))
    assert len(device_rows(page)) == 50
    assert "Page 1 of 2 · 62 devices" in page
    assert 'href="/devices/?page=2"' in page
    page2 = html(client.get("/devices/?page=2"))
    assert len(device_rows(page2)) == 12 and "Page 2 of 2" in page2
    assert overdue.id in device_rows(page2)
    row = re.search(rf'<tr><td><a href="/devices/{overdue.id}/">.*?</tr>', page2, re.S).group(0)
    assert '<span class="badge bad">overdue</span>' in row
    detail = html(client.get(f"/devices/{overdue.id}/"))
    assert text_of(detail, "prop-test_call_state") == "overdue"
    assert text_of(html(client.get(f"/devices/{first.id}/")), "prop-test_call_state") == "ok"

    page = html(client.get("/devices/?kind=door_intercom"))
    assert len(device_rows(page)) == 10 and "Page 1 of 1 · 10 devices" in page
    assert form_values(page.split('role="search"', 1)[1])["kind"] == "door_intercom"  # kept
    row = re.search(r"<tr><td><a href=\"/devices/\d+/\">.*?</tr>", page, re.S).group(0)
    assert "<td>—</td></tr>" in row  # an intercom makes no test calls
    assert len(device_rows(html(client.get("/devices/?status=maintenance")))) == 10
    assert len(device_rows(html(client.get("/devices/?status=maintenance&kind=elevator_phone")))) == 0
    assert "No devices match these filters." in html(client.get("/devices/?status=pending"))
    assert device_rows(html(client.get(f"/devices/?site={wharf.id}"))) == [
        d for d in session.scalars(select(Device.id).where(Device.site_id == wharf.id))
    ]
    page = html(client.get("/devices/?q=level+-2&site=&kind=&status=&trunk="))
    assert len(device_rows(page)) == 1 and 'value="level -2"' in page
    assert device_rows(html(client.get(f"/devices/?trunk={estate['trunk'].id}"))) == [first.id]
    assert "No devices match" in html(client.get("/devices/?trunk=99999999999999"))


def test_delete_asks_first_and_refuses_what_is_still_used(client, session, estate) -> None:
    user(session, "ada")
    login(client, "ada")
    site, device = estate["site"], estate["device"]
    device_id = device.id

    page = html(client.get(f"/sites/{site.id}/delete"))
    assert "Delete site tower-a?" in page
    resp = post_form(client, f"/sites/{site.id}/delete", {})
    assert resp.status_code == 302 and resp.headers["Location"] == f"/sites/{site.id}/"
    page = html(client.get(resp.headers["Location"]))
    assert f"Not deleted: site {site.id} is still used by 1 device(s)." in page
    assert count(session, Site) == 1

    page = html(client.get(f"/devices/{device.id}/delete"))
    assert "Delete device +493012345678?" in page and ">Delete</button>" in page
    assert count(session, Device) == 1  # a GET only asks
    resp = post_form(client, f"/devices/{device.id}/delete", {})
    assert resp.status_code == 302 and resp.headers["Location"] == "/devices/"
    page = html(client.get("/devices/"))
    assert "Deleted device +493012345678" in page and "No devices yet." in page
    assert count(session, Device) == 0
    assert client.get(f"/devices/{device_id}/").status_code == 404


def test_unknown_pages_are_html_and_the_api_keeps_its_problems(client, session) -> None:
    user(session, "ada")
    login(client, "ada")
    resp = client.get("/no-such-page")
    assert resp.status_code == 404 and resp.mimetype == "text/html" and "Not found" in html(resp)
    assert client.get("/devices/12345/").status_code == 404
    assert_problem(client.get("/api/v1/devices/12345", headers=bearer(session, "api")), 404)
    assert_problem(client.get("/api/v1/nothing-here"), 404)
