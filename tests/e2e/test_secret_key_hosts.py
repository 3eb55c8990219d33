"""Several hosts on one database must share ``ANIGATE_SECRET_KEY``: the first web server records its
key's fingerprint in the database; a second one (another instance folder, as another host has) with
another key, or with none (it would generate its own), does not boot and its log says why; one with
the same key serves. The fingerprint reveals nothing of the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from bootstrap import key_fingerprint
from registry.cli import upgrade_database
from registry.db import make_engine, make_session_factory
from registry.models import SecretKeyFingerprint
from tests.e2e.conftest import ROOT
from tests.e2e.sipp import free_port
from tests.e2e.webserver import gunicorn, status


def refused(database_url: str, folder: Path, **env_extra: str) -> str:
    """Start gunicorn as another host would; it must exit by itself. Returns its log."""
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANIGATE_")}
    env |= {
        "HOME": str(folder),
        "ANIGATE_DATABASE_URL": database_url,
        "ANIGATE_INSTANCE_DIR": str(folder / "instance"),
        "ANIGATE_HTTP_PORT": str(free_port()),
        **env_extra,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode != 0
    return proc.stdout + proc.stderr


def test_a_second_host_with_another_key_or_none_does_not_boot_and_says_why(database_url, tmp_path) -> None:
    upgrade_database(database_url)
    with gunicorn(database_url, tmp_path / "a", ANIGATE_SECRET_KEY="shared-key") as first:
        engine = make_engine(database_url)
        with make_session_factory(engine)() as s:
            row = s.scalars(select(SecretKeyFingerprint)).one()
            assert row.fingerprint == key_fingerprint("shared-key") and "shared-key" not in row.fingerprint
            assert row.set_by.startswith("web ")
        engine.dispose()
        log = refused(database_url, tmp_path / "b", ANIGATE_SECRET_KEY="another-key")
        assert "ANIGATE_SECRET_KEY is set to another key" in log
        assert "Every host serving one database needs the same ANIGATE_SECRET_KEY" in log
        log = refused(database_url, tmp_path / "c")
        assert "ANIGATE_SECRET_KEY is not set (this host generated its own)" in log
        with gunicorn(database_url, tmp_path / "d", ANIGATE_SECRET_KEY="shared-key") as second:
            assert status(second.port, "/healthz") == 200
        assert status(first.port, "/healthz") == 200


@pytest.fixture(autouse=True)
def _tmp_dirs(tmp_path: Path) -> None:
    for name in ("a", "d"):
        (tmp_path / name).mkdir()
