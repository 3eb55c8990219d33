"""Memory of the calls a process has just routed: the repeat-caller center and call-flood counts.

The decision stays pure: :func:`routing.policy.history_query` says what to ask, a
:class:`HistoryStore` answers it before ``decide`` runs and learns the outcome after. The SIP
worker keeps :class:`CallMemory` in process (seeded from the ``calls`` table at start); the HTTP
route API asks the ``calls`` table itself (:class:`routing.queries.CallTableHistory`). Sliding
windows are hand-written: a sorted list of instants per key is all it takes, and no library fits.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable
from types import MappingProxyType
from typing import Protocol

from registry.choices import FloodScope
from routing.policy import HistoryQuery, Recent

#: (epoch seconds, ani, site id, trunk id, device id, center id) of an earlier call
SeedRow = tuple[float, str | None, int | None, int | None, int | None, int | None]


class HistoryStore(Protocol):
    def recall(self, query: HistoryQuery, now: float) -> Recent:
        """What earlier calls tell, counting the call being decided as one more."""
        ...

    def note(self, query: HistoryQuery, now: float, center_id: int | None) -> None:
        """Remember the call just decided (``center_id``: the center offered first)."""
        ...


class CallMemory:
    """Per key, the instants of recent calls; per device, the center and instant of its last call.

    Bounded in time: a key keeps only the instants inside its own window (trimmed when it is
    touched) and at most ``per_key`` of them (a count beyond that saturates: a flood is long seen by
    then), and :meth:`prune` (every ``prune_every`` notes) drops keys and devices nobody called
    for ``horizon`` seconds. One thread (the SIP event loop) uses it; no lock.
    """

    def __init__(self, horizon: float = 3600.0, prune_every: int = 50_000, per_key: int = 100_000):
        self.horizon = horizon
        self.per_key = per_key
        self.prune_every = prune_every
        #: per scope, per key: one dict per scope, so 100,000 ANIs need no (scope, key) tuple each
        self._calls: dict[FloodScope, dict[str, _Series]] = {scope: {} for scope in FloodScope}
        self._last: dict[int, tuple[float, int]] = {}
        self._notes = 0

    def recall(self, query: HistoryQuery, now: float) -> Recent:
        counts = {}
        for w in query.windows:
            series = self._calls[w.scope].get(w.key)
            counts[w.scope] = (series.count_since(now - w.seconds) if series is not None else 0) + 1
        last_center = age = None
        if query.device_id is not None and query.repeat_seconds > 0:
            last = self._last.get(query.device_id)
            if last is not None and 0 <= now - last[0] <= query.repeat_seconds:
                age, last_center = now - last[0], last[1]
        return Recent(last_center, age, MappingProxyType(counts))

    def note(self, query: HistoryQuery, now: float, center_id: int | None) -> None:
        for w in query.windows:
            self._append(w.scope, w.key, now, w.seconds)
        if query.device_id is not None and center_id is not None:
            self._last[query.device_id] = (now, center_id)
        self._notes += 1
        if self._notes % self.prune_every == 0:
            self.prune(now)

    def _append(self, scope: FloodScope, key: str, at: float, keep: float) -> None:
        calls = self._calls[scope]
        series = calls.get(key)
        if series is None:
            series = calls[key] = _Series()
        series.add(at, at - keep, self.per_key)

    def seed(self, calls: Iterable[SeedRow]) -> int:
        """Load earlier calls, oldest first: (instant, ani, site id, trunk id, device id, center id)."""
        n = 0
        for at, ani, site_id, trunk_id, device_id, center_id in calls:
            if ani:
                self._append(FloodScope.ANI, ani, at, self.horizon)
            if site_id is not None:
                self._append(FloodScope.SITE, str(site_id), at, self.horizon)
            if trunk_id is not None:
                self._append(FloodScope.TRUNK, str(trunk_id), at, self.horizon)
            if device_id is not None and center_id is not None:
                prev = self._last.get(device_id)
                if prev is None or prev[0] <= at:
                    self._last[device_id] = (at, center_id)
            n += 1
        return n

    def prune(self, now: float) -> None:
        cutoff = now - self.horizon
        self._calls = {
            scope: {k: v for k, v in calls.items() if v.last >= cutoff}
            for scope, calls in self._calls.items()
        }
        self._last = {k: v for k, v in self._last.items() if v[0] >= cutoff}

    def __len__(self) -> int:
        return sum(len(calls) for calls in self._calls.values())


class _Series:
    """Sorted instants of one key; the live ones start at ``start``. Dropping old instants moves
    ``start`` and compacts the list only when half of it is dead: amortised O(1) per call, where
    ``del list[:k]`` on every call would move a busy trunk's whole window each time."""

    __slots__ = ("start", "times")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.start = 0

    @property
    def last(self) -> float:
        return self.times[-1] if len(self.times) > self.start else float("-inf")

    def count_since(self, cut: float) -> int:
        return len(self.times) - bisect_left(self.times, cut, self.start)

    def add(self, at: float, cut: float, cap: int) -> None:
        times = self.times
        if times and times[-1] > at:  # seeded out of order: keep the list sorted
            insort(times, at, self.start)
        else:
            times.append(at)
        if times[self.start] < cut:
            self.start = bisect_left(times, cut, self.start)
        if len(times) - self.start > cap:
            self.start = len(times) - cap
        if self.start > 1024 and self.start * 2 > len(times):
            del times[: self.start]
            self.start = 0
