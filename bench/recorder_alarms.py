"""Recorder throughput: journal records drained into the database per second, with the CallRouted
events and the alarm engine (``AlarmService.on_calls``) in each batch, or without the engine.

    .venv/bin/python bench/recorder_alarms.py [--calls 50000] [--devices 10000] [--pg URL] [--no-alarms]

10,000 registered lift phones on one site (as bench/sip_load.py), calls from random ones, every
tenth with a call_flood anomaly (a blackout's floods); each lift call raises or repeats its
``lift_emergency``. Prints records/s of the drain and what was written.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.estate import fresh_database
from bench.sip_load import seed
from registry.db import make_engine, make_session_factory
from registry.models import Device, SecurityCenter
from routing.journal import JournalWriter
from routing.models import CallRecord
from routing.recorder import CallRecorder


def records(n: int, devices: list[tuple[int, str, int]], center: int, trunk: int) -> list[dict[str, object]]:
    rng = random.Random(7)
    start = time.time() - n / 1000
    out: list[dict[str, object]] = []
    for i in range(n):
        dev, ani, site = rng.choice(devices)
        flood = i % 10 == 0
        out.append(
            {
                "type": "call",
                "record_id": f"bench{i:x}",
                "call_id": f"{i}-bench@127.0.0.1",
                "branch": f"z9hG4bK-{i}",
                "received_at": start + i / 1000,
                "source": "127.0.0.1:5062",
                "transport": "UDP",
                "trunk_id": trunk,
                "trunk_name": "loopback",
                "ani": ani,
                "ani_source": "pai-tel",
                "ani_raw": f"<tel:{ani}>",
                "presented_number": ani,
                "display_name": "Lift",
                "privacy": "",
                "identity_verified": True,
                "attestation": None,
                "dnis": "112",
                "device_id": dev,
                "site_id": site,
                "center_id": center,
                "status": 302,
                "priority": "emergency",
                "line": "",
                "language": "de",
                "test_call": False,
                "adopt_site_id": None,
                "targets": ["sip:berlin@127.0.0.1:5070", "sip:berlin-backup@127.0.0.1:5071"],
                "target_center_ids": [center],
                "reason": f"device {dev} at site bench: day center Berlin",
                "anomalies": (
                    [
                        {
                            "code": "call_flood",
                            "severity": "critical",
                            "evidence": {"scope": s, "calls": 40, "max_calls": 30, "window_seconds": 60},
                        }
                        for s in ("ani", "site", "trunk")
                    ]
                    if flood
                    else []
                ),
                "latency_us": 150,
            }
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=50_000)
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--pg", default="", help="PostgreSQL URL (a throw-away schema); default SQLite")
    ap.add_argument("--no-alarms", action="store_true", help="drain without the alarm engine")
    args = ap.parse_args()
    with fresh_database(args.pg or None) as url:
        seed(url, args.devices)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        with factory() as s:
            devices = [(d.id, d.ani, d.site_id) for d in s.scalars(select(Device))]
            center = s.scalar(select(SecurityCenter.id))
            trunk = s.scalar(select(Device.trunk_id))
        assert center is not None and trunk is not None
        observers = []
        if not args.no_alarms:
            from alarms.service import AlarmService

            observers.append(AlarmService().on_calls)
        with tempfile.TemporaryDirectory(prefix="anigate-journal-") as tmp:
            journal = JournalWriter(Path(tmp))
            for rec in records(args.calls, devices, center, trunk):
                journal.append(rec)
            journal.close()
            recorder = CallRecorder(factory, Path(tmp), observers=observers)
            t0, c0 = time.perf_counter(), time.process_time()
            done = recorder.drain()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        with factory() as s:
            calls = s.scalar(select(func.count()).select_from(CallRecord))
            counts = {"calls": calls}
            try:
                from alarms.models import Alarm
                from registry.models import OutboxEvent

                counts["alarms"] = s.scalar(select(func.count()).select_from(Alarm))
                counts["alarm count total"] = s.scalar(select(func.sum(Alarm.count)))
                counts["outbox events"] = s.scalar(select(func.count()).select_from(OutboxEvent))
            except ImportError:
                pass
        engine.dispose()
    backend = "PostgreSQL" if args.pg else "SQLite"
    mode = "without alarms" if args.no_alarms else "with alarm evaluation"
    print(
        f"{backend}, {mode}: {done} records in {wall:.2f} s = {done / wall:,.0f} records/s "
        f"(recorder CPU {cpu * 1e6 / done:.0f} µs/record); {counts}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
