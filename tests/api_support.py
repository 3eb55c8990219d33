"""Helpers for REST API tests: users with bearer tokens, built through the real account use cases."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from registry.accounts import create_token, create_user
from registry.choices import TokenScope

READ = (TokenScope.REGISTRY_READ.value,)
READ_WRITE = (TokenScope.REGISTRY_READ.value, TokenScope.REGISTRY_WRITE.value)
PROBLEM_JSON = "application/problem+json"


def bearer(
    session: Session,
    username: str,
    role: str = "admin",
    scopes: Iterable[str] = READ_WRITE,
    sites: Iterable[int | str] = (),
    center: int | str | None = None,
) -> dict[str, str]:
    """Create a user and a token; returns the ``Authorization`` header (committed)."""
    user = create_user(session, username, "correct horse battery", role, sites=sites, center=center)
    _, secret = create_token(session, user, f"{username}-token", scopes)
    session.commit()
    return {"Authorization": f"Bearer {secret}"}


def assert_problem(resp: Any, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status``; returns its body."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM_JSON
    body = resp.get_json(force=True)
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"]
    return body  # type: ignore[no-any-return]
