"""Weekly schedules with holidays: the one answer to "is this instant inside the schedule?".

Pure functions over plain data (no database), shared by the registry, routing and alarms. Wall-clock
windows are read in an IANA timezone through ``zoneinfo``, so DST switches are handled by converting
the instant, never by adding fixed offsets. Must not import flask or sqlalchemy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

__all__ = [
    "ScheduleError",
    "WeeklySchedule",
    "Window",
    "check_timezone",
    "parse_windows",
    "window_lines",
    "windows_from_lines",
]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
#: a window written for people: days, then start-end (``mon-fri 08:00-18:00``, ``sat,sun 10:00-14:00``)
_WINDOW_LINE = re.compile(r"^(?P<days>.*?)\s+(?P<start>\S+?)\s*-\s*(?P<end>[^\s-]+)$")


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


def _parse_days(value: Any, where: str) -> frozenset[int]:
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value) if v]
    if not isinstance(value, list | tuple) or not value:
        raise ScheduleError(f"{where}: days must be a non-empty list")
    days: set[int] = set()
    for d in value:
        if isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6:
            days.add(d)
        elif isinstance(d, str) and d[:3].lower() in DAY_NAMES:
            days.add(DAY_NAMES.index(d[:3].lower()))
        else:
            raise ScheduleError(f"{where}: {d!r} is not a day (0-6 or mon..sun)")
    return frozenset(days)


def _window(item: Any, where: str) -> Window:
    if not isinstance(item, Mapping):
        raise ScheduleError(f"{where}: must be an object with days, start, end")
    start = _parse_time(item.get("start"), f"{where}: start")
    if start is None:
        raise ScheduleError(f"{where}: start cannot be 24:00")
    end = _parse_time(item.get("end"), f"{where}: end")
    return Window(_parse_days(item.get("days"), where), start, end)


def parse_windows(raw: Iterable[Mapping[str, Any]]) -> tuple[Window, ...]:
    """Validate the JSON form of windows (``{"days": [...], "start": "08:00", "end": "18:00"}``)."""
    return tuple(_window(item, f"window {i}") for i, item in enumerate(raw))


# --- the same windows written for people, one a line: ``mon-fri 08:00-18:00`` ----------------------


def _day(name: str, where: str) -> int:
    key = name.lower()
    if key in DAY_NAMES:
        return DAY_NAMES.index(key)
    if key in _FULL_DAY_NAMES:
        return _FULL_DAY_NAMES.index(key)
    raise ScheduleError(f"{where}: {name!r} is not a day (mon, tue, wed, thu, fri, sat, sun)")


def _days_from_text(text: str, where: str) -> list[int]:
    days: set[int] = set()
    # "mon - fri" reads as "mon-fri"; commas or spaces separate the parts
    for part in re.split(r"[,\s]+", re.sub(r"\s*-\s*", "-", text.strip())):
        if not part:
            continue
        first, dash, last = part.partition("-")
        lo = _day(first, where)
        hi = _day(last, where) if dash else lo
        # a range may run over the weekend: fri-mon is fri, sat, sun, mon
        days.update((lo + k) % 7 for k in range((hi - lo) % 7 + 1))
    if not days:
        raise ScheduleError(f"{where}: days are missing (e.g. mon-fri 08:00-18:00)")
    return sorted(days)


def _hhmm(value: str) -> str:
    """``8:00`` as ``08:00``; anything else is left for :func:`_parse_time` to judge."""
    return f"0{value}" if re.fullmatch(r"\d:\d\d", value) else value


def windows_from_lines(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Windows written one a line (``mon-fri 08:00-18:00``, ``sat 22:00-03:00``) in the JSON form.

    Days are names (``mon`` or ``monday``), lists (``sat,sun``) and ranges (``mon-fri``); an end at
    or before the start runs past midnight, ``24:00`` is the end of the day. The error names the line.
    """
    out: list[dict[str, Any]] = []
    for n, line in enumerate(lines, 1):
        where = f"line {n} ({line.strip()!r})"
        match = _WINDOW_LINE.match(line.strip())
        if match is None:
            raise ScheduleError(f"{where}: write days then start-end, e.g. mon-fri 08:00-18:00")
        item = {
            "days": _days_from_text(match["days"], where),
            "start": _hhmm(match["start"]),
            "end": _hhmm(match["end"]),
        }
        _window(item, where)
        out.append(item)
    return out


def _days_text(days: Iterable[int]) -> str:
    """Sorted days, consecutive runs of three or more as ranges: ``mon-fri``, ``sat,sun``."""
    parts: list[str] = []
    run: list[int] = []
    for day in [*sorted(days), None]:
        if run and (day is None or day != run[-1] + 1):
            names = [DAY_NAMES[d] for d in run]
            parts.append(f"{names[0]}-{names[-1]}" if len(run) >= 3 else ",".join(names))
            run = []
        if day is not None:
            run.append(day)
    return ",".join(parts)


def window_text(window: Window) -> str:
    end = "24:00" if window.end is None else window.end.strftime("%H:%M")
    return f"{_days_text(window.days)} {window.start.strftime('%H:%M')}-{end}"


def window_lines(raw: Iterable[Any]) -> list[str]:
    """Each stored window as a line :func:`windows_from_lines` reads back to the same window; one
    that is not valid (written before a rule tightened) is shown as its JSON, for an admin to fix."""
    lines = []
    for i, item in enumerate(raw):
        try:
            lines.append(window_text(_window(item, f"window {i}")))
        except ScheduleError:
            lines.append(json.dumps(item, ensure_ascii=False, sort_keys=True))
    return lines


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
