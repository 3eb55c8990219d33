"""identify(): ANI selection (RFC 3325, 8496, RPID), privacy (RFC 3323), STIR/SHAKEN (RFC 8224/8225/8588)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from sip.identity import Attestation, CallerIdentity, TrunkView, identify
from sip.message import Request, parse_message
from sip.numbers import to_e164
from tests.unit.sip.helpers import trace

NOW = 1_764_079_331.0  # fixed: unit tests never read the wall clock
CERT_URL = "https://cert.carrier-a.example/shaken.pem"
DE_TRUSTED = TrunkView("carrier-de", trusted=True, ani_header="pai", region="DE")
DE_UNTRUSTED = TrunkView("internet", trusted=False, ani_header="pai", region="DE")
US_SHAKEN = TrunkView("carrier-us", trusted=True, ani_header="pai", region="US", expects_attestation=True)


def invite(*headers: str, from_: str = '"Lift 3" <sip:+493012345678@pbx.example>;tag=f1') -> Request:
    lines = [
        "INVITE sip:+493099990000@anigate.example.net SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-id",
        f"From: {from_}",
        "To: <sip:+493099990000@anigate.example.net>",
        "Call-ID: id-test@192.0.2.10",
        "CSeq: 1 INVITE",
        *headers,
        "Content-Length: 0",
    ]
    msg = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(msg, Request)
    return msg


def who(req: Request, trunk: TrunkView = DE_TRUSTED, **kwargs: Any) -> CallerIdentity:
    return identify(req, trunk, now=NOW, **kwargs)


# -- ANI selection -------------------------------------------------------------------------------


def test_pai_tel_is_preferred_over_pai_sip() -> None:
    msg = parse_message(trace("invite_pai_sip_tel"))
    assert isinstance(msg, Request)
    ident = who(msg)
    assert (ident.ani, ident.ani_source, ident.ani_raw) == ("+493012345678", "pai-tel", "tel:+493012345678")
    assert ident.verified_identity is True
    assert ident.presented_number == "+493012345678"
    assert ident.display_name == "Lift 3 Tower A"
    assert ident.privacy == frozenset({"none"}) and ident.hidden is False
    assert ident.attestation == Attestation() and ident.problems == ()


def test_pai_sip_alone_with_or_without_user_phone() -> None:
    ident = who(invite("P-Asserted-Identity: <sip:+493012345679@carrier.example;user=phone>"))
    assert (ident.ani, ident.ani_source) == ("+493012345679", "pai-sip")
    ident = who(invite("P-Asserted-Identity: <sip:03012345679@carrier.example>"))
    assert (ident.ani, ident.ani_source) == ("+493012345679", "pai-sip")


def test_a_pai_tel_that_is_no_number_falls_back_to_the_sip_value() -> None:
    ident = who(
        invite("P-Asserted-Identity: <tel:ABCD;phone-context=example.com>, <sip:+493012345679@c.example>")
    )
    assert (ident.ani, ident.ani_source) == ("+493012345679", "pai-sip")
    assert any("tel:ABCD" in p for p in ident.problems)


def test_tel_uri_with_visual_separators_and_phone_context() -> None:
    assert who(invite("P-Asserted-Identity: <tel:+49-30-1234-5679>")).ani == "+493012345679"
    us = TrunkView("us", trusted=True, region="US")
    assert (
        who(invite("P-Asserted-Identity: <tel:030123456789;phone-context=+49>"), us).ani == "+4930123456789"
    )
    # a local number is read in the region its phone-context names, not the trunk's
    assert who(invite("P-Asserted-Identity: <tel:(212)555-0147;phone-context=+1>")).ani == "+12125550147"


def test_p_charge_info() -> None:
    msg = parse_message(trace("invite_pci"))
    assert isinstance(msg, Request)
    ident = who(msg)
    assert (ident.ani, ident.ani_source) == ("+493044445500", "pci")
    assert ident.presented_number == "+493044445555"  # From: national number read with region DE
    assert ident.verified_identity


def test_configured_header_is_tried_first() -> None:
    req = invite(
        "P-Asserted-Identity: <tel:+493012345601>",
        "P-Charge-Info: <sip:+493012345602@c.example>",
        "Remote-Party-ID: <sip:+493012345603@c.example>;party=calling;screen=yes",
    )
    assert who(req).ani == "+493012345601"
    assert who(req, TrunkView("t", trusted=True, ani_header="pci", region="DE")).ani == "+493012345602"
    assert who(req, TrunkView("t", trusted=True, ani_header="rpid", region="DE")).ani == "+493012345603"
    from_first = who(req, TrunkView("t", trusted=True, ani_header="from", region="DE"))
    assert (from_first.ani, from_first.ani_source, from_first.verified_identity) == (
        "+493012345678",
        "from",
        False,
    )
    odd = who(req, TrunkView("t", trusted=True, ani_header="x-ani", region="DE"))
    assert odd.ani == "+493012345601" and any("unknown ani_header" in p for p in odd.problems)


def test_remote_party_id_with_privacy() -> None:
    msg = parse_message(trace("invite_rpid"))
    assert isinstance(msg, Request)
    ident = who(msg, TrunkView("cisco", trusted=True, ani_header="rpid", region="US"))
    assert (ident.ani, ident.ani_source) == ("+12125550147", "rpid")
    assert ident.hidden is True  # privacy=full
    assert ident.verified_identity is True  # screen=yes


def test_rpid_party_called_is_ignored_and_screen_no_is_unverified() -> None:
    called = invite("Remote-Party-ID: <sip:+493099990000@c.example>;party=called")
    assert who(called, TrunkView("t", trusted=True, ani_header="rpid", region="DE")).ani_source == "from"
    unscreened = invite("Remote-Party-ID: <sip:+493012345604@c.example>;party=calling;screen=no;privacy=off")
    ident = who(unscreened, TrunkView("t", trusted=True, ani_header="rpid", region="DE"))
    assert ident.ani == "+493012345604" and ident.verified_identity is False and ident.hidden is False
    assert any("screen=no" in p for p in ident.problems)


def test_privacy_id_with_anonymous_from() -> None:
    msg = parse_message(trace("invite_anonymous_privacy"))
    assert isinstance(msg, Request)
    ident = who(msg)
    assert (ident.ani, ident.ani_source) == ("+493012345679", "pai-tel")  # still there for routing
    assert ident.presented_number is None
    assert ident.privacy == frozenset({"id"})
    assert ident.hidden is True
    assert ident.display_name == "Anonymous"
    assert ident.verified_identity is True


def test_privacy_tokens_are_all_kept() -> None:
    ident = who(invite("P-Asserted-Identity: <tel:+493012345679>", "Privacy: header;user , critical; x-new"))
    assert ident.privacy == frozenset({"header", "user", "critical", "x-new"})
    assert ident.hidden is True
    assert who(invite("Privacy: session")).hidden is False


def test_untrusted_trunk_ignores_network_asserted_headers() -> None:
    req = invite("P-Asserted-Identity: <tel:+493012345679>", "P-Charge-Info: <tel:+493012345670>")
    ident = who(req, DE_UNTRUSTED)
    assert (ident.ani, ident.ani_source, ident.verified_identity) == ("+493012345678", "from", False)
    assert any("untrusted trunk internet" in p and "P-Asserted-Identity" in p for p in ident.problems)


def test_anonymous_caller_on_an_untrusted_trunk_has_no_ani() -> None:
    req = invite(
        "P-Asserted-Identity: <tel:+493012345679>",
        from_='"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1',
    )
    ident = who(req, DE_UNTRUSTED)
    assert ident.ani is None and ident.ani_source is None and ident.presented_number is None
    assert ident.hidden is True and ident.verified_identity is False


def test_from_without_a_number() -> None:
    ident = who(invite(from_="<sip:lift-controller@pbx.example>;tag=1"), DE_UNTRUSTED)
    assert ident.ani is None and ident.presented_number == "lift-controller"
    assert any("carries no telephone number" in p for p in ident.problems)


def test_unreadable_headers_become_problems_not_exceptions() -> None:
    req = invite('P-Asserted-Identity: "unterminated <tel:+493012345679>', "Diversion: <sip:a@b>,,")
    ident = who(req)
    assert ident.ani_source == "from"
    assert any("P-Asserted-Identity" in p for p in ident.problems)
    assert any("Diversion" in p for p in ident.problems)


def test_diversion_topmost_first() -> None:
    msg = parse_message(trace("invite_diversion"))
    assert isinstance(msg, Request)
    ident = who(msg)
    assert ident.diversion == ("+493011122233", "+493044455566")
    assert ident.ani == "+493012345600"


def test_history_info_when_there_is_no_diversion() -> None:
    req = invite(
        "History-Info: <sip:+493044455566@c.example;user=phone>;index=1,"
        " <sip:+493011122233@c.example;user=phone?Reason=SIP%3Bcause%3D302>;index=1.1,"
        " <sip:+493099990000@anigate.example.net>;index=1.1.1"
    )
    assert who(req).diversion == ("+493011122233", "+493044455566")
    assert who(invite()).diversion == ()


# -- STIR/SHAKEN -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    key: ec.EllipticCurvePrivateKey
    pem: bytes


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signer(valid_from: float = NOW - 86400, valid_to: float = NOW + 86400) -> Signer:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SHAKEN test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime.fromtimestamp(valid_from, dt.UTC))
        .not_valid_after(dt.datetime.fromtimestamp(valid_to, dt.UTC))
        .sign(key, hashes.SHA256())
    )
    return Signer(key, cert.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope="module")
def signer() -> Signer:
    return _signer()


def passport(
    signer: Signer,
    *,
    attest: str = "A",
    orig: str = "12125550147",
    iat: float = NOW - 2,
    header: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
) -> str:
    protected = header or {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": CERT_URL}
    claims = payload or {
        "attest": attest,
        "dest": {"tn": ["18005550100"]},
        "iat": iat,
        "orig": {"tn": orig},
        "origid": "8c5f34a0-3b1e-4d6a-95c2-7f1e2d3c4b5a",
    }
    signing_input = f"{_b64(json.dumps(protected).encode())}.{_b64(json.dumps(claims).encode())}"
    r, s = decode_dss_signature(signer.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def shaken_invite(token: str, *extra: str, verstat: str = "TN-Validation-Passed") -> Request:
    return invite(
        f"P-Asserted-Identity: <sip:+12125550147@carrier-a.example;user=phone;verstat={verstat}>",
        f"Identity: {token};info=<{CERT_URL}>;alg=ES256;ppt=shaken",
        *extra,
        from_='"ELEVATOR CAR 4" <sip:+12125550147@carrier-a.example;user=phone>;tag=sh',
    )


def test_valid_signature_verifies(signer: Signer) -> None:
    ident = who(shaken_invite(passport(signer)), US_SHAKEN, trust_store={CERT_URL: signer.pem})
    att = ident.attestation
    assert att.present and att.verified is True and att.problem is None
    assert (att.attest, att.orig_tn, att.dest_tns) == ("A", "12125550147", ("18005550100",))
    assert att.origid == "8c5f34a0-3b1e-4d6a-95c2-7f1e2d3c4b5a"
    assert att.iat == int(NOW - 2) and att.age_s == pytest.approx(2.0)
    assert att.verstat == "TN-Validation-Passed"
    assert ident.ani == "+12125550147" and ident.problems == ()


def test_without_the_certificate_the_passport_is_not_verified(signer: Signer) -> None:
    req = shaken_invite(passport(signer))
    for store in (None, {}, {"https://other.example/x.pem": signer.pem}):
        att = who(req, US_SHAKEN, trust_store=store).attestation
        assert att.present and att.verified is None and att.attest == "A"


def test_tampered_payload_fails(signer: Signer) -> None:
    token = passport(signer)
    head, payload, sig = token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged["attest"] = "A"
    forged["orig"]["tn"] = "12125550199"
    bad = f"{head}.{_b64(json.dumps(forged).encode())}.{sig}"
    ident = who(shaken_invite(bad), US_SHAKEN, trust_store={CERT_URL: signer.pem})
    assert ident.attestation.verified is False
    assert "PASSporT signature does not verify" in ident.problems
    assert any("does not match the ANI" in p for p in ident.problems)


def test_signature_by_another_key_fails(signer: Signer) -> None:
    other = _signer()
    ident = who(shaken_invite(passport(other)), US_SHAKEN, trust_store={CERT_URL: signer.pem})
    assert ident.attestation.verified is False


def test_expired_certificate_and_unreadable_pem(signer: Signer) -> None:
    old = _signer(valid_from=NOW - 10 * 86400, valid_to=NOW - 86400)
    att = who(shaken_invite(passport(old)), US_SHAKEN, trust_store={CERT_URL: old.pem}).attestation
    assert att.verified is False and att.problem == "certificate is not valid now"
    att = who(shaken_invite(passport(signer)), US_SHAKEN, trust_store={CERT_URL: b"not a pem"}).attestation
    assert att.verified is None and att.problem == "certificate in the trust store cannot be read"


def test_stale_iat_and_orig_mismatch_are_problems(signer: Signer) -> None:
    ident = who(
        shaken_invite(passport(signer, iat=NOW - 3600, orig="12125550100")),
        US_SHAKEN,
        trust_store={CERT_URL: signer.pem},
    )
    assert ident.attestation.verified is True  # the signature itself is fine
    assert ident.attestation.age_s == pytest.approx(3600)
    assert any("stale PASSporT" in p for p in ident.problems)
    assert any("orig.tn 12125550100 does not match the ANI +12125550147" in p for p in ident.problems)
    future = who(shaken_invite(passport(signer, iat=NOW + 600)), US_SHAKEN)
    assert any("in the future" in p for p in future.problems)


def test_attestation_levels_and_verstat(signer: Signer) -> None:
    b = who(shaken_invite(passport(signer, attest="B"), verstat="TN-Validation-Passed-B"), US_SHAKEN)
    assert (b.attestation.attest, b.attestation.verstat) == ("B", "TN-Validation-Passed-B")
    failed = who(shaken_invite(passport(signer, attest="C"), verstat="TN-Validation-Failed"), US_SHAKEN)
    assert failed.attestation.attest == "C"
    assert "terminating carrier reports verstat=TN-Validation-Failed" in failed.problems
    bogus = who(shaken_invite(passport(signer, attest="Z")), US_SHAKEN)
    assert any("attest 'Z'" in p for p in bogus.problems)


def test_compact_y_header_and_trace_file() -> None:
    msg = parse_message(trace("invite_identity"))
    assert isinstance(msg, Request)
    ident = identify(msg, US_SHAKEN, now=1_764_079_331 + 5)
    att = ident.attestation
    assert att.present and att.attest == "A" and att.orig_tn == "12125550147" and att.verified is None
    assert att.verstat == "TN-Validation-Passed" and att.age_s == pytest.approx(5)
    # with the (wrong) certificate the trace's dummy signature fails
    failing = identify(msg, US_SHAKEN, now=1_764_079_331 + 5, trust_store={CERT_URL: _signer().pem})
    assert failing.attestation.verified is False


def test_missing_or_undecodable_attestation(signer: Signer) -> None:
    none = who(invite("P-Asserted-Identity: <sip:+12125550147@c.example>"), US_SHAKEN)
    assert none.attestation.present is False
    assert "no STIR/SHAKEN attestation from trunk carrier-us" in none.problems
    assert who(invite(), DE_TRUSTED).problems == ()  # a German trunk expects none
    for value, problem in [
        ('"ZmFrZQ=="', "RFC 4474"),
        ("abc.def", "not a compact JWS"),
        ("e30..c2ln", "compact-form PASSporT"),
        ("!!!.e30.c2ln", "not base64url"),
        (f"{_b64(b'[1]')}.e30.c2ln", "not a JSON object"),
        (f"{_b64(b'{')}.e30.c2ln", "not JSON"),
    ]:
        ident = who(invite(f"Identity: {value};info=<{CERT_URL}>"), US_SHAKEN)
        assert ident.attestation.present is True and ident.attestation.verified is None
        assert ident.attestation.problem is not None and problem in ident.attestation.problem, value


def test_wrong_alg_and_ppt(signer: Signer) -> None:
    rs = passport(signer, header={"alg": "RS256", "ppt": "shaken", "typ": "passport", "x5u": CERT_URL})
    att = who(shaken_invite(rs), US_SHAKEN, trust_store={CERT_URL: signer.pem}).attestation
    assert att.verified is False and att.problem == "PASSporT alg 'RS256' is not ES256"
    plain = passport(
        signer, header={"alg": "ES256", "typ": "passport", "x5u": "https://elsewhere.example/c.pem"}
    )
    ident = who(invite(f"Identity: {plain};info=<{CERT_URL}>;alg=ES256"), US_SHAKEN)
    assert any("not 'shaken'" in p for p in ident.problems)
    assert any("info and PASSporT x5u" in p for p in ident.problems)


def test_verstat_of_an_untrusted_trunk_is_ignored(signer: Signer) -> None:
    req = shaken_invite(passport(signer))
    assert who(req, TrunkView("x", trusted=False, region="US")).attestation.verstat is None


def test_odd_iat_values(signer: Signer) -> None:
    for iat in ("yesterday", True, 1e400, 10**30):
        payload = {"attest": "A", "orig": {"tn": "12125550147"}, "dest": {"tn": "18005550100"}, "iat": iat}
        token = passport(signer, payload=payload)
        att = who(shaken_invite(token), US_SHAKEN, trust_store={CERT_URL: signer.pem}).attestation
        assert att.iat is None and att.age_s is None and att.verified is True
        assert att.dest_tns == ("18005550100",)


# -- numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+49 30 1234567", "DE", "+49301234567"),
        ("030 1234567", "DE", "+49301234567"),
        ("0049301234567", "DE", "+49301234567"),
        ("49301234567", "DE", "+49301234567"),
        ("0049301234567", None, "+49301234567"),
        ("+1-212-555-0147", None, "+12125550147"),
        ("(212) 555-0147", "US", "+12125550147"),
        ("12125550147", "US", "+12125550147"),
        ("030 1234567", None, None),
        ("+4930", "DE", None),
        ("lift-3", "DE", None),
        ("", "DE", None),
        (None, "DE", None),
    ],
)
def test_to_e164(raw: str | None, region: str | None, e164: str | None) -> None:
    assert to_e164(raw, region) == e164
