"""ANI normalisation to E.164 with ``phonenumbers``: every written form of a number, one key.

Accepts ``+49 30 1234567``, ``030 1234567`` (with a region), ``0049...``, ``4930...``,
``tel:+49-30-1234567`` (RFC 3966 visual separators) and ``sip:+4930...@host;user=phone``.
Must not import flask.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult

__all__ = ["InvalidNumber", "describe_number", "line_type", "normalise_ani", "number_region"]

# phonenumbers compiles its metadata patterns with re.compile at every use, more than the re module's
# small cache keeps when numbers come from several regions; keeping them all makes a number check
# about a quarter faster (CSV imports validate hundreds of thousands). A memo, no I/O.
phonenumbers.enable_pattern_cache()


class InvalidNumber(ValueError):
    """A number that cannot be a real telephone number; the message says why."""


_URI = re.compile(r"^\s*<?\s*(?P<scheme>sips?|tel):(?P<rest>[^>]*)>?\s*$", re.IGNORECASE)
_VISUAL_SEPARATORS = re.compile(r"[\s\-.()/]")
_POSSIBLE_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "the country code does not exist",
    ValidationResult.TOO_SHORT: "too short to be a telephone number",
    ValidationResult.TOO_LONG: "too long to be a telephone number",
    ValidationResult.INVALID_LENGTH: "has an impossible length for its country",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "is too short: a local number needs its area code",
}
_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: (
        "has no country code that exists (write +<country code> or give a region)"
    ),
    NumberParseException.TOO_LONG: "too long to be a telephone number",
    NumberParseException.TOO_SHORT_NSN: "too short to be a telephone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short to be a telephone number",
    NumberParseException.NOT_A_NUMBER: "is not a telephone number",
}
_LINE_TYPES = {
    PhoneNumberType.FIXED_LINE: "fixed",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.UAN: "uan",
}


def _strip_uri(raw: str) -> str:
    """The telephone-subscriber part of a tel, sip or sips URI; other text unchanged."""
    m = _URI.match(raw)
    if not m:
        return raw
    rest = m.group("rest")
    if m.group("scheme").lower() == "tel":
        # RFC 3966: telephone-subscriber, then ;params (phone-context, isub, ext ...)
        return unquote(rest.split(";", 1)[0])
    # RFC 3261 §19.1.1: userinfo before '@'; user parameters after ';' inside the user part
    if "@" not in rest:
        raise InvalidNumber("a SIP URI without a user part carries no number")
    user = rest.split("@", 1)[0].split(":", 1)[0]
    return unquote(user.split(";", 1)[0])


def _parse(raw: str, region: str | None) -> phonenumbers.PhoneNumber:
    if raw is None or not str(raw).strip():
        raise InvalidNumber("no number given")
    text = _strip_uri(str(raw).strip())
    compact = _VISUAL_SEPARATORS.sub("", text)
    if not compact:
        raise InvalidNumber("no number given")
    if not re.fullmatch(r"\+?[0-9]+", compact):
        raise InvalidNumber(f"{raw!r} is not a telephone number (only digits and + allowed)")
    region = (region or "").upper() or None
    if not compact.startswith("+") and region is None:
        compact = "+" + compact.lstrip("0") if compact.startswith("00") else compact
    try:
        number = phonenumbers.parse(compact, region)
    except NumberParseException as exc:
        retry = _without_plus(compact, raw)
        if retry is not None:
            return retry
        why = _PARSE_REASONS.get(exc.error_type, "cannot be read as a telephone number")
        raise InvalidNumber(f"{raw!r} {why}") from exc
    try:
        return _validated(number, raw)
    except InvalidNumber:
        retry = None if compact.startswith("0") else _without_plus(compact, raw)
        if retry is None:
            raise
        return retry


def _without_plus(compact: str, raw: str) -> phonenumbers.PhoneNumber | None:
    """``4930...``: a number in international form written without its ``+``, if it is one."""
    if compact.startswith("+"):
        return None
    try:
        return _validated(phonenumbers.parse("+" + compact, None), raw)
    except (NumberParseException, InvalidNumber):
        return None
        try:
            return _validated(phonenumbers.parse("+" + compact, None), raw)
        except (NumberParseException, InvalidNumber):
            pass
        raise


def _validated(number: phonenumbers.PhoneNumber, raw: str) -> phonenumbers.PhoneNumber:
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != ValidationResult.IS_POSSIBLE:
        raise InvalidNumber(f"{raw!r} {_POSSIBLE_REASONS.get(reason, 'is not possible')}")
    if not phonenumbers.is_valid_number(number):
        region = phonenumbers.region_code_for_country_code(number.country_code or 0)
        raise InvalidNumber(
            f"{raw!r} is not a valid number in the numbering plan of {region} (+{number.country_code})"
        )
    return number


def normalise_ani(raw: str, region: str | None = None) -> str:
    """E.164 form (``+4930...``) of ``raw``, read with ``region`` for national forms.

    Raises :class:`InvalidNumber` with a message that says what is wrong.
    """
    number = _parse(raw, region)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def number_region(e164: str) -> str | None:
    """ISO region of an E.164 number (``DE``), or None when the plan is shared and unclear."""
    number = phonenumbers.parse(e164, None)
    return phonenumbers.region_code_for_number(number)


def line_type(e164: str) -> str:
    """``fixed``, ``mobile``, ``voip``... or ``unknown``."""
    number = phonenumbers.parse(e164, None)
    return _LINE_TYPES.get(phonenumbers.number_type(number), "unknown")


def describe_number(e164: str) -> tuple[str | None, str]:
    """Region and line type of an E.164 number in one parse: ``("DE", "fixed")``.

    Never raises: a number phonenumbers cannot read gives ``(None, "unknown")``.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return None, "unknown"
    # a number not (yet) valid in its plan still tells its country by the country code
    region: str | None = phonenumbers.region_code_for_number(number)
    if not region and number.country_code is not None:
        region = phonenumbers.region_code_for_country_code(number.country_code)
    if region in ("ZZ", "001"):  # unknown code, or a non-geographic one (satellite, UIFN)
        region = None
    return region, _LINE_TYPES.get(phonenumbers.number_type(number), "unknown")
