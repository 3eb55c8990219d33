"""Blackout storm: 100,000 lift phones on 500 sites call within a minute.

Registers the estate (500 sites, each with its day center, 100,000 elevator phones with distinct
ANIs on one trusted loopback trunk), starts a private Mosquitto with an MQTT sink pointed at it (the
BMS), a subscriber that counts what arrives, and the real ``worker.py``. Then sipp replays the
storm: a base of ``--base-rate`` calls/s for ``--seconds``, and bursts that add ``--burst-rate`` for
``--burst-seconds`` at each of ``--bursts`` (defaults: 1,000/s for 60 s plus 4,000/s for 5 s at
10 s and 40 s: 100,000 INVITEs from distinct ANIs, peaks of 5,000/s, 1,667/s on average). Every
second it samples CPU and RSS of each anigate process, the call rows written, the journal and the
outbox backlog. After the storm it waits until every call is recorded and every event is delivered.

Prints a Markdown report (achieved rate, failed calls, answer time p50/p99/max from sipp, CPU and peak
RSS per process, rows, alarms and how they were grouped, MQTT messages delivered, time to the last
record and the last delivery after the storm's end) and writes a PNG of the timeline. Run by hand
(bench/storm.sh), results into bench/RESULTS.md:

    bench/storm.sh [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--png bench/storm.png]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlalchemy import Engine, insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.estate import fresh_database  # noqa: E402
from bench.sip_load import CLK_TCK, _children, start_worker  # noqa: E402
from registry.actors import Actor  # noqa: E402
from registry.db import make_engine, make_session_factory  # noqa: E402
from registry.models import Device  # noqa: E402
from registry.services import create_object, record_bulk_creates  # noqa: E402
from routing.journal import JournalReader, Position  # noqa: E402
from tests.integration.integrations.mosquitto import Broker  # noqa: E402

ACTOR = Actor.system("storm")


# --- the estate ----------------------------------------------------------------------------------


def seed(url: str, devices: int, sites: int, centers: int) -> list[str]:
    """``sites`` sites round-robin over ``centers`` centers, ``devices`` lift phones round-robin
    over the sites; returns their ANIs."""
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        center_ids = [
            create_object(
                s,
                ACTOR,
                "center",
                {
                    "name": f"Leitstelle {c}",
                    "sip_uris": [f"sip:center-{c}@127.0.0.1:5099"],
                    "timezone": "Europe/Berlin",
                },
            ).id
            for c in range(centers)
        ]
        site_ids = [
            create_object(
                s,
                ACTOR,
                "site",
                {
                    "name": f"Block {n}",
                    "slug": f"block-{n}",
                    "country": "DE",
                    "timezone": "Europe/Berlin",
                    "day_center": center_ids[n % centers],
                },
            ).id
            for n in range(sites)
        ]
        trunk = create_object(
            s,
            ACTOR,
            "trunk",
            {
                "name": "carrier",
                "source_addresses": ["127.0.0.1"],
                "trust": "trusted",
                "default_region": "DE",
            },
        )
        anis = [f"+4930{30000000 + i:08d}" for i in range(devices)]
        for start in range(0, devices, 10_000):
            rows = [
                {
                    "ani": ani,
                    "kind": "elevator_phone",
                    "site_id": site_ids[(start + i) % sites],
                    "trunk_id": trunk.id,
                    "floor": str((start + i) % 12),
                    "cabin": f"Lift {(start + i) % 4 + 1}",
                    "test_interval_hours": 72,
                    "status": "active",
                }
                for i, ani in enumerate(anis[start : start + 10_000])
            ]
            ids = s.scalars(insert(Device).returning(Device.id), rows).all()
            for row, device_id in zip(rows, ids, strict=True):
                row["id"] = device_id
            record_bulk_creates(s, ACTOR, "device", rows)
        s.commit()
    engine.dispose()
    return anis


# --- the BMS: an MQTT subscriber that counts ----------------------------------------------------


@dataclass
class Counting:
    """Counts the messages of one MQTT 5 subscription by event type, with the last arrival time."""

    port: int
    by_type: Counter[str] = field(default_factory=Counter)
    last_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Counting:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="storm-bms", protocol=MQTTProtocolVersion.MQTTv5
        )
        ready = threading.Event()
        self.client.on_connect = lambda c, *_a: c.subscribe([("anigate/#", 1)])
        self.client.on_subscribe = lambda *_a: ready.set()
        self.client.on_message = self._on_message
        self.client.max_inflight_messages_set(1000)
        self.client.connect_async("127.0.0.1", self.port)
        self.client.loop_start()
        if not ready.wait(10):
            raise SystemExit("the MQTT subscriber did not connect")
        return self

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        try:
            kind = orjson.loads(msg.payload).get("type") or "document"
        except (orjson.JSONDecodeError, AttributeError):
            kind = "text"
        if msg.retain and kind == "document":
            kind = "retained status"
        with self.lock:
            self.by_type[kind] += 1
            self.last_at = time.monotonic()

    def count(self, kind: str) -> int:
        with self.lock:
            return self.by_type[kind]

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- sampling -------------------------------------------------------------------------------------


def proc_stat(pid: int) -> tuple[float, float, float]:
    """CPU seconds, RSS MB and peak RSS (VmHWM) MB of one process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
    except FileNotFoundError:
        return 0.0, 0.0, 0.0
    mem = {line.split(":")[0]: int(line.split()[1]) / 1024 for line in status if line.startswith("Vm")}
    return (int(fields[11]) + int(fields[12])) / CLK_TCK, mem.get("VmRSS", 0.0), mem.get("VmHWM", 0.0)


@dataclass
class Sample:
    t: float
    calls: int
    journal_bytes: int
    outbox_undelivered: int
    mqtt_calls: int
    procs: dict[str, tuple[float, float, float]]


class Sampler(threading.Thread):
    def __init__(self, engine: Engine, journal_dir: Path, worker_pid: int, bms: Counting, t0: float):
        super().__init__(daemon=True, name="storm-sampler")
        self.engine, self.journal_dir, self.worker_pid, self.bms, self.t0 = (
            engine,
            journal_dir,
            worker_pid,
            bms,
            t0,
        )
        self.samples: list[Sample] = []
        self.peaks: dict[str, float] = {}
        self.stop = threading.Event()

    def processes(self) -> dict[str, int]:
        """The worker and its children by role (``worker.py --recorder``, ``--relay``)."""
        named = {"worker (SIP)": self.worker_pid}
        for kid in _children(self.worker_pid):
            try:
                args = Path(f"/proc/{kid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            role = "relay" if b"--relay" in args else "recorder" if b"--recorder" in args else "child"
            named[f"{role} (pid {kid})"] = kid
        return named

    def take(self) -> Sample:
        with self.engine.connect() as conn:
            calls = conn.execute(text("SELECT count(*) FROM calls")).scalar_one()
            pending = conn.execute(
                text("SELECT count(*) FROM deliveries WHERE state = 'pending'")
            ).scalar_one()
            unfanned = conn.execute(
                text(
                    "SELECT count(*) FROM outbox WHERE seq > (SELECT cursor FROM sinks WHERE name = 'bms')"
                    " AND type IN ('call.routed', 'alarm.raised', 'alarm.acknowledged', 'alarm.cleared',"
                    " 'alarm.escalated', 'alarm.group')"
                )
            ).scalar_one()
        reader = JournalReader(self.journal_dir)
        with self.engine.connect() as conn:
            rows = conn.execute(text('SELECT segment, "offset" FROM journal_checkpoints')).all()

        backlog = min((reader.backlog_bytes(Position(seg, off)) for seg, off in rows), default=0)
        procs = {name: proc_stat(pid) for name, pid in self.processes().items()}
        for name, (_cpu, _rss, hwm) in procs.items():
            self.peaks[name] = max(self.peaks.get(name, 0.0), hwm)
        return Sample(
            time.monotonic() - self.t0,
            calls,
            backlog,
            pending + unfanned,
            self.bms.count("call.routed"),
            procs,
        )

    def run(self) -> None:
        while not self.stop.wait(1.0):
            try:
                self.samples.append(self.take())
            except Exception as exc:  # a busy database must not end the benchmark
                print(f"# sample failed: {exc}", file=sys.stderr)


# --- sipp -----------------------------------------------------------------------------------------


def sipp(port: int, inf: Path, folder: Path, rate: int, calls: int, local_port: int) -> subprocess.Popen[str]:
    """One sipp process (its files in ``folder``): ``calls`` INVITEs at ``rate``/s from the ANIs
    of ``inf``, each expecting a 302 (bench/sipp/load.xml), with per-call answer times."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "bench" / "sipp" / "load.xml", folder / "load.xml")
    command = [
        *("sipp", f"127.0.0.1:{port}", "-sf", "load.xml", "-inf", str(inf)),
        *("-r", str(rate), "-rp", "1000", "-m", str(calls), "-l", "30000"),
        *("-i", "127.0.0.1", "-p", str(local_port), "-t", "u1"),
        *("-trace_rtt", "-rtt_freq", "1", "-trace_stat", "-fd", "1", "-nostdin"),
        *("-timeout", "300s", "-max_retrans", "5", "-buff_size", "8388608"),
    ]
    return subprocess.Popen(command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@dataclass
class SippResult:
    ok: int
    failed: int
    retrans: int
    #: (answer time since the epoch, answer time in ms) per answered call
    rtts: list[tuple[float, float]]


def sipp_result(folder: Path) -> SippResult:
    stat = next(folder.glob("load_*_.csv"), None) or next(folder.glob("load_*.csv"))
    lines = stat.read_text().strip().splitlines()
    last = dict(zip(lines[0].split(";"), lines[-1].split(";"), strict=False))
    started = float(last["StartTime"].split("\t")[-1])  # "date<TAB>time<TAB>epoch"
    rtts = []
    for f in folder.glob("load_*_rtt.csv"):
        for row in f.read_text().splitlines()[1:]:
            parts = row.split(";")
            if len(parts) >= 2:
                rtts.append((started + float(parts[0]) / 1000, float(parts[1])))
    return SippResult(
        int(last.get("SuccessfulCall(C)", 0)),
        int(last.get("FailedCall(C)", 0)),
        int(last.get("Retransmissions(C)", 0)),
        rtts,
    )


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


# --- the report ---------------------------------------------------------------------------------


def plot(
    path: Path, samples: list[Sample], rtts: list[tuple[float, float]], t0_epoch: float, end: float
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_second: dict[int, list[float]] = {}
    for sent, ms in rtts:
        per_second.setdefault(int(sent - t0_epoch), []).append(ms)
    secs = sorted(k for k in per_second if k >= 0)
    rate = [len(per_second[k]) for k in secs]
    p50 = [pct(sorted(per_second[k]), 0.5) for k in secs]
    p99 = [pct(sorted(per_second[k]), 0.99) for k in secs]
    fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    axes[0].plot(secs, rate, drawstyle="steps-post")
    axes[0].set_ylabel("calls answered/s")
    axes[1].plot(secs, p50, label="p50")
    axes[1].plot(secs, p99, label="p99")
    axes[1].axhline(20, color="red", linestyle=":", label="target p99 20 ms")
    axes[1].set_ylabel("answer time ms (sipp)")
    axes[1].set_yscale("symlog", linthresh=4)
    axes[1].set_ylim(bottom=0)  # answer times are never negative: no mirrored half of the symlog axis
    axes[1].legend(loc="upper right")
    ts = [s.t for s in samples]
    axes[2].plot(ts, [s.outbox_undelivered for s in samples], label="events not yet delivered (MQTT sink)")
    axes[2].plot(
        ts, [s.journal_bytes / 1000 for s in samples], label="journal backlog kB (calls not yet recorded)"
    )
    axes[2].set_ylabel("backlog")
    axes[2].set_xlabel("seconds since the storm began")
    axes[2].legend(loc="upper right")
    for ax in axes:
        ax.axvline(end, color="grey", linestyle="--")
    fig.suptitle(path.stem)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", default="", help="PostgreSQL URL (a throw-away schema); empty: SQLite")
    ap.add_argument("--devices", type=int, default=100_000)
    ap.add_argument("--sites", type=int, default=500)
    ap.add_argument("--centers", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--base-rate", type=int, default=1000)
    ap.add_argument("--burst-rate", type=int, default=4000)
    ap.add_argument("--burst-seconds", type=int, default=5)
    ap.add_argument("--bursts", default="10,40", help="burst start times, seconds into the storm")
    ap.add_argument("--drain-timeout", type=float, default=600.0)
    ap.add_argument(
        "--group-settle",
        type=float,
        default=76.0,
        help="seconds to wait after delivery for the last alarm.group notifications (interval + wait)",
    )
    ap.add_argument("--png", type=Path, default=None)
    ap.add_argument("--profile", type=Path, default=None, help="py-spy each anigate process into this folder")
    args = ap.parse_args()
    assert shutil.which("sipp"), "install sipp: scripts/ensure-tools.sh"
    bursts = [int(b) for b in args.bursts.split(",") if b]
    base_calls = args.base_rate * args.seconds
    burst_calls = args.burst_rate * args.burst_seconds
    total = base_calls + burst_calls * len(bursts)
    if total > args.devices:
        raise SystemExit(f"{total} calls need as many devices (--devices {args.devices})")
    work = Path(tempfile.mkdtemp(prefix="anigate-storm-"))
    backend = "PostgreSQL" if args.database_url else "SQLite"
    with fresh_database(args.database_url or None) as url:
        t = time.monotonic()
        anis = seed(url, args.devices, args.sites, args.centers)
        seeded = time.monotonic() - t
        # each call from its own device: disjoint slices for the base and for each burst
        slices = [anis[:base_calls]] + [
            anis[base_calls + i * burst_calls : base_calls + (i + 1) * burst_calls]
            for i in range(len(bursts))
        ]
        infs = []
        for i, part in enumerate(slices):
            inf = work / f"anis-{i}.csv"
            inf.write_text("SEQUENTIAL\n" + "\n".join(part) + "\n")
            infs.append(inf)
        broker = Broker(work).start()
        bms = Counting(broker.port).start()
        sinks = work / "sinks.toml"
        sinks.write_text(
            f'[[sink]]\nname = "bms"\nkind = "mqtt"\n'
            f'[sink.settings]\nhost = "127.0.0.1"\nport = {broker.port}\n'
        )
        env = {
            **os.environ,
            "ANIGATE_DATABASE_URL": url,
            "ANIGATE_INSTANCE_DIR": str(work / "inst"),
            "ANIGATE_SIP_PORT": "0",
            "ANIGATE_LOG_LEVEL": "WARNING",
            "ANIGATE_SINKS_FILE": str(sinks),
            "ANIGATE_SECRET_KEY": "storm-bench-" + os.urandom(8).hex(),
        }
        proc, port = start_worker(env, work / "worker.log")  # kept with the work folder
        engine = make_engine(url)
        time.sleep(3)  # the recorder and the relay connect
        bms.by_type.clear()
        t0 = time.monotonic()
        t0_epoch = time.time()
        sampler = Sampler(engine, work / "inst" / "journal", proc.pid, bms, t0)
        sampler.start()
        cpu0 = {name: proc_stat(pid)[0] for name, pid in sampler.processes().items()}
        spies = []
        if args.profile:  # sampling profiles (collapsed stacks), without pausing the processes
            args.profile.mkdir(parents=True, exist_ok=True)
            for name, pid in sampler.processes().items():
                out = args.profile / f"{name.split()[0]}.txt"
                spies.append(
                    subprocess.Popen(
                        [
                            "py-spy",
                            "record",
                            "--nonblocking",
                            "-r",
                            "200",
                            "-f",
                            "raw",
                            "-o",
                            str(out),
                            "-p",
                            str(pid),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
        runs = [sipp(port, infs[0], work / "base", args.base_rate, base_calls, 16000)]
        for i, at in enumerate(bursts):
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            runs.append(sipp(port, infs[i + 1], work / f"burst-{i}", args.burst_rate, burst_calls, 16001 + i))
        for run in runs:
            run.wait(timeout=args.seconds + 400)
        storm_end = time.monotonic() - t0
        cpu_storm = {
            name: proc_stat(pid)[0] - cpu0.get(name, 0.0) for name, pid in sampler.processes().items()
        }
        results = [
            sipp_result(run_dir)
            for run_dir in [work / "base", *(work / f"burst-{i}" for i in range(len(bursts)))]
        ]
        ok = sum(r.ok for r in results)
        # after the storm: every call recorded, every event delivered
        recorded_at = delivered_at = None
        deadline = time.monotonic() + args.drain_timeout
        while time.monotonic() < deadline and (recorded_at is None or delivered_at is None):
            time.sleep(0.5)
            last = sampler.samples[-1] if sampler.samples else None
            if last is None:
                continue
            now = time.monotonic() - t0
            if recorded_at is None and last.calls >= ok:
                recorded_at = now
            if (
                recorded_at is not None
                and delivered_at is None
                and last.outbox_undelivered == 0
                and bms.count("call.routed") >= ok
            ):
                delivered_at = max(now, bms.last_at - t0)
        # the last grouped notifications: a busy site's come at most every group_interval (60 s)
        time.sleep(args.group_settle)
        for spy in spies:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        sampler.stop.set()
        sampler.join()
        cpu_all = {name: proc_stat(pid)[0] - cpu0.get(name, 0.0) for name, pid in sampler.processes().items()}
        with engine.connect() as conn:
            rows = {
                t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("calls", "alarms", "outbox", "deliveries")
            }
            alarms = conn.execute(
                text("SELECT kind, severity, count(*) FROM alarms GROUP BY kind, severity ORDER BY 3 DESC")
            ).all()
            per_site = sorted(
                n
                for (n,) in conn.execute(
                    text("SELECT count(*) FROM alarms WHERE site_id IS NOT NULL GROUP BY site_id")
                ).all()
            )
            events = conn.execute(
                text("SELECT type, count(*) FROM outbox GROUP BY type ORDER BY 2 DESC")
            ).all()
            grouped = [
                (site_id, body if isinstance(body, dict) else orjson.loads(body))
                for site_id, body in conn.execute(
                    text("SELECT site_id, body FROM outbox WHERE type = 'alarm.group'")
                ).all()
            ]
            lat = sorted(v for (v,) in conn.execute(text("SELECT latency_us FROM calls")).all())
            dupes = conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT call_id FROM calls GROUP BY call_id HAVING count(*) > 1) d"
                )
            ).scalar_one()
            dead = conn.execute(text("SELECT count(*) FROM deliveries WHERE state = 'dead'")).scalar_one()
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        bms.stop()
        broker.stop()
        engine.dispose()

    rtts = sorted(ms for r in results for _sent, ms in r.rtts)
    failed = sum(r.failed for r in results)
    retrans = sum(r.retrans for r in results)
    first = min((s for r in results for s, _ in r.rtts), default=t0_epoch)
    last_sent = max((s for r in results for s, _ in r.rtts), default=t0_epoch)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"### Storm, {backend} ({platform.node()}, {os.cpu_count()} cores, {when})\n")
    print(
        f"Estate: {args.devices} elevator phones on {args.sites} sites, {args.centers} centers"
        f" (registered in {seeded:.0f} s)."
    )
    at = ", ".join(f"{b} s" for b in bursts)
    print(
        f"Load: {total} INVITEs from distinct ANIs: {args.base_rate}/s for {args.seconds} s plus"
        f" {args.burst_rate}/s for {args.burst_seconds} s at {at}"
        f" (peak {args.base_rate + args.burst_rate}/s).\n"
    )

    def row(measure: str, value: str, target: str = "") -> None:
        print(f"| {measure} | {value} | {target} |")

    def after(t: float | None) -> str:
        return f"{t - storm_end:.1f} s after the storm" if t is not None else "not within the drain timeout"

    row("measure", "value", "target")
    print("|---|---|---|")
    span = max(last_sent - first, 1.0)
    row("achieved rate", f"{ok / span:.0f} calls/s over {span:.1f} s")
    row("answered (302) / failed / retransmissions", f"{ok} / {failed} / {retrans}", "0 failed")
    top = rtts[-1] if rtts else float("nan")
    row(
        "answer time p50 / p99 / max (sipp, 4 ms clock)",
        f"{pct(rtts, 0.5):.0f} / {pct(rtts, 0.99):.0f} / {top:.0f} ms",
        "p99 < 20 ms",
    )
    if lat:
        row(
            "in-worker latency p50 / p99 / max (receive to decided, before the batch journal write)",
            f"{lat[len(lat) // 2]} / {pct(lat, 0.99)} / {lat[-1]} µs",
        )
    row(
        "calls recorded",
        f"{rows['calls']} of {ok} (duplicates {dupes}), the last {after(recorded_at)}",
        "every call",
    )
    row(
        "MQTT call.routed delivered",
        f"{bms.count('call.routed')} of {ok}, the last {after(delivered_at)}; dead letters {dead}",
        "within 10 s",
    )
    row("MQTT messages by type", ", ".join(f"{k} {v}" for k, v in bms.by_type.most_common()))
    for name in sorted(cpu_all):
        row(
            f"{name}: CPU during the storm / until drained, peak RSS",
            f"{cpu_storm.get(name, 0):.1f} s / {cpu_all[name]:.1f} s, {sampler.peaks.get(name, 0):.0f} MB",
            "RSS < 300 MB",
        )
    row("rows written", ", ".join(f"{k} {v}" for k, v in rows.items()))
    row("alarms", ", ".join(f"{k} ({sev}) {n}" for k, sev, n in alarms))
    if per_site:
        mid = per_site[len(per_site) // 2]
        row("alarms per site", f"{len(per_site)} sites, min {per_site[0]}, median {mid}, max {per_site[-1]}")
    if grouped:
        per = Counter(site for site, _ in grouped)
        covered = sum(int(body.get("total_raised") or 0) for _, body in grouped)
        row(
            "alarms grouped per site (alarm.group, wait 10 s, interval 60 s)",
            f"{len(grouped)} notifications for {len(per)} sites (at most {max(per.values())} per site),"
            f" counting {covered} of {rows['alarms']} alarms raised; MQTT alarm.group received"
            f" {bms.count('alarm.group')}",
            "one per site and interval",
        )
    row("outbox events", ", ".join(f"{k} {n}" for k, n in events))
    print()
    if args.png:
        plot(args.png, sampler.samples, [(s, ms) for r in results for s, ms in r.rtts], t0_epoch, storm_end)
        print(f"plot: {args.png}")
    (work / "samples.json").write_text(json.dumps([s.__dict__ for s in sampler.samples]))
    print(f"work folder: {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
