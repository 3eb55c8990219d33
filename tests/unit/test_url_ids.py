"""The ``<id:...>`` URL converter's pattern: exactly the decimal numbers 1..MAX_ID."""

from __future__ import annotations

import re

import pytest

from registry.db import MAX_ID
from webcore.urls import IdConverter, range_regex


@pytest.mark.parametrize("high", [1, 5, 9, 10, 47, 100, 1000, 2019, 65535])
def test_the_pattern_matches_exactly_one_to_high(high: int) -> None:
    pattern = re.compile(range_regex(high))
    for n in range(0, 3 * high + 20):
        assert bool(pattern.fullmatch(str(n))) == (1 <= n <= high), n


def test_the_id_pattern_stops_at_the_largest_database_id() -> None:
    pattern = re.compile(IdConverter.regex)
    for ok in ("1", "9", "10", "999999999", "1000000000", "2147483639", "2147483646", str(MAX_ID)):
        assert pattern.fullmatch(ok), ok
    for bad in (
        "0",
        "007",
        "-1",
        "+1",
        "2147483648",
        "2147483650",
        "3000000000",
        "9999999999",
        str(2**63),
        str(2**64),
        "١٢",
        "1e3",
        "",
    ):
        assert not pattern.fullmatch(bad), bad
