"""Property tests: whatever bytes arrive, the SIP library answers with a message or a SipError.

Random bytes and mutations of the trace files and torture messages go through parse_message,
the stream framer, build_response and identify(); no other exception may escape.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sip.framing import StreamFramer
from sip.identity import TrunkView, identify
from sip.message import Headers, Request, Response, SipError, parse_message
from sip.responses import build_response
from tests.unit.sip.helpers import TORTURE_DIR, trace, trace_names

SEEDS = [trace(name) for name in trace_names()] + [
    p.read_bytes() for p in sorted(TORTURE_DIR.glob("*.dat")) if p.stat().st_size < 1500
]
TRUNKS = [
    TrunkView("trusted", trusted=True, ani_header="pai", region="DE", expects_attestation=True),
    TrunkView("untrusted", trusted=False, ani_header="from", region="US"),
]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# fragments that exercise the grammar's corners when spliced into a message
FRAGMENTS = [
    b"\r\n",
    b"\r\n ",
    b"\n",
    b"\r",
    b":",
    b";",
    b",",
    b'"',
    b"\\",
    b"<",
    b">",
    b"@",
    b"%",
    b"%00",
    b"%ZZ",
    b" ",
    b"\t",
    b"\x00",
    b"\xff",
    b"\xc3\xa9",
    b"=",
    b"?",
    b"sip:",
    b"tel:",
    b";tag=",
    b";branch=z9hG4bK",
    b";rport",
    b"SIP/2.0",
    b"Content-Length: ",
    b"l: 99999999999",
    b"-1",
    b"99999999999999999999999",
    b"Via: SIP/2.0/UDP ",
    b"v: ",
    b"CSeq: ",
    b"From: ",
    b"To: ",
    b"P-Asserted-Identity: ",
    b"Identity: e30.e30.",
    b"Privacy: id",
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "fragment", "truncate", "dup"]))
        if op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 40))]
        elif op == "replace" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "fragment":
            data[pos:pos] = draw(st.sampled_from(FRAGMENTS))
        elif op == "truncate":
            del data[pos:]
        elif op == "dup":
            end = min(len(data), pos + draw(st.integers(1, 80)))
            data[pos:pos] = data[pos:end]
    return bytes(data)


def check_message(data: bytes, *, stream: bool = False) -> None:
    """parse_message, then everything a listener would do with the outcome."""
    try:
        msg = parse_message(data, stream=stream, known_methods={"INVITE", "OPTIONS", "ACK"})
    except SipError as exc:
        assert 100 <= exc.status <= 699
        assert "\r" not in exc.reason and "\n" not in exc.reason
        if exc.respond:
            assert exc.partial is not None
            out = build_response(exc.partial, exc.status, exc.reason, received="127.0.0.1", rport=5060)
            assert out.endswith(b"\r\n\r\n")
        return
    assert isinstance(msg, Request | Response)
    # a parsed message's validated views never raise
    msg.call_id, msg.cseq, msg.top_via, msg.vias, msg.from_, msg.to  # noqa: B018
    if isinstance(msg, Request):
        out = build_response(
            msg, 302, "Moved Temporarily", contacts=[("sip:a@10.0.0.1", 1.0)], received="::1"
        )
        assert isinstance(parse_message(out), Response)
        for trunk in TRUNKS:
            identify(msg, trunk, now=1_764_079_331.0, trust_store={})


@SETTINGS
@given(st.binary(max_size=2000))
def test_random_bytes(data: bytes) -> None:
    check_message(data)
    check_message(data, stream=True)


@SETTINGS
@given(mutated())
def test_mutated_messages(data: bytes) -> None:
    check_message(data)


@SETTINGS
@given(mutated(), st.lists(st.integers(1, 300), min_size=1, max_size=20))
def test_stream_framer_on_mutated_streams(data: bytes, cuts: list[int]) -> None:
    framer = StreamFramer()
    stream = data + SEEDS[0]
    pos = 0
    try:
        for size in [*cuts, len(stream)]:
            for message in framer.feed(stream[pos : pos + size]):
                check_message(message, stream=True)
            pos += size
    except SipError as exc:
        assert exc.status in (400, 513)


@SETTINGS
@given(st.lists(st.integers(1, 200), min_size=1, max_size=30))
def test_framer_output_does_not_depend_on_how_the_stream_is_cut(cuts: list[int]) -> None:
    framed = [trace(name) for name in trace_names()]
    stream = b"\r\n\r\n".join(framed)
    framer = StreamFramer()
    out: list[bytes] = []
    pos = 0
    for size in [*cuts, len(stream)]:
        out += framer.feed(stream[pos : pos + size])
        pos += size
    assert out == framed


IDENTITY_HEADERS = [
    "P-Asserted-Identity",
    "P-Charge-Info",
    "Remote-Party-ID",
    "From",
    "Privacy",
    "y",
    "Diversion",
    "History-Info",
]
HEADER_TEXT = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=120
) | st.sampled_from(
    [
        "<tel:+49-30-1234-5679>",
        '"x" <sip:+12125550147@h;user=phone;verstat=TN-Validation-Failed>;party=calling;privacy=full',
        "<tel:030123;phone-context=+49>",
        "e30.e30.e30;info=<https://x>;alg=ES256;ppt=shaken",
        "eyJhbGciOiJFUzI1NiJ9.eyJpYXQiOjEuMGUzMDB9.;info=<https://x>",
        "anonymous@anonymous.invalid",
    ]
)


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(IDENTITY_HEADERS), HEADER_TEXT), max_size=8))
def test_identify_never_raises(rows: list[tuple[str, str]]) -> None:
    req = Request("INVITE", "sip:a@b", "SIP/2.0", Headers(rows))
    for trunk in TRUNKS:
        ident = identify(req, trunk, now=1_764_079_331.0, trust_store={"https://x": b"junk"})
        assert ident.ani is None or ident.ani.startswith("+")


def test_seeds_are_there() -> None:
    assert len(SEEDS) > 40 and Path(TORTURE_DIR).is_dir()
