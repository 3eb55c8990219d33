"""CPU per call of the SIP hot path and of the recorder, in one process, without sockets.

Loads the registry snapshot of ``--db`` (seeded, for instance, with
``../shared/bench-kamailio/seed_anigate.example.py``), builds the worker's own ``RedirectService`` and
``UasCore`` with a real call journal in a temporary folder, and feeds them INVITEs shaped like the
Kamailio anchor's ``uac_302.xml`` for the ANIs of ``--anis`` (sipp's injection file). Then the
recorder drains that journal into a copy of the database. Prints microseconds per call for each half;
``--profile`` adds the top functions by own time (cProfile). Run by hand:

    .venv/bin/python bench/hotpath.py --db /tmp/bench.db --anis data/sipp_anis.csv [--calls 20000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import tempfile
import time
from pathlib import Path

from registry.db import make_engine, make_session_factory
from routing.history import CallMemory
from routing.journal import JournalWriter
from routing.recorder import CallRecorder
from routing.redirect import RedirectService
from routing.snapshot import SnapshotHolder, load_snapshot
from sip.listener import ListenerConfig, UasCore

INVITE = (
    "INVITE sip:ani-router@127.0.0.1:5080 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{n}-1-0\r\n"
    'From: "Caller" <sip:{ani}@127.0.0.1>;tag={n}\r\n'
    "To: <sip:ani-router@127.0.0.1:5080>\r\n"
    "Call-ID: {n}-4242@127.0.0.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:{ani}@127.0.0.1:5061>\r\n"
    "P-Asserted-Identity: <sip:{ani}@127.0.0.1>\r\n"
    "Max-Forwards: 70\r\n"
    "Subject: ANI routing benchmark\r\n"
    "Content-Length: 0\r\n\r\n"
)


def anis(path: Path) -> list[str]:
    lines = [line.split(";")[0] for line in path.read_text().splitlines()[1:] if line.strip()]
    return [a for a in lines if a]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", type=Path, required=True, help="SQLite file seeded with the table")
    ap.add_argument("--anis", type=Path, required=True, help="sipp injection file (ANI;expected contact)")
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hotpath-"))
    db = work / "bench.db"
    shutil.copy(args.db, db)
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with factory() as session:
        holder = SnapshotHolder(load_snapshot(session))
    journal = JournalWriter(work / "journal")
    service = RedirectService(holder, journal, history=CallMemory())
    core = UasCore(service, ListenerConfig())
    numbers = anis(args.anis)
    datagrams = [INVITE.format(n=i, ani=numbers[i % len(numbers)]).encode() for i in range(args.calls)]
    src = ("127.0.0.1", 5061)

    def sip_half() -> None:  # as the UDP listener does: one journal write per 8 calls
        batched = hasattr(service, "begin_batch")  # (and as the listener did before it batched)
        for i in range(0, len(datagrams), 8):
            if batched:
                service.begin_batch()
            for data in datagrams[i : i + 8]:
                core.handle(data, src, "UDP")
            if batched:
                service.end_batch()

    t0, c0 = time.perf_counter(), time.process_time()
    if args.profile:
        prof = cProfile.Profile()
        prof.runcall(sip_half)
    else:
        sip_half()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"SIP half: {args.calls} INVITEs, {cpu / args.calls * 1e6:.1f} µs CPU/call ({wall:.2f} s wall)")
    print(f"  answers: {dict((k, v) for k, v in core.stats.counts.items() if k.startswith('answered'))}")
    if args.profile:
        pstats.Stats(prof).sort_stats("tottime").print_stats(args.top)

    recorder = CallRecorder(factory, work / "journal", checkpoint="calls")
    t0, c0 = time.perf_counter(), time.process_time()
    if args.profile:
        prof = cProfile.Profile()
        n = prof.runcall(recorder.drain)
    else:
        n = recorder.drain()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"recorder: {n} calls, {cpu / max(n, 1) * 1e6:.1f} µs CPU/call ({wall:.2f} s wall)")
    if args.profile:
        pstats.Stats(prof).sort_stats("tottime").print_stats(args.top)
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
