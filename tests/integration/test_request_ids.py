"""A request id from outside is kept only when it is a plain token; it lands in the change log."""

from __future__ import annotations

import re

from sqlalchemy import select

from registry.models import ChangeLog
from tests import factories as f
from tests.api_support import bearer


def test_plain_request_id_is_echoed_and_logged(client, session) -> None:
    est = f.estate(session)
    auth = bearer(session, "admin")
    resp = client.patch(
        f"/api/v1/devices/{est['device'].id}",
        json={"notes": "x"},
        headers={**auth, "X-Request-ID": "pbx-42.a"},
    )
    assert resp.status_code == 200 and resp.headers["X-Request-ID"] == "pbx-42.a"
    row = session.scalars(select(ChangeLog).where(ChangeLog.source == "api")).one()
    assert row.request_id == "pbx-42.a"


def test_hostile_request_id_is_replaced(client, session) -> None:
    auth = bearer(session, "admin")
    resp = client.get("/api/v1/devices", headers={**auth, "X-Request-ID": "a\x00<script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["X-Request-ID"])
