"""CSV in the browser: upload, the job page (progress, the check's report, confirmation, the import's
result), scoping and CSRF, the row cap; template and filtered export."""

from __future__ import annotations

import csv
import io
import os
import re
import socket
import stat
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from registry import csvjobs
from registry.choices import CsvJobPhase, CsvJobState
from registry.csvio import COLUMNS, import_csv
from registry.demo import load_demo
from registry.models import CsvJob, Device
from registry.web import csv_views
from tests import factories as f
from tests.web_support import csrf_token, login, text_of, user

GOOD = (
    "id,ani,kind,site,location,notes\n"
    ",030 2390 5601,elevator_phone,tower-a,A/Lift 1,new one\n"
    ",+49 30 2390 5602,door_intercom,tower-a,,\n"
    ",030 2390 5603,other,tower-a,,\n"
)
_ROW = re.compile(r'<tr><td class="num">(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>')
_JOB = re.compile(r"^/imports/(\d+)/$")
REFRESH = '<meta http-equiv="refresh" content="2">'
NOTHING = "Nothing was imported. Fix these rows and upload the file again."


@pytest.fixture
def estate(session) -> dict[str, Any]:
    c = f.center(session)
    s = f.site(session, day_center=c.id)
    other = f.site(session, name="Wharf", slug="wharf", country="GB", timezone="Europe/London")
    loc = f.location(session, s.id)
    t = f.trunk(session)
    session.commit()
    return {"center": c, "site": s, "other": other, "location": loc, "trunk": t}


def multipart(fields: dict[str, str], file: bytes, name: str) -> tuple[bytes, str]:
    """A multipart/form-data body as a browser sends it (built here: for a body of more than
    500 KB the test client's own encoder leaves a temporary file open)."""
    boundary = "----anigate-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items()
    ]
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    )
    body = b"".join(parts) + head.encode() + file + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def upload(client: Any, text: str | bytes, plural: str = "devices", name: str = "devices.csv") -> Any:
    body = text.encode() if isinstance(text, str) else text
    data, content_type = multipart({"csrf_token": csrf_token(client, f"/{plural}/import")}, body, name)
    return client.post(f"/{plural}/import", data=data, content_type=content_type)


def job_url(resp: Any) -> str:
    """Where an upload or a confirmation sends the browser: its job's page."""
    assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
    location = resp.headers["Location"]
    assert _JOB.match(location), location
    return str(location)


def settled(client: Any, url: str, timeout: float = 30) -> str:
    """The job page once it stops reloading itself (the job is done or failed), as a browser sees it."""
    deadline = time.monotonic() + timeout
    while True:
        resp = client.get(url)
        assert resp.status_code == 200
        page = resp.get_data(as_text=True)
        if REFRESH not in page:
            return page
        assert time.monotonic() < deadline, f"the job did not end: {text_of(page, 'job-status')}"
        time.sleep(0.05)


def checked(client: Any, text: str, plural: str = "devices") -> tuple[str, str]:
    """Upload ``text``; the job page's URL and the page once the check is done."""
    url = job_url(upload(client, text, plural))
    return url, settled(client, url)


def confirm(client: Any, url: str) -> Any:
    return client.post(url + "confirm", data={"csrf_token": csrf_token(client, url)})


def job_of(session, url: str) -> CsvJob:
    session.expire_all()
    match = _JOB.match(url)
    assert match
    job = session.get(CsvJob, int(match.group(1)))
    assert job is not None
    return job


def device_count(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Device)) or 0


def uploads(app) -> list[str]:
    folder = app.extensions["anigate"].settings.instance_dir / "uploads"
    return sorted(p.name for p in folder.glob("*.csv")) if folder.exists() else []


def flashes(client: Any) -> list[tuple[str, str]]:
    with client.session_transaction() as s:
        return list(s.get("_flashes", []))


def test_import_page_has_the_file_input_template_link_limits_and_upload_button(
    client, session, estate
) -> None:
    user(session, "ada")
    login(client, "ada")
    page = client.get("/devices/import").get_data(as_text=True)
    assert "Import devices from CSV" in page
    assert re.search(r'<input[^>]*accept="\.csv,text/csv"[^>]*name="file"[^>]*type="file"', page)
    assert 'href="/devices/template.csv"' in page
    assert "At most 20 MB and 50,000 rows (the command line takes any number)." in page
    assert ">Upload</button>" in page and 'enctype="multipart/form-data"' in page


def test_an_upload_answers_at_once_with_its_job_page_which_shows_the_check_as_it_runs(
    client, session, estate, app
) -> None:
    ada = user(session, "ada")
    login(client, "ada")
    # a job another (live) web process is checking right now: its page shows how far it got
    job = CsvJob(
        user_id=ada.id,
        object_type="device",
        filename="big.csv",
        token="t" * 32,
        default_region="DE",
        phase=CsvJobPhase.CHECK,
        state=CsvJobState.RUNNING,
        rows_done=12_000,
        rows_total=50_000,
        attempts=1,
        claimed_by=f"{socket.gethostname()}:{os.getpid()}:elsewhere",
        heartbeat_at=datetime.now(UTC),
        message="",
    )
    session.add(job)
    session.commit()
    page = client.get(f"/imports/{job.id}/").get_data(as_text=True)
    assert REFRESH in page  # reloads itself: no script
    assert text_of(page, "job-status") == "being checked"
    assert text_of(page, "job-progress-text") == "Checked 12,000 of 50,000 rows."
    assert '<progress id="job-progress" max="50000" value="12000">24 %</progress>' in page
    assert ">Import</button>" not in page

    session.execute(update(CsvJob).where(CsvJob.id == job.id).values(state=CsvJobState.QUEUED, rows_done=0))
    session.commit()
    page = client.get(f"/imports/{job.id}/").get_data(as_text=True)
    assert REFRESH in page and text_of(page, "job-progress-text") == "Waiting for its turn."

    started = time.monotonic()
    resp = upload(client, GOOD)
    assert time.monotonic() - started < 5  # the request only stores the file
    url = job_url(resp)
    page = settled(client, url)
    assert text_of(page, "job-status") == "checked, waiting for confirmation"
    assert text_of(page, "job-file") == "devices.csv"


def test_a_bad_row_is_listed_with_its_line_column_and_reason_and_nothing_is_written(
    client, session, estate, app
) -> None:
    user(session, "ada")
    login(client, "ada")
    text = GOOD + ",030 2390 5604,toaster,tower-a,,\n"
    _url, page = checked(client, text)
    rows = _ROW.findall(page)
    assert len(rows) == 1
    line, column, reason = rows[0]
    assert (line, column) == ("5", "kind")
    assert reason.startswith("&#39;toaster&#39; is not one of: elevator_phone")
    assert NOTHING in page and ">Import</button>" not in page
    assert text_of(page, "job-status") == "has bad rows"
    assert 'action="/devices/import"' in page  # upload the fixed file from here
    assert device_count(session) == 0 and uploads(app) == []


def test_a_good_file_is_checked_then_imported_on_confirmation(client, session, estate, app) -> None:
    kept = f.device(session, estate["site"].id, ani="+493023905600", notes="before")
    session.commit()
    user(session, "ada")
    login(client, "ada")
    text = GOOD + f"{kept.id},+493023905600,elevator_phone,tower-a,,after\n"
    url, page = checked(client, "\ufeff" + text)  # a BOM is fine
    assert re.search(r'id="csv-rows">4<', page)
    counts = {
        k: re.search(rf'id="csv-{k}">(\d+)<', page).group(1) for k in ("created", "updated", "unchanged")
    }
    assert counts == {"created": "3", "updated": "1", "unchanged": "0"}
    assert device_count(session) == 1  # the check wrote nothing
    assert ">Import</button>" in page and f'action="{url}confirm"' in page
    job = job_of(session, url)
    path = app.extensions["anigate"].settings.instance_dir / "uploads" / f"{job.token}.csv"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text(encoding="utf-8") == text

    assert job_url(confirm(client, url)) == url
    page = settled(client, url)
    assert text_of(page, "job-result") == "Imported devices: 3 created, 1 updated, 0 unchanged."
    assert 'href="/devices/"' in page
    assert device_count(session) == 4
    session.refresh(kept)
    assert kept.notes == "after"
    assert uploads(app) == []
    assert job_of(session, url).report["created"] == 3

    assert job_url(confirm(client, url)) == url  # confirmed once: a second click imports nothing
    assert ("error", "This upload is not waiting for a confirmation.") in flashes(client)
    assert device_count(session) == 4


def test_a_job_is_its_owners_admins_see_it_and_only_the_owner_confirms(client, session, estate, app) -> None:
    user(session, "ada", "facility_manager", sites=["tower-a"])
    user(session, "bob")
    user(session, "max", "facility_manager", sites=["tower-a"])
    login(client, "ada")
    url, _ = checked(client, GOOD)

    bob = app.test_client()  # an administrator: sees every job, confirms none but his own
    login(bob, "bob")
    page = bob.get(url).get_data(as_text=True)
    assert "uploaded by ada" in page and ">Import</button>" not in page
    assert "Only ada can confirm this import." in page
    assert confirm(bob, url).status_code == 403
    assert 'id="csv-job-' in bob.get("/imports/").get_data(as_text=True)

    other = app.test_client()  # another facility manager of the same site: not his job
    login(other, "max")
    assert other.get(url).status_code == 404
    assert other.post(url + "confirm", data={"csrf_token": csrf_token(other, "/imports/")}).status_code == 404
    assert 'id="csv-job-' not in other.get("/imports/").get_data(as_text=True)
    assert device_count(session) == 0

    job_url(confirm(client, url))
    settled(client, url)
    assert device_count(session) == 3


def test_an_upload_expires_after_an_hour(client, session, estate, app) -> None:
    user(session, "ada")
    login(client, "ada")
    url, _ = checked(client, GOOD)
    job = job_of(session, url)
    old = datetime.now(UTC) - timedelta(seconds=csvjobs.CONFIRM_TTL_SECONDS + 60)
    session.execute(update(CsvJob).where(CsvJob.id == job.id).values(finished_at=old))
    session.commit()
    page = client.get(url).get_data(as_text=True)
    assert text_of(page, "job-status") == "expired" and ">Import</button>" not in page
    assert "This upload has expired" in text_of(page, "job-expired")
    job_url(confirm(client, url))
    assert flashes(client)[-1][0] == "error" and "expired" in flashes(client)[-1][1]
    assert uploads(app) == [] and device_count(session) == 0


def test_the_runner_sweeps_expired_and_stray_files(client, session, estate, app) -> None:
    user(session, "ada")
    login(client, "ada")
    _url, _ = checked(client, GOOD)
    folder = app.extensions["anigate"].settings.instance_dir / "uploads"
    stray = folder / ("s" * 32 + ".csv")  # a file no job knows (an older version's upload)
    stray.write_text(GOOD)
    old = time.time() - csvjobs.CONFIRM_TTL_SECONDS - 1
    os.utime(stray, (old, old))
    runner = app.extensions["anigate"].csv_jobs
    runner.sweep()
    assert not stray.exists() and len(uploads(app)) == 1  # the job's file waits for its confirmation
    late = datetime.now(UTC) - timedelta(seconds=csvjobs.CONFIRM_TTL_SECONDS + 1)
    session.execute(update(CsvJob).values(finished_at=late))
    session.commit()
    runner.sweep()
    assert uploads(app) == []


def test_a_change_since_the_check_is_shown_like_the_check(client, session, estate) -> None:
    user(session, "ada")
    login(client, "ada")
    url, _ = checked(client, GOOD)
    f.device(session, estate["site"].id, ani="+493023905602")  # someone else took row 3's ANI
    session.commit()
    job_url(confirm(client, url))
    page = settled(client, url)
    assert [(line, col) for line, col, _ in _ROW.findall(page)] == [("3", "ani")]
    assert text_of(page, "job-rejected") == (
        "Nothing was imported. The registry changed since the check. "
        "Fix these rows and upload the file again."
    )
    assert text_of(page, "job-status") == "not imported"
    assert device_count(session) == 1


def test_unreadable_and_oversized_files_get_a_clear_error(client, session, estate, monkeypatch) -> None:
    user(session, "ada")
    login(client, "ada")
    resp = upload(client, GOOD.replace("new one", "Aufzug Süd").encode("latin-1"))
    assert resp.status_code == 400
    assert 'id="error-file"' in resp.get_data(as_text=True)
    assert "is not UTF-8 text" in resp.get_data(as_text=True)
    monkeypatch.setattr(csv_views, "MAX_UPLOAD_BYTES", 50)
    assert "larger than" in upload(client, GOOD).get_data(as_text=True)
    token = csrf_token(client, "/devices/import")
    resp = client.post("/devices/import", data={"csrf_token": token}, content_type="multipart/form-data")
    assert resp.status_code == 400 and "Choose a CSV file" in resp.get_data(as_text=True)


def test_an_empty_file_is_reported_not_imported(client, session, estate) -> None:
    user(session, "ada")
    login(client, "ada")
    _, page = checked(client, b"")
    assert NOTHING in page and "the file is empty" in page


def test_a_web_upload_takes_at_most_50000_rows_and_says_so(client, session, estate) -> None:
    user(session, "ada")
    login(client, "ada")
    assert csvjobs.MAX_WEB_ROWS == 50_000
    lines = [f"030 2{i:07d},other,tower-a" for i in range(50_001)]
    _, page = checked(client, "ani,kind,site\n" + "\n".join(lines) + "\n")
    assert _ROW.findall(page) == [
        (
            "50002",
            "",
            "the file has 50,001 rows, more than the 50,000 that one upload may have: split it into "
            "smaller files, or import it on the command line (flask --app app devices import FILE), "
            "which takes any number of rows",
        )
    ]
    assert NOTHING in page and device_count(session) == 0
    # the same rule in the importer, as the job uses it; without a cap (the CLI) the rows are checked
    three = io.StringIO("ani,kind,site\n" + "\n".join(lines[:3]) + "\n")
    assert not import_csv(session, f.ADMIN, "device", three, dry_run=True, max_rows=2).ok
    three.seek(0)
    assert import_csv(session, f.ADMIN, "device", three, dry_run=True).created == 3


def test_operators_may_not_import_and_managers_only_their_sites(client, session, estate) -> None:
    user(session, "olga", "operator", center=estate["center"].id)
    login(client, "olga")
    assert client.get("/devices/import").status_code == 403
    assert client.get("/locations/import").status_code == 403
    assert client.get("/devices/template.csv").status_code == 200  # reading is fine

    client.post("/logout", data={"csrf_token": csrf_token(client, "/devices/")})
    user(session, "max", "facility_manager", sites=["tower-a"])
    login(client, "max")
    assert client.get("/sites/import").status_code == 403  # sites are the administrators'
    assert client.get("/devices/import").status_code == 200
    _, page = checked(client, "ani,kind,site\n030 2390 5601,other,tower-a\n+44 20 7946 0101,other,wharf\n")
    rows = _ROW.findall(page)
    assert [(line, col) for line, col, _ in rows] == [("3", "site")]


def test_upload_and_confirmation_without_csrf_token_are_refused(client, session, estate) -> None:
    user(session, "ada")
    login(client, "ada")
    resp = client.post(
        "/devices/import",
        data={"file": (io.BytesIO(GOOD.encode()), "devices.csv")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 400 and device_count(session) == 0
    url, _ = checked(client, GOOD)
    assert client.post(url + "confirm").status_code == 400
    assert client.post(url + "confirm", data={"csrf_token": "forged"}).status_code == 400
    assert job_of(session, url).phase == CsvJobPhase.CHECK and device_count(session) == 0


def test_the_import_page_and_the_upload_list_show_the_users_uploads(client, session, estate, app) -> None:
    user(session, "ada", "facility_manager", sites=["tower-a"])
    user(session, "bob")
    login(client, "ada")
    checked(client, GOOD)
    checked(client, "ani,kind,site\n030 12,other,tower-a\n")
    page = client.get("/devices/import").get_data(as_text=True)
    assert page.count('id="csv-job-') == 2
    assert "checked, waiting for confirmation" in page and "has bad rows" in page
    bob = app.test_client()
    login(bob, "bob")
    assert 'id="csv-job-' not in bob.get("/devices/import").get_data(as_text=True)  # his own only
    everyone = bob.get("/imports/").get_data(as_text=True)
    assert everyone.count('id="csv-job-') == 2 and "<td>ada</td>" in everyone


@pytest.mark.parametrize("plural", ["devices", "sites", "locations"])
def test_the_template_has_the_import_columns_and_an_example_valid_for_the_demo(
    client, session, plural
) -> None:
    load_demo(session)
    session.commit()
    user(session, "ada")
    login(client, "ada")
    resp = client.get(f"/{plural}/template.csv")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert resp.headers["Content-Disposition"] == f"attachment; filename={plural}-template.csv"
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    object_type = csv_views.OBJECT_TYPES[plural]
    assert rows[0] == [c for c in COLUMNS[object_type] if c != "id"]
    assert len(rows) == 2
    report = import_csv(session, f.ADMIN, object_type, io.StringIO(resp.get_data(as_text=True)), dry_run=True)
    assert report.ok and report.created == 1, report.errors


def test_export_honours_the_list_filters_and_the_users_sites(client, session, estate) -> None:
    s, other = estate["site"], estate["other"]
    f.device(session, s.id, ani="+493023905601", kind="elevator_phone", trunk=estate["trunk"].id)
    f.device(session, s.id, ani="+493023905602", kind="door_intercom")
    f.device(session, other.id, ani="+442079460101", kind="door_intercom")
    session.commit()
    user(session, "ada")
    login(client, "ada")

    resp = client.get("/devices/export.csv?kind=door_intercom")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    assert resp.headers["Content-Disposition"] == f"attachment; filename=devices-{stamp}.csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert sorted(r["ani"] for r in rows) == ["+442079460101", "+493023905602"]
    assert {r["kind"] for r in rows} == {"door_intercom"}

    def anis(query: str) -> list[str]:
        body = client.get(f"/devices/export.csv?{query}").get_data(as_text=True)
        return sorted(r["ani"] for r in csv.DictReader(io.StringIO(body)))

    assert anis(f"trunk={estate['trunk'].id}") == ["+493023905601"]
    assert anis("trunk=loopback") == []  # not an id: nothing, as on the list page
    assert anis("kind=toaster&status=gone") == anis("")  # not a kind: no filter, as on the list page
    assert anis("site=wharf&kind=door_intercom") == ["+442079460101"]
    assert anis("q=3905602&status=") == ["+493023905602"]
    assert anis("colour=red") == anis("")  # a stranger's parameter is not a filter

    client.post("/logout", data={"csrf_token": csrf_token(client, "/devices/")})
    user(session, "max", "facility_manager", sites=["tower-a"])
    login(client, "max")
    assert anis("") == ["+493023905601", "+493023905602"]


def test_the_device_list_links_import_and_the_export_of_what_it_shows(client, session, estate) -> None:
    user(session, "ada")
    login(client, "ada")
    html = client.get("/devices/?kind=door_intercom&q=lift").get_data(as_text=True)
    assert 'href="/devices/import">Import CSV</a>' in html
    assert 'href="/devices/export.csv?kind=door_intercom&amp;q=lift">Export CSV</a>' in html
