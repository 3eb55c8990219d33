"""User management pages: admins create, edit, reset and unlock users; everyone else gets a 403."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from registry.models import ChangeLog, User
from tests import factories as f
from tests.web_support import csrf_token, login, post_form, text_of, user

NEW_PASSWORD = "a brand new passphrase"
_DEVICE_LINK = re.compile(r'<td><a href="/devices/(\d+)/">')


def html(resp: Any) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture
def estate(session) -> dict[str, Any]:
    """Two sites, a device on each, a center, and an admin logged in on ``client``."""
    c = f.center(session)
    site_a = f.site(session)
    site_b = f.site(session, name="Wharf", slug="wharf", country="GB", timezone="Europe/London")
    dev_a = f.device(session, site_a.id)
    dev_b = f.device(session, site_b.id, ani="+442079460000", kind="door_intercom")
    session.commit()
    return {"center": c, "site_a": site_a, "site_b": site_b, "dev_a": dev_a, "dev_b": dev_b}


@pytest.fixture
def admin_client(client, session):  # type: ignore[no-untyped-def]
    user(session, "root")
    login(client, "root")
    return client


def _by_name(session, name: str) -> User:
    session.expire_all()
    return session.scalars(select(User).where(User.username == name)).one()


def _new_fm(client, site_id: int) -> Any:
    return post_form(
        client,
        "/users/new",
        {
            "username": "fay",
            "role": "facility_manager",
            "password": NEW_PASSWORD,
            "password_repeat": NEW_PASSWORD,
            "sites": [str(site_id)],
            "center": "",
        },
    )


def test_admin_manages_a_facility_manager_end_to_end(app, admin_client, session, estate) -> None:
    client = admin_client
    page = html(client.get("/users/"))
    assert 'href="/users/"' in page and ">Users<" in page  # in the admin's nav
    resp = _new_fm(client, estate["site_a"].id)
    assert resp.status_code == 302, html(resp)
    fay = _by_name(session, "fay")
    assert [s.slug for s in fay.sites] == ["tower-a"]
    assert "fay" in html(client.get("/users/"))

    fay_client = app.test_client()
    assert login(fay_client, "fay", NEW_PASSWORD).status_code == 302
    devices = html(fay_client.get("/devices/"))
    assert [int(i) for i in _DEVICE_LINK.findall(devices)] == [estate["dev_a"].id]
    assert "/users/" not in devices  # no Users link for a facility manager

    edit = f"/users/{fay.id}/edit"
    form = {"role": "facility_manager", "sites": [str(estate["site_a"].id), str(estate["site_b"].id)]}
    form |= {"center": "", "is_active": "y", "new_password": "", "new_password_repeat": ""}
    resp = post_form(client, edit, form)
    assert resp.status_code == 302, html(resp)
    assert text_of(html(client.get(f"/users/{fay.id}/")), "prop-sites") == "tower-a, wharf"
    devices = html(fay_client.get("/devices/"))  # blank password kept: still logged in
    assert len(_DEVICE_LINK.findall(devices)) == 2

    resp = post_form(client, edit, form | {"new_password": "x" * 12, "new_password_repeat": "x" * 12})
    assert resp.status_code == 302
    assert fay_client.get("/devices/").status_code == 302  # the old session ended
    assert login(fay_client, "fay", NEW_PASSWORD).status_code == 401
    assert login(fay_client, "fay", "x" * 12).status_code == 302


def test_unlock_lets_a_locked_user_log_in_again(app, admin_client, session, estate) -> None:
    victim = user(session, "vic", "operator", center=estate["center"].id)
    other = app.test_client()
    for _ in range(5):
        login(other, "vic", "wrong guess")
    assert login(other, "vic").status_code == 401  # locked, even with the right password
    detail = html(admin_client.get(f"/users/{victim.id}/"))
    assert "locked until" in text_of(detail, "prop-locked") and 'id="unlock"' in detail
    listing = html(admin_client.get("/users/"))
    assert '<span class="badge bad">locked until' in listing

    resp = admin_client.post(f"/users/{victim.id}/unlock")  # no CSRF token
    assert resp.status_code == 400
    token = csrf_token(admin_client, f"/users/{victim.id}/")
    resp = admin_client.post(f"/users/{victim.id}/unlock", data={"csrf_token": token})
    assert resp.status_code == 302
    vic = _by_name(session, "vic")
    assert vic.locked_until is None and vic.failed_logins == 0
    assert login(other, "vic").status_code == 302


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"password": "short", "password_repeat": "short"}, "password", "at least 10 characters"),
        ({"password_repeat": "something else!"}, "password_repeat", "the passwords differ"),
        ({"role": "operator", "sites": []}, "center", "an operator belongs to a security center"),
        ({"sites": []}, "sites", "a facility manager is assigned at least one site"),
    ],
)
def test_create_shows_errors_on_their_fields(admin_client, session, estate, changes, field, message) -> None:
    form = {
        "username": "fay",
        "role": "facility_manager",
        "password": NEW_PASSWORD,
        "password_repeat": NEW_PASSWORD,
        "sites": [str(estate["site_a"].id)],
        "center": "",
    } | changes
    resp = post_form(admin_client, "/users/new", form)
    assert resp.status_code == 422
    assert text_of(html(resp), f"error-{field}") == message
    assert session.scalar(select(User.id).where(User.username == "fay")) is None


def test_edit_errors_and_the_admin_cannot_lock_themselves_out(admin_client, session, estate) -> None:
    fay = user(session, "fay", "facility_manager", sites=[estate["site_a"].id])
    base = {"role": "facility_manager", "sites": [str(estate["site_a"].id)], "center": "", "is_active": "y"}
    resp = post_form(admin_client, f"/users/{fay.id}/edit", base | {"new_password": "short"})
    assert resp.status_code == 422
    assert text_of(html(resp), "error-new_password_repeat") == "the passwords differ"
    short = {"new_password": "short", "new_password_repeat": "short"}
    resp = post_form(admin_client, f"/users/{fay.id}/edit", base | short)
    assert text_of(html(resp), "error-new_password") == "at least 10 characters"

    root = _by_name(session, "root")
    mine = f"/users/{root.id}/edit"
    resp = post_form(admin_client, mine, {"role": "admin", "sites": [], "center": ""})  # is_active unticked
    assert resp.status_code == 422
    assert text_of(html(resp), "error-is_active") == "you cannot deactivate yourself"
    resp = post_form(
        admin_client, mine, {"role": "operator", "center": str(estate["center"].id), "is_active": "y"}
    )
    assert text_of(html(resp), "error-role") == "you cannot change your own role"
    root = _by_name(session, "root")
    assert root.is_active and root.role.value == "admin"
    assert admin_client.get("/users/").status_code == 200


def test_non_admins_get_403_on_every_user_page(client, session, estate) -> None:
    fay = user(session, "fay", "facility_manager", sites=[estate["site_a"].id])
    login(client, "fay")
    for path in ("/users/", "/users/new", f"/users/{fay.id}/", f"/users/{fay.id}/edit"):
        assert client.get(path).status_code == 403, path
    token = csrf_token(client, "/devices/")
    form = {"csrf_token": token, "username": "mallory", "role": "admin", "password": NEW_PASSWORD}
    assert client.post("/users/new", data=form | {"password_repeat": NEW_PASSWORD}).status_code == 403
    edit = {"csrf_token": token, "role": "admin", "sites": [], "is_active": "y"}
    assert client.post(f"/users/{fay.id}/edit", data=edit).status_code == 403
    assert client.post(f"/users/{fay.id}/unlock", data={"csrf_token": token}).status_code == 403
    assert session.scalar(select(User.id).where(User.username == "mallory")) is None
    assert _by_name(session, "fay").role.value == "facility_manager"


def test_the_change_log_records_create_update_unlock_without_hashes(admin_client, session, estate) -> None:
    assert _new_fm(admin_client, estate["site_a"].id).status_code == 302
    fay = _by_name(session, "fay")
    form = {"role": "facility_manager", "sites": [str(estate["site_b"].id)], "center": "", "is_active": "y"}
    pw = {"new_password": NEW_PASSWORD + "!", "new_password_repeat": NEW_PASSWORD + "!"}
    assert post_form(admin_client, f"/users/{fay.id}/edit", form | pw).status_code == 302
    fay = _by_name(session, "fay")
    fay.failed_logins = 3
    session.commit()
    token = csrf_token(admin_client, f"/users/{fay.id}/")
    assert admin_client.post(f"/users/{fay.id}/unlock", data={"csrf_token": token}).status_code == 302

    session.expire_all()
    rows = session.scalars(
        select(ChangeLog)
        .where(ChangeLog.object_type == "user", ChangeLog.object_id == fay.id)
        .order_by(ChangeLog.id)
    ).all()
    assert [(r.action, r.actor, r.source) for r in rows] == [
        ("create", "root", "web"),
        ("update", "root", "web"),
        ("update", "root", "web"),
    ]
    assert rows[0].after["sites"] == ["tower-a"]
    assert rows[1].before["sites"] == ["tower-a"] and rows[1].after["sites"] == ["wharf"]
    assert rows[1].after["password"] == "changed"
    assert rows[2].before["failed_logins"] == 3 and rows[2].after["failed_logins"] == 0
    fay = _by_name(session, "fay")
    for row in rows:
        dumped = json.dumps([row.before, row.after])
        assert "password_hash" not in dumped and fay.password_hash not in dumped
        assert "scrypt" not in dumped
    history = text_of(html(admin_client.get(f"/users/{fay.id}/")), "history")
    assert "sites: tower-a → wharf" in history and "password: — → changed" in history
