"""Rows per second of the CSV dry run and import of N valid devices (default 254,000, about 20 MB).

    .venv/bin/python -m bench.csv_import [--rows 254000] [--database-url postgresql+psycopg://...]
        [--profile dry|import] [--jobs]

A fresh migrated database (SQLite file, or a throw-away schema in ``--database-url``) gets the
generated estate of ``bench/estate.py`` (9 sites in DE, GB, US); the file has the columns a
spreadsheet export of new devices would have. It times ``registry.csvio.import_csv`` as a dry run,
then as the import (validation again, then insert and change log, then commit): what the CLI does.
``--jobs`` also runs both through the web upload's background job (``registry.csvjobs``: progress
rows written as it goes), without the 50,000-row cap of a web upload.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import os
import pstats
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from bench.estate import build_reference_data, device_rows, fresh_database
from registry import csvjobs
from registry.accounts import actor_for_user, create_user
from registry.actors import Actor
from registry.csvio import ImportReport, import_csv
from registry.db import make_engine, make_session_factory
from registry.models import ChangeLog, CsvJob, Device

#: the columns of the generated file (the others would be empty in every row)
FILE_COLUMNS = ("ani", "kind", "vendor", "site", "location", "trunk", "test_interval_hours")


def write_file(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(FILE_COLUMNS)
        for row in device_rows(rows):
            writer.writerow([row[c] for c in FILE_COLUMNS])


def _timed(label: str, rows: int, run: Callable[[], Any], profile: bool) -> tuple[Any, float]:
    profiler = cProfile.Profile() if profile else None
    t0, c0 = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    result = run()
    if profiler:
        profiler.disable()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"{label}: {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s "
        f"(this process's CPU {cpu:.2f} s = {rows / cpu:,.0f} rows per CPU second)",
        flush=True,
    )
    if profiler:
        pstats.Stats(profiler, stream=sys.stdout).sort_stats(os.environ.get("SORT", "tottime")).print_stats(
            40
        )
    return result, seconds


def _check(report: ImportReport) -> None:
    if report.errors:
        for error in report.errors[:20]:
            print(error)
        raise SystemExit(f"{len(report.errors)} errors: the generator made a bad row")


def _direct(factory: sessionmaker[Session], text: str, rows: int, args: argparse.Namespace) -> None:
    actor = Actor.system("csv", "bench")

    def dry() -> ImportReport:
        with factory() as session:
            return import_csv(session, actor, "device", io.StringIO(text, newline=""), dry_run=True)

    def write() -> ImportReport:
        with factory() as session:
            report = import_csv(session, actor, "device", io.StringIO(text, newline=""))
            session.commit()
            return report

    report, _ = _timed("dry run (import_csv, dry_run=True)", rows, dry, args.profile == "dry")
    _check(report)
    report, _ = _timed("import (import_csv + commit)", rows, write, args.profile == "import")
    _check(report)
    with factory() as session:
        devices = session.scalar(select(func.count()).select_from(Device))
        logs = session.scalar(select(func.count()).select_from(ChangeLog).where(ChangeLog.source == "csv"))
    print(f"database holds {devices:,} devices and {logs:,} change-log rows with source csv")


def _jobs(factory: sessionmaker[Session], text: str, rows: int, folder: Path) -> None:
    """The same file through the web upload's job: check, confirm, import (progress rows written)."""
    csvjobs.MAX_WEB_ROWS = rows  # the bench measures the work, not the cap
    with factory() as session:
        admin = create_user(session, "bench-admin", "bench-password-1", "admin")
        session.commit()
        actor = actor_for_user(admin, "web")
        runner = csvjobs.CsvJobRunner(factory, folder)
        job = csvjobs.submit_job(session, actor, "device", text, "devices.csv", folder, "DE")
        session.commit()
        _timed("web job: check", rows, runner.run_pending, False)
        session.expire_all()
        checked = session.get(CsvJob, job.id)
        assert checked is not None and checked.report is not None, checked
        if checked.report["error_count"]:
            raise SystemExit(f"the check found errors: {checked.report['errors'][:5]}")
        assert csvjobs.confirm_job(session, actor, checked, folder) is None
        session.commit()
        _timed("web job: import", rows, runner.run_pending, False)
        session.expire_all()
        done = session.get(CsvJob, job.id)
        assert done is not None and done.report is not None and done.report["created"] == rows, done.message


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=254_000)
    parser.add_argument("--database-url", help="PostgreSQL URL; a throw-away schema is created in it")
    parser.add_argument("--profile", choices=["dry", "import"], help="cProfile one phase; print the top 40")
    parser.add_argument("--jobs", action="store_true", help="Also run both through the web upload's job")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="anigate-bench-csv-") as tmp:
        path = Path(tmp) / "devices.csv"
        write_file(path, args.rows)
        text = path.read_text(encoding="utf-8")
        print(f"file: {args.rows:,} rows, {path.stat().st_size / 1e6:.1f} MB")
        with fresh_database(args.database_url) as url:
            engine = make_engine(url)
            factory = make_session_factory(engine)
            print(f"database: {engine.dialect.name} {engine.dialect.server_version_info or ''}".rstrip())
            with factory.begin() as session:
                build_reference_data(session)
            _direct(factory, text, args.rows, args)
            if args.jobs:
                with factory.begin() as session:  # the direct import's devices out of the way again
                    session.execute(delete(ChangeLog))
                    session.execute(delete(Device))
                _jobs(factory, text, args.rows, Path(tmp) / "uploads")
            engine.dispose()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
