"""Run real sipp scenarios (Debian sip-tester) against the listener and read what came back."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parents[1] / "sipp"


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ``host`` right now (sipp over TCP, gunicorn and the SIP
    listener bind TCP; a port free for UDP only was seen taken: "Unable to bind main socket")."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError(f"no port free for both UDP and TCP on {host}")


@dataclass
class SippResult:
    returncode: int
    logged: list[str]
    output: str

    def values(self, tag: str) -> list[str]:
        """What the scenario logged as ``TAG value`` (an empty header logs as ``TAG``)."""
        return [line[len(tag) :].strip() for line in self.logged if line == tag or line.startswith(tag + " ")]


def run_sipp(
    tmp: Path,
    port: int,
    *,
    scenario: str = "invite_302.xml",
    transport: str = "UDP",
    from_header: str = '"Lift 1" <sip:+493012345678@127.0.0.1>',
    headers: list[str] | tuple[str, ...] = (),
    dnis: str = "112",
    expect: int = 302,
    calls: int = 1,
    rate: int = 10,
    src_ip: str = "127.0.0.1",
    timeout: int = 20,
    extra: list[str] | None = None,
) -> SippResult:
    sipp = shutil.which("sipp")
    assert sipp, "sipp is missing: scripts/ensure-tools.sh installs it (Debian sip-tester)"
    body = (SCENARIOS / scenario).read_text()
    header_block = "".join(textwrap.indent(h, "      ") + "\n" for h in headers)
    text = (
        body.replace("{extra_headers}\n", header_block)
        .replace("{from_header}", from_header)
        .replace("{dnis}", dnis)
        .replace("{expect}", str(expect))
    )
    tmp.mkdir(parents=True, exist_ok=True)
    scen = tmp / f"scenario-{free_port()}.xml"
    scen.write_text(text)
    log = tmp / f"{scen.stem}.log"
    cmd = [
        sipp,
        f"127.0.0.1:{port}",
        "-sf",
        str(scen),
        "-m",
        str(calls),
        "-r",
        str(rate),
        "-i",
        src_ip,
        "-p",
        str(free_port(src_ip)),
        "-t",
        "u1" if transport == "UDP" else "t1",
        "-timeout",
        f"{timeout}s",
        "-timeout_error",
        "-trace_logs",
        "-log_file",
        str(log),
        "-nostdin",
        "-max_retrans",
        "3",
        *(extra or []),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30, cwd=tmp)
    logged = log.read_text().splitlines() if log.exists() else []
    return SippResult(
        proc.returncode, [re.sub(r"\s+$", "", x) for x in logged], proc.stdout[-2000:] + proc.stderr[-2000:]
    )
