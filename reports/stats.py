"""Pure arithmetic of the reports: nearest-rank percentiles, folding quarter-hour counts into local
days and hours of day, and the longest gap between test calls. No database, no flask, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

#: the database counts calls per quarter of an hour (UTC); every time zone's offset from UTC is a
#: whole number of quarter hours, so such a bucket never straddles two local hours or days
QUARTER = 900


def nearest_rank(values: Sequence[float], percent: float) -> float | None:
    """The ``percent`` percentile by the nearest-rank method: the smallest value such that at least
    ``percent`` % of the values are at or below it, i.e. the value of rank ``ceil(percent/100 * n)``
    (1-based) in sorted order. Always a value that was observed; None without values.

    The median is the 50th percentile by the same rule, so for an even count it is the lower of the
    two middle values (``[10, 20, 30, 40]`` gives 20), never an average no alarm ever had."""
    if not values:
        return None
    if not 0 < percent <= 100:
        raise ValueError(f"percent must be in (0, 100], not {percent}")
    ordered = sorted(values)
    rank = math.ceil(percent / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def days_between(start: date, end: date) -> list[date]:
    """Each day in [start, end)."""
    return [start + timedelta(days=n) for n in range((end - start).days)]


def fold_quarters(
    counts: Iterable[tuple[int, int]], tz: ZoneInfo, first: date, end: date
) -> tuple[dict[date, int], list[int]]:
    """Calls per local day (every day in [first, end), zeros included) and per local hour of day
    (24 values) from ``(quarter, count)`` pairs, ``quarter`` being seconds since the epoch // 900."""
    per_day = dict.fromkeys(days_between(first, end), 0)
    per_hour = [0] * 24
    for quarter, n in counts:
        local = datetime.fromtimestamp(quarter * QUARTER, UTC).astimezone(tz)
        if local.date() in per_day:
            per_day[local.date()] += n
        per_hour[local.hour] += n
    return per_day, per_hour


def anomalies_per_day(
    rows: Iterable[tuple[datetime, Sequence[Mapping[str, object]]]], tz: ZoneInfo
) -> dict[str, dict[date, int]]:
    """Per anomaly code, how many calls carried it on each local day (a call counts once per code)."""
    out: dict[str, dict[date, int]] = {}
    for at, anomalies in rows:
        day = at.astimezone(tz).date()
        for code in sorted({str(a.get("code") or "unknown") for a in anomalies}):
            per_day = out.setdefault(code, {})
            per_day[day] = per_day.get(day, 0) + 1
    return out


def longest_gap(times: Sequence[datetime], start: datetime, end: datetime) -> timedelta:
    """The longest stretch of [start, end) without a test call: between the start and the first
    call, between two calls, and between the last call and the end."""
    marks = [start, *sorted(t for t in times if start <= t < end), end]
    return max((b - a for a, b in pairwise(marks)), default=timedelta(0))
