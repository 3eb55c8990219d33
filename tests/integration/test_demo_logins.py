"""A new user's first minute: the first start with the demo estate (``make run`` runs
``flask demo load --first-start``) prints three logins, once, and each opens its role's view."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from config import Settings
from registry.accounts import MIN_PASSWORD_LENGTH
from registry.models import Device, User

_LOGIN_LINE = re.compile(r"^  (demo-\S+)\s+(\S+)\s+(.+)$", re.M)
_DEVICE_LINK = re.compile(r'<td><a href="/devices/(\d+)/">')


@pytest.fixture
def settings(database_url: str, tmp_path: Path, request: Any) -> Settings:
    """As ``make run`` reads them: ANIGATE_DEMO unset (on), or the parameter's value."""
    env = {"ANIGATE_DEMO": request.param} if hasattr(request, "param") else {}
    return Settings.from_env(
        env, database_url=database_url, instance_dir=tmp_path / "instance", secret_key="test-secret"
    )


def first_start(runner: Any) -> str:
    result = runner.invoke(args=["demo", "load", "--first-start"])
    assert result.exit_code == 0, result.output
    return result.output  # type: ignore[no-any-return]


def logins(output: str) -> dict[str, str]:
    return {name: password for name, password, _ in _LOGIN_LINE.findall(output)}


def log_in(app: Any, username: str, password: str) -> Any:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token
    resp = client.post("/login", data={"csrf_token": token[1], "username": username, "password": password})
    assert resp.status_code == 302, f"{username} could not log in"
    return client


def test_the_first_start_prints_a_login_per_role_that_opens_its_view(app, runner, session) -> None:
    output = first_start(runner)
    assert "demo loaded:" in output
    assert "demo logins for http://127.0.0.1:8000/ (passwords shown only now" in output
    lines = {name: rest for name, _, rest in _LOGIN_LINE.findall(output)}
    assert lines == {
        "demo-admin": "Administrator: everything, and the users",
        "demo-manager": "Facility manager: the site Spree Tower",
        "demo-operator": "Security center operator: the sites of Leitstelle Berlin, read-only",
    }
    passwords = logins(output)
    assert len(set(passwords.values())) == 3
    assert all(len(p) >= MIN_PASSWORD_LENGTH for p in passwords.values())
    stored = {u.username: u for u in session.scalars(select(User))}
    assert {u: stored[u].role.value for u in stored} == {
        "demo-admin": "admin",
        "demo-manager": "facility_manager",
        "demo-operator": "operator",
    }
    for name, password in passwords.items():
        assert password not in stored[name].password_hash

    admin = log_in(app, "demo-admin", passwords["demo-admin"])
    page = admin.get("/devices/").get_data(as_text=True)
    assert len(_DEVICE_LINK.findall(page)) == 30
    assert 'href="/users/"' in page and "New device" in page

    manager = log_in(app, "demo-manager", passwords["demo-manager"])
    page = manager.get("/devices/").get_data(as_text=True)
    tower = {d.id for d in session.scalars(select(Device).where(Device.site.has(slug="spree-tower")))}
    assert {int(i) for i in _DEVICE_LINK.findall(page)} == tower and len(tower) == 14
    assert 'href="/users/"' not in page and "New device" in page

    operator = log_in(app, "demo-operator", passwords["demo-operator"])
    page = operator.get("/devices/").get_data(as_text=True)
    assert len(_DEVICE_LINK.findall(page)) == 30  # Leitstelle Berlin serves all three sites
    assert 'href="/users/"' not in page and "New device" not in page
    assert operator.get("/devices/new").status_code == 403


def test_a_second_start_prints_no_password_and_changes_none(app, runner, session) -> None:
    passwords = logins(first_start(runner))
    hashes = {n: h for n, h in session.execute(select(User.username, User.password_hash))}

    again = first_start(runner)
    assert again == "registry not empty: demo data not loaded\n"
    assert not any(p in again for p in passwords.values())
    session.expire_all()
    assert {n: h for n, h in session.execute(select(User.username, User.password_hash))} == hashes
    log_in(app, "demo-manager", passwords["demo-manager"])


@pytest.mark.parametrize("settings", ["0"], indirect=True)
def test_with_the_demo_turned_off_no_user_is_made(runner, session) -> None:
    assert first_start(runner) == "ANIGATE_DEMO=0: demo data not loaded\n"
    assert session.scalar(select(func.count()).select_from(User)) == 0
    assert session.scalar(select(func.count()).select_from(Device)) == 0
