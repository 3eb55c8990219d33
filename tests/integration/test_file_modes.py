"""The instance folder, the SQLite file with its WAL and shared-memory files, and the secret key are
the owner's only (0700 / 0600), after a real ``flask --app app db upgrade``."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _db_upgrade(instance: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANIGATE_")}
    env["ANIGATE_INSTANCE_DIR"] = str(instance)
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_db_upgrade_makes_a_private_instance_folder(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    _db_upgrade(instance)
    db = instance / "anigate.db"
    assert _mode(instance) == 0o700
    assert _mode(db) == 0o600
    assert _mode(instance / "secret_key") == 0o600
    # SQLite gives the WAL and shared-memory files the database file's mode
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
        assert _mode(Path(f"{db}-wal")) == 0o600
        assert _mode(Path(f"{db}-shm")) == 0o600
    finally:
        conn.close()


def test_an_existing_world_readable_instance_is_made_private(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    instance.chmod(0o755)
    for name in ("anigate.db", "secret_key"):
        (instance / name).touch()
        (instance / name).chmod(0o644)
    (instance / "secret_key").write_text("k" * 64)
    _db_upgrade(instance)
    assert (_mode(instance), _mode(instance / "anigate.db"), _mode(instance / "secret_key")) == (
        0o700,
        0o600,
        0o600,
    )
