"""docs/mib/ANIGATE-MIB.txt is valid SMIv2 (libsmi's smilint at level 3 says nothing), and net-snmp
names every OID the sink sends with the name the sink gives it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from integrations import snmp_mib
from tests.integration.integrations import snmptrapd as trapd

MIB = trapd.MIB_DIR / "ANIGATE-MIB.txt"


def test_smilint_at_level_3_reports_nothing(tmp_path: Path) -> None:
    ietf = trapd.ietf_mibs(tmp_path / "ietf")
    # SMIPATH without the system's smi.conf paths: only the IETF modules and ours
    env = {"PATH": os.environ.get("PATH", ""), "SMIPATH": f"{ietf}:{trapd.MIB_DIR}"}
    lint = subprocess.run(
        [trapd.binary("smilint"), "-l", "3", "-s", str(MIB)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    # smilint exits 0 even on errors: what it prints is the verdict
    assert lint.stdout + lint.stderr == ""
    assert lint.returncode == 0


def test_smilint_does_report_a_broken_module(tmp_path: Path) -> None:
    ietf = trapd.ietf_mibs(tmp_path / "ietf")
    broken = tmp_path / "ANIGATE-MIB.txt"
    broken.write_text(MIB.read_text().replace('LAST-UPDATED "202601150000Z"', 'LAST-UPDATED "2026011500Z"'))
    env = {"PATH": os.environ.get("PATH", ""), "SMIPATH": str(ietf)}
    lint = subprocess.run(
        [trapd.binary("smilint"), "-l", "3", str(broken)], capture_output=True, text=True, env=env, timeout=60
    )
    assert "illegal month" in lint.stdout + lint.stderr


def test_net_snmp_names_each_oid_the_sink_sends_as_the_sink_does(tmp_path: Path) -> None:
    ietf = trapd.ietf_mibs(tmp_path / "ietf")
    root = snmp_mib.parse_oid(snmp_mib.DEFAULT_ENTERPRISE_OID)
    oids = {f"{A}{name}.0": (*root, 1, arc, 0) for name, (arc, _, _) in snmp_mib.OBJECTS.items()}
    oids |= {f"{A}{name}": (*root, 0, arc) for name, arc in snmp_mib.NOTIFICATIONS.items()}
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "SNMP_PERSISTENT_DIR": str(tmp_path / "p"),
    }
    out = subprocess.run(
        [
            trapd.binary("snmptranslate"),
            "-M",
            f"{ietf}:{trapd.MIB_DIR}",
            "-m",
            "ANIGATE-MIB",
            *(".".join(map(str, oid)) for oid in oids.values()),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert out.stdout.split() == list(oids)
    assert "Cannot" not in out.stderr


A = "ANIGATE-MIB::"
