"""How far off the call-flood and repeat-caller counts are when several anigate instances share the
SIP load: each instance counts the calls it routed (``routing.history.CallMemory``, in process, off
the database on purpose: the hot path asks it for every call), so behind a dispatcher each sees its
share. This replays call sequences through N real ``CallMemory`` objects, assigned as Kamailio's
dispatcher assigns them (round-robin: algorithm 4; hash over the ANI: algorithm 7 with
``hash_pvar`` set to the P-Asserted-Identity), and reports, per scenario, the call at which each
layout first counts over the limit, and how many repeat calls find the center of the device's last
call. One instance is the reference.

    .venv/bin/python bench/flood_instances.py [--instances 2]

Results go to bench/RESULTS.md by hand.
"""

from __future__ import annotations

import argparse
import random
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from registry.choices import FloodScope
from routing.history import CallMemory
from routing.policy import HistoryQuery, Window

#: (at, ani, device id, site id)
Call = tuple[float, str, int, int]
Assign = Callable[[int, Call], int]


def round_robin(n: int) -> Assign:
    return lambda i, call: i % n


def by_ani(n: int) -> Assign:
    return lambda i, call: zlib.crc32(call[1].encode()) % n


def first_over(
    calls: list[Call], assign: Assign, n: int, scope: FloodScope, limit: int, window: int
) -> int | None:
    """Of the calls of the flooding key (the first call's ANI or site), the 1-based number of the
    first one whose instance counts more than ``limit`` in ``window`` seconds (it included)."""
    memories = [CallMemory() for _ in range(n)]
    target = calls[0][1] if scope is FloodScope.ANI else str(calls[0][3])
    nth = 0
    for i, call in enumerate(calls):
        at, ani, device, site = call
        key = ani if scope is FloodScope.ANI else str(site)
        q = HistoryQuery(device, 300.0, (Window(scope, key, window),))
        m = memories[assign(i, call)]
        if key == target:
            nth += 1
            if m.recall(q, at).counts[scope] > limit:
                return nth
        m.note(q, at, 1)
    return None


def repeats_known(calls: list[Call], assign: Assign, n: int, repeat: float = 300.0) -> tuple[int, int]:
    """(repeat calls whose instance knew the device's last center, repeat calls)."""
    memories = [CallMemory() for _ in range(n)]
    last: dict[int, float] = {}
    known = total = 0
    for i, call in enumerate(calls):
        at, _ani, device, _site = call
        q = HistoryQuery(device, repeat, ())
        m = memories[assign(i, call)]
        if device in last and at - last[device] <= repeat:
            total += 1
            known += m.recall(q, at).last_center_id is not None
        m.note(q, at, 1)
        last[device] = at
    return known, total


def scenarios(seed: int) -> dict[str, tuple[list[Call], FloodScope, int, int]]:
    """name -> (calls, scope, limit, window seconds); the first call is the flooding key's. Other
    sites' calls come at random instants (seeded), so that the dispatcher's turn falls anywhere."""
    rng = random.Random(seed)
    # a blackout at one site: 200 lift phones of the site call within 60 s, among 400 calls of
    # other sites in the same minute
    blackout: list[Call] = [(0.0, "+49301000000", 0, 1)]
    blackout += [(rng.uniform(0, 60), f"+4930100{k:04d}", k, 1) for k in range(1, 200)]
    blackout += [(rng.uniform(0, 60), f"+4940{k:06d}", 10_000 + k, 2 + k % 50) for k in range(400)]
    # one phone calling again and again (a stuck button, every 20 s), among 90 other calls
    stuck: list[Call] = [(k * 20.0, "+493012345678", 1, 1) for k in range(30)]
    stuck += [(rng.uniform(0, 600), f"+4940{k:06d}", 100 + k, 2 + k % 50) for k in range(90)]
    blackout.sort()
    stuck.sort()
    return {
        "site flood (limit 20 calls/60 s; 200 phones of one site in 60 s)": (
            blackout,
            FloodScope.SITE,
            20,
            60,
        ),
        "ANI flood (limit 3 calls/300 s; one phone every 20 s)": (stuck, FloodScope.ANI, 3, 300),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=2)
    ap.add_argument("--runs", type=int, default=50)
    n = ap.parse_args().instances
    layouts: dict[str, tuple[Assign, int]] = {
        "one instance": (round_robin(1), 1),
        f"{n} instances, round-robin": (round_robin(n), n),
        f"{n} instances, hash over the ANI": (by_ani(n), n),
    }
    seeds = range(ap.parse_args().runs)
    print(f"{len(seeds)} random interleavings each; worst and mean\n")
    print(f"| scenario | {' | '.join(layouts)} |")
    print("|---|" + "---|" * len(layouts))
    names = list(scenarios(0))
    for name in names:
        cells = []
        for assign, k in layouts.values():
            found = []
            for seed in seeds:
                calls, scope, limit, window = scenarios(seed)[name]
                found.append(first_over(calls, assign, k, scope, limit, window) or 10**9)
            cells.append(f"call {max(found)} (mean {sum(found) / len(found):.1f})")
        print(f"| {name}: the flooding key's first call counted over the limit | {' | '.join(cells)} |")
    cells = []
    for assign, k in layouts.values():
        known = total = 0
        for seed in seeds:
            a, b = repeats_known(scenarios(seed)[names[1]][0], assign, k)
            known, total = known + a, total + b
        cells.append(f"{100 * known / total:.0f} %")
    print(f"| repeat calls within 300 s whose instance knows the last center | {' | '.join(cells)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
