"""Logging in to the web app: sessions, lock-out after repeated wrong passwords, CSRF on every POST."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from registry.db import utcnow
from registry.models import User
from tests.web_support import PASSWORD, csrf_token, login, user


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


def test_wrong_password_says_so_without_saying_which(client, session) -> None:
    user(session, "ada")
    for name in ("ada", "nobody"):
        resp = login(client, name, "wrong password!")
        assert resp.status_code == 401
        assert "Wrong username or password." in resp.get_data(as_text=True)


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(client, session) -> None:
    user(session, "ada")
    for _ in range(4):
        assert "Wrong username or password." in login(client, "ada", "guess").get_data(as_text=True)
    fifth = login(client, "ada", "guess").get_data(as_text=True)
    assert "this account is locked for 15 minutes" in fifth
    resp = login(client, "ada")  # the right password, while locked
    assert resp.status_code == 401 and "locked" in resp.get_data(as_text=True)
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
