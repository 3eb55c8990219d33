"""Time the CSV import of 100,000 devices into a fresh, migrated database (SQLite or PostgreSQL).

    .venv/bin/python -m bench.import_devices [--rows 100000] [--database-url postgresql+psycopg://...]
        [--profile]

With ``--database-url`` the run uses a throw-away schema in that database. Also times the export of
the imported devices and the re-import of that export (every row an unchanged update).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from bench.estate import build_reference_data, fresh_database, write_devices_csv
from registry.actors import Actor
from registry.csvio import export_csv, import_csv
from registry.db import make_engine, make_session_factory
from registry.models import ChangeLog, Device


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", help="PostgreSQL URL; a throw-away schema is created in it")
    parser.add_argument("--profile", action="store_true", help="cProfile the import; print the top 25")
    parser.add_argument("--no-reimport", action="store_true", help="Skip the export and re-import")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="anigate-bench-csv-") as tmp:
        path = Path(tmp) / "devices.csv"
        t0 = time.perf_counter()
        write_devices_csv(path, args.rows)
        size = path.stat().st_size / 1e6
        print(f"generated {args.rows} rows ({size:.1f} MB) in {time.perf_counter() - t0:.1f} s")
        with fresh_database(args.database_url) as url:
            engine = make_engine(url)
            factory = make_session_factory(engine)
            print(f"database: {engine.dialect.name} {engine.dialect.server_version_info or ''}".rstrip())
            with factory.begin() as session:
                build_reference_data(session)
            _run(factory, path, args)
            engine.dispose()
    return 0


def _run(factory, path: Path, args: argparse.Namespace) -> None:  # type: ignore[no-untyped-def]
    actor = Actor.system("csv", "bench")
    marks: dict[str, float] = {}

    def progress(done: int, total: int) -> None:
        if done == total:
            marks["validated"] = time.perf_counter()

    profiler = cProfile.Profile() if args.profile else None
    with factory() as session:
        t0 = time.perf_counter()
        if profiler:
            profiler.enable()
        with path.open(encoding="utf-8-sig", newline="") as stream:
            report = import_csv(session, actor, "device", stream, progress=progress)
        t_written = time.perf_counter()
        session.commit()
        t_end = time.perf_counter()
        if profiler:
            profiler.disable()
        if report.errors:
            for e in report.errors[:20]:
                print(e)
            raise SystemExit(f"{len(report.errors)} errors: the generator made a bad row")
        devices = session.scalar(select(func.count()).select_from(Device))
        logs = session.scalar(select(func.count()).select_from(ChangeLog).where(ChangeLog.source == "csv"))
    total = t_end - t0
    print(
        f"import: {report.created} devices in {total:.2f} s ({report.created / total:,.0f} rows/s): "
        f"read+validate {marks['validated'] - t0:.2f} s, "
        f"insert+change log {t_written - marks['validated']:.2f} s, "
        f"commit {t_end - t_written:.2f} s"
    )
    print(f"database now holds {devices} devices and {logs} change-log rows with source csv")
    if profiler:
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(60)
    if args.no_reimport:
        return
    with factory() as session:
        out = io.StringIO()
        t0 = time.perf_counter()
        n = export_csv(session, actor, "device", out)
        t_export = time.perf_counter() - t0
    print(f"export: {n} devices in {t_export:.2f} s ({len(out.getvalue()) / 1e6:.1f} MB)")
    with factory() as session:
        t0 = time.perf_counter()
        again = import_csv(session, actor, "device", io.StringIO(out.getvalue()))
        session.commit()
        t_again = time.perf_counter() - t0
    assert again.ok and again.unchanged == n, again.errors[:5]
    print(f"re-import of the export (ids, all unchanged): {n} rows in {t_again:.2f} s")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
