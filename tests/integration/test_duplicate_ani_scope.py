"""A number already held by a device of another site is "already registered" to a facility manager,
without that device's id or link, in the API, the web form and the CSV row report; within their own
sites (and for admins) the conflict still names the device."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest

from tests import factories as f
from tests.api_support import assert_problem, bearer
from tests.web_support import csrf_token, job_page, login, post_form, text_of, user

HIDDEN = "is already registered to a device outside your sites"


@pytest.fixture
def estate(session) -> dict[str, Any]:
    c = f.center(session)
    ours = f.site(session, day_center=c.id)
    theirs = f.site(
        session, name="Wharf", slug="wharf", country="GB", timezone="Europe/London", day_center=c.id
    )
    mine = f.device(session, ours.id, ani="+493012345678", kind="door_intercom")
    other = f.device(session, theirs.id, ani="+442079460000", test_ani="+442079460999", kind="door_intercom")
    session.commit()
    return {"ours": ours, "theirs": theirs, "mine": mine, "other": other}


def _no_trace_of(text: str, device: Any) -> None:
    assert f"device {device.id}" not in text
    assert f"/devices/{device.id}" not in text


def test_api_hides_another_sites_device_from_a_facility_manager(client, session, estate) -> None:
    fay = bearer(session, "fay", "facility_manager", sites=[estate["ours"].id])
    other = estate["other"]
    body = {"ani": "+44 20 7946 0000", "kind": "door_intercom", "site": "tower-a"}
    resp = client.post("/api/v1/devices", json=body, headers=fay)
    problem = assert_problem(resp, 409)
    assert problem["detail"] == f"ANI +442079460000 {HIDDEN}"
    assert problem["field"] == "ani"
    assert "existing_id" not in problem and "existing" not in problem
    _no_trace_of(resp.get_data(as_text=True), other)

    # the other device's test ANI, and a change of one's own device: the same
    resp = client.post("/api/v1/devices", json=body | {"ani": "+44 20 7946 0999"}, headers=fay)
    assert assert_problem(resp, 409)["detail"] == f"ANI +442079460999 {HIDDEN}"
    _no_trace_of(resp.get_data(as_text=True), other)
    mine = estate["mine"].id
    resp = client.patch(f"/api/v1/devices/{mine}", json={"test_ani": "+442079460000"}, headers=fay)
    problem = assert_problem(resp, 409)
    assert (problem["field"], problem["detail"]) == ("test_ani", f"test ANI +442079460000 {HIDDEN}")
    assert "existing_id" not in problem


def test_api_names_the_device_to_the_manager_of_its_site_and_to_admins(client, session, estate) -> None:
    other = estate["other"]
    bob = bearer(session, "bob", "facility_manager", sites=[estate["theirs"].id])
    body = {"ani": "+44 20 7946 0000", "kind": "door_intercom", "site": "wharf"}
    problem = assert_problem(client.post("/api/v1/devices", json=body, headers=bob), 409)
    assert problem["detail"] == f"ANI +442079460000 is already registered to device {other.id}"
    assert (problem["existing_id"], problem["existing"]) == (other.id, f"/api/v1/devices/{other.id}")

    admin = bearer(session, "ada")
    body = body | {"site": "tower-a"}
    problem = assert_problem(client.post("/api/v1/devices", json=body, headers=admin), 409)
    assert problem["existing_id"] == other.id


def test_the_web_form_shows_no_link_to_another_sites_device(client, session, estate) -> None:
    other = estate["other"]
    user(session, "fay", "facility_manager", sites=[estate["ours"].id])
    login(client, "fay")
    form = {"ani": "+44 20 7946 0000", "kind": "door_intercom", "site": str(estate["ours"].id)}
    resp = post_form(client, "/devices/new", form)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 409
    assert text_of(page, "error-ani") == f"ANI +442079460000 {HIDDEN}"
    _no_trace_of(page, other)


def test_the_web_form_links_the_device_for_the_manager_of_its_site(client, session, estate) -> None:
    other = estate["other"]
    user(session, "bob", "facility_manager", sites=[estate["theirs"].id])
    login(client, "bob")
    form = {"ani": "020 7946 0000", "kind": "door_intercom", "site": str(estate["theirs"].id)}
    page = post_form(client, "/devices/new", form).get_data(as_text=True)
    assert text_of(page, "error-ani") == f"ANI +442079460000 is already registered to device {other.id}"
    assert f'<a href="/devices/{other.id}/">device {other.id}</a>' in page


def _upload_rows(client: Any, text: str) -> list[tuple[str, str, str]]:
    resp = client.post(
        "/devices/import",
        data={
            "csrf_token": csrf_token(client, "/devices/import"),
            "file": (io.BytesIO(text.encode()), "devices.csv"),
        },
        content_type="multipart/form-data",
    )
    page = job_page(client, resp)  # the upload's check, run as a job
    return re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>', page)


def test_the_csv_row_report_hides_another_sites_device(client, session, estate) -> None:
    user(session, "fay", "facility_manager", sites=[estate["ours"].id])
    login(client, "fay")
    text = (
        "ani,kind,site\n"
        "+44 20 7946 0000,other,tower-a\n"
        "+44 20 7946 0999,other,tower-a\n"
        "+49 30 2390 5601,other,tower-a\n"
        "+49 30 2390 5601,other,tower-a\n"
        "+49 30 1234 5678,other,tower-a\n"
    )
    assert _upload_rows(client, text) == [
        ("2", "ani", f"ANI +442079460000 {HIDDEN}"),
        ("3", "ani", f"ANI +442079460999 {HIDDEN}"),
        ("5", "ani", "same ANI as row 4"),
        ("6", "ani", f"ANI +493012345678 is already registered to device {estate['mine'].id}"),
    ]


def test_the_csv_row_report_names_the_device_to_the_manager_of_its_site(client, session, estate) -> None:
    user(session, "bob", "facility_manager", sites=[estate["theirs"].id])
    login(client, "bob")
    rows = _upload_rows(client, "ani,kind,site\n+44 20 7946 0000,other,wharf\n")
    assert rows == [("2", "ani", f"ANI +442079460000 is already registered to device {estate['other'].id}")]
