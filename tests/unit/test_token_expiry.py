"""``--expires`` and the token page's expiry field: durations from now, dates, date-times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from registry.accounts import parse_expiry
from registry.errors import ValidationFailed

NOW = datetime(2026, 11, 27, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("  ", None),
        (None, None),
        ("12h", NOW + timedelta(hours=12)),
        ("30d", NOW + timedelta(days=30)),
        ("30D", NOW + timedelta(days=30)),
        ("2w", NOW + timedelta(weeks=2)),
        ("2027-01-01", datetime(2027, 1, 1, tzinfo=UTC)),
        ("2027-01-01T08:00:00+01:00", datetime(2027, 1, 1, 7, tzinfo=UTC)),
    ],
)
def test_expiry_forms(text: str | None, expected: datetime | None) -> None:
    assert parse_expiry(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("soon", "'soon' is neither a duration (12h, 30d, 2w) nor a date (2027-01-01)"),
        ("30m", "'30m' is neither a duration (12h, 30d, 2w) nor a date (2027-01-01)"),
        ("2027-02-30", "'2027-02-30' is neither a duration (12h, 30d, 2w) nor a date (2027-01-01)"),
        ("0d", "the expiry is in the past"),
        ("2026-11-27", "the expiry is in the past"),
        ("2027-01-01T08:00:00", "a date-time needs its UTC offset, e.g. 2027-01-01T00:00+00:00"),
        ("999999w", "the expiry is too far away"),
    ],
)
def test_bad_expiries_say_why(text: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        parse_expiry(text, NOW)
    assert err.value.errors == {"expires": message}
