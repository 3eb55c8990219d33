"""Caller identity (RFC 3325, 3323, 8496, 5806, 7044, 8224/8225/8588): identify() picks the ANI by
trunk trust, reads privacy and forwarding, decodes and verifies the STIR/SHAKEN PASSporT.
Pure (no I/O, ``now`` passed in): stdlib, phonenumbers and cryptography only, no project imports.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from sip.grammar import NameAddr, SipError, error_detail, parse_name_addr
from sip.message import Request
from sip.numbers import number_from_uri, number_text_of, to_e164

__all__ = [
    "ANI_SOURCES",
    "STALE_IAT_S",
    "Attestation",
    "CallerIdentity",
    "TrunkView",
    "identify",
]

ANI_SOURCES = ("pai", "pci", "rpid", "from")
# RFC 8224 §6.2.1 / ATIS-1000074: a PASSporT older than this is stale
STALE_IAT_S = 60.0
# RFC 3323 §4.2: the privacy types that withhold the caller's identity
_HIDING_PRIVACY = frozenset({"id", "user", "header"})
# draft-ietf-sip-privacy-04 (Remote-Party-ID): rpi-privacy = "full" / "name" / "uri" / "off"
_RPID_HIDING = frozenset({"full", "name", "uri"})
_TRUSTED_SOURCES = frozenset({"pai-tel", "pai-sip", "pci", "rpid"})


@dataclass(frozen=True)
class TrunkView:
    """What identify() needs to know about the trunk a request came in on.

    ``trusted``: the source address is inside our trust domain (RFC 3325 §2.3), so PAI, PCI and
    RPID are believed. ``ani_header``: the header this carrier puts the ANI in ('pai', 'pci',
    'rpid' or 'from'), tried first. ``region``: ISO region for national numbers ("DE").
    ``expects_attestation``: the carrier signs calls (STIR/SHAKEN), so a missing one is a problem.
    """

    name: str
    trusted: bool
    ani_header: str = "pai"
    region: str = ""
    expects_attestation: bool = False


@dataclass(frozen=True)
class Attestation:
    """The STIR/SHAKEN view of the call (RFC 8224, 8225, 8588; ATIS-1000074 verstat).

    ``verified``: True (signature checks against the certificate in the trust store), False (it
    does not, or the PASSporT cannot be checked), None (not verified: no certificate available).
    """

    present: bool = False
    attest: str | None = None
    origid: str | None = None
    orig_tn: str | None = None
    dest_tns: tuple[str, ...] = ()
    iat: int | None = None
    age_s: float | None = None
    verstat: str | None = None
    verified: bool | None = None
    problem: str | None = None


@dataclass(frozen=True)
class CallerIdentity:
    """Who called, as far as the request tells: the routing key (``ani``) and what to show.

    ``ani`` is E.164 and comes from ``ani_source`` ('pai-tel', 'pai-sip', 'pci', 'rpid', 'from'
    or None). ``presented_number`` and ``display_name`` are the caller ID of From. ``hidden``:
    the caller asked for privacy, so untrusted viewers must not see number or name.
    ``verified_identity`` is False when the number came from From or from an untrusted trunk.
    """

    ani: str | None
    ani_source: str | None
    ani_raw: str | None
    presented_number: str | None
    display_name: str | None
    privacy: frozenset[str]
    hidden: bool
    verified_identity: bool
    attestation: Attestation = field(default_factory=Attestation)
    diversion: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


def identify(
    req: Request,
    trunk: TrunkView,
    *,
    now: float,
    trust_store: Mapping[str, bytes] | None = None,
) -> CallerIdentity:
    """The caller identity of ``req`` as received on ``trunk`` at ``now`` (epoch seconds).

    Sources are tried with the trunk's configured header first, then P-Asserted-Identity (a tel
    URI preferred over a sip one, RFC 3325 §9.1), P-Charge-Info (RFC 8496), Remote-Party-ID
    (party=calling), From. An untrusted trunk's PAI/PCI/RPID are ignored. ``trust_store`` maps
    certificate URLs (PASSporT ``x5u`` / Identity ``info``) to PEM bytes. Never raises for
    anything in the request: what cannot be read is reported in ``problems``.
    """
    headers = req.headers
    problems: list[str] = []
    region = trunk.region or None

    privacy = _privacy(req, problems)
    from_na = _address(req, "From", problems)
    anonymous = from_na is None or _is_anonymous(from_na)
    presented: str | None = None
    if from_na is not None and not anonymous:
        presented = number_from_uri(from_na.uri, region) or number_text_of(from_na.uri)

    if trunk.trusted:
        if trunk.ani_header in ANI_SOURCES:
            order = [trunk.ani_header, *(s for s in ANI_SOURCES if s != trunk.ani_header)]
        else:
            problems.append(f"trunk {trunk.name}: unknown ani_header {trunk.ani_header!r}")
            order = list(ANI_SOURCES)
    else:
        ignored = [n for n in ("P-Asserted-Identity", "P-Charge-Info", "Remote-Party-ID") if n in headers]
        if ignored:
            problems.append(f"untrusted trunk {trunk.name}: {', '.join(ignored)} ignored")
        order = ["from"]

    ani: str | None = None
    ani_source: str | None = None
    ani_na: NameAddr | None = None
    for source in order:
        for label, na in _candidates(source, req, from_na, anonymous, problems):
            number = number_from_uri(na.uri, region)
            if number is None:
                problems.append(f"{label}: {na.uri.raw!r} carries no telephone number")
                continue
            ani, ani_source, ani_na = number, label, na
            break
        if ani is not None:
            break

    rpid_privacy, rpid_screen = _rpid_flags(req) if trunk.trusted else (None, None)
    verified_identity = ani_source in _TRUSTED_SOURCES and trunk.trusted
    if ani_source == "rpid" and rpid_screen == "no":
        problems.append("Remote-Party-ID screen=no: number not screened by the network")
        verified_identity = False

    display = from_na.display if from_na is not None else None
    if display is None and not anonymous and ani_na is not None:
        display = ani_na.display
    hidden = anonymous or bool(privacy & _HIDING_PRIVACY) or rpid_privacy in _RPID_HIDING

    attestation = _attestation(req, trunk, ani, now, trust_store, problems)
    return CallerIdentity(
        ani=ani,
        ani_source=ani_source,
        ani_raw=ani_na.uri.raw if ani_na is not None else None,
        presented_number=presented,
        display_name=display,
        privacy=privacy,
        hidden=hidden,
        verified_identity=verified_identity,
        attestation=attestation,
        diversion=_diversion(req, region, problems),
        problems=tuple(problems),
    )


# -- header readers (each reports what it cannot read instead of raising) -----------------------


def _values(req: Request, name: str, problems: list[str]) -> list[str]:
    try:
        return req.headers.get_all(name)
    except SipError as exc:
        problems.append(f"{name}: {error_detail(exc)}")
        return []


def _address(req: Request, name: str, problems: list[str]) -> NameAddr | None:
    if name not in req.headers:
        return None
    try:
        return req.headers.name_addr(name)
    except SipError as exc:
        problems.append(error_detail(exc))
        return None


def _addresses(req: Request, name: str, problems: list[str]) -> list[NameAddr]:
    out = []
    for value in _values(req, name, problems):
        try:
            out.append(parse_name_addr(value))
        except SipError as exc:
            problems.append(f"{name}: {error_detail(exc)}")
    return out


def _privacy(req: Request, problems: list[str]) -> frozenset[str]:
    # RFC 3323 §4.2: Privacy-hdr = "Privacy" HCOLON priv-value *(";" priv-value); commas seen too
    try:
        values = req.headers.get_all("Privacy")
    except SipError as exc:
        # a value that cannot be split as a list (a stray quote) still asks for privacy: read the
        # rows as written, or one bad character would show a caller who asked to be hidden
        problems.append(f"Privacy: {error_detail(exc)}")
        values = [value for name, value in req.headers.raw() if name.lower() == "privacy"]
    tokens: set[str] = set()
    for value in values:
        tokens.update(t.strip(" \t").lower() for t in re.split(r"[;,]", value) if t.strip(" \t"))
    return frozenset(tokens)


def _is_anonymous(na: NameAddr) -> bool:
    # RFC 3323 §4.1.1.3: "Anonymous" <sip:anonymous@anonymous.invalid>
    uri = na.uri
    return (uri.user or "").lower() == "anonymous" or uri.host.lower() == "anonymous.invalid"


def _candidates(
    source: str, req: Request, from_na: NameAddr | None, anonymous: bool, problems: list[str]
) -> Iterator[tuple[str, NameAddr]]:
    if source == "pai":
        # RFC 3325 §9.1: one sip/sips URI, one tel URI, or one of each; prefer the tel URI
        values = _addresses(req, "P-Asserted-Identity", problems)
        yield from (("pai-tel", na) for na in values if na.uri.scheme == "tel")
        yield from (("pai-sip", na) for na in values if na.uri.scheme in ("sip", "sips"))
    elif source == "pci":
        na = _address(req, "P-Charge-Info", problems)
        if na is not None:
            yield "pci", na
    elif source == "rpid":
        for na in _addresses(req, "Remote-Party-ID", problems):
            if (na.params.get("party") or "calling").lower() == "calling":
                yield "rpid", na
    elif source == "from" and from_na is not None and not anonymous:
        yield "from", from_na


def _rpid_flags(req: Request) -> tuple[str | None, str | None]:
    """(privacy, screen) of the calling-party Remote-Party-ID, lower-cased."""
    for na in _addresses(req, "Remote-Party-ID", []):
        if (na.params.get("party") or "calling").lower() == "calling":
            privacy = na.params.get("privacy")
            screen = na.params.get("screen")
            return (privacy.lower() if privacy else None, screen.lower() if screen else None)
    return None, None


def _diversion(req: Request, region: str | None, problems: list[str]) -> tuple[str, ...]:
    """Numbers the call was forwarded from, latest first (Diversion RFC 5806, History-Info RFC 7044)."""
    numbers = [_number_or_text(na, region) for na in _addresses(req, "Diversion", problems)]
    if not numbers:
        # History-Info lists the targets in order; the last one is the current target (us)
        entries = _addresses(req, "History-Info", problems)
        numbers = [_number_or_text(na, region) for na in reversed(entries[:-1])]
    out: list[str] = []
    for number in numbers:
        if number and (not out or out[-1] != number):
            out.append(number)
    return tuple(out)


def _number_or_text(na: NameAddr, region: str | None) -> str:
    return number_from_uri(na.uri, region) or number_text_of(na.uri) or na.uri.raw


# -- STIR/SHAKEN ---------------------------------------------------------------------------------


class _Unusable(Exception):
    """A PASSporT that cannot be decoded; the message says why."""


@dataclass(frozen=True)
class _Passport:
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes
    params: dict[str, str]


# Identity = "Identity" HCOLON signed-identity-digest SEMI ident-info *( SEMI ident-info-params )
# ident-info = "info" EQUAL ident-info-uri ; ident-info-uri = LAQUOT absoluteURI RAQUOT  (RFC 8224 §4.1)
_IDENTITY_PARAM_RE = re.compile(r';[ \t]*([A-Za-z0-9\-.!%*_+`\'~]+)[ \t]*=[ \t]*(<[^>]*>|"[^"]*"|[^;\s]+)')
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*")


def _b64url(part: str) -> bytes:
    if not _B64URL_RE.fullmatch(part) or len(part) % 4 == 1:
        raise _Unusable("PASSporT is not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _json_object(part: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64url(part))
    except _Unusable:
        raise
    except Exception as exc:  # any undecodable JSON (even too deep) is unusable
        raise _Unusable(f"PASSporT {what} is not JSON") from exc
    if not isinstance(value, dict):
        raise _Unusable(f"PASSporT {what} is not a JSON object")
    return value


def _decode_identity(value: str) -> _Passport:
    token, _, param_text = value.strip(" \t").partition(";")
    token = token.strip(" \t")
    if token.startswith('"'):
        raise _Unusable("Identity is an RFC 4474 signature, not a PASSporT")
    parts = token.split(".")
    if len(parts) != 3:
        raise _Unusable("Identity is not a compact JWS (header.payload.signature)")
    if not parts[1]:
        raise _Unusable("compact-form PASSporT (payload left out, RFC 8225 §7) is not supported")
    header = _json_object(parts[0], "header")
    payload = _json_object(parts[1], "payload")
    signature = _b64url(parts[2])
    params = {k.lower(): v.strip('<>"') for k, v in _IDENTITY_PARAM_RE.findall(";" + param_text)}
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    return _Passport(header, payload, signing_input, signature, params)


def _verify_es256(passport: _Passport, pem: bytes, now: float) -> tuple[bool | None, str | None]:
    """Check the ES256 signature (RFC 7518 §3.4: R || S, 32 octets each) with the certificate."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return None, "certificate in the trust store cannot be read"
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        return False, "certificate key is not EC P-256"
    if not cert.not_valid_before_utc.timestamp() <= now <= cert.not_valid_after_utc.timestamp():
        return False, "certificate is not valid now"
    signature = passport.signature
    if len(signature) != 64:
        return False, "ES256 signature is not 64 octets"
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        key.verify(der, passport.signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False, "PASSporT signature does not verify"
    return True, None


def _verstat(req: Request, trunk: TrunkView) -> str | None:
    # ATIS-1000074 §5.3.1: the verifier's verdict rides as a URI parameter of PAI or From;
    # only a trusted trunk's word counts (anyone can write it into a From)
    if not trunk.trusted:
        return None
    addresses = _addresses(req, "P-Asserted-Identity", [])
    from_na = _address(req, "From", [])
    if from_na is not None:
        addresses.append(from_na)
    for na in addresses:
        value = na.uri.params.get("verstat") or na.params.get("verstat")
        if value:
            return value
    return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _attestation(
    req: Request,
    trunk: TrunkView,
    ani: str | None,
    now: float,
    trust_store: Mapping[str, bytes] | None,
    problems: list[str],
) -> Attestation:
    found: list[str] = []
    verstat = _verstat(req, trunk)
    if verstat is not None and verstat.lower() == "tn-validation-failed":
        found.append("terminating carrier reports verstat=TN-Validation-Failed")

    values = _values(req, "Identity", found)
    passport: _Passport | None = None
    for value in values:
        try:
            candidate = _decode_identity(value)
        except _Unusable as exc:
            found.append(str(exc))
            continue
        passport = candidate
        if (candidate.header.get("ppt") or candidate.params.get("ppt")) == "shaken":
            break
    if passport is None:
        if trunk.expects_attestation and not values and verstat is None:
            found.append(f"no STIR/SHAKEN attestation from trunk {trunk.name}")
        problems.extend(found)
        return Attestation(present=bool(values), verstat=verstat, problem=found[0] if found else None)

    header, payload = passport.header, passport.payload
    ppt = header.get("ppt") or passport.params.get("ppt")
    if ppt != "shaken":
        found.append(f"PASSporT ppt is {ppt!r}, not 'shaken'")
    attest = _str(payload.get("attest"))
    if ppt == "shaken" and attest not in ("A", "B", "C"):
        found.append(f"PASSporT attest {attest!r} is not A, B or C")
    orig = payload.get("orig")
    orig_tn = _str(orig.get("tn")) if isinstance(orig, dict) else None
    dest = payload.get("dest")
    dest_value = dest.get("tn") if isinstance(dest, dict) else None
    if isinstance(dest_value, str):
        dest_value = [dest_value]
    dest_tns = tuple(t for t in dest_value if isinstance(t, str)) if isinstance(dest_value, list) else ()
    raw_iat = payload.get("iat")
    iat: int | None = None
    if (
        isinstance(raw_iat, int | float)
        and not isinstance(raw_iat, bool)
        and math.isfinite(raw_iat)
        and abs(raw_iat) < 2**53
    ):
        iat = int(raw_iat)
    age = None
    if iat is None:
        found.append("PASSporT has no numeric iat")
    else:
        age = now - iat
        if age > STALE_IAT_S:
            found.append(f"stale PASSporT: iat is {age:.0f} s old (limit {STALE_IAT_S:.0f} s)")
        elif age < -STALE_IAT_S:
            found.append(f"PASSporT iat is {-age:.0f} s in the future")
    if orig_tn is not None and ani is not None:
        orig_e164 = to_e164(orig_tn if orig_tn.startswith("+") else "+" + orig_tn)
        if orig_e164 != ani:
            found.append(f"PASSporT orig.tn {orig_tn} does not match the ANI {ani}")

    verified: bool | None = None
    x5u = _str(header.get("x5u"))
    info = passport.params.get("info")
    if x5u and info and x5u != info:
        found.append("Identity info and PASSporT x5u name different certificates")
    cert_url = x5u or info
    alg, identity_alg = header.get("alg"), passport.params.get("alg", "ES256")
    if alg != "ES256":
        verified = False
        found.append(f"PASSporT alg {alg!r} is not ES256")
    elif identity_alg != "ES256":
        # RFC 8224 §4.1: the Identity alg parameter must agree with the PASSporT's
        verified = False
        found.append(f"Identity alg {identity_alg!r} is not ES256")
    elif trust_store is not None and cert_url is not None and cert_url in trust_store:
        verified, why = _verify_es256(passport, trust_store[cert_url], now)
        if why is not None:
            found.append(why)

    problems.extend(found)
    return Attestation(
        present=True,
        attest=attest,
        origid=_str(payload.get("origid")),
        orig_tn=orig_tn,
        dest_tns=dest_tns,
        iat=iat,
        age_s=age,
        verstat=verstat,
        verified=verified,
        problem=found[0] if found else None,
    )
