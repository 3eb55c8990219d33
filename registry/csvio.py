"""CSV import and export of devices, sites and locations, for the CLI and the web upload's jobs.

Every row is validated by the same cleaners as the API (:data:`registry.services.RESOURCES`), then
written in bulk with its change-log rows in the caller's transaction; exported cells never start a
spreadsheet formula (:func:`neutralise_cell`). Must not import flask.
"""

from __future__ import annotations

import csv
import enum
import io
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any, TextIO

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from registry.actors import Actor
from registry.bulk import insert_rows
from registry.changelog import Change, record_changes, snapshot
from registry.choices import ChangeAction
from registry.db import utcnow
from registry.errors import Conflict, ValidationFailed
from registry.models import Location, Schedule, SecurityCenter, Site, Trunk
from registry.queries import device_query, visible

# Package-internal helpers of the use cases: the same write check and partial-update merge as the API.
from registry.services import RESOURCES, Lookups, _check_write, _input, record_bulk_creates

__all__ = [
    "COLUMNS",
    "ImportReport",
    "RowError",
    "export_csv",
    "import_csv",
    "neutralise_cell",
    "restore_cell",
]

#: CSV columns per object type, in export order; the names are the cleaners' input keys.
COLUMNS: dict[str, tuple[str, ...]] = {
    "device": (
        "id",
        "ani",
        "kind",
        "vendor",
        "model",
        "serial",
        "site",
        "location",
        "trunk",
        "active_schedule",
        "test_interval_hours",
        "test_ani",
        "status",
        "maintenance_until",
        "maintenance_contact",
        "notes",
    ),
    "site": (
        "id",
        "name",
        "slug",
        "address",
        "country",
        "timezone",
        "day_center",
        "out_of_hours_center",
        "business_hours",
        "holidays",
        "maintenance_contact",
        "notes",
    ),
    "location": ("id", "site", "building", "kind", "name", "floor", "notes", "camera_ref"),
}

#: columns a file must have when it creates objects (it has no ``id`` column)
REQUIRED: dict[str, tuple[str, ...]] = {
    "device": ("ani", "kind", "site"),
    "site": ("name", "slug", "country", "timezone"),
    "location": ("site", "kind", "name"),
}

#: what tells two new rows of a type apart (unique in the database), to match RETURNING rows
NATURAL_KEY: dict[str, tuple[str, ...]] = {
    "device": ("ani",),
    "site": ("slug",),
    "location": ("site_id", "building", "name"),
}

#: columns holding validated E.164 numbers (``+4930...``): exported as they are, never quoted
E164_COLUMNS = frozenset({"ani", "test_ani"})
#: OWASP "CSV injection": a spreadsheet reads a cell starting with = + - @ TAB or CR as a formula.
#: Export puts one ``'`` before such a cell, and before one that starts with quotes and then such a
#: character (so a value that really begins with ``'=`` keeps its quote); import takes exactly one
#: ``'`` off a cell that starts with quotes and then such a character: export, then import, gives
#: every string back as it was.
_NEEDS_QUOTE = re.compile(r"'*[=+\-@\t\r]")
_QUOTED = re.compile(r"'+[=+\-@\t\r]")
_E164 = re.compile(r"\+[0-9]{1,15}")

#: how often (rows) the progress callback is called while validating
PROGRESS_EVERY = 1000
#: the largest primary key (INTEGER is 32 bits on PostgreSQL)
MAX_ID = 2**31 - 1
#: ids per ``IN (...)`` query when loading the objects a file updates (SQLite's variable limit)
ID_CHUNK = 5000


@dataclass(frozen=True)
class RowError:
    """What is wrong with one cell; ``row`` is the spreadsheet line (header = 1), ``column`` may be ''."""

    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row}, column {self.column}" if self.column else f"row {self.row}"
        return f"{where}: {self.reason}"


@dataclass
class ImportReport:
    """Outcome of one import; nothing was written when ``dry_run`` or (all-or-nothing) ``errors``."""

    object_type: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    dry_run: bool = False
    written: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def bad_rows(self) -> int:
        return len({e.row for e in self.errors})


Progress = Callable[[int, int], None]


# --- reading -------------------------------------------------------------------------------------


def neutralise_cell(text: str) -> str:
    """``text`` as a cell no spreadsheet runs as a formula: ``'`` before it when it starts with
    = + - @ TAB or CR, also after leading quotes (``'=x`` goes out as ``''=x``)."""
    return "'" + text if _NEEDS_QUOTE.match(text) else text


def restore_cell(text: str) -> str:
    """The value of a cell :func:`neutralise_cell` wrote: one ``'`` off when quotes and then
    = + - @ TAB or CR follow; any other text as it is (``'abc`` stays ``'abc``)."""
    return text[1:] if _QUOTED.match(text) else text


def _sniff_delimiter(header_line: str) -> str:
    """``;`` (German Excel) or ``,``: whichever the header line has more of, outside quotes."""
    bare = re.sub(r'"[^"]*"', "", header_line)
    return ";" if bare.count(";") > bare.count(",") else ","


class _Unreadable(Exception):
    def __init__(self, row: int, reason: str):
        self.error = RowError(row, "", f"cannot read this row: {reason}")


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(spreadsheet row number, cells) of every non-blank record, the header included."""
    text = text.removeprefix("\ufeff")
    first = next((line for line in io.StringIO(text, newline="") if line.strip()), "")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(first), strict=False)
    # a record (not a physical line) is a spreadsheet row: quoted cells may span lines
    number = 0
    while True:
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a cell over csv.field_size_limit() (128 KiB), a NUL byte
            raise _Unreadable(number, str(exc)) from None
        if any(c.strip() for c in cells):
            yield number, cells


def _check_header(object_type: str, cells: Sequence[str], row: int) -> tuple[list[str], list[RowError]]:
    columns = [c.strip().lower() for c in cells]
    known = COLUMNS[object_type]
    errors = []
    for name, count in Counter(columns).items():
        if not name:
            errors.append(RowError(row, "", "a header cell is empty; every column needs a name"))
        elif name not in known:
            expected = ", ".join(known)
            errors.append(RowError(row, name, f"unknown column; {object_type} columns are: {expected}"))
        elif count > 1:
            errors.append(RowError(row, name, "column appears more than once"))
    if "id" not in columns:
        for name in REQUIRED[object_type]:
            if name not in columns:
                errors.append(RowError(row, name, f"missing column, needed to create a {object_type}"))
    return columns, errors


def _as_id(raw: str) -> int | None:
    """ASCII digits within INTEGER range, so a stray value cannot overflow the driver; else None."""
    if raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_ID)) and 0 < int(raw) <= MAX_ID:
        return int(raw)
    return None


# --- importing -----------------------------------------------------------------------------------


@dataclass
class _Pending:
    """A validated row waiting to be written."""

    row: int
    values: dict[str, Any]
    obj: Any = None


class _Importer:
    def __init__(
        self, session: Session, actor: Actor, object_type: str, default_region: str, report: ImportReport
    ):
        self.session = session
        self.actor = actor
        self.object_type = object_type
        self.res = RESOURCES[object_type]
        self.lookups = Lookups(session, actor, default_region).preload()
        self.report = report
        self.errors = report.errors
        #: in-file uniqueness of sites' slugs and locations' places: key -> first row
        self.seen: dict[Any, int] = {}
        self.seen_ids: dict[int, int] = {}

    def load_targets(self, ids: Iterable[int]) -> dict[int, Any]:
        """The objects that ``id`` cells point at, among those the actor may see and change."""
        model: Any = self.res.model
        wanted = sorted(set(ids))
        found: dict[int, Any] = {}
        for i in range(0, len(wanted), ID_CHUNK):
            stmt = visible(self.actor, model).where(model.id.in_(wanted[i : i + ID_CHUNK]))
            for obj in self.session.scalars(stmt):
                if self.res.site_of is None or self.actor.may_write_site(self.res.site_of(obj)):
                    found[obj.id] = obj
        return found

    def validate(self, row: int, data: dict[str, str], target: Any) -> _Pending | None:
        try:
            if target is None:
                # an empty cell means "not given", so the cleaners' defaults apply as in the API
                given = {k: v for k, v in data.items() if v != ""}
                values = self.res.clean(self.lookups, given, None)
            else:
                # update: the file's columns change, an empty cell clears; other fields stay
                values = self.res.clean(self.lookups, _input(target, self.res, data), target)
        except ValidationFailed as exc:
            self.errors.extend(RowError(row, col, why) for col, why in exc.errors.items())
            return None
        except Conflict as exc:
            column = exc.field or "ani"
            if exc.existing_id is not None and exc.existing_id < 0:
                what = "ANI" if column == "ani" else "number"
                self.errors.append(RowError(row, column, f"same {what} as row {-exc.existing_id}"))
            else:
                self.errors.append(RowError(row, column, exc.message))
            return None
        if not self._unique_in_file(row, values):
            return None
        if self.object_type == "device":
            # a negative id stands for "a row of this file": later rows with this ANI conflict with it
            self.lookups.claim_ani(values["ani"], -row)
            if values["test_ani"]:
                self.lookups.claim_ani(values["test_ani"], -row, "test_ani")
        return _Pending(row, values, target)

    def _unique_in_file(self, row: int, values: Mapping[str, Any]) -> bool:
        """Duplicates the database cannot see yet: two rows of this file creating the same object."""
        if self.object_type == "site":
            key: Any = ("slug", values["slug"])
            column, what = "slug", "same slug"
        elif self.object_type == "location":
            key = ("place", values["site_id"], values["building"], values["name"])
            column, what = "name", "same site, building and name"
        else:
            return True
        first = self.seen.setdefault(key, row)
        if first != row:
            self.errors.append(RowError(row, column, f"{what} as row {first}"))
            return False
        return True

    def write(self, pending: list[_Pending]) -> None:
        changes = []
        creates = []
        for p in pending:
            if p.obj is None:
                creates.append(p.values)
                continue
            changed = {k: v for k, v in p.values.items() if getattr(p.obj, k) != v}
            if not changed:
                self.report.unchanged += 1
                continue
            before = snapshot(p.obj)
            for key, value in changed.items():
                setattr(p.obj, key, value)
            self.report.updated += 1
            what = self.res.describe(p.obj)
            changes.append(
                Change(ChangeAction.UPDATE, self.object_type, p.obj.id, what, before, snapshot(p.obj))
            )
        if changes:
            self.session.flush()
            record_changes(self.session, self.actor, changes)
        if creates:
            self._bulk_create(creates)

    def _bulk_create(self, rows: list[dict[str, Any]]) -> None:
        key = NATURAL_KEY[self.object_type]
        now = utcnow()
        for values in rows:
            values["created_at"] = values["updated_at"] = now
        # New ids are matched by natural key, not by position: asking SQLAlchemy for parameter order
        # makes SQLite (no sentinel support) fall back to one statement per row.
        returned = insert_rows(self.session, self.res.model, rows, ("id", *key))
        new_ids: dict[tuple[Any, ...], int] = {tuple(r[1:]): r[0] for r in returned}
        for values in rows:
            values["id"] = new_ids[tuple(values[k] for k in key)]
        record_bulk_creates(self.session, self.actor, self.object_type, rows)
        self.report.created += len(rows)


def import_csv(
    session: Session,
    actor: Actor,
    object_type: str,
    text_stream: TextIO,
    *,
    dry_run: bool = False,
    all_or_nothing: bool = True,
    default_region: str = "DE",
    progress: Progress | None = None,
    max_rows: int | None = None,
) -> ImportReport:
    """Create (no ``id``) or update (``id``) ``object_type`` objects from a CSV text stream.

    Every row is validated first and every bad row reported. With ``all_or_nothing`` one bad row
    means nothing is written; ``dry_run`` never writes. Writes happen in the caller's transaction
    (the caller commits); each created or updated object gets a change-log row with source "csv".
    ``progress(done, total)`` is called while rows are validated (first with ``done`` 0). A file of
    more than ``max_rows`` rows is refused as a whole, with one error saying so.
    """
    if object_type not in COLUMNS:
        raise ValueError(f"CSV import knows {', '.join(COLUMNS)}, not {object_type!r}")
    res = RESOURCES[object_type]
    _check_write(actor, res, None)
    actor = actor if actor.source == "csv" else actor.with_source("csv")
    report = ImportReport(object_type, dry_run=dry_run)

    try:
        records = list(_records(text_stream.read()))
    except _Unreadable as exc:
        report.errors.append(exc.error)
        return report
    if not records:
        report.errors.append(RowError(1, "", "the file is empty; the first line must name the columns"))
        return report
    header_row, header_cells = records[0]
    columns, header_errors = _check_header(object_type, header_cells, header_row)
    if header_errors:
        report.errors.extend(header_errors)
        return report
    body = records[1:]
    report.rows = len(body)
    if max_rows is not None and len(body) > max_rows:
        report.errors.append(
            RowError(
                body[max_rows][0],
                "",
                f"the file has {len(body):,} rows, more than the {max_rows:,} that one upload may have: "
                f"split it into smaller files, or import it on the command line "
                f"(flask --app app {object_type}s import FILE), which takes any number of rows",
            )
        )
        return report

    imp = _Importer(session, actor, object_type, default_region, report)
    id_col = columns.index("id") if "id" in columns else None
    ids: dict[int, int] = {}  # row -> id
    for row, cells in body:
        if id_col is None or id_col >= len(cells) or not cells[id_col].strip():
            continue
        raw = cells[id_col].strip()
        obj_id = _as_id(raw)
        if obj_id is None:
            report.errors.append(RowError(row, "id", f"{raw!r} is not an id (a whole number)"))
            continue
        first = imp.seen_ids.setdefault(obj_id, row)
        if first != row:
            report.errors.append(RowError(row, "id", f"same id as row {first}"))
            continue
        ids[row] = obj_id
    targets = imp.load_targets(ids.values())

    pending: list[_Pending] = []
    bad_id_rows = {e.row for e in report.errors}
    total = len(body)
    if progress is not None:
        progress(0, total)
    for done, (row, cells) in enumerate(body, start=1):
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done, total)
        if row in bad_id_rows:
            continue
        if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns) :]):
            report.errors.append(
                RowError(row, "", f"{len(cells)} cells but the header names {len(columns)} columns")
            )
            continue
        # short rows (spreadsheets drop trailing empty cells) read as empty cells
        # a cell the export quoted against formula injection gets its value back (restore_cell)
        data = {
            col: (restore_cell(cells[i].strip()) if i < len(cells) else "") for i, col in enumerate(columns)
        }
        data.pop("id", None)
        target = None
        if row in ids:
            target = targets.get(ids[row])
            if target is None:
                report.errors.append(RowError(row, "id", f"no {object_type} with id {ids[row]}"))
                continue
        item = imp.validate(row, data, target)
        if item is not None:
            pending.append(item)
    if progress is not None:
        progress(total, total)

    report.errors.sort(key=lambda e: e.row)
    if report.errors and all_or_nothing:
        return report
    if dry_run:
        # what an import would do, without writing anything
        for p in pending:
            if p.obj is None:
                report.created += 1
            elif any(getattr(p.obj, k) != v for k, v in p.values.items()):
                report.updated += 1
            else:
                report.unchanged += 1
        return report
    imp.write(pending)
    report.written = True
    return report


# --- exporting -----------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def _export_cell(column: str, value: Any) -> str:
    """A value as a CSV cell that a spreadsheet shows as text, never runs (see :data:`_NEEDS_QUOTE`).

    E.164 columns are exempt: a validated ``+4930...`` number is no formula (a spreadsheet reads it
    as a number at most) and goes out unquoted, as it was stored.
    """
    text = _cell(value)
    if column in E164_COLUMNS and _E164.fullmatch(text):
        return text
    return neutralise_cell(text)


def _names(session: Session, model: Any, key: str) -> dict[int, str]:
    return dict(session.execute(select(model.id, getattr(model, key))).all())


def _location_refs(session: Session) -> dict[int, str]:
    """How each location is written in a device row: ``name``, or ``building/name`` when needed.

    A bare name is only used when it is unique within its site and has no building, so the import
    resolves it back to the same location.
    """
    locs = session.execute(select(Location.id, Location.site_id, Location.building, Location.name)).all()
    per_site = Counter((site_id, name) for _, site_id, _, name in locs)
    return {
        loc_id: name if not building and per_site[(site_id, name)] == 1 else f"{building}/{name}"
        for loc_id, site_id, building, name in locs
    }


def _query(actor: Actor, object_type: str, filters: Mapping[str, Any]) -> Select[Any]:
    given = {k: v for k, v in filters.items() if v not in (None, "")}
    if object_type == "device":
        if unknown := set(given) - {"site", "kind", "status", "trunk", "location", "q"}:
            raise TypeError(f"unknown device filters: {sorted(unknown)}")
        # the web list passes query-string text: an id that is no id matches nothing, as on the list
        for key in ("trunk", "location"):
            if key in given and not isinstance(given[key], int):
                given[key] = _as_id(str(given[key]).strip()) or 0
        return device_query(actor, **given)
    if object_type == "site":
        sites = visible(actor, Site)
        if unknown := set(given) - {"country"}:
            raise TypeError(f"unknown site filters: {sorted(unknown)}")
        if "country" in given:
            sites = sites.where(Site.country == str(given["country"]).upper())
        return sites.order_by(Site.id)
    if object_type == "location":
        locations = visible(actor, Location)
        if unknown := set(given) - {"site", "kind"}:
            raise TypeError(f"unknown location filters: {sorted(unknown)}")
        if "site" in given:
            site = str(given["site"])
            if site.isdigit():
                locations = locations.where(Location.site_id == (_as_id(site) or 0))
            else:
                locations = locations.where(Location.site_id.in_(select(Site.id).where(Site.slug == site)))
        if "kind" in given:
            locations = locations.where(Location.kind == given["kind"])
        return locations.order_by(Location.id)
    raise ValueError(f"CSV export knows {', '.join(COLUMNS)}, not {object_type!r}")


def export_csv(
    session: Session,
    actor: Actor,
    object_type: str,
    out_stream: TextIO,
    *,
    include_id: bool = True,
    **filters: Any,
) -> int:
    """Write the objects the actor sees as CSV in :data:`COLUMNS` order; returns the row count.

    References are written by slug or name so the file re-imports cleanly: with ``id`` it updates
    the same objects, without (``include_id=False``) it creates them in another registry. A cell
    that a spreadsheet would run as a formula goes out behind a ``'`` (:func:`neutralise_cell`),
    which the import takes off again; E.164 numbers go out as they are.
    """
    stmt = _query(actor, object_type, filters)
    columns = [c for c in COLUMNS[object_type] if include_id or c != "id"]
    sites = _names(session, Site, "slug")
    centers = _names(session, SecurityCenter, "name")
    schedules = _names(session, Schedule, "name")
    refs: dict[str, Callable[[Any], Any]]
    if object_type == "device":
        trunks = _names(session, Trunk, "name")
        locations = _location_refs(session)
        refs = {
            "site": lambda o: sites.get(o.site_id),
            "location": lambda o: locations.get(o.location_id),
            "trunk": lambda o: trunks.get(o.trunk_id),
            "active_schedule": lambda o: schedules.get(o.active_schedule_id),
        }
    elif object_type == "site":
        refs = {
            "day_center": lambda o: centers.get(o.day_center_id),
            "out_of_hours_center": lambda o: centers.get(o.out_of_hours_center_id),
            "business_hours": lambda o: schedules.get(o.business_hours_id),
        }
    else:
        refs = {"site": lambda o: sites.get(o.site_id)}
    getters: list[Callable[[Any], Any]] = [refs.get(c) or attrgetter(c) for c in columns]

    writer = csv.writer(out_stream, lineterminator="\r\n")
    writer.writerow(columns)
    count = 0
    for obj in session.scalars(stmt.execution_options(yield_per=2000)):
        writer.writerow([_export_cell(col, get(obj)) for col, get in zip(columns, getters, strict=True)])
        count += 1
    return count
