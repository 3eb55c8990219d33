"""Token pages, logout and the Content-Security-Policy through a real browser: the stylesheet loads
and nothing is refused by the policy; a cookie copied before logout is worth nothing after it."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests import factories as f
from tests.browser.conftest import LiveServer
from tests.browser.test_registry_browser import log_in
from tests.web_support import user


def test_a_facility_manager_makes_and_revokes_a_token_under_the_csp(page: Page, session) -> None:
    site = f.site(session)
    session.commit()
    user(session, "fay", "facility_manager", sites=[site.id])
    errors: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        if "Content Security Policy" in msg.text:
            errors.append(msg.text)

    page.on("console", on_console)
    log_in(page, "fay")
    # the stylesheet loaded and applies (waited for: under load it arrives after the page's DOM)
    expect(page.locator(".topbar")).to_have_css("display", "flex")

    page.click("#nav-tokens")
    expect(page).to_have_url(re.compile(r"/tokens/$"))
    page.fill("#name", "nightly export")
    page.check("input[value='registry:read']")
    page.fill("#expires", "30d")
    page.click("#create-token")
    expect(page.locator("#token-secret")).to_have_text(re.compile(r"^ag_\S{40,}$"))
    page.get_by_role("link", name="Back to the tokens").click()
    row = page.locator("#tokens tbody tr").first
    expect(row).to_contain_text("nightly export")
    expect(row).to_contain_text("active")
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator(".flash")).to_contain_text("Revoked token nightly export")
    expect(page.locator("#tokens tbody tr").first).to_contain_text("revoked")
    assert errors == [], errors
    # the policy is on: an image from elsewhere (as injected markup would load) is refused
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text) as refused:
        page.evaluate("document.body.insertAdjacentHTML('beforeend', '<img src=\"http://192.0.2.1/x.png\">')")
    assert "http://192.0.2.1/x.png" in refused.value.text and "blocked" in refused.value.text


def test_a_cookie_copied_before_logout_gets_the_login_page(
    page: Page, browser: Browser, live_server: LiveServer, session
) -> None:
    user(session, "ada")
    log_in(page, "ada")
    copied = page.context.cookies()
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    thief = browser.new_context(base_url=live_server.url)
    try:
        thief.add_cookies(copied)  # type: ignore[arg-type]
        other = thief.new_page()
        other.goto("/devices/")
        expect(other).to_have_url(re.compile(r"/login\?next="))
        expect(other.get_by_role("heading", name="Log in")).to_be_visible()
    finally:
        thief.close()
