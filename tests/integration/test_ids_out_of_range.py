"""An id in a URL outside the database's integer range is a plain 404 on every page and API path of
every object type (it once overflowed the driver: 500), on SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

import pytest

from registry.api.views import COLLECTIONS
from registry.db import MAX_ID
from registry.web.views import PAGES
from tests.api_support import assert_problem, bearer
from tests.web_support import PASSWORD, csrf_token, login, user

#: 2**31 is already past PostgreSQL's INTEGER; 2**63 and 2**64 past SQLite's and BIGINT
OUT_OF_RANGE = [str(2**31), str(2**63), str(2**64), "-1", "0", "9" * 5000]
WEB_TYPES = [p.path for p in PAGES] + ["users"]


@pytest.mark.parametrize("path", [c.path for c in COLLECTIONS])
def test_api_paths_answer_404_for_an_id_out_of_range(client, session, path: str) -> None:
    headers = bearer(session, "alice")
    for bad_id in [*OUT_OF_RANGE, str(MAX_ID)]:
        for method in ("GET", "PATCH", "DELETE"):
            resp = client.open(f"/api/v1/{path}/{bad_id}", method=method, json={}, headers=headers)
            assert_problem(resp, 404)


@pytest.fixture
def admin_client(client, session) -> Any:
    user(session, "ada")
    login(client, "ada", PASSWORD)
    return client


@pytest.mark.parametrize("path", WEB_TYPES)
def test_pages_answer_404_for_an_id_out_of_range(admin_client, path: str) -> None:
    for bad_id in [*OUT_OF_RANGE, str(MAX_ID)]:
        _assert_pages_not_found(admin_client, path, bad_id)


def _assert_pages_not_found(admin_client: Any, path: str, bad_id: str) -> None:
    token = csrf_token(admin_client, "/sites/new")
    last = "unlock" if path == "users" else "delete"
    for page in (f"/{path}/{bad_id}/", f"/{path}/{bad_id}/edit", f"/{path}/{bad_id}/delete"):
        if page.endswith("/delete") and path == "users":
            continue  # users are deactivated, never deleted
        resp = admin_client.get(page)
        assert resp.status_code == 404, (page, resp.status_code)
        assert "Not found" in resp.get_data(as_text=True)
    for page in (f"/{path}/{bad_id}/edit", f"/{path}/{bad_id}/{last}"):
        resp = admin_client.post(page, data={"csrf_token": token})
        assert resp.status_code == 404, (page, resp.status_code)


def test_a_call_id_out_of_range_is_404(client, session) -> None:
    headers = bearer(session, "alice")
    for bad_id in [*OUT_OF_RANGE, str(MAX_ID)]:
        assert_problem(client.get(f"/api/v1/calls/{bad_id}", headers=headers), 404)
