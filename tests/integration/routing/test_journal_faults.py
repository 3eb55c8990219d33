"""When the call journal cannot be written (its disk full), an emergency call is answered with its
302 all the same: life safety comes before the record. The calls answered meanwhile are held in
memory and journaled, in order, as soon as the journal takes writes again; the fault is logged at
ERROR. The recorder then stores every one of them."""

from __future__ import annotations

import logging
import time

from sqlalchemy import select

from routing import redirect
from routing.models import CallRecord
from routing.recorder import CallRecorder
from routing.redirect import RedirectService
from routing.snapshot import SnapshotHolder, SnapshotOptions, load_snapshot
from sip.message import Request, parse_message
from tests import factories as f
from tests.fakes import FailingJournal
from tests.unit.sip.helpers import trace


def invite(n: int) -> Request:
    data = trace("invite_pai_sip_tel").replace(b"2f9c1a7e-5b3d", f"{n:08d}-5b3d".encode())
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


def test_a_full_journal_disk_still_answers_302_and_journals_the_calls_once_it_has_room(
    services, session, tmp_path, caplog
) -> None:
    f.estate(session)  # its trunk: 127.0.0.1, trusted
    with services.session_factory() as s:
        holder = SnapshotHolder(load_snapshot(s, SnapshotOptions()))
    source = ("127.0.0.1", 5060)
    journal = FailingJournal(tmp_path)
    service = RedirectService(holder, journal)  # type: ignore[arg-type]

    assert service.on_invite(invite(0), source, "UDP", time.perf_counter_ns()).status == 302
    journal.broken = True
    with caplog.at_level(logging.ERROR, logger="routing.redirect"):
        answers = [service.on_invite(invite(n), source, "UDP", time.perf_counter_ns()) for n in range(1, 6)]
    assert [a.status for a in answers] == [302] * 5
    assert (
        answers[0].contacts == service.on_invite(invite(99), source, "UDP", time.perf_counter_ns()).contacts
    )
    assert service.unjournaled == 6 and service.lost == 0
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "calls are still answered" in errors[0].getMessage()  # at most every 10 s

    journal.broken = False
    assert service.on_invite(invite(7), source, "UDP", time.perf_counter_ns()).status == 302
    journal.close()
    assert CallRecorder(services.session_factory, tmp_path).drain() == 8
    session.expire_all()
    ids = list(session.scalars(select(CallRecord.call_id).order_by(CallRecord.id)))
    assert len(ids) == 8 and len(set(ids)) == 8
    assert ids[1].startswith("00000001") and ids[-1].startswith("00000007")  # in the order answered


def test_beyond_the_hold_limit_the_oldest_calls_are_counted_as_lost(
    services, session, tmp_path, monkeypatch
) -> None:
    f.estate(session)
    with services.session_factory() as s:
        holder = SnapshotHolder(load_snapshot(s, SnapshotOptions()))
    source = ("127.0.0.1", 5060)
    journal = FailingJournal(tmp_path)
    journal.broken = True
    monkeypatch.setattr(redirect, "HELD_MAX", 3)
    service = RedirectService(holder, journal)  # type: ignore[arg-type]
    assert [service.on_invite(invite(n), source, "UDP", time.perf_counter_ns()).status for n in range(5)] == [
        302
    ] * 5
    assert (service.unjournaled, service.lost) == (5, 2)
    journal.close()
