"""CSV import and export against a real database: one validation path, all-or-nothing, change log, CLI."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from registry.accounts import actor_for_user, create_user
from registry.actors import Actor
from registry.choices import ChangeAction, DeviceStatus, Role
from registry.csvio import COLUMNS, RowError, export_csv, import_csv
from registry.models import ChangeLog, Device, Location, Site
from tests import factories as f

CSV_ACTOR = Actor.system("csv", "cli")
DEVICE_HEADER = (
    "ani,kind,vendor,model,serial,site,location,trunk,active_schedule,test_interval_hours,status,notes"
)


@pytest.fixture
def estate(session: Session) -> dict[str, Any]:
    """The factories' estate (site tower-a, DE) plus a GB site with a location and a UK trunk."""
    est = f.estate(session)
    wharf = f.site(session, name="Canary Wharf", slug="wharf", country="GB", timezone="Europe/London")
    f.location(session, wharf.id, building="", kind="car_park_level", name="Level -1")
    f.trunk(session, name="BT", source_addresses=["127.0.0.3"], default_region="GB")
    session.commit()
    return est | {"wharf": wharf}


def _device_lines(n: int) -> list[str]:
    """``n`` valid device rows alternating a Berlin lift phone and a London help point."""
    lines = []
    for i in range(n):
        if i % 2 == 0:
            lift = "elevator_phone,Kone,KSC 3"
            lines.append(f"030 23{i:06d},{lift},SN{i},tower-a,A/Lift 1,loopback,office hours,,active,")
        else:
            lines.append(
                f"020 3{i:03d} {i % 10000:04d},car_park_help_point,Commend,WS203,,wharf,Level -1,BT,,,,"
            )
    return lines


def _csv(lines: list[str], header: str = DEVICE_HEADER) -> io.StringIO:
    return io.StringIO("\n".join([header, *lines]) + "\n", newline="")


def _count(session: Session, model: Any, *where: Any) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _csv_log(session: Session) -> int:
    return _count(session, ChangeLog, ChangeLog.source == "csv")


def test_three_bad_rows_in_a_thousand_import_nothing_and_are_all_reported(session, estate) -> None:
    lines = _device_lines(1000)

    def set_cell(row: int, column: int, value: str) -> None:
        cells = lines[row - 2].split(",")
        cells[column] = value
        lines[row - 2] = ",".join(cells)

    set_cell(11, 0, "030 12")  # not a number
    set_cell(500, 5, "no-such-site")
    assert lines[17 - 2].startswith("020 3015 0015,")
    set_cell(1001, 0, "tel:+44-20-3015-0015")  # the ANI of row 17, written another way
    report = import_csv(session, CSV_ACTOR, "device", _csv(lines))
    assert report.errors == [
        RowError(11, "ani", "'030 12' is too short: a local number needs its area code"),
        RowError(500, "site", "no site 'no-such-site'"),
        RowError(1001, "ani", "same ANI as row 17"),
    ]
    assert str(report.errors[2]) == "row 1001, column ani: same ANI as row 17"
    assert (report.rows, report.created, report.written, report.bad_rows) == (1000, 0, False, 3)
    session.rollback()
    assert _count(session, Device) == 1  # the estate's own device
    assert _csv_log(session) == 0


def test_a_good_file_imports_every_row_with_change_log(session, estate) -> None:
    progress: list[tuple[int, int]] = []
    report = import_csv(
        session, CSV_ACTOR, "device", _csv(_device_lines(1000)), progress=lambda d, t: progress.append((d, t))
    )
    session.commit()
    assert report.ok and report.written
    assert (report.rows, report.created, report.updated) == (1000, 1000, 0)
    assert progress[-1] == (1000, 1000)
    assert _count(session, Device) == 1001
    assert _csv_log(session) == 1000
    log = session.scalars(select(ChangeLog).where(ChangeLog.source == "csv").order_by(ChangeLog.id)).first()
    assert log is not None and log.action == ChangeAction.CREATE and log.actor == "cli"
    assert (
        log.after is not None
        and log.after["ani"] == "+493023000000"
        and log.after["kind"] == "elevator_phone"
    )
    lift = session.scalars(select(Device).where(Device.ani == "+493023000000")).one()
    assert log.object_id == lift.id
    assert lift.location is not None and lift.location.name == "Lift 1"
    assert lift.trunk is not None and lift.trunk.name == "loopback"
    assert lift.active_schedule is not None and lift.test_interval_hours == 72  # EN 81-28 default
    # a UK number read with the trunk's region, a bare location name resolved in its site
    help_point = session.scalars(select(Device).where(Device.ani == "+442030010001")).one()
    assert help_point.site.slug == "wharf" and help_point.location.name == "Level -1"
    assert help_point.status == DeviceStatus.ACTIVE and help_point.test_interval_hours is None


def test_dry_run_validates_and_writes_nothing(session, estate) -> None:
    report = import_csv(session, CSV_ACTOR, "device", _csv(_device_lines(20)), dry_run=True)
    assert report.ok and report.dry_run and not report.written
    assert report.created == 20
    session.rollback()
    assert _count(session, Device) == 1
    assert _csv_log(session) == 0


def test_a_bad_file_can_import_its_good_rows_on_request(session, estate) -> None:
    lines = _device_lines(10)
    lines[3] = lines[3].replace("car_park_help_point", "toaster")
    report = import_csv(session, CSV_ACTOR, "device", _csv(lines), all_or_nothing=False)
    assert [(e.row, e.column) for e in report.errors] == [(5, "kind")]
    assert report.written and report.created == 9
    assert _count(session, Device) == 10


def test_update_by_id_changes_only_the_given_columns(session, estate) -> None:
    dev = estate["device"]
    other = f.device(session, estate["site"].id, ani="+493023905699", kind="door_intercom", notes="keep")
    session.commit()
    text = (
        "id;status;maintenance_until;notes\n"
        f"{dev.id};maintenance;2026-12-01T08:00:00+01:00;new cabin\n"
        f"{other.id};active;;keep\n"
    )
    report = import_csv(session, CSV_ACTOR, "device", io.StringIO(text))
    session.commit()
    assert report.ok, report.errors
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    session.refresh(dev)
    assert dev.status == DeviceStatus.MAINTENANCE and dev.notes == "new cabin"
    assert dev.maintenance_until is not None and dev.maintenance_until.hour == 7  # stored in UTC
    assert dev.ani == "+493012345678" and dev.location_id == estate["location"].id  # untouched
    log = session.scalars(select(ChangeLog).where(ChangeLog.source == "csv")).one()
    assert log.action == ChangeAction.UPDATE and log.object_id == dev.id
    assert log.before is not None and log.after is not None
    assert (log.before["status"], log.after["status"]) == ("active", "maintenance")


def test_update_ids_are_checked_and_scoped(session, estate) -> None:
    on_wharf = f.device(session, "wharf", ani="020 7946 0100", kind="other")
    user = create_user(session, "fm", "correct horse battery", Role.FACILITY_MANAGER, ["tower-a"])
    session.commit()
    manager = actor_for_user(user, "web")
    mine = estate["device"].id
    text = (
        f"id,notes\n{mine},ok\n{on_wharf.id},not mine\n99999,unknown\nabc,bad\n{mine},twice\n"
        "99999999999999999999,huge\n"
    )
    report = import_csv(session, manager, "device", io.StringIO(text))
    assert [str(e) for e in report.errors] == [
        f"row 3, column id: no device with id {on_wharf.id}",
        "row 4, column id: no device with id 99999",
        "row 5, column id: 'abc' is not an id (a whole number)",
        "row 6, column id: same id as row 2",
        "row 7, column id: '99999999999999999999' is not an id (a whole number)",
    ]
    # a manager may create devices in their own sites only
    create = import_csv(
        session, manager, "device", io.StringIO("ani,kind,site\n+44 20 7946 0101,other,wharf\n")
    )
    assert [str(e) for e in create.errors] == ["row 2, column site: no site 'wharf'"]


def test_an_existing_ani_is_reported_with_the_device_that_has_it(session, estate) -> None:
    text = "ani,kind,site\n+49 30 1234 5678,other,tower-a\n"
    report = import_csv(session, CSV_ACTOR, "device", io.StringIO(text))
    assert report.errors == [
        RowError(2, "ani", f"ANI +493012345678 is already registered to device {estate['device'].id}")
    ]


def test_header_problems_stop_before_any_row(session, estate) -> None:
    report = import_csv(
        session, CSV_ACTOR, "device", io.StringIO("ani,kind,colour\n+493023905601,other,red\n")
    )
    assert [(e.row, e.column) for e in report.errors] == [(1, "colour"), (1, "site")]
    assert report.errors[0].reason.startswith("unknown column; device columns are: id, ani, kind")
    assert report.errors[1].reason == "missing column, needed to create a device"
    assert report.rows == 0
    huge = "ani,kind,site,notes\n030 2390 5601,other,tower-a,ok\n030 2390 5602,other,tower-a," + "x" * 200_000
    unreadable = import_csv(session, CSV_ACTOR, "device", io.StringIO(huge))
    assert [str(e) for e in unreadable.errors] == [
        "row 3: cannot read this row: field larger than field limit (131072)"
    ]
    empty = import_csv(session, CSV_ACTOR, "device", io.StringIO("\n\n"))
    assert [str(e) for e in empty.errors] == [
        "row 1: the file is empty; the first line must name the columns"
    ]


def test_bom_semicolons_blank_lines_and_short_rows(session, estate) -> None:
    text = (
        "\ufeffANI;Kind;Site;Notes\r\n"
        '030 2390 5601;door_intercom;tower-a;"Tür; Nord\nzweite Zeile"\r\n'
        "\r\n"
        "030 2390 5602;other;tower-a\r\n"  # trailing empty cell dropped by the spreadsheet
        "030 2390 5603;toaster;tower-a;x;;\r\n"
        "030 2390 5604;other;tower-a;x;extra\r\n"
    )
    report = import_csv(session, CSV_ACTOR, "device", io.StringIO(text, newline=""), dry_run=True)
    # rows are spreadsheet rows: the quoted line break is one row, the blank line counts
    assert [str(e) for e in report.errors] == [
        "row 5, column kind: 'toaster' is not one of: elevator_phone, car_park_help_point, "
        "door_intercom, emergency_phone, other",
        "row 6: 5 cells but the header names 4 columns",
    ]
    ok = import_csv(session, CSV_ACTOR, "device", io.StringIO(text.split("030 2390 5603")[0], newline=""))
    assert ok.ok and ok.created == 2
    assert session.scalars(select(Device.notes).where(Device.ani == "+493023905601")).one() == (
        "Tür; Nord\nzweite Zeile"
    )


def test_export_then_import_round_trips(session, estate) -> None:
    f.location(
        session, estate["site"].id, building="", kind="entrance", name="Lift 1"
    )  # same name, no building
    assert import_csv(session, CSV_ACTOR, "device", _csv(_device_lines(50))).ok
    gate = f.device(
        session,
        estate["site"].id,
        ani="+493023905698",
        kind="door_intercom",
        location="/Lift 1",
        status="maintenance",
        maintenance_until="2026-12-31T17:00:00+00:00",
        notes='says "hello", twice',
    )
    session.commit()

    def fields(d: Device) -> tuple[Any, ...]:
        loc = d.location and (d.location.building, d.location.name)
        trunk = d.trunk and d.trunk.name
        return (d.ani, d.kind, d.site.slug, loc, trunk, d.active_schedule_id, d.test_interval_hours,
                d.status, d.maintenance_until, d.vendor, d.model, d.serial, d.notes)  # fmt: skip

    before = sorted(fields(d) for d in session.scalars(select(Device)))
    out = io.StringIO()
    assert export_csv(session, CSV_ACTOR, "device", out) == 52
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == list(COLUMNS["device"])
    exported_gate = next(r for r in rows if r["ani"] == gate.ani)
    assert exported_gate["location"] == "/Lift 1" and exported_gate["site"] == "tower-a"
    assert exported_gate["maintenance_until"] == "2026-12-31T17:00:00+00:00"

    # with ids: the same objects, nothing to change
    again = import_csv(session, CSV_ACTOR, "device", io.StringIO(out.getvalue()))
    assert again.ok, again.errors
    assert (again.created, again.updated, again.unchanged) == (0, 0, 52)

    # without ids: the registry rebuilt from the file
    out = io.StringIO()
    export_csv(session, CSV_ACTOR, "device", out, include_id=False)
    session.execute(delete(Device))
    rebuilt = import_csv(session, CSV_ACTOR, "device", io.StringIO(out.getvalue()))
    assert rebuilt.ok and rebuilt.created == 52
    session.commit()
    session.expire_all()
    assert sorted(fields(d) for d in session.scalars(select(Device))) == before

    # filters narrow the export like the API's list
    out = io.StringIO()
    assert export_csv(session, CSV_ACTOR, "device", out, site="wharf", kind="car_park_help_point") == 25


def test_sites_and_locations_import_and_export(session, estate) -> None:
    sites = (
        "name;slug;address;country;timezone;day_center;out_of_hours_center;business_hours;holidays\n"
        "Spree Tower;spree-tower;Stralauer Allee 1, Berlin;de;Europe/Berlin;Berlin Control;"
        "Berlin Control;office hours;2026-12-25 2026-12-26\n"
        "Hudson Yards;hudson-yards;;US;America/New_York;;;;\n"
        "Again;spree-tower;;DE;Europe/Berlin;;;;\n"
        "Nowhere;nowhere;;XX;Mars/Olympus;No Center;;;2026-13-01\n"
    )
    report = import_csv(session, CSV_ACTOR, "site", io.StringIO(sites))
    assert [str(e) for e in report.errors] == [
        "row 4, column slug: same slug as row 2",
        "row 5, column country: 'XX' is not an ISO 3166 country code",
        "row 5, column timezone: 'Mars/Olympus' is not an IANA timezone (e.g. Europe/Berlin)",
        "row 5, column day_center: no security center 'No Center'",
        "row 5, column holidays: holiday '2026-13-01' is not an ISO date (YYYY-MM-DD)",
    ]
    good = "\n".join(sites.splitlines()[:3]) + "\n"
    report = import_csv(session, CSV_ACTOR, "site", io.StringIO(good))
    assert report.ok and report.created == 2
    tower = session.scalars(select(Site).where(Site.slug == "spree-tower")).one()
    assert tower.country == "DE" and tower.day_center_id == estate["center"].id
    assert tower.holidays == ["2026-12-25", "2026-12-26"]

    locations = (
        "site,building,kind,name,floor,notes,camera_ref\n"
        "spree-tower,North core,elevator_cabin,Lift 1,,Key at the concierge,cam-1\n"
        "spree-tower,North core,machine_room,Machine room,R,,\n"
        "spree-tower,North core,elevator_cabin,Lift 1,,,\n"
        "hudson-yards,,entrance,Lobby,0,,\n"
    )
    report = import_csv(session, CSV_ACTOR, "location", io.StringIO(locations))
    assert [str(e) for e in report.errors] == ["row 4, column name: same site, building and name as row 2"]
    report = import_csv(
        session, CSV_ACTOR, "location", io.StringIO(locations.replace(",Lift 1,,,", ",Lift 2,,,"))
    )
    assert report.ok and report.created == 4
    session.commit()
    assert _count(session, Location, Location.site_id == tower.id) == 3
    assert _count(session, ChangeLog, ChangeLog.source == "csv", ChangeLog.object_type == "location") == 4
    # a device file can use the new places at once
    dev = import_csv(session, CSV_ACTOR, "device", io.StringIO("ani,kind,site,location\n"
                     "030 2390 5601,elevator_phone,spree-tower,North core/Lift 2\n"))  # fmt: skip
    assert dev.ok and dev.created == 1

    for object_type, n in (("site", 4), ("location", 6)):
        out = io.StringIO()
        assert export_csv(session, CSV_ACTOR, object_type, out) == n
        again = import_csv(session, CSV_ACTOR, object_type, io.StringIO(out.getvalue()))
        assert again.ok and again.unchanged == n, again.errors
    out = io.StringIO()
    assert export_csv(session, CSV_ACTOR, "location", out, site="spree-tower", kind="elevator_cabin") == 2
    assert "Stralauer Allee 1, Berlin" in _export(session, "site")


def _export(session: Session, object_type: str) -> str:
    out = io.StringIO()
    export_csv(session, CSV_ACTOR, object_type, out)
    return out.getvalue()


def test_cli_import_reports_bad_rows_and_exits_1(runner, session, estate, tmp_path: Path) -> None:
    lines = _device_lines(30)
    lines[5] = lines[5].replace(",wharf,", ",atlantis,")
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([DEVICE_HEADER, *lines]) + "\n", encoding="utf-8-sig")
    result = runner.invoke(args=["devices", "import", str(bad)])
    assert result.exit_code == 1, result.output
    assert "row 7, column site: no site 'atlantis'" in result.stderr
    assert "devices: nothing imported: 30 rows, 1 bad" in result.stderr

    dry = runner.invoke(args=["devices", "import", "--dry-run", str(bad)])
    assert dry.exit_code == 1 and "dry run, nothing written" in dry.stdout

    session.rollback()
    assert _count(session, Device) == 1

    good = tmp_path / "good.csv"
    good.write_text("\n".join([DEVICE_HEADER, *_device_lines(30)]) + "\n", encoding="utf-8")
    result = runner.invoke(args=["devices", "import", str(good), "--region", "GB"])
    assert result.exit_code == 0, result.output
    assert "devices: 30 rows; 30 created, 0 updated, 0 unchanged" in result.stdout
    session.rollback()
    assert _count(session, Device) == 31
    assert _csv_log(session) == 30

    out = tmp_path / "out.csv"
    exported = runner.invoke(args=["devices", "export", "-o", str(out), "--site", "wharf"])
    assert exported.exit_code == 0, exported.output
    assert "15 rows written" in exported.stderr
    assert out.read_text(encoding="utf-8").startswith("id,ani,kind,")
    stdout = runner.invoke(args=["locations", "export", "--no-ids"])
    assert stdout.exit_code == 0 and stdout.stdout.startswith("site,building,kind,name")

    region = runner.invoke(args=["devices", "import", str(good), "--region", "XX"])
    assert region.exit_code == 2 and "'XX' is not an ISO 3166 country code" in region.output

    unknown = runner.invoke(args=["sites", "import", str(good)])
    assert unknown.exit_code == 1
    assert "row 1, column ani: unknown column; site columns are:" in unknown.stderr


def test_devices_carry_test_ani_and_maintenance_contact(session, estate) -> None:
    lift = estate["device"]  # ANI +493012345678
    text = (
        "ani,test_ani,kind,site,maintenance_contact\n"
        "030 2390 5601,030 2390 5691,elevator_phone,tower-a,sip:lift-service@192.0.2.30\n"
        "030 2390 5602,,door_intercom,tower-a,\n"
    )
    report = import_csv(session, CSV_ACTOR, "device", io.StringIO(text))
    assert report.ok and report.created == 2, report.errors
    session.commit()
    new = session.scalars(select(Device).where(Device.ani == "+493023905601")).one()
    assert (new.test_ani, new.maintenance_contact) == ("+493023905691", "sip:lift-service@192.0.2.30")
    plain = session.scalars(select(Device).where(Device.ani == "+493023905602")).one()
    assert (plain.test_ani, plain.maintenance_contact) == (None, "")
    log = session.scalars(
        select(ChangeLog).where(ChangeLog.object_id == new.id, ChangeLog.source == "csv")
    ).one()
    assert log.after is not None and log.after["test_ani"] == "+493023905691"

    rows = {r["ani"]: r for r in csv.DictReader(io.StringIO(_export(session, "device")))}
    assert (rows["+493023905601"]["test_ani"], rows["+493023905601"]["maintenance_contact"]) == (
        "+493023905691",
        "sip:lift-service@192.0.2.30",
    )
    assert rows["+493023905602"]["test_ani"] == ""

    # a test ANI clashes with the registry and with earlier rows of the same file
    clash = (
        "ani,test_ani,kind,site\n"
        "030 2390 5603,030 1234 5678,other,tower-a\n"
        "030 2390 5604,030 2390 5699,other,tower-a\n"
        "030 2390 5605,030 2390 5699,other,tower-a\n"
        "030 2390 5699,,other,tower-a\n"
        "030 2390 5691,,other,tower-a\n"
        "030 2390 5606,030 2390 5606,other,tower-a\n"
    )
    report = import_csv(session, CSV_ACTOR, "device", io.StringIO(clash))
    assert [str(e) for e in report.errors] == [
        f"row 2, column test_ani: test ANI +493012345678 is already the ANI of device {lift.id}",
        "row 4, column test_ani: same number as row 3",
        "row 5, column ani: same ANI as row 3",
        f"row 6, column ani: ANI +493023905691 is already the test ANI of device {new.id}",
        "row 7, column test_ani: must differ from the device's own ANI",
    ]
