"""identify() at its edges: each privacy type alone, anonymous From by user or by host, PAI
sip/sips, RPID without party, Diversion without a number, verstat without a PASSporT, several
Identity headers, odd PASSporT claims and certificates (RSA, P-384), and the exact problem texts.
It never raises for anything a request carries."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from sip.identity import TrunkView
from tests.unit.sip.test_identity import (
    CERT_URL,
    DE_TRUSTED,
    DE_UNTRUSTED,
    NOW,
    US_SHAKEN,
    Signer,
    _b64,
    _signer,
    invite,
    passport,
    shaken_invite,
    who,
)

RPID_FIRST = TrunkView("t", trusted=True, ani_header="rpid", region="DE")
PCI_FIRST = TrunkView("t", trusted=True, ani_header="pci", region="DE")
CLAIMS = {"attest": "A", "dest": {"tn": ["18005550100"]}, "iat": NOW - 2, "orig": {"tn": "12125550147"}}
HEADER = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": CERT_URL}


@pytest.fixture(scope="module")
def signer() -> Signer:
    return _signer()


def _certificate(key: Any, *, valid_from: float = NOW - 86400, valid_to: float = NOW + 86400) -> bytes:
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
    return cert.public_bytes(serialization.Encoding.PEM)


# -- privacy (RFC 3323 §4.2) and anonymous From (§4.1.1.3) ----------------------------------------


@pytest.mark.parametrize(
    ("value", "privacy", "hidden"),
    [
        ("user", {"user"}, True),
        ("header", {"header"}, True),
        ("id", {"id"}, True),
        ("none", {"none"}, False),
        ("session", {"session"}, False),
        ("critical", {"critical"}, False),
        # tokens are case-insensitive; extensions are kept as written, lower-cased
        ("User; X-Carrier-Private", {"user", "x-carrier-private"}, True),
        ("\tHeader ,none", {"header", "none"}, True),
        ("none; X", {"none", "x"}, False),  # a one-letter extension is a token too
    ],
)
def test_each_privacy_type_alone(value: str, privacy: set[str], hidden: bool) -> None:
    ident = who(invite("P-Asserted-Identity: <tel:+493012345679>", f"Privacy: {value}"))
    assert (ident.privacy, ident.hidden) == (frozenset(privacy), hidden)
    assert ident.ani == "+493012345679" and ident.presented_number == "+493012345678"  # routing keeps both
    assert ident.problems == ()


def test_a_malformed_privacy_is_a_problem_and_still_hides_the_caller() -> None:
    # a stray quote makes the list unsplittable; the caller's "id" must not be lost with it
    ident = who(invite("P-Asserted-Identity: <tel:+493012345679>", 'Privacy: id;"x'))
    assert ident.problems == ("Privacy: unterminated quoted string",)
    assert "id" in ident.privacy and ident.hidden is True
    assert ident.ani == "+493012345679"


@pytest.mark.parametrize(
    "from_",
    [
        "<sip:anonymous@pbx.example>;tag=1",  # by user only
        "<sip:Anonymous@pbx.example>;tag=1",
        "<sip:+493012345678@anonymous.invalid>;tag=1",  # by host only: the number is not shown either
        "<sip:+493012345678@ANONYMOUS.invalid>;tag=1",
    ],
)
def test_a_from_anonymous_by_user_or_by_host_hides_the_caller(from_: str) -> None:
    trusted = who(invite("P-Asserted-Identity: <tel:+493012345679>", from_=from_))
    assert (trusted.ani, trusted.ani_source, trusted.hidden) == ("+493012345679", "pai-tel", True)
    assert (trusted.presented_number, trusted.display_name) == (None, None)
    # an untrusted trunk has only From, and an anonymous From names nobody
    untrusted = who(invite(from_=from_), DE_UNTRUSTED)
    assert (untrusted.ani, untrusted.ani_source, untrusted.presented_number) == (None, None, None)
    assert untrusted.hidden is True and untrusted.verified_identity is False


def test_the_display_name_comes_from_the_asserted_identity_unless_from_is_anonymous() -> None:
    shown = who(
        invite(
            'P-Asserted-Identity: "Lift 7" <tel:+493012345679>', from_="<sip:+493012345678@p.example>;tag=1"
        )
    )
    assert shown.display_name == "Lift 7"
    hidden = who(
        invite(
            'P-Asserted-Identity: "Lift 7" <tel:+493012345679>',
            from_="<sip:anonymous@anonymous.invalid>;tag=1",
        )
    )
    assert hidden.display_name is None and hidden.hidden is True


# -- ANI sources --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pai",
    [
        "<sip:+493012345679@carrier.example;user=phone>",
        "<sips:+493012345679@carrier.example;user=phone>",
        "<sips:03012345679@carrier.example>",
    ],
)
def test_a_pai_sip_or_sips_uri_with_a_number_is_a_verified_identity(pai: str) -> None:
    ident = who(invite(f"P-Asserted-Identity: {pai}"))
    assert (ident.ani, ident.ani_source, ident.verified_identity) == ("+493012345679", "pai-sip", True)
    assert ident.problems == ()


def test_rpid_without_party_is_the_calling_party() -> None:
    ident = who(invite("Remote-Party-ID: <sip:+493012345603@c.example>;privacy=full;screen=yes"), RPID_FIRST)
    assert (ident.ani, ident.ani_source, ident.verified_identity) == ("+493012345603", "rpid", True)
    assert ident.hidden is True  # its privacy counts: it is the calling party's
    unscreened = who(invite("Remote-Party-ID: <sip:+493012345603@c.example>;screen=NO"), RPID_FIRST)
    assert unscreened.verified_identity is False
    assert unscreened.problems == ("Remote-Party-ID screen=no: number not screened by the network",)


def test_only_the_calling_partys_rpid_tells_its_privacy() -> None:
    req = invite(
        "Remote-Party-ID: <sip:+493099990000@c.example>;party=called;privacy=off,"
        " <sip:+493012345603@c.example>;party=calling;privacy=full",
    )
    ident = who(req, RPID_FIRST)
    assert (ident.ani, ident.ani_source, ident.hidden) == ("+493012345603", "rpid", True)


def test_rpid_privacy_of_an_untrusted_trunk_is_ignored_with_its_number() -> None:
    req = invite("Remote-Party-ID: <sip:+493012345603@c.example>;party=calling;privacy=full")
    ident = who(req, DE_UNTRUSTED)
    assert (ident.ani, ident.hidden) == ("+493012345678", False)
    assert ident.problems == ("untrusted trunk internet: Remote-Party-ID ignored",)


def test_an_untrusted_trunk_names_every_header_it_ignored() -> None:
    req = invite(
        "P-Asserted-Identity: <tel:+493012345679>",
        "P-Charge-Info: <tel:+493012345670>",
        "Remote-Party-ID: <sip:+493012345603@c.example>;party=calling",
    )
    assert who(req, DE_UNTRUSTED).problems == (
        "untrusted trunk internet: P-Asserted-Identity, P-Charge-Info, Remote-Party-ID ignored",
    )


@pytest.mark.parametrize(
    ("header", "trunk", "problem"),
    [
        (
            "P-Asserted-Identity: <tel:+493012345679>garbage",
            DE_TRUSTED,
            "P-Asserted-Identity: text after <URI>",
        ),
        ("Remote-Party-ID: garbage here", RPID_FIRST, "Remote-Party-ID: URI without a scheme"),
        ("Remote-Party-ID: <sip:+493012345603@c.example", RPID_FIRST, "Remote-Party-ID: unterminated <URI>"),
        (
            "P-Charge-Info: <sip:+493012345602@c.example",
            PCI_FIRST,
            "malformed P-Charge-Info: <URI> without >",
        ),
        ("History-Info: garbage here", DE_TRUSTED, "History-Info: URI without a scheme"),
        ("Diversion: garbage here", DE_TRUSTED, "Diversion: URI without a scheme"),
    ],
)
def test_an_unreadable_header_is_named_in_its_problem(header: str, trunk: TrunkView, problem: str) -> None:
    ident = who(invite(header), trunk)
    assert ident.problems == (problem,)
    assert (ident.ani, ident.ani_source) == ("+493012345678", "from")  # From still names the caller


# -- forwarding (Diversion RFC 5806, History-Info RFC 7044) -----------------------------------------


@pytest.mark.parametrize(
    ("header", "diversion"),
    [
        # no number: the user part, or the URI when there is none
        ("Diversion: <sip:voicemail@c.example>;reason=unconditional", ("voicemail",)),
        ("Diversion: <sip:c.example>;reason=unconditional", ("sip:c.example",)),
        # national numbers are read in the trunk's region
        ("Diversion: <sip:03011122233@c.example>", ("+493011122233",)),
        (
            "Diversion: <sip:03011122233@c.example>, <tel:+493011122233>, <sip:0401234567@c.example>",
            ("+493011122233", "+49401234567"),
        ),
        (
            "History-Info: <sip:03044455566@c.example>;index=1,"
            " <sip:+493099990000@anigate.example.net>;index=1.1",
            ("+493044455566",),
        ),
    ],
)
def test_forwarding_numbers_as_far_as_they_read(header: str, diversion: tuple[str, ...]) -> None:
    ident = who(invite(header))
    assert ident.diversion == diversion and ident.problems == ()


# -- verstat (ATIS-1000074 §5.3.1) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "from_"),
    [
        ((), "<sip:+12125550147@carrier-a.example;user=phone;verstat=TN-Validation-Passed>;tag=1"),
        (
            (
                "P-Asserted-Identity: <sip:+12125550147@carrier-a.example;user=phone>"
                ";verstat=TN-Validation-Passed",
            ),
            None,
        ),
        ((), "<sip:+12125550147@carrier-a.example;user=phone>;tag=1;verstat=TN-Validation-Passed"),
    ],
)
def test_verstat_on_pai_or_from_as_uri_or_header_parameter_without_identity(
    headers: tuple[str, ...], from_: str | None
) -> None:
    req = invite(*headers, from_=from_) if from_ else invite(*headers)
    att = who(req, US_SHAKEN).attestation
    assert (att.present, att.verstat, att.verified, att.problem) == (
        False,
        "TN-Validation-Passed",
        None,
        None,
    )
    # the carrier's verdict counts as its word on the call: no "no attestation" problem
    assert who(req, US_SHAKEN).problems == ()


def test_a_failed_verstat_without_identity_is_the_problem() -> None:
    req = invite("P-Asserted-Identity: <sip:+12125550147@c.example;verstat=TN-Validation-Failed>")
    att = who(req, US_SHAKEN).attestation
    assert (att.present, att.verstat) == (False, "TN-Validation-Failed")
    assert att.problem == "terminating carrier reports verstat=TN-Validation-Failed"


# -- several Identity headers (RFC 8224 §4: one per PASSporT type) ---------------------------------


def us_invite(*headers: str) -> Any:
    return invite(*headers, from_="<sip:+12125550147@carrier-a.example;user=phone>;tag=us")


def _token(signer: Signer, header: dict[str, Any] | None = None, **claims: Any) -> str:
    return passport(signer, header=header or HEADER, payload=CLAIMS | claims)


def test_the_first_usable_identity_is_taken_when_an_earlier_one_is_unusable(signer: Signer) -> None:
    req = shaken_invite("!!!.e30.c2ln", f"Identity: {_token(signer, attest='B')};info=<{CERT_URL}>")
    ident = who(req, US_SHAKEN, trust_store={CERT_URL: signer.pem})
    assert (ident.attestation.attest, ident.attestation.verified) == ("B", True)
    assert ident.problems == ("PASSporT is not base64url",)
    assert ident.attestation.problem == "PASSporT is not base64url"


@pytest.mark.parametrize(
    ("first", "second", "attest"),
    [
        # ppt named by the PASSporT header only, or by the Identity parameter only
        ({"alg": "ES256", "ppt": "shaken", "x5u": CERT_URL}, f";info=<{CERT_URL}>", "A"),
        ({"alg": "ES256", "x5u": CERT_URL}, f";info=<{CERT_URL}>;ppt=shaken", "A"),
    ],
)
def test_the_shaken_passport_is_taken_before_a_later_one(
    signer: Signer, first: dict[str, Any], second: str, attest: str
) -> None:
    shaken = _token(signer, first, attest=attest)
    other = _token(signer, {"alg": "ES256", "ppt": "div", "x5u": CERT_URL}, attest="C")
    req = us_invite(f"Identity: {shaken}{second}", f"Identity: {other};info=<{CERT_URL}>;ppt=div")
    ident = who(req, US_SHAKEN, trust_store={CERT_URL: signer.pem})
    assert (ident.attestation.attest, ident.attestation.verified, ident.problems) == (attest, True, ())


def test_a_shaken_passport_after_another_type_is_the_one_taken(signer: Signer) -> None:
    other = _token(signer, {"alg": "ES256", "ppt": "div", "x5u": CERT_URL}, attest="C")
    req = us_invite(f"Identity: {other};info=<{CERT_URL}>;ppt=div", f"Identity: {_token(signer, attest='B')}")
    ident = who(req, US_SHAKEN, trust_store={CERT_URL: signer.pem})
    assert (ident.attestation.attest, ident.attestation.verified, ident.problems) == ("B", True, ())


@pytest.mark.parametrize("attest", ["A", "B", "C"])
def test_every_attestation_level_is_valid(signer: Signer, attest: str) -> None:
    ident = who(shaken_invite(passport(signer, attest=attest)), US_SHAKEN, trust_store={CERT_URL: signer.pem})
    assert (ident.attestation.attest, ident.problems) == (attest, ())


# -- PASSporT claims and parameters ------------------------------------------------------------------


def test_non_string_claims_are_left_out_never_raised(signer: Signer) -> None:
    header = {"alg": "ES256", "ppt": "shaken", "x5u": 7}
    token = _token(
        signer, header, attest=5, orig={"tn": 12125550147}, origid=["x"], dest={"tn": [1, "18005550100"]}
    )
    ident = who(shaken_invite(token), US_SHAKEN, trust_store={CERT_URL: signer.pem})
    att = ident.attestation
    assert (att.attest, att.orig_tn, att.origid, att.dest_tns) == (None, None, None, ("18005550100",))
    assert att.verified is True  # the certificate named by the Identity info parameter
    assert ident.problems == ("PASSporT attest None is not A, B or C",)
    odd = _token(signer, orig="12125550147", dest="18005550100")
    att = who(shaken_invite(odd), US_SHAKEN).attestation
    assert (att.orig_tn, att.dest_tns) == (None, ())


@pytest.mark.parametrize(
    ("iat", "expected"),
    [(2**53 - 1, 2**53 - 1), (2**53, None), (-(2**53), None), (NOW - 2.9, int(NOW - 2.9))],
)
def test_iat_is_a_number_below_two_to_the_53(signer: Signer, iat: float, expected: int | None) -> None:
    att = who(shaken_invite(_token(signer, iat=iat)), US_SHAKEN).attestation
    assert att.iat == expected


def test_no_numeric_iat_is_named() -> None:
    token = f"{_b64(json.dumps(HEADER).encode())}.{_b64(json.dumps({'attest': 'A'}).encode())}.c2ln"
    assert who(shaken_invite(token), US_SHAKEN).problems == ("PASSporT has no numeric iat",)


@pytest.mark.parametrize(
    ("age", "problem"),
    [
        (60, None),  # at the limit: still fresh
        (61, "stale PASSporT: iat is 61 s old (limit 60 s)"),
        (-60, None),
        (-61, "PASSporT iat is 61 s in the future"),
    ],
)
def test_iat_freshness_limits(signer: Signer, age: int, problem: str | None) -> None:
    ident = who(shaken_invite(_token(signer, iat=NOW - age)), US_SHAKEN, trust_store={CERT_URL: signer.pem})
    assert ident.problems == ((problem,) if problem else ())


def test_an_orig_tn_written_with_a_plus_matches_the_ani(signer: Signer) -> None:
    ident = who(shaken_invite(_token(signer, orig={"tn": "+12125550147"})), US_SHAKEN)
    assert ident.problems == () and ident.attestation.orig_tn == "+12125550147"


def test_without_x5u_the_identity_info_names_the_certificate(signer: Signer) -> None:
    token = _token(signer, {"alg": "ES256", "ppt": "shaken"})
    ident = who(shaken_invite(token), US_SHAKEN, trust_store={CERT_URL: signer.pem})
    assert (ident.attestation.verified, ident.problems) == (True, ())


def test_x5u_and_info_naming_different_certificates_is_a_problem(signer: Signer) -> None:
    token = _token(signer, {"alg": "ES256", "ppt": "shaken", "x5u": "https://elsewhere.example/c.pem"})
    ident = who(shaken_invite(token), US_SHAKEN)
    assert ident.problems == ("Identity info and PASSporT x5u name different certificates",)


@pytest.mark.parametrize(
    ("params", "verified", "problems"),
    [
        ("", True, ()),  # alg left out: ES256 (RFC 8224 §4.1)
        (";alg=ES256", True, ()),
        (";alg=RS256", False, ("Identity alg 'RS256' is not ES256",)),
    ],
)
def test_the_identity_alg_parameter(
    signer: Signer, params: str, verified: bool, problems: tuple[str, ...]
) -> None:
    req = us_invite(f"Identity: {passport(signer)};info=<{CERT_URL}>{params}")
    ident = who(req, US_SHAKEN, trust_store={CERT_URL: signer.pem})
    assert (ident.attestation.verified, ident.problems) == (verified, problems)


def test_identity_values_are_read_exactly_to_their_last_character(signer: Signer) -> None:
    # only SP and HTAB are white space around a PASSporT; an X ending a URL is part of it
    url = "https://cert.carrier-a.example/X"
    token = _token(signer, {"alg": "ES256", "ppt": "shaken", "x5u": url})
    for params in (f";info={url}", f";info=<{url}>", f';info="{url}"'):
        ident = who(us_invite(f"Identity: {token}{params}"), US_SHAKEN, trust_store={url: signer.pem})
        assert (ident.attestation.verified, ident.problems) == (True, ()), params
    vt = who(us_invite(f"Identity: \x0b{token}"), US_SHAKEN).attestation
    assert vt.problem == "PASSporT is not base64url"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('"ZmFrZQ=="', "Identity is an RFC 4474 signature, not a PASSporT"),
        ("abc.def", "Identity is not a compact JWS (header.payload.signature)"),
        ("e30..c2ln", "compact-form PASSporT (payload left out, RFC 8225 §7) is not supported"),
        ("!!!.e30.c2ln", "PASSporT is not base64url"),
        ("X.e30.c2ln", "PASSporT is not base64url"),
        ("e30.e30.!!!", "PASSporT is not base64url"),
        (f"{_b64(b'[1]')}.e30.c2ln", "PASSporT header is not a JSON object"),
        (f"{_b64(b'{')}.e30.c2ln", "PASSporT header is not JSON"),
        (f"e30.{_b64(b'[1]')}.c2ln", "PASSporT payload is not a JSON object"),
        (f"e30.{_b64(b'{')}.c2ln", "PASSporT payload is not JSON"),
    ],
)
def test_an_unusable_passport_says_why_exactly(value: str, problem: str) -> None:
    att = who(invite(f"Identity: {value};info=<{CERT_URL}>"), US_SHAKEN).attestation
    assert (att.present, att.verified, att.problem) == (True, None, problem)


# -- certificates -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_pem() -> bytes:
    return _certificate(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="module")
def p384_pem() -> bytes:
    return _certificate(ec.generate_private_key(ec.SECP384R1()))


def test_a_certificate_without_a_p256_key_never_verifies(
    signer: Signer, rsa_pem: bytes, p384_pem: bytes
) -> None:
    for pem in (rsa_pem, p384_pem):
        ident = who(shaken_invite(passport(signer)), US_SHAKEN, trust_store={CERT_URL: pem})
        assert (ident.attestation.verified, ident.problems) == (False, ("certificate key is not EC P-256",))


def test_a_certificate_is_valid_on_its_first_and_last_second(signer: Signer) -> None:
    for valid_from, valid_to in ((NOW, NOW + 86400), (NOW - 86400, NOW)):
        pem = _certificate(signer.key, valid_from=valid_from, valid_to=valid_to)
        ident = who(shaken_invite(passport(signer)), US_SHAKEN, trust_store={CERT_URL: pem})
        assert (ident.attestation.verified, ident.problems) == (True, ())


def test_a_signature_of_the_wrong_length_does_not_verify(signer: Signer) -> None:
    head, payload, sig = passport(signer).split(".")
    short = _b64(base64.urlsafe_b64decode(sig + "==")[:63])
    ident = who(shaken_invite(f"{head}.{payload}.{short}"), US_SHAKEN, trust_store={CERT_URL: signer.pem})
    assert (ident.attestation.verified, ident.problems) == (False, ("ES256 signature is not 64 octets",))
