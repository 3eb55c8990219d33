"""The SIP redirect and the HTTP route API give the same targets for the same call."""

from __future__ import annotations

import pytest

from app import create_app
from config import Settings
from registry.models import Device, DnisRule, NumberListEntry, Trunk
from tests.api_support import bearer
from tests.e2e.siptools import header, invite, status_line, udp_exchange

ANON = '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1'
SERVICED = "+493012345699"  # a lift in maintenance, with a maintenance contact
#: case -> (source address, SIP headers, dialled number, status)
CASES = {
    "registered lift, PAI tel": ("127.0.0.1", {"P-Asserted-Identity": "<tel:+493012345678>"}),
    "test line": ("127.0.0.1", {"P-Asserted-Identity": "<tel:+493012345678>"}, "+4930555900"),
    "test-call marker": (
        "127.0.0.1",
        {"P-Asserted-Identity": "<tel:+493012345678>", "X-Alarm-Type": "test"},
    ),
    "blocklisted stranger on the intercom line": (
        "127.0.0.1",
        {"P-Asserted-Identity": "<tel:+493099990001>"},
        "7777",
        603,
    ),
    "blocklisted stranger on the emergency line": (
        "127.0.0.1",
        {"P-Asserted-Identity": "<tel:+493099990001>"},
    ),
    "lift in maintenance": ("127.0.0.1", {"P-Asserted-Identity": f"<tel:{SERVICED}>"}),
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


#: where some cases must go first, whichever path decides
FIRST = {
    "test line": "<sip:atu@127.0.0.1:5099>;q=1.0",
    "test-call marker": "<sip:atu@127.0.0.1:5099>;q=1.0",
    "lift in maintenance": "<sip:technician@127.0.0.1:5098>;q=1.0, <sip:berlin@",
    "blocklisted stranger on the emergency line": "<sip:berlin@",  # German: speaks de
}


@pytest.fixture
def worker_env(worker_env, estate_db):  # type: ignore[no-untyped-def]
    """The rule tables for the cases above, in the database before the worker starts."""
    with estate_db.factory() as s:
        s.add_all(
            [
                DnisRule(
                    number="+4930555900",
                    line="test",
                    priority="non-urgent",
                    target_uri="sip:atu@127.0.0.1:5099",
                ),
                DnisRule(number="7777", line="intercom", priority="normal"),
                NumberListEntry(pattern="+493099990001", kind="block", reason="pranks"),
                Device(
                    ani=SERVICED,
                    kind="elevator_phone",
                    site_id=estate_db.objects["site"].id,
                    status="maintenance",
                    test_interval_hours=72,
                    maintenance_contact="sip:technician@127.0.0.1:5098",
                ),
            ]
        )
        s.get(Trunk, estate_db.objects["loop"].id).test_call_marker = "X-Alarm-Type: test"
        s.commit()
    return worker_env


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
    source, headers, *rest = CASES[case]
    dnis = rest[0] if rest else "112"
    status = rest[1] if len(rest) > 1 else 302
    from_header = headers.get("From")
    extra = tuple(f"{k}: {v}" for k, v in headers.items() if k != "From")
    msg = invite(worker.port, ani_headers=extra, uri=f"sip:{dnis}@127.0.0.1:{worker.port}")
    if from_header:
        msg = msg.replace(
            b'From: "Lift 1" <sip:+493012345678@127.0.0.1>;tag=1928301774', f"From: {from_header}".encode()
        )
    sip = udp_exchange(worker.port, msg, src=source)
    assert status_line(sip) == {302: "SIP/2.0 302 Moved Temporarily", 603: "SIP/2.0 603 Decline"}[status]

    body = {"source_ip": source, "dnis": dnis, "sip_headers": headers}
    if "From" not in headers:
        body["caller_id"] = "+493012345678"
        body["display_name"] = "Lift 1"
    resp = client.post("/api/v1/calls/route", json=body, headers=auth)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    decision = resp.get_json()
    assert decision["contact"] == (header(sip, "Contact") or "")
    assert decision["contact"].startswith(FIRST.get(case, ""))
    assert decision["status"] == status
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
