"""CSV in the browser: upload, preview (dry run), confirm by token, template and filtered export."""

from __future__ import annotations

import csv
import io
import os
import re
import stat
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from registry.csvio import COLUMNS, import_csv
from registry.demo import load_demo
from registry.models import Device
from registry.web import csv_views
from tests import factories as f
from tests.web_support import csrf_token, login, user

GOOD = (
    "id,ani,kind,site,location,notes\n"
    ",030 2390 5601,elevator_phone,tower-a,A/Lift 1,new one\n"
    ",+49 30 2390 5602,door_intercom,tower-a,,\n"
    ",030 2390 5603,other,tower-a,,\n"
)
_ROW = re.compile(r'<tr><td class="num">(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>')
_CONFIRM_TOKEN = re.compile(r'id="token" name="token" type="hidden" value="([^"]+)"')
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


def upload(client: Any, text: str | bytes, plural: str = "devices", name: str = "devices.csv") -> Any:
    body = text.encode() if isinstance(text, str) else text
    token = csrf_token(client, f"/{plural}/import")
    return client.post(
        f"/{plural}/import",
        data={"csrf_token": token, "file": (io.BytesIO(body), name)},
        content_type="multipart/form-data",
    )


def confirm(client: Any, token: str, plural: str = "devices") -> Any:
    form_token = csrf_token(client, f"/{plural}/import")
    return client.post(f"/{plural}/import/confirm", data={"csrf_token": form_token, "token": token})


def device_count(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Device)) or 0


def uploads(app) -> list[str]:
    folder = app.extensions["anigate"].settings.instance_dir / "uploads"
    return sorted(p.name for p in folder.glob("*.csv")) if folder.exists() else []


def flashes(client: Any) -> list[tuple[str, str]]:
    with client.session_transaction() as s:
        return list(s.get("_flashes", []))


def test_import_page_has_the_file_input_template_link_and_upload_button(client, session, estate) -> None:
    user(session, "ada")
    login(client, "ada")
    page = client.get("/devices/import").get_data(as_text=True)
    assert "Import devices from CSV" in page
    assert re.search(r'<input[^>]*accept="\.csv,text/csv"[^>]*name="file"[^>]*type="file"', page)
    assert 'href="/devices/template.csv"' in page
    assert ">Upload</button>" in page and 'enctype="multipart/form-data"' in page


def test_a_bad_row_is_listed_with_its_line_column_and_reason_and_nothing_is_written(
    client, session, estate, app
) -> None:
    user(session, "ada")
    login(client, "ada")
    text = GOOD + ",030 2390 5604,toaster,tower-a,,\n"
    resp = upload(client, text)
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    rows = _ROW.findall(page)
    assert len(rows) == 1
    line, column, reason = rows[0]
    assert (line, column) == ("5", "kind")
    assert reason.startswith("&#39;toaster&#39; is not one of: elevator_phone")
    assert NOTHING in page and ">Import</button>" not in page
    assert device_count(session) == 0 and uploads(app) == []


def test_a_good_file_is_previewed_then_imported_on_confirmation(client, session, estate, app) -> None:
    kept = f.device(session, estate["site"].id, ani="+493023905600", notes="before")
    session.commit()
    user(session, "ada")
    login(client, "ada")
    text = GOOD + f"{kept.id},+493023905600,elevator_phone,tower-a,,after\n"
    page = upload(client, "\ufeff" + text).get_data(as_text=True)  # a BOM is fine
    assert re.search(r'id="csv-rows">4<', page)
    counts = {
        k: re.search(rf'id="csv-{k}">(\d+)<', page).group(1) for k in ("created", "updated", "unchanged")
    }
    assert counts == {"created": "3", "updated": "1", "unchanged": "0"}
    assert device_count(session) == 1  # the preview wrote nothing
    token = _CONFIRM_TOKEN.search(page).group(1)
    assert ">Import</button>" in page and 'action="/devices/import/confirm"' in page
    path = app.extensions["anigate"].settings.instance_dir / "uploads" / f"{token}.csv"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text(encoding="utf-8") == text

    resp = confirm(client, token)
    assert resp.status_code == 302 and resp.headers["Location"] == "/devices/"
    assert ("success", "Imported devices: 3 created, 1 updated, 0 unchanged.") in flashes(client)
    assert device_count(session) == 4
    session.refresh(kept)
    assert kept.notes == "after"
    assert uploads(app) == []
    assert confirm(client, token).status_code == 404  # a token works once


def test_another_users_token_is_refused_and_stays_for_its_owner(client, session, estate, app) -> None:
    user(session, "ada")
    user(session, "bob")
    login(client, "ada")
    token = _CONFIRM_TOKEN.search(upload(client, GOOD).get_data(as_text=True)).group(1)

    bob = app.test_client()
    login(bob, "bob")
    assert confirm(bob, token).status_code == 404
    assert confirm(bob, "x" * 32).status_code == 404
    assert confirm(client, token, plural="locations").status_code == 404  # bound to its list too
    assert device_count(session) == 0

    assert confirm(client, token).status_code == 302
    assert device_count(session) == 3


def test_an_upload_expires_after_an_hour(client, session, estate, app) -> None:
    user(session, "ada")
    login(client, "ada")
    token = _CONFIRM_TOKEN.search(upload(client, GOOD).get_data(as_text=True)).group(1)
    path = app.extensions["anigate"].settings.instance_dir / "uploads" / f"{token}.csv"
    old = time.time() - csv_views.UPLOAD_TTL_SECONDS - 60
    os.utime(path, (old, old))
    resp = confirm(client, token)
    assert resp.status_code == 302 and resp.headers["Location"] == "/devices/import"
    assert flashes(client)[-1][0] == "error" and "expired" in flashes(client)[-1][1]
    assert not path.exists() and device_count(session) == 0


def test_another_upload_sweeps_stale_files(client, session, estate, app) -> None:
    user(session, "ada")
    login(client, "ada")
    folder = app.extensions["anigate"].settings.instance_dir / "uploads"
    folder.mkdir(parents=True)
    stale = folder / ("s" * 32 + ".csv")
    stale.write_text(GOOD)
    old = time.time() - csv_views.UPLOAD_TTL_SECONDS - 1
    os.utime(stale, (old, old))
    upload(client, GOOD)
    assert not stale.exists() and len(uploads(app)) == 1


def test_a_change_since_the_preview_is_shown_like_the_preview(client, session, estate) -> None:
    user(session, "ada")
    login(client, "ada")
    token = _CONFIRM_TOKEN.search(upload(client, GOOD).get_data(as_text=True)).group(1)
    f.device(session, estate["site"].id, ani="+493023905602")  # someone else took row 3's ANI
    session.commit()
    resp = confirm(client, token)
    assert resp.status_code == 409
    page = resp.get_data(as_text=True)
    assert [(line, col) for line, col, _ in _ROW.findall(page)] == [("3", "ani")]
    assert NOTHING in page and device_count(session) == 1


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
    page = upload(client, b"").get_data(as_text=True)
    assert NOTHING in page and "the file is empty" in page


def test_operators_may_not_import_and_managers_only_their_sites(client, session, estate) -> None:
    user(session, "olga", "operator", center=estate["center"].id)
    login(client, "olga")
    assert client.get("/devices/import").status_code == 403
    assert client.get("/locations/import").status_code == 403
    token = csrf_token(client, "/devices/")
    resp = client.post("/devices/import/confirm", data={"csrf_token": token, "token": "x" * 32})
    assert resp.status_code == 403
    assert client.get("/devices/template.csv").status_code == 200  # reading is fine

    client.post("/logout", data={"csrf_token": csrf_token(client, "/devices/")})
    user(session, "max", "facility_manager", sites=["tower-a"])
    login(client, "max")
    assert client.get("/sites/import").status_code == 403  # sites are the administrators'
    assert client.get("/devices/import").status_code == 200
    page = upload(client, "ani,kind,site\n030 2390 5601,other,tower-a\n+44 20 7946 0101,other,wharf\n")
    rows = _ROW.findall(page.get_data(as_text=True))
    assert [(line, col) for line, col, _ in rows] == [("3", "site")]


def test_upload_without_csrf_token_is_refused(client, session, estate) -> None:
    user(session, "ada")
    login(client, "ada")
    resp = client.post(
        "/devices/import",
        data={"file": (io.BytesIO(GOOD.encode()), "devices.csv")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 400 and device_count(session) == 0


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
