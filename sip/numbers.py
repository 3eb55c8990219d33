"""Caller numbers to E.164 (RFC 3966 §5.1.1 visual separators, §5.1.5 phone-context): the SIP
edge's standalone twin of registry/numbers.py (same result for the same input).
stdlib + phonenumbers only, no project imports.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, ValidationResult

from sip.grammar import Uri

__all__ = ["number_from_uri", "number_text_of", "to_e164"]

# RFC 3966 §3: visual-separator = "-" / "." / "(" / ")"; people also write spaces and "/"
_SEPARATORS_RE = re.compile(r"[\s\-.()/]")
_DIGITS_RE = re.compile(r"\+?[0-9]{1,20}")
# E.164: "+", a country code not starting with 0, at most 15 digits in all (ITU-T E.164 §6)
_E164_RE = re.compile(r"\+[1-9][0-9]{6,14}")


# phonenumbers costs tens of µs per number; the same lifts call again and again
@lru_cache(maxsize=131072)  # one entry per known number and region: a lift estate fits
def to_e164(raw: str | None, region: str | None = None) -> str | None:
    """``+4930...`` for any written form of a telephone number, or None when it is not one.

    National forms (``030...``) are read with ``region``; ``00``/IDD prefixes and international
    numbers written without ``+`` (``4930...``) are understood as registry/numbers.py does. A
    number that is possible but not (yet) valid in its plan is still returned: routing decides.
    """
    if not raw:
        return None
    text = _SEPARATORS_RE.sub("", raw)
    if _E164_RE.fullmatch(text):
        # already in E.164, as trunks send PAI: no plan lookup on the hot path (35 µs a number).
        # Whether such a number is valid in its plan only matters once it is not a known device.
        return text
    if not _DIGITS_RE.fullmatch(text):
        return None
    region = (region or "").upper() or None
    candidates: list[tuple[str, str | None]]
    if text.startswith("+"):
        candidates = [(text, None)]
    elif region is None:
        candidates = [("+" + (text[2:] if text.startswith("00") else text), None)]
    else:
        candidates = [(text, region)]
        if not text.startswith("0"):
            candidates.append(("+" + text, None))  # "4930...": international without its "+"
    possible: str | None = None
    for number_text, number_region in candidates:
        try:
            number = phonenumbers.parse(number_text, number_region)
        except NumberParseException:
            continue
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if phonenumbers.is_valid_number(number):
            return e164
        reason = phonenumbers.is_possible_number_with_reason(number)
        if possible is None and reason == ValidationResult.IS_POSSIBLE:
            possible = e164
    return possible


def _context_region(context: str, default: str | None) -> str | None:
    """The region named by a global-number phone-context (``+49`` → DE), else ``default``."""
    digits = _SEPARATORS_RE.sub("", context)
    if not digits.startswith("+") or not (digits[1:].isascii() and digits[1:].isdigit()):
        return default
    for size in (1, 2, 3):
        region = phonenumbers.region_code_for_country_code(int(digits[1 : 1 + size] or "0"))
        if region != "ZZ":
            return str(region)
    return default


def number_text_of(uri: Uri) -> str | None:
    """The telephone-subscriber text of a tel URI or the user part of a sip/sips URI (no params)."""
    if uri.user is None:
        return None
    # RFC 3261 §19.1.1 / RFC 4694: user parameters (;npdi;rn=...) may follow the number
    return uri.user.split(";", 1)[0] or None


def number_from_uri(uri: Uri, region: str | None) -> str | None:
    """E.164 number carried by a tel URI, or by the user part of a sip/sips URI; else None."""
    if uri.scheme not in ("tel", "sip", "sips"):
        return None
    text = number_text_of(uri)
    if text is None:
        return None
    if uri.scheme == "tel" and not text.startswith("+"):
        context = uri.params.get("phone-context")
        if context:
            region = _context_region(context, region)
    return to_e164(text, region)
