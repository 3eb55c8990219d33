"""Every response forbids framing and MIME sniffing and carries a strict Content-Security-Policy."""

from __future__ import annotations

from tests.web_support import login, user

EXPECTED = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def test_every_kind_of_response_carries_the_security_headers(client, session) -> None:
    user(session, "ada")
    anonymous = [
        client.get("/login"),
        client.get("/devices/"),  # redirect to the login page
        client.get("/static/registry/anigate.css"),
        client.get("/api/v1/openapi.json"),
        client.get("/api/v1/devices"),  # 401 problem
        client.get("/no-such-page"),
    ]
    login(client, "ada")
    pages = [client.get("/devices/"), client.get("/tokens/"), client.get("/devices/999999/")]
    for resp in anonymous + pages:
        for name, value in EXPECTED.items():
            assert resp.headers.get(name) == value, (resp.request.path, name)
        csp = resp.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, resp.request.path
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        resp.close()  # the stylesheet is a file
