"""SIP redirect load: 10,000 registered devices, sipp at increasing rates, one worker process.

For each rate step (bounded in time) it reports achieved calls/s, failed calls, retransmissions,
INVITE->302 response time p50/p99 (sipp's rtd per call), and the worker's CPU per call and RSS.
Every call is recorded: after the run the script checks that the database holds one row per 302.

    .venv/bin/python bench/sip_load.py [--rates 500,1000,...] [--seconds 8] [--devices 10000]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from registry.actors import Actor  # noqa: E402
from registry.cli import upgrade_database  # noqa: E402
from registry.db import make_engine, make_session_factory  # noqa: E402
from registry.models import Device  # noqa: E402
from registry.services import create_object, record_bulk_creates  # noqa: E402
from routing.models import CallRecord  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def seed(url: str, n: int) -> list[str]:
    upgrade_database(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    actor = Actor.system("bench")
    anis = [f"+4930{20000000 + i:08d}" for i in range(n)]
    with factory() as s:
        c = create_object(
            s,
            actor,
            "center",
            {
                "name": "Berlin",
                "sip_uris": ["sip:berlin@127.0.0.1:5070", "sip:berlin-backup@127.0.0.1:5071"],
                "timezone": "Europe/Berlin",
            },
        )
        site = create_object(
            s,
            actor,
            "site",
            {
                "name": "Bench",
                "slug": "bench",
                "country": "DE",
                "timezone": "Europe/Berlin",
                "day_center": c.id,
            },
        )
        t = create_object(
            s,
            actor,
            "trunk",
            {
                "name": "loopback",
                "source_addresses": ["127.0.0.1"],
                "trust": "trusted",
                "default_region": "DE",
            },
        )
        rows = [
            {
                "ani": a,
                "kind": "elevator_phone",
                "site_id": site.id,
                "trunk_id": t.id,
                "test_interval_hours": 72,
                "status": "active",
            }
            for a in anis
        ]
        ids = s.scalars(insert(Device).returning(Device.id), rows).all()
        for row, i in zip(rows, ids, strict=True):
            row["id"] = i
        record_bulk_creates(s, actor, "device", rows)
        s.commit()
    engine.dispose()
    return anis


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out += [int(c) for c in text]
    return out


def proc_cpu(pid: int) -> float:
    """CPU seconds of the worker and its children (the recorder process)."""
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def proc_rss_mb(pid: int) -> float:
    """Resident memory of the worker and its children, MB."""
    total = 0.0
    for p in [pid, *_children(pid)]:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


def start_worker(env: dict[str, str], log: Path | None = None) -> tuple[subprocess.Popen[str], int]:
    """The real worker; its log (stderr, with its children's) into ``log`` when given."""
    with open(log, "w") if log is not None else open(os.devnull, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py")],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY"):
        raise SystemExit(f"worker did not start: {line!r}")
    return proc, int(line.split()[2])


def step(port: int, rate: int, seconds: int, inf: Path, work: Path, pid: int) -> dict[str, float]:
    calls = rate * seconds
    for f in work.glob("load_*"):
        f.unlink()
    scen = work / "load.xml"
    cmd = [
        "sipp",
        f"127.0.0.1:{port}",
        "-sf",
        str(scen),
        "-inf",
        str(inf),
        "-r",
        str(rate),
        "-rp",
        "1000",
        "-m",
        str(calls),
        "-l",
        str(max(1000, rate * 2)),
        "-i",
        "127.0.0.1",
        "-p",
        "15061",
        "-t",
        "u1",
        "-trace_rtt",
        "-rtt_freq",
        "1",
        "-trace_stat",
        "-fd",
        "1",
        "-timeout",
        f"{seconds * 3 + 10}s",
        "-nostdin",
        "-max_retrans",
        "5",
        "-buff_size",
        "8388608",
    ]
    cpu0, t0 = proc_cpu(pid), time.monotonic()
    res = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=seconds * 5 + 60)
    elapsed = time.monotonic() - t0
    cpu = proc_cpu(pid) - cpu0
    stat = next(work.glob("load_*_.csv"), None) or next(work.glob("load_*.csv"))
    lines = stat.read_text().strip().splitlines()
    head = lines[0].split(";")
    last = dict(zip(head, lines[-1].split(";"), strict=False))
    ok = int(last.get("SuccessfulCall(C)", 0))
    failed = int(last.get("FailedCall(C)", 0))
    retrans = int(last.get("Retransmissions(C)", 0))
    rtts: list[float] = []
    for f in work.glob("load_*_rtt.csv"):
        shutil.copy(f, work / f"rtt-{rate}.csv")
        for row in f.read_text().splitlines()[1:]:
            parts = row.split(";")
            if len(parts) >= 2:
                rtts.append(float(parts[1]))
    rtts.sort()

    def pct(p: float) -> float:
        return rtts[min(len(rtts) - 1, int(len(rtts) * p))] if rtts else float("nan")

    return {
        "rate": rate,
        "calls": calls,
        "ok": ok,
        "failed": failed,
        "retrans": retrans,
        "elapsed": elapsed,
        "achieved": ok / elapsed if elapsed else 0,
        "p50": pct(0.5),
        "p99": pct(0.99),
        "mean": statistics.fmean(rtts) if rtts else float("nan"),
        "cpu_us_per_call": cpu / max(1, ok + failed) * 1e6,
        "rss_mb": proc_rss_mb(pid),
        "sipp_rc": res.returncode,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="500,1000,2000,3000,4000,6000,8000,12000")
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--database-url", default="")
    args = ap.parse_args()
    assert shutil.which("sipp"), "install sipp: scripts/ensure-tools.sh"
    work = Path(tempfile.mkdtemp(prefix="anigate-sipload-"))
    url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    anis = seed(url, args.devices)
    inf = work / "anis.csv"
    inf.write_text("RANDOM\n" + "\n".join(anis) + "\n")
    shutil.copy(ROOT / "bench" / "sipp" / "load.xml", work / "load.xml")
    env = {
        **os.environ,
        "ANIGATE_DATABASE_URL": url,
        "ANIGATE_INSTANCE_DIR": str(work / "inst"),
        "ANIGATE_SIP_PORT": "0",
        "ANIGATE_LOG_LEVEL": "WARNING",
    }
    proc, port = start_worker(env)
    print(f"# work folder {work}")
    print(f"# {platform.node()} {os.cpu_count()} cores, {args.devices} devices, worker pid {proc.pid}")
    print(
        "| offered calls/s | calls | achieved calls/s | failed | retrans | p50 ms | p99 ms "
        "| worker CPU µs/call | worker RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    answered = 0
    try:
        for rate in [int(r) for r in args.rates.split(",")]:
            r = step(port, rate, args.seconds, inf, work, proc.pid)
            answered += r["ok"]
            print(
                f"| {rate} | {r['calls']} | {r['achieved']:.0f} | {r['failed']} | {r['retrans']} "
                f"| {r['p50']:.2f} | {r['p99']:.2f} | {r['cpu_us_per_call']:.0f} | {r['rss_mb']:.0f} |",
                flush=True,
            )
            time.sleep(2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        stored = s.scalar(select(func.count()).select_from(CallRecord))
        lat = sorted(s.scalars(select(CallRecord.latency_us)))
    engine.dispose()
    print(f"\ncalls answered by 302 (sipp): {answered}; call records in the database: {stored}")
    if lat:
        print(
            f"server-side decision latency (receive -> decided, before the batch journal write): "
            f"p50 {lat[len(lat) // 2]} µs, p99 {lat[int(len(lat) * 0.99)]} µs, max {lat[-1]} µs"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
