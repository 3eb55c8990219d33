"""A private net-snmp snmptrapd for the SNMP sink's tests: its own config, MIB path, persistent
directory and log in a tmp dir, on a free loopback port (never the system's 162), always stopped.
It loads ANIGATE-MIB, so its log shows the varbinds by symbolic name.

Debian ships no IETF MIB texts with net-snmp or libsmi (they are non-free there); erlang-snmp
(Debian main, installed by scripts/ensure-tools.sh) does: the tests take SNMPv2-SMI and friends
from it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MIB_DIR = Path(__file__).resolve().parents[3] / "docs" / "mib"
IETF_SOURCE = Path("/usr/lib/erlang/lib")
IETF_MODULES = ("SNMPv2-SMI", "SNMPv2-TC", "SNMPv2-CONF", "SNMP-FRAMEWORK-MIB", "SNMPv2-MIB")

COMMUNITY = "anigate-test"
USER = "anigate"
#: users for the other protocols, by (auth, priv) as the sink names them, with net-snmp's names
OTHER_USERS = {
    ("SHA", "AES-256"): ("anigate-sha1", "SHA", "AES256"),
    ("SHA-512", "AES-256"): ("anigate-sha512", "SHA-512", "AES256"),
    ("SHA-384", "AES-192"): ("anigate-sha384", "SHA-384", "AES192"),
}
AUTH_KEY = "auth-key-0123"
PRIV_KEY = "priv-key-4567"
#: the engine id the sink sends v3 traps under: 0x80000000|32473, format 4 (text), "anigate"
TRAP_ENGINE_ID = "80007ed904616e6967617465"

#: one varbind per line between the header and END (%V sets the separator to a newline)
_FORMAT = r"TRAP %P\n%V\n%v\nEND\n"


def ietf_mibs(into: Path) -> Path:
    """A directory with the IETF modules ANIGATE-MIB imports, named as net-snmp and libsmi find
    them (``<MODULE>.txt``)."""
    found = {p.stem: p for p in IETF_SOURCE.glob("snmp-*/mibs/*.mib")}
    missing = [m for m in IETF_MODULES if m not in found]
    assert not missing, f"{missing} missing: scripts/ensure-tools.sh installs erlang-snmp"
    into.mkdir(parents=True, exist_ok=True)
    for module in IETF_MODULES:
        shutil.copyfile(found[module], into / f"{module}.txt")
    return into


def binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    assert path, f"{name} is missing: scripts/ensure-tools.sh installs it"
    return path


@dataclass
class Notification:
    """What snmptrapd printed for one notification: its header and its varbinds by name."""

    header: str
    varbinds: dict[str, str] = field(default_factory=dict)

    @property
    def trap_oid(self) -> str:
        return self.varbinds.get("SNMPv2-MIB::snmpTrapOID.0", "")

    def __getitem__(self, name: str) -> str:
        return self.varbinds[name]


class Snmptrapd:
    """start()/stop() a snmptrapd on 127.0.0.1:``port`` that logs (v2c ``COMMUNITY``; v3 user
    ``USER``, SHA-256 and AES-128, for informs and for traps from ``TRAP_ENGINE_ID``)."""

    def __init__(self, tmp: Path, port: int) -> None:
        self.tmp = tmp
        self.port = port
        self.log = tmp / "traps.log"
        self.proc: subprocess.Popen[bytes] | None = None
        tmp.mkdir(parents=True, exist_ok=True)
        self.mibs = ietf_mibs(tmp / "ietf-mibs")
        self.persist = tmp / "persist"
        self.conf = tmp / "snmptrapd.conf"
        self.conf.write_text(
            f"authCommunity log {COMMUNITY}\n"
            f"createUser -e 0x{TRAP_ENGINE_ID} {USER} SHA-256 {AUTH_KEY} AES {PRIV_KEY}\n"
            f"createUser {USER} SHA-256 {AUTH_KEY} AES {PRIV_KEY}\n"
            f"authUser log {USER} priv\n"
            + "".join(
                f"createUser {user} {auth} {AUTH_KEY} {priv} {PRIV_KEY}\nauthUser log {user} priv\n"
                for user, auth, priv in OTHER_USERS.values()
            )
        )

    def start(self) -> None:
        # persistent state (engine boots, users) goes to tmp, never to /var/lib/snmp
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.tmp),
            "SNMP_PERSISTENT_DIR": str(self.persist),
        }
        self.log.write_text("")
        cmd = [
            binary("snmptrapd"),
            "-f",
            "-C",
            "-c",
            str(self.conf),
            "-M",
            f"{self.mibs}:{MIB_DIR}",
            "-m",
            "SNMPv2-MIB:ANIGATE-MIB",
            "-Lf",
            str(self.log),
            "-F",
            _FORMAT,
            "-p",
            str(self.tmp / "snmptrapd.pid"),
            f"udp:127.0.0.1:{self.port}",
        ]
        out = (self.tmp / "snmptrapd.out").open("wb")
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.tmp)
        out.close()
        deadline = time.monotonic() + 10
        while "NET-SNMP version" not in self.log.read_text():
            assert self.proc.poll() is None, (self.tmp / "snmptrapd.out").read_text()
            assert time.monotonic() < deadline, "snmptrapd did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def received(self) -> list[Notification]:
        notes: list[Notification] = []
        current: Notification | None = None
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("TRAP "):
                current = Notification(line[5:])
            elif line == "END":
                if current is not None:
                    notes.append(current)
                current = None
            elif current is not None and " = " in line:
                name, value = line.split(" = ", 1)
                current.varbinds[name] = value
        return notes

    def wait_for(
        self, count: int = 1, where: Callable[[Notification], bool] = lambda n: True, timeout: float = 5
    ) -> list[Notification]:
        """The notifications received so far that match ``where``, once there are ``count``."""
        deadline = time.monotonic() + timeout
        while True:
            found = [n for n in self.received() if where(n)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)
