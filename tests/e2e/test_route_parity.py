"""The SIP redirect and the HTTP route API give the same targets for the same call."""

from __future__ import annotations

import pytest

from app import create_app
from config import Settings
from tests.api_support import bearer
from tests.e2e.siptools import header, invite, status_line, udp_exchange

ANON = '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1'
CASES = {
    "registered lift, PAI tel": ("127.0.0.1", {"P-Asserted-Identity": "<tel:+493012345678>"}),
    "registered intercom, PAI sip national": (
        "127.0.0.1",
        {"P-Asserted-Identity": "<sip:03023905601@carrier;user=phone>"},
    ),
    "privacy id, anonymous From": (
        "127.0.0.1",
        {"P-Asserted-Identity": "<tel:+493012345678>", "Privacy": "id", "From": ANON},
    ),
    "unknown German number": ("127.0.0.1", {"P-Asserted-Identity": "<tel:+4989111222>"}),
    "unknown Japanese number": ("127.0.0.1", {"P-Asserted-Identity": "<tel:+81312345678>"}),
    "untrusted trunk ignores PAI": (
        "127.0.0.3",
        {"P-Asserted-Identity": "<tel:+493012345678>", "From": ANON},
    ),
}


@pytest.fixture
def api(estate_db, tmp_path):  # type: ignore[no-untyped-def]
    app = create_app(
        Settings.from_env(
            {},
            database_url=estate_db.url,
            instance_dir=tmp_path / "web",
            secret_key="t",
            demo=False,
            default_center="London",  # as the worker fixture configures it
        )
    )
    with estate_db.factory() as s:
        auth = bearer(s, "pbx", scopes=("registry:read", "calls:route"))
    yield app.test_client(), auth
    app.extensions["anigate"].close()


@pytest.mark.parametrize("case", sorted(CASES))
def test_sip_and_http_route_alike(worker, api, case) -> None:
    client, auth = api
    source, headers = CASES[case]
    from_header = headers.get("From")
    extra = tuple(f"{k}: {v}" for k, v in headers.items() if k != "From")
    msg = invite(worker.port, ani_headers=extra)
    if from_header:
        msg = msg.replace(
            b'From: "Lift 1" <sip:+493012345678@127.0.0.1>;tag=1928301774', f"From: {from_header}".encode()
        )
    sip = udp_exchange(worker.port, msg, src=source)
    assert status_line(sip) == "SIP/2.0 302 Moved Temporarily"

    body = {"source_ip": source, "dnis": "112", "sip_headers": headers}
    if "From" not in headers:
        body["caller_id"] = "+493012345678"
        body["display_name"] = "Lift 1"
    resp = client.post("/api/v1/calls/route", json=body, headers=auth)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    decision = resp.get_json()
    assert decision["contact"] == header(sip, "Contact")
    assert decision["status"] == 302
    stored = client.get(f"/api/v1/calls/{decision['call']}", headers=auth).get_json()
    assert stored["transport"] == "HTTP" and stored["targets"] == [t["uri"] for t in decision["targets"]]


def test_route_needs_a_known_trunk_and_the_scope(worker, api, estate_db) -> None:
    client, auth = api
    resp = client.post(
        "/api/v1/calls/route", json={"source_ip": "127.0.0.9", "ani": "+493012345678"}, headers=auth
    )
    assert resp.status_code == 422 and "source_ip" in resp.get_json()["errors"]
    with estate_db.factory() as s:
        reader = bearer(s, "reader", scopes=("registry:read",))
    resp = client.post(
        "/api/v1/calls/route", json={"trunk": "loopback", "ani": "+493012345678"}, headers=reader
    )
    assert resp.status_code == 403
    ok = client.post(
        "/api/v1/calls/route", json={"trunk": "loopback", "ani": "030 12345678"}, headers=auth
    ).get_json()
    assert ok["device_id"] == estate_db.objects["lift"].id and ok["ani_source"].startswith("pai")
