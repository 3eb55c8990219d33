"""Cost of the routing decision alone: decide() over a snapshot of 100,000 devices.

No I/O: a hand-built snapshot (500 sites in three timezones with business hours and holidays, 20
centers, 3 trunks, 100,000 devices of which a third have an active schedule and an expected trunk),
a DNIS table and 1,000 block/graylist entries), then decisions for registered devices (with and
without anomalies), test calls, blocklisted callers and unknown numbers; and the same decision with
the SIP worker's call memory asked and told (repeat caller, flood counts) as on the hot path.

    .venv/bin/python -m bench.decide [--devices 100000] [--calls 200000]
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from registry.choices import CallPriority, DeviceKind, DeviceStatus, LineKind, ListKind
from routing.history import CallMemory
from routing.policy import CallFacts, decide, history_query
from routing.snapshot import (
    CenterEntry,
    DeviceEntry,
    DnisEntry,
    ListEntry,
    ScheduleEntry,
    SiteEntry,
    Snapshot,
    TrunkEntry,
)

ZONES = [("DE", "Europe/Berlin"), ("GB", "Europe/London"), ("US", "America/New_York")]


def build(n_devices: int) -> Snapshot:
    centers = [
        CenterEntry(
            i,
            f"C{i}",
            (f"sip:c{i}@127.0.0.1:5070", f"sip:c{i}b@127.0.0.1:5071"),
            ("de", "en") if i % 2 else ("en",),
        )
        for i in range(1, 21)
    ]
    schedules = [
        ScheduleEntry(
            1, "office", ({"days": [0, 1, 2, 3, 4], "start": "07:00", "end": "19:00"},), ("2026-12-25",)
        ),
        ScheduleEntry(2, "night", ({"days": [0, 1, 2, 3, 4, 5, 6], "start": "22:00", "end": "06:00"},)),
    ]
    sites = []
    for i in range(1, 501):
        country, tz = ZONES[i % 3]
        sites.append(
            SiteEntry(i, f"s{i}", f"Site {i}", country, tz, 1 + i % 20, 1 + (i + 7) % 20, 1, ("2026-12-26",))
        )
    trunks = [
        TrunkEntry(t, f"t{t}", True, "pai", "DE", t == 3, (ipaddress.ip_network(f"127.0.0.{t}/32"),))
        for t in (1, 2, 3)
    ]
    kinds = [DeviceKind.ELEVATOR_PHONE, DeviceKind.CAR_PARK_HELP_POINT, DeviceKind.DOOR_INTERCOM]
    devices = [
        DeviceEntry(
            i,
            f"+4930{20000000 + i:08d}",
            kinds[i % 3],
            DeviceStatus.ACTIVE,
            1 + i % 500,
            None,
            (1 + i % 3) if i % 3 == 0 else None,
            2 if i % 3 == 0 else None,
        )
        for i in range(n_devices)
    ]
    dnis = [
        DnisEntry(1, "+4930555000", LineKind.EMERGENCY, CallPriority.EMERGENCY),
        DnisEntry(2, "+4930555100", LineKind.INTERCOM, CallPriority.NORMAL),
        DnisEntry(3, "+4930555900", LineKind.TEST, CallPriority.NON_URGENT, "sip:atu@127.0.0.1:5099"),
    ]
    lists = [ListEntry(i, f"+4940{1000000 + i:07d}", ListKind.BLOCK) for i in range(990)]
    lists += [ListEntry(1000 + i, f"+4941{i:02d}*", ListKind.GRAY) for i in range(10)]
    return Snapshot.build(
        1, devices, sites, centers, trunks, "C1", schedules, dnis_rules=dnis, number_lists=lists
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=100_000)
    ap.add_argument("--calls", type=int, default=200_000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    snap = build(args.devices)
    print(f"snapshot of {args.devices} devices built in {time.perf_counter() - t0:.2f} s")
    rng = random.Random(1)
    base = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    trunk = snap.trunks[1]
    cases = {
        "registered, inside hours": lambda i: CallFacts(
            f"+4930{20000000 + rng.randrange(args.devices):08d}",
            base + timedelta(minutes=i % 600),
            ani_verified=True,
            trunk=trunk,
        ),
        "registered, anomalies (trunk, hours, attestation)": lambda i: CallFacts(
            f"+4930{20000000 + 3 * rng.randrange(args.devices // 3):08d}",
            base + timedelta(hours=14, minutes=i % 60),
            ani_verified=False,
            trunk=snap.trunks[3],
            attestation="C",
        ),
        "unknown number (1,000 distinct)": lambda i: CallFacts(
            f"+4989{1000000 + i % 1000:07d}", base, ani_verified=True, trunk=trunk
        ),
        "test call on the test line": lambda i: CallFacts(
            f"+4930{20000000 + rng.randrange(args.devices):08d}",
            base,
            ani_verified=True,
            trunk=trunk,
            dnis="+4930555900",
            dnis_number="+4930555900",
        ),
        "blocklisted stranger on the intercom line (603)": lambda i: CallFacts(
            f"+4940{1000000 + i % 990:07d}",
            base,
            ani_verified=True,
            trunk=trunk,
            dnis="+4930555100",
            dnis_number="+4930555100",
        ),
    }
    print("| case | decisions | µs per decision | decisions/s |\n|---|---|---|---|")
    for name, make in cases.items():
        facts = [make(i) for i in range(args.calls)]
        t0 = time.perf_counter()
        for f in facts:
            decide(snap, f)
        el = time.perf_counter() - t0
        print(f"| {name} | {args.calls} | {el / args.calls * 1e6:.1f} | {args.calls / el:,.0f} |")
    # as the SIP worker does it: ask the call memory, decide, tell the memory, in simulated time so
    # that windows fill and trim as in service. 4 calls/s is a busy estate (no flood limit
    # reached); at 1,000 calls/s every call is also a trunk and site flood and carries those anomalies
    facts = [cases["registered, inside hours"](i) for i in range(args.calls)]
    for rate in (4, 1000):
        memory = CallMemory()
        t0 = time.perf_counter()
        for i, f in enumerate(facts):
            now = 1_790_000_000 + i / rate
            query = history_query(snap, f.ani, f.trunk)
            d = decide(snap, replace(f, recent=memory.recall(query, now)))
            memory.note(query, now, d.center_id)
        el = time.perf_counter() - t0
        name = f"registered, with call memory, {rate:,} calls/s"
        print(f"| {name} | {args.calls} | {el / args.calls * 1e6:.1f} | {args.calls / el:,.0f} |")


if __name__ == "__main__":
    main()
