"""Real SIP INVITEs to a real worker over the demo estate: an unknown caller from DE, GB or FR is
redirected to its country's regional center (a UK mobile to London, not to the default Berlin center
that also speaks English), and the call record says why."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from registry.cli import upgrade_database
from registry.db import make_engine, make_session_factory
from registry.demo import load_demo
from routing.models import CallRecord
from tests.e2e.conftest import Worker, start_worker
from tests.e2e.siptools import header, invite, status_line, udp_exchange

BERLIN = "<sip:leitstelle@127.0.0.1:5070>;q=1.0, <sip:leitstelle-backup@127.0.0.1:5071>;q=0.9"
#: unknown caller's country -> (number, the 302's Contact, the call record's reason words)
TABLE = {
    "DE": (
        "+4915112345678",
        BERLIN,
        "unknown caller from DE: regional center 'Leitstelle Berlin' (lists DE) first",
    ),
    "GB": (
        "+447700900123",
        "<sip:control@127.0.0.1:5080>;q=1.0, <sip:leitstelle@127.0.0.1:5070>;q=0.9, "
        "<sip:leitstelle-backup@127.0.0.1:5071>;q=0.8",
        "unknown caller from GB: regional center 'London Control Room' (lists GB) first",
    ),
    "FR": (
        "+33123456789",
        BERLIN,
        "no center serves FR; no center speaks fr; default center 'Leitstelle Berlin' first",
    ),
}


@pytest.fixture
def demo_factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    """A migrated database holding the demo estate, as `make run` loads it on first start."""
    upgrade_database(database_url)
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with factory() as s:
        load_demo(s)
        s.commit()
    yield factory
    engine.dispose()


@pytest.fixture
def demo_worker(demo_factory: sessionmaker[Session], database_url: str, tmp_path: Path) -> Iterator[Worker]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANIGATE_")}
    env.update(
        {
            "ANIGATE_DATABASE_URL": database_url,
            "ANIGATE_INSTANCE_DIR": str(tmp_path / "instance"),
            "ANIGATE_SIP_HOST": "127.0.0.1",
            "ANIGATE_SIP_PORT": "0",
            "ANIGATE_SECRET_KEY": "e2e",
            # ANIGATE_DEFAULT_CENTER unset, as in `make run`: the first center, Leitstelle Berlin
        }
    )
    w = start_worker(env, tmp_path / "worker.log")
    yield w
    w.stop()


def test_unknown_callers_of_the_demo_estate_are_redirected_to_their_regional_center(
    demo_worker: Worker, demo_factory: sessionmaker[Session]
) -> None:
    call_ids = {}
    for country, (ani, contact, _) in TABLE.items():
        call_ids[country] = f"regional-{country}@127.0.0.1"
        msg = invite(
            demo_worker.port,
            ani_headers=(f"P-Asserted-Identity: <tel:{ani}>",),
            from_user=ani,
            call_id=call_ids[country],
        )
        answer = udp_exchange(demo_worker.port, msg)
        assert status_line(answer) == "SIP/2.0 302 Moved Temporarily", (country, answer)
        assert answer is not None and header(answer, "Contact") == contact, country
    deadline = time.monotonic() + 10
    reasons: dict[str, str] = {}
    while time.monotonic() < deadline and len(reasons) < len(TABLE):
        with demo_factory() as s:
            rows = s.scalars(select(CallRecord).where(CallRecord.call_id.in_(call_ids.values()))).all()
            by_call = {r.call_id: r.reason for r in rows}
        reasons = {c: by_call[i] for c, i in call_ids.items() if i in by_call}
        time.sleep(0.2)
    assert set(reasons) == set(TABLE), demo_worker.log()[-2000:]
    for country, (_, _, words) in TABLE.items():
        assert words in reasons[country], reasons[country]
