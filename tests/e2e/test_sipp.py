"""sipp (a real SIP peer) calls in with every way a carrier writes the ANI, over UDP and TCP,
and the 302 Contact must be exactly the right security center."""

from __future__ import annotations

import pytest

from tests.e2e.sipp import run_sipp

BERLIN = (
    "<sip:berlin@127.0.0.1:5070>;q=1.0, <sip:berlin-backup@127.0.0.1:5071>;q=0.9, "
    "<sip:london@127.0.0.1:5080>;q=0.8"
)
LONDON = "<sip:london@127.0.0.1:5080>;q=1.0"
ANON = '"Anonymous" <sip:anonymous@anonymous.invalid>'

CASES = {
    "pai-sip-and-tel": dict(
        headers=[
            'P-Asserted-Identity: "Lift 1" <sip:+493012345678@127.0.0.1;user=phone>, <tel:+493012345678>'
        ]
    ),
    "pai-sip-national": dict(headers=["P-Asserted-Identity: <sip:03012345678@127.0.0.1;user=phone>"]),
    "pai-tel-separators": dict(headers=["P-Asserted-Identity: <tel:+49-30-1234-5678>"]),
    "p-charge-info": dict(
        headers=["P-Charge-Info: <sip:+493012345678@127.0.0.1>;npi=ISDN;noa=3"],
        from_header='"Reception" <sip:+4930999000@127.0.0.1>',
    ),
    "remote-party-id": dict(
        headers=[
            'Remote-Party-ID: "Lift 1" <sip:+493012345678@127.0.0.1>;party=calling;screen=yes;privacy=off'
        ]
    ),
    "privacy-id-anonymous-from": dict(
        from_header=ANON, headers=["P-Asserted-Identity: <tel:+493012345678>", "Privacy: id"]
    ),
    "compact-headers": dict(
        scenario="invite_302_compact.xml", headers=["P-Asserted-Identity: <tel:+493012345678>"]
    ),
    # an unknown German number goes to the first center speaking German (Berlin), then the default
    "unknown-ani": dict(
        headers=["P-Asserted-Identity: <tel:+4989111222>"],
        from_header="<sip:+4989111222@127.0.0.1>",
    ),
    # the untrusted trunk's asserted identity is ignored; its anonymous From gives no ANI
    "untrusted-trunk-pai-ignored": dict(
        src_ip="127.0.0.3",
        from_header=ANON,
        headers=["P-Asserted-Identity: <tel:+493012345678>"],
        expect_contact=LONDON,
    ),
}


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_sipp_call_gets_the_right_contact(worker, tmp_path, case, transport) -> None:
    spec = dict(CASES[case])
    expected = spec.pop("expect_contact", BERLIN)
    result = run_sipp(tmp_path, worker.port, transport=transport, **spec)
    assert result.returncode == 0, result.output + worker.log()[-2000:]
    assert result.values("CONTACT") == [expected]


def test_sipp_from_an_unknown_source_gets_403(worker, tmp_path) -> None:
    result = run_sipp(
        tmp_path,
        worker.port,
        transport="UDP",
        src_ip="127.0.0.5",
        expect=403,
        headers=["P-Asserted-Identity: <tel:+493012345678>"],
    )
    assert result.returncode == 0, result.output
    assert result.values("CONTACT") == [""]


def test_sipp_from_an_unknown_source_over_tcp_is_closed(worker, tmp_path) -> None:
    # over TCP an unknown source gets no connection at all (tests/e2e/test_tcp_slots.py)
    result = run_sipp(
        tmp_path,
        worker.port,
        transport="TCP",
        src_ip="127.0.0.5",
        expect=403,
        headers=["P-Asserted-Identity: <tel:+493012345678>"],
    )
    assert result.returncode != 0  # sipp: "remote peer probably closed the socket"
    assert result.values("CONTACT") == []  # no answer at all, not even the 403


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
def test_sipp_options_keepalive(worker, tmp_path, transport) -> None:
    result = run_sipp(tmp_path, worker.port, scenario="options.xml", transport=transport)
    assert result.returncode == 0, result.output
    assert result.values("ALLOW") == ["INVITE, ACK, CANCEL, OPTIONS"]
