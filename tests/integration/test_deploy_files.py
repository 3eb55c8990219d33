"""The deployment files agree with the code: the systemd units pass ``systemd-analyze verify``, give
the worker more time to stop than its own deadline, and every variable in docs/deploy is one that
config.py reads."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import worker
from config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docs" / "deploy"
UNITS = ("anigate-worker.service", "anigate-web.service")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not on this machine")
def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    for name in UNITS:  # the install path made real, so that ExecStart's binaries exist
        text = (DEPLOY / "systemd" / name).read_text().replace("/opt/anigate", str(ROOT))
        (tmp_path / name).write_text(text)
    out = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / n) for n in UNITS)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert [line for line in (out.stdout + out.stderr).splitlines() if "anigate" in line] == []


def test_the_worker_unit_outlasts_the_workers_own_stop_deadline() -> None:
    unit = (DEPLOY / "systemd" / "anigate-worker.service").read_text()
    timeout = float(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M).group(1))
    assert timeout > worker.STOP_DEADLINE + 1  # + the faulthandler's second
    assert "KillMode=control-group" in unit


def test_every_variable_in_docs_deploy_is_one_config_reads() -> None:
    named = set()
    for path in DEPLOY.rglob("*"):
        # pbx.md and the Kamailio recipes it shows name their own #!define constants ANIGATE_*
        if path.is_file() and path.name != "pbx.md" and path.suffix != ".cfg":
            named |= set(re.findall(r"\bANIGATE_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    assert named, "docs/deploy names no variable"
    assert sorted(named - set(Settings.ENV)) == []
