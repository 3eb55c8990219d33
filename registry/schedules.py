"""Weekly schedules with holidays: the one answer to "is this instant inside the schedule?".

Pure functions over plain data (no database), shared by the registry, routing and alarms. Wall-clock
windows are read in an IANA timezone through ``zoneinfo``, so DST switches are handled by converting
the instant, never by adding fixed offsets. Must not import flask or sqlalchemy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

__all__ = ["ScheduleError", "WeeklySchedule", "Window", "check_timezone", "parse_windows"]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


class ScheduleError(ValueError):
    """A schedule definition that cannot be used; the message says which part."""


@dataclass(frozen=True, slots=True)
class Window:
    """Days (Monday = 0) and a wall-clock span; ``end <= start`` runs past midnight."""

    days: frozenset[int]
    start: time
    end: time | None  # None means 24:00

    @property
    def crosses_midnight(self) -> bool:
        return self.end is not None and self.end <= self.start

    def contains(self, local: datetime) -> bool:
        t = local.time()
        wd = local.weekday()
        if self.crosses_midnight:
            assert self.end is not None
            # the part after midnight belongs to the day the window started
            return (wd in self.days and t >= self.start) or ((wd - 1) % 7 in self.days and t < self.end)
        return wd in self.days and t >= self.start and (self.end is None or t < self.end)


def _parse_time(value: Any, what: str) -> time | None:
    if not isinstance(value, str) or not _HHMM.match(value):
        raise ScheduleError(f"{what} must be HH:MM (00:00 to 24:00), got {value!r}")
    if value == "24:00":
        return None
    h, m = value.split(":")
    return time(int(h), int(m))


def _parse_days(value: Any, index: int) -> frozenset[int]:
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value) if v]
    if not isinstance(value, list | tuple) or not value:
        raise ScheduleError(f"window {index}: days must be a non-empty list")
    days: set[int] = set()
    for d in value:
        if isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6:
            days.add(d)
        elif isinstance(d, str) and d[:3].lower() in DAY_NAMES:
            days.add(DAY_NAMES.index(d[:3].lower()))
        else:
            raise ScheduleError(f"window {index}: {d!r} is not a day (0-6 or mon..sun)")
    return frozenset(days)


def parse_windows(raw: Iterable[Mapping[str, Any]]) -> tuple[Window, ...]:
    """Validate the JSON form of windows (``{"days": [...], "start": "08:00", "end": "18:00"}``)."""
    windows = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise ScheduleError(f"window {i}: must be an object with days, start, end")
        start = _parse_time(item.get("start"), f"window {i}: start")
        if start is None:
            raise ScheduleError(f"window {i}: start cannot be 24:00")
        end = _parse_time(item.get("end"), f"window {i}: end")
        windows.append(Window(_parse_days(item.get("days"), i), start, end))
    return tuple(windows)


def parse_holidays(raw: Iterable[Any]) -> frozenset[date]:
    out = set()
    for value in raw:
        try:
            out.add(value if isinstance(value, date) else date.fromisoformat(str(value)))
        except ValueError as exc:
            raise ScheduleError(f"holiday {value!r} is not an ISO date (YYYY-MM-DD)") from exc
    return frozenset(out)


def check_timezone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name, or ScheduleError naming the bad value."""
    if not name or name not in _zones():
        raise ScheduleError(f"{name!r} is not an IANA timezone (e.g. Europe/Berlin)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # pragma: no cover - guarded above
        raise ScheduleError(f"{name!r} is not an IANA timezone") from exc


_ZONES: frozenset[str] | None = None


def _zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """Windows and holidays, evaluated in ``tz``. On a holiday no window applies."""

    windows: tuple[Window, ...]
    holidays: frozenset[date]
    tz: ZoneInfo

    @classmethod
    def build(
        cls,
        windows: Iterable[Mapping[str, Any]],
        timezone: str,
        holidays: Iterable[Any] = (),
        extra_holidays: Sequence[Any] = (),
    ) -> WeeklySchedule:
        return cls(
            parse_windows(windows),
            parse_holidays([*holidays, *extra_holidays]),
            check_timezone(timezone),
        )

    def contains(self, instant: datetime) -> bool:
        """Whether the aware ``instant`` falls inside a window in the schedule's timezone."""
        if instant.tzinfo is None:
            raise ValueError("instant must be timezone-aware")
        local = instant.astimezone(self.tz)
        for w in self.windows:
            if not w.contains(local):
                continue
            # a window that began yesterday is governed by yesterday's holiday status
            started = local.date()
            if (
                w.crosses_midnight
                and w.end is not None
                and local.time() < w.end
                and not (local.weekday() in w.days and local.time() >= w.start)
            ):
                started = started - timedelta(days=1)
            if started not in self.holidays:
                return True
        return False
