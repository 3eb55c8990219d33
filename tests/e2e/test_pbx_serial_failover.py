"""A PBX in front of anigate follows its 302 itself with the recipe of docs/deploy/pbx.md (a real
Kamailio 5.6: get_redirects, t_load_contacts, t_next_contacts): the security centers are called one
after the other in q order, the fallback center only once the primary's branch has ended (it rang
out, was busy, was overloaded), never both at once; the caller gets the fallback's 200."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import factories as f
from tests.e2e.conftest import Estate, Worker
from tests.e2e.kamailio import Kamailio, start_kamailio, start_pbx
from tests.e2e.sipp import SippResult, SippUas, run_sipp, start_sipp_uas

ANI = "+494055501234"
# the ANI is in the P-Asserted-Identity alone, as in the dispatcher test
CALLER = dict(
    from_header='"Anonymous" <sip:anonymous@anonymous.invalid>',
    headers=[f"P-Asserted-Identity: <tel:{ANI}>"],
)
RING_MS = 2000  # how long the proxy lets one center ring (fr_inv_timer of the recipe)
# Kamailio's timers tick 16 times a second: a timer may fire up to one tick before its nominal end
TICK = 1 / 16 + 0.02

PRIMARY = {
    "rings": ("center_rings.xml", {}),
    "busy": ("center_rejects.xml", {"status": "486", "reason": "Busy Here"}),
    "overloaded": ("center_rejects.xml", {"status": "503", "reason": "Service Unavailable"}),
    "answers": ("center_answers.xml", {}),
}


@dataclass
class Centers:
    primary: SippUas
    fallback: SippUas

    def uris(self) -> tuple[str, str]:
        return f"sip:primary@127.0.0.1:{self.primary.port}", f"sip:fallback@127.0.0.1:{self.fallback.port}"


@pytest.fixture
def centers(request: pytest.FixtureRequest, estate_db: Estate, tmp_path: Path) -> Iterator[Centers]:
    """Two sipp UAS as the primary and the fallback line of one center, and a lift routed to it."""
    scenario, replace = PRIMARY[request.param]
    primary = start_sipp_uas(tmp_path / "primary", scenario, replace=replace)
    fallback = start_sipp_uas(tmp_path / "fallback", "center_answers.xml")
    both = Centers(primary, fallback)
    try:
        with estate_db.factory() as s:
            hamburg = f.center(s, name="Hamburg", sip_uris=list(both.uris()), timezone="Europe/Berlin")
            site = f.site(
                s, name="Tower C", slug="tower-c", day_center=hamburg.id, out_of_hours_center=hamburg.id
            )
            f.device(s, site.id, ani=ANI, trunk=estate_db.objects["loop"].id)
            s.commit()
        yield both
    finally:
        primary.stop()
        fallback.stop()


@pytest.fixture
def worker_env(worker_env: dict[str, str], centers: Centers) -> dict[str, str]:
    return worker_env  # the centers and the lift exist before the worker loads its snapshot


@pytest.fixture
def pbx(worker: Worker, tmp_path: Path) -> Iterator[Kamailio]:
    """The customer's Kamailio with the recipe, sending to anigate through the dispatcher."""
    dispatcher = start_kamailio(tmp_path / "dispatcher", [worker.port])
    try:
        kam = start_pbx(tmp_path / "pbx", dispatcher.port, ring_ms=RING_MS)
        yield kam
        kam.stop()
    finally:
        dispatcher.stop()


def call(pbx: Kamailio, tmp: Path) -> SippResult:
    return run_sipp(
        tmp / "caller",
        pbx.port,
        scenario="invite_200.xml",
        expect=200,
        timeout=40,
        extra=["-trace_msg"],
        **CALLER,
    )


def hunt(pbx: Kamailio, call_id: str) -> list[str]:
    """What the recipe logged for the call, in order: ``try <uri>`` for each center called,
    ``<uri> gave up: <code>`` for each one that did not take it."""
    steps = []
    for line in pbx.log().splitlines():
        if m := re.search(r"anigate redirect of (\S+) to (\S+)", line):
            steps.append((m[1], f"try {m[2]}"))
        elif m := re.search(r"center (\S+) gave up on (\S+): (\d+)", line):
            steps.append((m[2], f"{m[1]} gave up: {m[3]}"))
    return [step for ci, step in steps if ci == call_id]


@pytest.mark.parametrize("centers", ["rings", "busy", "overloaded"], indirect=True)
def test_the_fallback_center_is_called_only_after_the_primary_gave_up(
    centers, pbx, tmp_path, request
) -> None:
    caller = call(pbx, tmp_path)
    primary, fallback = centers.primary.wait(), centers.fallback.wait()
    final_sent = centers.primary.sent_at("SIP/2.0 4") + centers.primary.sent_at("SIP/2.0 5")
    assert caller.returncode == 0, caller.output + pbx.log()[-3000:]
    assert primary.returncode == 0 and fallback.returncode == 0, primary.output + fallback.output
    (call_id,) = caller.values("ANSWERED")
    # the caller is connected to the fallback center: its 200 carries the fallback's Contact
    assert caller.values("CONTACT") == [f"<sip:center@127.0.0.1:{centers.fallback.port};transport=UDP>"]
    primary_uri, fallback_uri = centers.uris()
    assert primary.values("INVITE") == [primary_uri]
    assert fallback.values("INVITE") == [fallback_uri]
    assert fallback.times("ACK-AT")  # the caller's ACK reached the center that answered

    (primary_at,), (fallback_at,) = primary.times("INVITE-AT"), fallback.times("INVITE-AT")
    waited = fallback_at - primary_at
    case = request.node.callspec.id
    print(f"{case}: fallback center called {waited:.3f} s after the primary")
    if case == "rings":  # given up after RING_MS of ringing, and cancelled
        assert RING_MS / 1000 - TICK <= waited < RING_MS / 1000 + 10
        (cancelled_at,) = primary.times("CANCEL-AT")
        assert cancelled_at - primary_at >= RING_MS / 1000 - TICK
    else:  # it said no at once: the fallback is called after that answer left, not held for the timer
        assert fallback_at >= min(final_sent)
        assert waited < RING_MS / 1000
    code = {"rings": "408", "busy": "486", "overloaded": "503"}[case]
    assert hunt(pbx, call_id) == [
        f"try {primary_uri}",
        f"{primary_uri} gave up: {code}",
        f"try {fallback_uri}",
    ], pbx.log()[-3000:]


@pytest.mark.parametrize("centers", ["answers"], indirect=True)
def test_a_primary_center_that_answers_is_the_only_one_called(centers, pbx, tmp_path) -> None:
    caller = call(pbx, tmp_path)
    primary = centers.primary.wait()
    assert caller.returncode == 0, caller.output + pbx.log()[-3000:]
    assert primary.returncode == 0, primary.output
    assert caller.values("CONTACT") == [f"<sip:center@127.0.0.1:{centers.primary.port};transport=UDP>"]
    centers.fallback.stop()  # it would wait for a call forever: none came
    fallback = centers.fallback.wait()
    assert fallback.values("INVITE-AT") == []
    (call_id,) = caller.values("ANSWERED")
    assert hunt(pbx, call_id) == [f"try {centers.uris()[0]}"]
