"""The reports' arithmetic: nearest-rank median and 90th percentile, quarter hours folded into local
days and hours (across a DST change and a half-hour zone), anomalies per day, longest test-call gap."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reports.stats import anomalies_per_day, fold_quarters, longest_gap, nearest_rank

BERLIN = ZoneInfo("Europe/Berlin")


def quarter(at: datetime) -> int:
    return int(at.timestamp()) // 900


def test_the_median_of_an_even_count_is_the_lower_middle_value_never_an_average() -> None:
    assert nearest_rank([40, 10, 30, 20], 50) == 20


def test_the_median_of_an_odd_count_is_the_middle_value() -> None:
    assert nearest_rank([600, 60, 120], 50) == 120


def test_the_90th_percentile_is_the_value_of_rank_ceil_0_9_n() -> None:
    assert nearest_rank(list(range(1, 11)), 90) == 9  # rank 9 of 10
    assert nearest_rank(list(range(1, 12)), 90) == 10  # ceil(9.9) = 10 of 11
    assert nearest_rank([60, 120, 600], 90) == 600  # ceil(2.7) = 3
    assert nearest_rank([5], 90) == 5


def test_no_values_give_no_percentile_and_a_percent_outside_0_to_100_is_refused() -> None:
    assert nearest_rank([], 50) is None
    with pytest.raises(ValueError):
        nearest_rank([1], 0)
    with pytest.raises(ValueError):
        nearest_rank([1], 101)


def test_quarter_hours_fold_into_local_days_and_hours_with_zero_days_kept() -> None:
    counts = [
        (quarter(datetime(2026, 11, 10, 9, 0, tzinfo=UTC)), 2),  # 10:00 in Berlin
        (quarter(datetime(2026, 11, 10, 23, 30, tzinfo=UTC)), 1),  # 00:30 on the 11th in Berlin
    ]
    per_day, per_hour = fold_quarters(counts, BERLIN, date(2026, 11, 10), date(2026, 11, 13))
    assert per_day == {date(2026, 11, 10): 2, date(2026, 11, 11): 1, date(2026, 11, 12): 0}
    assert per_hour[10] == 2 and per_hour[0] == 1 and sum(per_hour) == 3


def test_folding_follows_summer_time_and_half_hour_zones() -> None:
    summer = quarter(datetime(2026, 7, 1, 9, 0, tzinfo=UTC))  # CEST: 11:00
    _, per_hour = fold_quarters([(summer, 1)], BERLIN, date(2026, 7, 1), date(2026, 7, 2))
    assert per_hour[11] == 1
    india = quarter(datetime(2026, 7, 1, 9, 45, tzinfo=UTC))  # +05:30: 15:15
    _, per_hour = fold_quarters([(india, 1)], ZoneInfo("Asia/Kolkata"), date(2026, 7, 1), date(2026, 7, 2))
    assert per_hour[15] == 1


def test_calls_outside_the_days_still_count_per_hour_but_not_per_day() -> None:
    counts = [(quarter(datetime(2026, 11, 20, 8, 0, tzinfo=UTC)), 4)]
    per_day, per_hour = fold_quarters(counts, ZoneInfo("UTC"), date(2026, 11, 1), date(2026, 11, 2))
    assert per_day == {date(2026, 11, 1): 0} and per_hour[8] == 4


def test_anomalies_count_each_call_once_per_code_and_local_day() -> None:
    rows = [
        (datetime(2026, 11, 10, 23, 30, tzinfo=UTC), [{"code": "wrong_trunk"}, {"code": "wrong_trunk"}]),
        (datetime(2026, 11, 11, 8, 0, tzinfo=UTC), [{"code": "wrong_trunk"}, {"code": "no_ani"}]),
    ]
    assert anomalies_per_day(rows, BERLIN) == {
        "wrong_trunk": {date(2026, 11, 11): 2},
        "no_ani": {date(2026, 11, 11): 1},
    }


def test_the_longest_gap_counts_from_the_start_between_calls_and_to_the_end() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    end = start + timedelta(days=10)
    calls = [start + timedelta(days=1), start + timedelta(days=5), start + timedelta(days=6)]
    assert longest_gap(calls, start, end) == timedelta(days=4)
    assert longest_gap([], start, end) == timedelta(days=10)
    assert longest_gap([start + timedelta(days=1)], start, end) == timedelta(days=9)
