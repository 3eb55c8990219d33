"""The console in a real browser, fed by a real worker: sipp calls from a registered lift phone, the
card pops up on the operator's console within 2 s, an acknowledgement shows on a second operator's
console within 1 s, another center's operator sees nothing, and a cut stream catches up without
losing or doubling a card. The From display name is markup, and stays text."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from registry.services import create_object, update_object
from tests import factories as f
from tests.browser.conftest import TIMEOUT_MS, VIEWPORT, LiveServer
from tests.browser.test_registry_browser import log_in
from tests.e2e.conftest import Worker, start_worker
from tests.e2e.sipp import run_sipp
from tests.web_support import user

XSS = "<img src=x onerror=alert(1)>"
PAI = "P-Asserted-Identity: <tel:+493012345678>"
LIFT_FROM = f'"{XSS}" <sip:+493012345678@127.0.0.1>'


@pytest.fixture
def estate(live_server: LiveServer, session) -> dict:
    berlin = f.center(session, name="Berlin", sip_uris=["sip:berlin@127.0.0.1:5070"])
    london = f.center(
        session, name="London", sip_uris=["sip:london@127.0.0.1:5080"], timezone="Europe/London"
    )
    site = f.site(
        session,
        name="Spree Tower",
        address="Spreeufer 5, 10178 Berlin",
        day_center=berlin.id,
        out_of_hours_center=berlin.id,
    )
    loop = f.trunk(session, name="loopback", source_addresses=["127.0.0.1"], default_region="DE")
    loc = create_object(
        session,
        f.ADMIN,
        "location",
        {
            "site": site.id,
            "kind": "elevator_cabin",
            "name": "Cabin 2",
            "building": "North core",
            "floor": "12",
            "notes": "machine-room key at reception",
            "camera_ref": "cam-17",
        },
    )
    lift = f.device(session, site.id, ani="+493012345678", trunk=loop.id)
    update_object(session, f.ADMIN, "device", lift.id, {"location": loc.id})
    session.commit()
    for name in ("olga", "otto"):
        user(session, name, "operator", center=berlin.id)
    user(session, "lena", "operator", center=london.id)
    return {"berlin": berlin, "london": london, "site": site, "lift": lift}


@pytest.fixture
def worker(live_server: LiveServer, estate: dict, tmp_path: Path) -> Iterator[Worker]:
    """The SIP worker and its recorder on the live server's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANIGATE_")}
    env.update(
        {
            "ANIGATE_DATABASE_URL": live_server.settings.database_url,
            "ANIGATE_INSTANCE_DIR": str(tmp_path / "worker"),
            "ANIGATE_SIP_HOST": "127.0.0.1",
            "ANIGATE_SIP_PORT": "0",
            "ANIGATE_SECRET_KEY": "e2e",
            "ANIGATE_DEMO": "0",
        }
    )
    w = start_worker(env, tmp_path / "worker.log")
    yield w
    w.stop()


def console_of(browser: Browser, live_server: LiveServer, username: str) -> tuple[BrowserContext, Page]:
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    log_in(page, username)
    page.goto("/console/")
    expect(page.locator("#feed-state")).to_have_text("Live")
    return context, page


def call(tmp_path: Path, worker: Worker) -> float:
    result = run_sipp(tmp_path, worker.port, headers=[PAI], from_header=LIFT_FROM)
    assert result.returncode == 0, result.output + worker.log()[-2000:]
    return time.monotonic()


def test_a_lift_call_pops_up_on_its_centers_consoles_and_an_ack_shows_on_the_other(
    browser: Browser, live_server: LiveServer, estate: dict, worker: Worker, tmp_path: Path
) -> None:
    contexts = []
    try:
        (ca, olga), (cb, otto), (cc, lena) = (
            console_of(browser, live_server, n) for n in ("olga", "otto", "lena")
        )
        contexts += [ca, cb, cc]
        dialogs: list[str] = []
        for page in (olga, otto, lena):
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        expect(olga).to_have_title("Console · anigate")

        answered = call(tmp_path, worker)
        card = olga.locator(".call-card").first
        expect(card).to_be_visible(timeout=2000)
        shown_after = time.monotonic() - answered
        assert shown_after < 2.0, f"the card took {shown_after:.2f} s"
        expect(card.locator(".building")).to_have_text("North core")
        expect(card.locator(".location")).to_have_text("Cabin 2")
        expect(card.locator(".floor")).to_have_text("12")
        expect(card.locator(".site")).to_contain_text("Spree Tower")
        expect(card.locator(".site")).to_contain_text("Spreeufer 5")
        expect(card.locator(".responder-notes")).to_have_text("machine-room key at reception")
        expect(card.locator(".camera")).to_have_text("cam-17")
        expect(card.locator(".display-name")).to_have_text(XSS)  # the markup as text
        assert card.locator("img").count() == 0
        alarm = olga.locator(".alarm").first
        expect(alarm).to_contain_text("Lift emergency call")
        expect(alarm.locator(".countdown")).to_contain_text("acknowledge within")
        expect(olga).to_have_title("(1) Console · anigate")
        assert olga.evaluate("window.anigateConsole.alerts") == 1  # the critical alarm's alert
        other_alarm = otto.locator(".alarm").first
        expect(other_alarm.locator(".alarm-state")).to_have_text("Active, unacknowledged")

        alarm.get_by_role("button", name="Acknowledge").click()
        clicked = time.monotonic()
        expect(other_alarm.locator(".alarm-state")).to_have_text(
            "Latched (awaiting rescue ended)", timeout=1000
        )
        assert time.monotonic() - clicked < 1.0
        expect(otto.locator(".alarm .acked-by")).to_have_text("acknowledged by olga")
        expect(otto).to_have_title("Console · anigate")

        # London's operator: neither card nor alarm, after Berlin's consoles have both
        expect(lena.locator("#no-calls")).to_be_visible()
        assert lena.locator(".call-card").count() == 0 and lena.locator(".alarm").count() == 0
        assert dialogs == []

        # the same display name, as text, in the call history, on the call's page and in the reports
        olga.goto("/calls/")
        expect(olga.locator(".display-name").first).to_have_text(XSS)
        olga.locator("table a[href^='/calls/']").first.click()
        expect(olga.locator("#identity")).to_contain_text(XSS)
        olga.goto("/reports/")
        expect(olga.locator("#top-anis-table .display-name")).to_have_text(XSS)
        if os.environ.get("ANIGATE_SCREENSHOTS"):
            olga.screenshot(path=str(Path(os.environ["ANIGATE_SCREENSHOTS"]) / "reports.png"))
        assert olga.locator("main img[src='x']").count() == 0
        assert dialogs == []
        olga.goto("/console/")

        if os.environ.get("ANIGATE_SCREENSHOTS"):  # docs/screenshots/console.png: make screenshots
            olga.screenshot(path=str(Path(os.environ["ANIGATE_SCREENSHOTS"]) / "console.png"), full_page=True)
    finally:
        for c in contexts:
            c.close()


def test_a_cut_stream_reconnects_and_holds_every_card_once(
    browser: Browser, live_server: LiveServer, estate: dict, worker: Worker, tmp_path: Path
) -> None:
    context, olga = console_of(browser, live_server, "olga")
    try:
        call(tmp_path, worker)
        expect(olga.locator(".call-card")).to_have_count(1)
        state = live_server.app.extensions["console"]
        state.stopping.set()  # the server ends every open stream, as a restart or a proxy does
        expect(olga.locator("#feed-state")).not_to_have_text("Live")
        call(tmp_path, worker)  # while the console is cut off
        call(tmp_path, worker)
        state.stopping.clear()
        expect(olga.locator("#feed-state")).to_have_text("Live")
        expect(olga.locator(".call-card")).to_have_count(3)
        keys = olga.locator(".call-card").evaluate_all("els => els.map(e => e.id)")
        assert len(set(keys)) == 3
        assert olga.evaluate("window.anigateConsole.connects") == 2
        # and once more from the page's side: a new EventSource from the last id it applied
        olga.evaluate("window.anigateConsole.reconnect()")
        expect(olga.locator("#feed-state")).to_have_text("Live")
        call(tmp_path, worker)
        expect(olga.locator(".call-card")).to_have_count(4)
        olga.wait_for_timeout(500)
        assert olga.locator(".call-card").count() == 4
        lift_alarms = olga.locator(".alarm", has_text="Lift emergency call")
        assert lift_alarms.count() == 1  # one lift alarm, repeated, not four rows
        expect(lift_alarms.locator(".badge")).to_have_text("\u00d74")

        # filters hide what does not match, and stay in the URL; the mute stays across a reload
        olga.select_option("#filter-severity", "minor")
        expect(lift_alarms).to_be_hidden()
        expect(olga).to_have_url(re.compile(r"/console/\?severity=minor$"))
        olga.get_by_role("button", name="Mute alerts").click()
        olga.reload()
        expect(olga.locator("#filter-severity")).to_have_value("minor")
        expect(olga.locator(".alarm", has_text="Lift emergency call")).to_be_hidden()
        expect(olga.locator("#mute")).to_have_attribute("aria-pressed", "true")
        olga.select_option("#filter-severity", "critical")
        expect(olga.locator(".alarm", has_text="Lift emergency call")).to_be_visible()
    finally:
        context.close()
