"""Every URI that can reach a 302 Contact is checked once, by the registry's cleaners: the API, the
web forms and CSV refuse control characters, DEL, raw non-ASCII, URI headers, spaces and <> with
the reason on the field, and nothing is saved."""

from __future__ import annotations

import html
import io
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from registry.actors import Actor
from registry.csvio import import_csv
from registry.models import Device, DnisRule, SecurityCenter, Site
from tests import factories as f
from tests.api_support import assert_problem, bearer
from tests.web_support import csrf_token, job_page, login, post_form, text_of, user

#: seen in a registry row, and raw in a 302: controls, DEL, ESC, a zero-width space, URI headers
SEEN = "sip:a@127.0.0.1\x01\x7f\x1bX\u200b?X-Evil=1&Route=%3Csip:evil@198.51.100.66%3E"
#: (value, the reason the field shows before the value's repr)
BAD = [
    (SEEN, "control character U+0001 in a SIP URI"),
    ("sip:a\x1f@127.0.0.1", "control character U+001F in a SIP URI"),
    ("sip:a@127.0.0.1\x7f", "control character U+007F in a SIP URI"),
    ("sip:zentrale@m\u00fcnchen.example", "non-ASCII character U+00FC in a SIP URI (percent-encode it)"),
    ("sip:a@127.0.0.1\u200b", "non-ASCII character U+200B in a SIP URI (percent-encode it)"),
    (
        "sip:a@127.0.0.1?X-Evil=1&Route=%3Csip:evil@198.51.100.66%3E",
        "URI headers (?...) are not allowed in a redirect target",
    ),
    ("sip:a b@127.0.0.1", "white space in a SIP URI"),
    ("sip:a@127.0.0.1>;q=1", 'a SIP URI here is written without <, > or "'),
    ("<sip:a@127.0.0.1>", "not a sip: or sips: URI"),
]
#: what pydantic's pattern on the API schemas (``[^\s<>"]``) refuses before the cleaner sees it
API_PATTERN_REFUSES = {"sip:a b@127.0.0.1", "sip:a@127.0.0.1>;q=1", "<sip:a@127.0.0.1>"}


def message(value: str, reason: str) -> str:
    return f"{reason}: {value!r}"


def count(session: Any, model: type) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def estate(session) -> dict[str, Any]:
    return f.estate(session)


def _bodies(estate: dict[str, Any], value: str) -> dict[str, tuple[str, str, dict[str, Any], type]]:
    """Per URI field: (API collection, field, a create body carrying ``value`` there, model)."""
    site = estate["site"]
    return {
        "center": ("centers", "sip_uris", {"name": "Evil", "sip_uris": [value]}, SecurityCenter),
        "site": (
            "sites",
            "maintenance_contact",
            {
                "name": "B",
                "slug": "b",
                "country": "DE",
                "timezone": "Europe/Berlin",
                "maintenance_contact": value,
            },
            Site,
        ),
        "device": (
            "devices",
            "maintenance_contact",
            {"ani": "+493023905601", "kind": "door_intercom", "site": site.id, "maintenance_contact": value},
            Device,
        ),
        "dnis_rule": (
            "dnis-rules",
            "target_uri",
            {"number": "+493023905099", "line": "test", "target_uri": value},
            DnisRule,
        ),
    }


@pytest.mark.parametrize("kind", ["center", "site", "device", "dnis_rule"])
def test_the_api_refuses_a_redirect_target_a_strict_peer_would_drop(client, session, estate, kind) -> None:
    headers = bearer(session, "alice")
    for value, reason in BAD:
        path, field, body, model = _bodies(estate, value)[kind]
        before = count(session, model)
        problem = assert_problem(client.post(f"/api/v1/{path}", json=body, headers=headers), 422)
        if value in API_PATTERN_REFUSES:
            # the schema's pattern answers first; the field is named all the same
            assert [k.split(".")[0] for k in problem["errors"]] == [field], value
        else:
            assert problem["errors"] == {field: message(value, reason)}
        assert count(session, model) == before


def test_an_api_update_is_held_to_the_same_rule(client, session, estate) -> None:
    headers = bearer(session, "alice")
    center = estate["center"]
    for value, reason in BAD:
        resp = client.patch(f"/api/v1/centers/{center.id}", json={"sip_uris": [value]}, headers=headers)
        problem = assert_problem(resp, 422)
        if value in API_PATTERN_REFUSES:
            assert [k.split(".")[0] for k in problem["errors"]] == ["sip_uris"], value
        else:
            assert problem["errors"] == {"sip_uris": message(value, reason)}
        session.expire_all()
        assert session.get(SecurityCenter, center.id).sip_uris == ["sip:berlin@127.0.0.1:5070"]


_FORMS = {
    "center": ("/centers/new", "sip_uris", SecurityCenter),
    "site": ("/sites/new", "maintenance_contact", Site),
    "device": ("/devices/new", "maintenance_contact", Device),
    "dnis_rule": ("/dnis-rules/new", "target_uri", DnisRule),
}


@pytest.mark.parametrize("kind", sorted(_FORMS))
def test_the_web_form_shows_why_next_to_the_field(client, session, estate, kind) -> None:
    user(session, "ada")
    login(client, "ada")
    path, field, model = _FORMS[kind]
    for value, reason in BAD:
        _, _, body, _ = _bodies(estate, value)[kind]
        data = {k: "\n".join(v) if isinstance(v, list) else str(v) for k, v in body.items()}
        before = count(session, model)
        resp = post_form(client, path, data)
        assert resp.status_code == 422, value
        shown = text_of(resp.get_data(as_text=True), f"error-{field}")
        assert shown == " ".join(message(value, reason).split())
        assert count(session, model) == before


def test_the_web_form_names_the_bad_line_of_a_center(client, session, estate) -> None:
    user(session, "ada")
    login(client, "ada")
    uris = f"sip:berlin@127.0.0.1:5070\r\n{SEEN}\r\nsip:backup@127.0.0.1"
    resp = post_form(client, "/centers/new", {"name": "Evil", "sip_uris": uris, "timezone": "UTC"})
    assert resp.status_code == 422
    expected = message(SEEN, "control character U+0001 in a SIP URI")
    assert text_of(resp.get_data(as_text=True), "error-sip_uris") == expected


_CSV = {
    "device": ("ani,kind,site,maintenance_contact", "030 2390 5601,door_intercom,tower-a,{}", Device),
    "site": ("name,slug,country,timezone,maintenance_contact", "B,b,DE,Europe/Berlin,{}", Site),
}


def _csv_text(object_type: str, value: str) -> str:
    header, row, _ = _CSV[object_type]
    quoted = '"' + value.replace('"', '""') + '"'
    return f"{header}\n{row.format(quoted)}\n"


@pytest.mark.parametrize("object_type", sorted(_CSV))
def test_a_csv_import_lists_the_cell_and_writes_nothing(session, estate, object_type) -> None:
    model = _CSV[object_type][2]
    before = count(session, model)
    for value, reason in BAD:
        text = _csv_text(object_type, value)
        report = import_csv(session, Actor.system("csv", "cli"), object_type, io.StringIO(text))
        assert [(e.row, e.column, e.reason) for e in report.errors] == [
            (2, "maintenance_contact", message(value, reason))
        ]
        assert report.created == 0
        session.rollback()
        assert count(session, model) == before


_PREVIEW_ROW = re.compile(r'<tr><td class="num">(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>')


def test_the_csv_upload_page_shows_the_reason(client, session, estate) -> None:
    user(session, "ada")
    login(client, "ada")
    for value, reason in BAD:
        body = _csv_text("device", value).encode("utf-8")
        token = csrf_token(client, "/devices/import")
        resp = client.post(
            "/devices/import",
            data={"csrf_token": token, "file": (io.BytesIO(body), "devices.csv")},
            content_type="multipart/form-data",
        )
        page = job_page(client, resp)
        rows = [(n, c, html.unescape(r)) for n, c, r in _PREVIEW_ROW.findall(page)]
        assert rows == [("2", "maintenance_contact", message(value, reason))]
        assert count(session, Device) == 1


def test_good_redirect_targets_are_still_taken_everywhere(client, session, estate) -> None:
    headers = bearer(session, "alice")
    body = {
        "name": "Hamburg",
        "sip_uris": ["sips:hh@control.example:5061;transport=tls", "sip:[2001:db8::1]"],
    }
    resp = client.post("/api/v1/centers", json=body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    text = "ani,kind,site,maintenance_contact\n030 2390 5601,door_intercom,tower-a,sip:tech@192.0.2.30;lr\n"
    report = import_csv(session, Actor.system("csv", "cli"), "device", io.StringIO(text))
    assert report.ok and report.created == 1, report.errors
