"""Schedules answer "is this instant inside?" in the site's timezone, on both sides of DST switches."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from registry.schedules import ScheduleError, WeeklySchedule, window_lines, windows_from_lines

EVERY_DAY_8_TO_18 = [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "08:00", "end": "18:00"}]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("instant", "inside"),
    [
        # Berlin, spring forward on Sunday 2026-03-29 at 01:00 UTC (02:00 CET -> 03:00 CEST)
        ("2026-03-28T06:30", False),  # Saturday 07:30 CET: before opening
        ("2026-03-28T07:00", True),  # Saturday 08:00 CET
        ("2026-03-29T05:59", False),  # Sunday 07:59 CEST
        ("2026-03-29T06:00", True),  # Sunday 08:00 CEST: one hour earlier in UTC than the day before
        ("2026-03-29T16:00", False),  # Sunday 18:00 CEST: closed
        ("2026-03-28T16:30", True),  # Saturday 17:30 CET
        # fall back on Sunday 2026-10-25 at 01:00 UTC (03:00 CEST -> 02:00 CET)
        ("2026-10-24T06:00", True),  # Saturday 08:00 CEST
        ("2026-10-25T06:30", False),  # Sunday 07:30 CET
        ("2026-10-25T07:00", True),  # Sunday 08:00 CET
        ("2026-10-25T16:59", True),  # Sunday 17:59 CET
        ("2026-10-25T17:00", False),  # Sunday 18:00 CET
    ],
)
def test_dst_switch_berlin(instant: str, inside: bool) -> None:
    schedule = WeeklySchedule.build(EVERY_DAY_8_TO_18, "Europe/Berlin")
    assert schedule.contains(utc(instant)) is inside


def test_dst_switch_new_york_differs_from_europe() -> None:
    # the US springs forward on 2026-03-08; Europe three weeks later
    schedule = WeeklySchedule.build(EVERY_DAY_8_TO_18, "America/New_York")
    assert schedule.contains(utc("2026-03-07T12:59")) is False  # 07:59 EST
    assert schedule.contains(utc("2026-03-07T13:00")) is True  # 08:00 EST
    assert schedule.contains(utc("2026-03-08T12:00")) is True  # 08:00 EDT


def test_window_across_the_night_of_the_switch() -> None:
    night = WeeklySchedule.build([{"days": ["sat"], "start": "22:00", "end": "06:00"}], "Europe/Berlin")
    assert night.contains(utc("2026-03-28T21:00")) is True  # Sat 22:00 CET
    assert night.contains(utc("2026-03-29T01:30")) is True  # Sun 03:30 CEST, inside
    assert night.contains(utc("2026-03-29T03:59")) is True  # Sun 05:59 CEST
    assert night.contains(utc("2026-03-29T04:00")) is False  # Sun 06:00 CEST
    assert night.contains(utc("2026-03-29T21:00")) is False  # Sun 23:00: not a Saturday start


def test_holidays_close_the_whole_day_and_the_night_that_started_on_it() -> None:
    schedule = WeeklySchedule.build(
        [*EVERY_DAY_8_TO_18, {"days": [3], "start": "22:00", "end": "02:00"}],
        "Europe/Berlin",
        holidays=["2026-12-24"],  # a Thursday
    )
    assert schedule.contains(utc("2026-12-24T10:00")) is False
    assert schedule.contains(utc("2026-12-24T21:30")) is False  # Thu 22:30 on the holiday
    assert schedule.contains(utc("2026-12-25T00:30")) is False  # Fri 01:30, night began on holiday
    assert schedule.contains(utc("2026-12-23T10:00")) is True
    assert schedule.contains(utc("2026-12-31T21:30")) is True  # a normal Thursday night


def test_24_00_end_and_naive_instants() -> None:
    schedule = WeeklySchedule.build([{"days": "mon,tue", "start": "00:00", "end": "24:00"}], "UTC")
    assert schedule.contains(utc("2026-11-30T23:59")) is True
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.contains(datetime(2026, 11, 30, 12))


@pytest.mark.parametrize(
    ("windows", "tz", "message"),
    [
        ([{"days": [7], "start": "08:00", "end": "18:00"}], "UTC", "is not a day"),
        ([{"days": [1], "start": "8am", "end": "18:00"}], "UTC", "must be HH:MM"),
        ([{"days": [], "start": "08:00", "end": "18:00"}], "UTC", "non-empty"),
        ([{"days": [1], "start": "24:00", "end": "18:00"}], "UTC", "cannot be 24:00"),
        (EVERY_DAY_8_TO_18, "Mars/Olympus", "not an IANA timezone"),
    ],
)
def test_bad_definitions_are_refused(windows: list, tz: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        WeeklySchedule.build(windows, tz)


def test_bad_holiday_is_refused() -> None:
    with pytest.raises(ScheduleError, match="ISO date"):
        WeeklySchedule.build(EVERY_DAY_8_TO_18, "UTC", holidays=["24.12.2026"])


@pytest.mark.parametrize(
    ("written", "shown", "window"),
    [
        (
            "mon-fri 08:00-18:00",
            "mon-fri 08:00-18:00",
            {"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "18:00"},
        ),
        ("sat 22:00-03:00", "sat 22:00-03:00", {"days": [5], "start": "22:00", "end": "03:00"}),
        (
            "Saturday, SUN 8:00 - 24:00",
            "sat,sun 08:00-24:00",
            {"days": [5, 6], "start": "08:00", "end": "24:00"},
        ),
        (
            "fri-mon 10:00-11:00",
            "mon,fri-sun 10:00-11:00",
            {"days": [0, 4, 5, 6], "start": "10:00", "end": "11:00"},
        ),
        (
            "mon - sun 00:00-24:00",
            "mon-sun 00:00-24:00",
            {"days": list(range(7)), "start": "00:00", "end": "24:00"},
        ),
    ],
)
def test_windows_written_for_people_read_back_the_same(written: str, shown: str, window: dict) -> None:
    assert windows_from_lines([written]) == [window]
    assert window_lines([window]) == [shown]
    assert windows_from_lines([shown]) == [window]


def test_stored_windows_in_any_accepted_form_are_shown_and_a_broken_one_as_json() -> None:
    assert window_lines([{"days": ["mon", "tue", 2], "start": "07:00", "end": "19:00"}]) == [
        "mon-wed 07:00-19:00"
    ]
    assert window_lines([{"days": [9], "start": "07:00", "end": "19:00"}]) == [
        '{"days": [9], "end": "19:00", "start": "07:00"}'
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("mon-fri", "write days then start-end"),
        ("08:00-18:00", "write days then start-end"),
        ("mon-fry 08:00-18:00", "'fry' is not a day"),
        ("mon 25:00-18:00", "start must be HH:MM"),
        ("mon 24:00-01:00", "start cannot be 24:00"),
    ],
)
def test_a_bad_line_is_named(line: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=rf"^line 2 \({re.escape(repr(line))}\): .*{message}"):
        windows_from_lines(["mon 08:00-09:00", line])
