"""The registry through a real browser: forms, flashes, CSV upload, scoping and a screenshot."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from registry.demo import load_demo
from registry.models import Device, Location, Site
from tests import factories as f
from tests.web_support import PASSWORD, user

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"


def log_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))


def test_an_admin_creates_a_site_a_location_and_a_device_then_edits_it(page: Page, session) -> None:
    center = f.center(session)
    session.commit()
    user(session, "ada")
    log_in(page, "ada")

    page.goto("/sites/new")
    page.fill("#name", "Spree Tower")
    page.fill("#slug", "spree-tower")
    page.fill("#country", "DE")
    page.fill("#timezone", "Europe/Berlin")
    page.select_option("#day_center", str(center.id))
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/sites/\d+/$"))
    site_id = session.scalars(select(Site.id).where(Site.slug == "spree-tower")).one()

    page.goto("/locations/new")
    page.select_option("#site", str(site_id))
    page.select_option("#kind", "elevator_cabin")
    page.fill("#building", "North core")
    page.fill("#name", "Lift 1")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/locations/\d+/$"))
    location_id = session.scalars(select(Location.id).where(Location.name == "Lift 1")).one()

    page.goto("/devices/new")
    page.fill("#ani", "030 12345678")
    page.select_option("#kind", "elevator_phone")
    page.select_option("#site", str(site_id))
    page.select_option("#location", str(location_id))
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("Saved device +493012345678")
    expect(page.locator("#prop-ani")).to_have_text("+493012345678")
    device_url = page.url
    assert re.search(r"/devices/\d+/$", device_url)

    page.goto(device_url + "edit")
    expect(page.locator("#ani")).to_have_value("+493012345678")
    page.fill("#notes", "Machine-room key at the concierge desk.")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(device_url)
    expect(page.locator(".flash")).to_contain_text("Saved device +493012345678")
    expect(page.locator("#prop-notes")).to_have_text("Machine-room key at the concierge desk.")


def test_a_csv_with_a_bad_row_imports_nothing_and_says_which_row(page: Page, session, tmp_path) -> None:
    s = f.site(session, name="Spree Tower", slug="spree-tower")
    f.location(session, s.id, building="North core", name="Lift 1")
    session.commit()
    user(session, "ada")
    good = (
        "ani,kind,site,location,notes\n"
        "030 2390 5601,elevator_phone,spree-tower,North core/Lift 1,\n"
        "030 2390 5602,elevator_phone,spree-tower,,\n"
        "+49 30 2390 5801,door_intercom,spree-tower,,Main entrance\n"
    )
    bad = tmp_path / "devices.csv"
    bad.write_text(good + "030 2390 5603,toaster,spree-tower,,\n", encoding="utf-8")
    log_in(page, "ada")

    page.goto("/devices/import")
    expect(page.get_by_role("heading", name="Import devices from CSV")).to_be_visible()
    page.set_input_files("#file", bad)
    page.get_by_role("button", name="Upload").click()
    expect(page).to_have_url(re.compile(r"/imports/\d+/$"))  # the job page, reloading itself
    expect(page.locator("#job-status")).to_have_text("has bad rows")
    problem = page.locator("table.csv-errors tbody tr")
    expect(problem).to_have_count(1)
    expect(problem.locator("td")).to_have_text(["5", "kind", re.compile(r"^'toaster' is not one of: ")])
    nothing = "Nothing was imported. Fix these rows and upload the file again."
    expect(page.get_by_text(nothing)).to_be_visible()
    expect(page.get_by_role("button", name="Import")).to_have_count(0)
    assert session.scalar(select(func.count()).select_from(Device)) == 0

    fixed = tmp_path / "devices-fixed.csv"
    fixed.write_text(good, encoding="utf-8")
    page.set_input_files("#file", fixed)
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#csv-created")).to_have_text("3")
    page.get_by_role("button", name="Import").click()
    imported = "Imported devices: 3 created, 0 updated, 0 unchanged."
    expect(page.locator("#job-result")).to_have_text(imported)
    page.get_by_role("link", name="Show the devices").click()
    expect(page).to_have_url(re.compile(r"/devices/$"))
    expect(page.get_by_text("+493023905801")).to_be_visible()


def test_a_facility_manager_of_another_site_cannot_see_the_device(page: Page, session) -> None:
    tower = f.site(session, name="Spree Tower", slug="spree-tower")
    wharf = f.site(session, name="Canary Wharf House", slug="wharf", country="GB", timezone="Europe/London")
    hidden = f.device(session, tower.id, ani="+493012345678")
    f.device(session, wharf.id, ani="+442079460101", kind="door_intercom")
    session.commit()
    user(session, "max", "facility_manager", sites=["wharf"])
    log_in(page, "max")

    response = page.goto(f"/devices/{hidden.id}/")
    assert response is not None and response.status == 404
    expect(page.locator("body")).to_contain_text(re.compile("not found", re.IGNORECASE))

    page.goto("/devices/")
    expect(page.get_by_text("+442079460101")).to_be_visible()
    expect(page.get_by_text("+493012345678")).to_have_count(0)


def test_screenshot_of_the_device_list(page: Page, session, tmp_path) -> None:
    load_demo(session)
    session.commit()
    user(session, "admin")
    log_in(page, "admin")
    page.goto("/devices/")
    expect(page.locator("table tbody tr").first).to_be_visible()
    assert page.locator("table tbody tr").count() >= 10
    shot = tmp_path / "device-list.png"
    page.screenshot(path=shot)
    assert shot.stat().st_size > 10_000
    if os.environ.get("ANIGATE_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOTS / "device-list.png")
