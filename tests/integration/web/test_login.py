"""Logging in to the web app: sessions, lock-out after repeated wrong passwords, CSRF on every POST."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from registry.db import utcnow
from registry.models import User, WebSession
from tests.web_support import PASSWORD, csrf_token, login, text_of, user

#: what differs between two login pages by design: the CSRF token and the username typed
_FORM_VALUES = re.compile(r' value="[^"]*"')


def test_login_and_logout(client, session) -> None:
    user(session, "ada")
    assert client.get("/devices/").status_code == 302  # to the login page
    resp = login(client, "ada")
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    cookie = next(c for c in client._cookies.values() if c.key == "session")
    assert cookie.http_only and cookie.same_site == "Lax"
    page = client.get("/devices/")
    assert page.status_code == 200 and "ada" in page.get_data(as_text=True)
    token = csrf_token(client, "/devices/")
    resp = client.post("/logout", data={"csrf_token": token})
    assert resp.status_code == 302 and resp.headers["Location"] == "/login"
    assert client.get("/devices/").status_code == 302


def test_after_login_only_a_local_page_is_a_next_target(client, session) -> None:
    user(session, "ada")
    token = csrf_token(client, "/login")
    form = {"csrf_token": token, "username": "ada", "password": PASSWORD}
    resp = client.post("/login?next=https://evil.example/", data=form)
    assert resp.headers["Location"] == "/"
    client.get("/login")  # a fresh form for a fresh session
    client.delete_cookie("session")
    token = csrf_token(client, "/login")
    resp = client.post("/login?next=/sites/", data=form | {"csrf_token": token})
    assert resp.headers["Location"] == "/sites/"


def _login_error(resp) -> str:  # type: ignore[no-untyped-def]
    return text_of(resp.get_data(as_text=True), "error-password") or ""


def test_wrong_name_wrong_password_and_locked_account_read_the_same(client, session) -> None:
    user(session, "ada")
    user(session, "bea")
    for _ in range(5):
        login(client, "bea", "guess")  # bea is locked now
    answers = [
        login(client, "nobody", "wrong password!"),  # no such user
        login(client, "ada", "wrong password!"),  # wrong password
        login(client, "bea", PASSWORD),  # locked, even with the right password
    ]
    assert [r.status_code for r in answers] == [401, 401, 401]
    messages = {_login_error(r) for r in answers}
    assert messages == {
        "Wrong username or password, or the account is locked: after 5 failed logins in a row an "
        "account is locked for 15 minutes. Try again later or ask an administrator."
    }
    # the pages differ in nothing but the CSRF token and the name typed
    pages = {_FORM_VALUES.sub("", r.get_data(as_text=True)) for r in answers}
    assert len(pages) == 1


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(client, session) -> None:
    user(session, "ada")
    for _ in range(5):
        assert login(client, "ada", "guess").status_code == 401
    resp = login(client, "ada")  # the right password, while locked
    assert resp.status_code == 401
    session.expire_all()
    locked = session.scalars(select(User).where(User.username == "ada")).one()
    assert locked.locked_until is not None and locked.locked_until > utcnow() + timedelta(minutes=14)
    # when the lock has run out, the right password works and the count starts again
    locked.locked_until = utcnow() - timedelta(seconds=1)
    session.commit()
    assert login(client, "ada").status_code == 302
    session.expire_all()
    assert session.get(User, locked.id).failed_logins == 0


def test_a_post_without_the_csrf_token_is_refused(client, session) -> None:
    user(session, "ada")
    resp = client.post("/login", data={"username": "ada", "password": PASSWORD})
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)
    login(client, "ada")
    resp = client.post("/logout")
    assert resp.status_code == 400
    assert client.get("/devices/").status_code == 200  # still logged in


def test_a_changed_password_ends_open_sessions(client, session) -> None:
    from werkzeug.security import generate_password_hash

    u = user(session, "ada")
    login(client, "ada")
    assert client.get("/devices/").status_code == 200
    u.password_hash = generate_password_hash("another long password")
    session.commit()
    assert client.get("/devices/").status_code == 302


def test_the_api_keeps_working_without_csrf(client, session) -> None:
    from tests.api_support import bearer

    auth = bearer(session, "admin")
    resp = client.post("/api/v1/centers", json={"name": "C", "sip_uris": ["sip:c@127.0.0.1"]}, headers=auth)
    assert resp.status_code == 201


def _session_cookie(client) -> str:  # type: ignore[no-untyped-def]
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value  # type: ignore[no-any-return]


def test_a_copied_session_cookie_is_refused_after_logout(app, client, session) -> None:
    user(session, "ada")
    login(client, "ada")
    thief = app.test_client()
    thief.set_cookie("session", _session_cookie(client))
    assert thief.get("/devices/").status_code == 200  # the copy works while the session is open
    client.post("/logout", data={"csrf_token": csrf_token(client, "/devices/")})
    resp = thief.get("/devices/")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")
    assert thief.get("/devices/", follow_redirects=True).request.path == "/login"
    session.expire_all()
    row = session.scalars(select(WebSession)).one()
    assert row.revoked_at is not None


def test_the_session_table_keeps_a_digest_and_an_idle_expiry(client, session) -> None:
    user(session, "ada")
    login(client, "ada")
    row = session.scalars(select(WebSession)).one()
    assert len(row.digest) == 64 and row.digest not in _session_cookie(client)
    assert row.revoked_at is None
    assert timedelta(hours=11, minutes=59) < row.expires_at - row.created_at <= timedelta(hours=12)
    # a session past its expiry is refused, cookie or not
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    assert client.get("/devices/").status_code == 302


def test_a_used_session_moves_its_expiry_on(client, session) -> None:
    user(session, "ada")
    login(client, "ada")
    row = session.scalars(select(WebSession)).one()
    row.last_seen_at = utcnow() - timedelta(minutes=30)
    row.expires_at = utcnow() + timedelta(minutes=5)
    session.commit()
    assert client.get("/devices/").status_code == 200
    session.expire_all()
    row = session.get(WebSession, row.id)
    assert row.expires_at > utcnow() + timedelta(hours=11)
    assert row.last_seen_at > utcnow() - timedelta(minutes=1)
