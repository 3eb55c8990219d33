"""Helpers for web tests through Flask's test client: users, CSRF tokens from the real form, login."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser
from typing import Any

from sqlalchemy.orm import Session

from registry.accounts import create_user

PASSWORD = "correct horse battery"
_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def user(session: Session, name: str, role: str = "admin", **kw: Any) -> Any:
    u = create_user(session, name, PASSWORD, role, **kw)
    session.commit()
    return u


def csrf_token(client: Any, path: str) -> str:
    """The CSRF token of the form on ``path``, as a browser would send it back."""
    html = client.get(path).get_data(as_text=True)
    match = _TOKEN.search(html)
    assert match, f"no CSRF token in the page {path}"
    return match.group(1)


def login(client: Any, username: str, password: str = PASSWORD) -> Any:
    token = csrf_token(client, "/login")
    return client.post("/login", data={"csrf_token": token, "username": username, "password": password})


def job_page(client: Any, resp: Any, timeout: float = 30) -> str:
    """Follow a CSV upload's (or confirmation's) redirect to its job page, reloading it as the page's
    ``<meta http-equiv="refresh">`` does until the job is done or failed; the page then."""
    assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
    url = resp.headers["Location"]
    assert re.fullmatch(r"/imports/\d+/", url), url
    deadline = time.monotonic() + timeout
    while True:
        page = client.get(url).get_data(as_text=True)
        if 'http-equiv="refresh"' not in page:
            return str(page)
        assert time.monotonic() < deadline, "the CSV job did not end"
        time.sleep(0.05)


def post_form(client: Any, path: str, data: dict[str, Any], form_path: str | None = None) -> Any:
    """POST ``data`` to ``path`` with the CSRF token of the form shown at ``form_path`` (or ``path``)."""
    return client.post(path, data={"csrf_token": csrf_token(client, form_path or path), **data})


class _TextOf(HTMLParser):
    """Collects the text inside the element with a given id (nested elements included)."""

    _VOID = frozenset({"br", "hr", "img", "input", "link", "meta", "wbr", "area", "base", "col", "source"})

    def __init__(self, element_id: str):
        super().__init__(convert_charrefs=True)
        self.element_id = element_id
        self.depth = 0
        self.found = False
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._VOID:
            return
        if self.depth:
            self.depth += 1
        elif not self.found and dict(attrs).get("id") == self.element_id:
            self.found, self.depth = True, 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag not in self._VOID:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.parts.append(data)


def text_of(html: str, element_id: str) -> str | None:
    """The text (entities decoded, whitespace collapsed) of the element ``id=element_id``, or None."""
    parser = _TextOf(element_id)
    parser.feed(html)
    return " ".join("".join(parser.parts).split()) if parser.found else None


class _FormValues(HTMLParser):
    """What a browser would send from the page's first ``method=post`` form with fields."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.values: dict[str, str] = {}
        self._select: str | None = None
        self._first_option: str | None = None
        self._textarea: str | None = None
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if self._done:
            return
        name = a.get("name", "")
        if tag == "input" and name and a.get("type") not in ("submit", "button"):
            if a.get("type") in ("checkbox", "radio"):
                if "checked" in a:
                    self.values[name] = a.get("value", "on")
            else:
                self.values[name] = a.get("value", "")
        elif tag == "select":
            self._select, self._first_option = name, None
        elif tag == "option" and self._select:
            if self._first_option is None:
                self._first_option = a.get("value", "")
                self.values.setdefault(self._select, self._first_option)
            if "selected" in a:
                self.values[self._select] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = name
            self.values[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            # a browser ignores one line break right after <textarea>
            text = self.values[self._textarea]
            self.values[self._textarea] = (
                text.removeprefix("\r\n") if text.startswith("\r") else text.removeprefix("\n")
            )
            self._textarea = None
        elif tag == "form" and len(self.values) > 1:
            self._done = True  # the page's form; the logout form before it has only its token

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.values[self._textarea] += data


def form_values(html: str) -> dict[str, str]:
    """The fields of the page's form with their current values (selected options, textarea text)."""
    parser = _FormValues()
    parser.feed(html)
    return parser.values
