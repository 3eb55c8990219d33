"""A registry change made through the API (another process) reaches the SIP listener within 2 s."""

from __future__ import annotations

import time

import pytest

from app import create_app
from config import Settings
from tests.api_support import bearer
from tests.e2e.siptools import header, invite, udp_exchange


@pytest.fixture
def worker_env(worker_env: dict[str, str]) -> dict[str, str]:
    # the lift calls again after the change: without this it would be a repeat caller, kept at the
    # center of its last call (tests/e2e/test_call_rules.py shows that rule)
    return worker_env | {"ANIGATE_REPEAT_CALLER_WINDOW": "0"}


def test_api_change_is_used_by_the_worker_within_two_seconds(worker, estate_db, tmp_path) -> None:
    before = header(udp_exchange(worker.port, invite(worker.port)), "Contact")
    assert before.startswith("<sip:berlin@127.0.0.1:5070>;q=1.0")

    app = create_app(
        Settings.from_env(
            {}, database_url=estate_db.url, instance_dir=tmp_path / "web", secret_key="t", demo=False
        )
    )
    with estate_db.factory() as s:
        auth = bearer(s, "admin")
    site_id, london = estate_db.objects["site"].id, estate_db.objects["london"].id
    resp = app.test_client().patch(f"/api/v1/sites/{site_id}", json={"day_center": london}, headers=auth)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    changed = time.monotonic()

    contact = before
    while time.monotonic() - changed < 2.0:
        contact = header(udp_exchange(worker.port, invite(worker.port)), "Contact")
        if contact.startswith("<sip:london@"):
            break
        time.sleep(0.05)
    assert contact.startswith("<sip:london@127.0.0.1:5080>;q=1.0"), contact
    app.extensions["anigate"].close()
