"""ANI normalisation: every written form of a number gives the same E.164; bad numbers say why."""

from __future__ import annotations

import pytest

from registry.numbers import InvalidNumber, line_type, normalise_ani, number_region

BERLIN = "+493012345678"


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("+49 30 12345678", None),
        ("+49 (0)30 1234-5678".replace("(0)", ""), None),
        ("030 12345678", "DE"),
        ("03012345678", "DE"),
        ("0049 30 12345678", "DE"),
        ("004930 12345678", None),
        ("4930 12345678", "DE"),
        ("tel:+49-30-1234-5678", None),
        ("tel:+49.30.(1234).5678", None),
        ("<tel:+493012345678>", None),
        ("sip:+493012345678@trunk.example;user=phone", None),
        ("sips:+493012345678@trunk.example:5061;user=phone", None),
        ("<sip:%2B493012345678@10.0.0.1;user=phone>", None),
        ("sip:03012345678@pbx.example", "DE"),
        ("  +49 30 1234 5678  ", "GB"),
    ],
)
def test_every_form_normalises_to_the_same_e164(raw: str, region: str | None) -> None:
    assert normalise_ani(raw, region) == BERLIN


def test_national_form_depends_on_region() -> None:
    assert normalise_ani("020 7946 0958", "GB") == "+442079460958"
    assert normalise_ani("(212) 555-0100", "US") == "+12125550100"


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("", "DE", "no number given"),
        ("lift three", "DE", r"only digits and \+ allowed"),
        ("123", "DE", "too short"),
        ("+49 30", None, "too short"),
        ("+999 12345678", None, "country code"),
        ("+49 30 1234567890123456", None, "too long"),
        ("+49 10 12345678", None, "not a valid number in the numbering plan of DE"),
        ("sip:reception.example", None, "without a user part"),
    ],
)
def test_impossible_numbers_are_refused_with_a_reason(raw: str, region: str | None, reason: str) -> None:
    with pytest.raises(InvalidNumber, match=reason):
        normalise_ani(raw, region)


def test_region_and_line_type() -> None:
    assert number_region(BERLIN) == "DE"
    assert line_type(BERLIN) == "fixed"
    assert line_type("+4915112345678") == "mobile"
