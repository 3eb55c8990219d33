"""Run real sipp scenarios (Debian sip-tester) against the listener and read what came back; and
sipp as a UAS in the background (a security center that answers, rings or rejects)."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import textwrap
from dataclasses import dataclass
from datetime import datetime
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

    def times(self, tag: str) -> list[float]:
        """The wall-clock instants (epoch seconds) logged as ``TAG [timestamp]``: sipp writes the
        date, the time and the epoch seconds, tab-separated."""
        return [float(v.split()[-1]) for v in self.values(tag)]


def _read_log(log: Path) -> list[str]:
    return [re.sub(r"\s+$", "", x) for x in log.read_text().splitlines()] if log.exists() else []


@dataclass
class SippUas:
    """A sipp UAS answering ``calls`` calls on 127.0.0.1:``port`` in the background."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def wait(self, timeout: float = 30) -> SippResult:
        """Wait until sipp has run its calls (it exits by itself), then what it logged."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
        screen = self.log_path.with_suffix(".out").read_text(errors="replace")
        return SippResult(self.proc.returncode, _read_log(self.log_path), screen[-4000:])

    def sent_at(self, start: str) -> list[float]:
        """When sipp sent each message whose first line starts with ``start`` (epoch seconds, from
        its -trace_msg file: a dashed line with the local date and time, a "UDP message sent"
        line, a blank line, then the message)."""
        trace = self.log_path.with_suffix(".msg")
        entries = trace.read_text(errors="replace").split("-" * 47 + " ") if trace.exists() else []
        found = []
        for entry in entries:
            lines = entry.splitlines()
            if len(lines) > 3 and " message sent " in lines[1] and lines[3].startswith(start):
                stamp = " ".join(lines[0].split()[:2])
                found.append(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp())
        return found

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def start_sipp_uas(
    tmp: Path, scenario: str, *, calls: int = 1, timeout: int = 60, replace: dict[str, str] | None = None
) -> SippUas:
    """Start sipp in server mode on a free loopback UDP port with ``scenario`` from tests/sipp/
    (``{placeholders}`` filled from ``replace``); it exits 0 after ``calls`` calls ran through."""
    sipp = shutil.which("sipp")
    assert sipp, "sipp is missing: scripts/ensure-tools.sh installs it (Debian sip-tester)"
    text = (SCENARIOS / scenario).read_text()
    for key, value in (replace or {}).items():
        text = text.replace("{" + key + "}", value)
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    scen = tmp / f"uas-{port}-{scenario}"
    scen.write_text(text)
    log = tmp / f"{scen.stem}.log"
    cmd = [
        sipp,
        "-sf",
        str(scen),
        "-m",
        str(calls),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-t",
        "u1",
        "-timeout",
        f"{timeout}s",
        "-timeout_error",
        "-trace_logs",
        "-log_file",
        str(log),
        "-trace_msg",
        "-message_file",
        str(log.with_suffix(".msg")),
        "-nostdin",
    ]
    with open(log.with_suffix(".out"), "w") as screen:  # a file, not a pipe nobody drains
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=screen, stderr=subprocess.STDOUT, cwd=tmp
        )
    return SippUas(proc, port, log)


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
    return SippResult(proc.returncode, _read_log(log), proc.stdout[-2000:] + proc.stderr[-2000:])
