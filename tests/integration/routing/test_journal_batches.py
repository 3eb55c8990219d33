"""The UDP listener journals the calls of one socket read with one write, before their answers
leave; a write the disk cuts short is taken back whole, so the held calls are journaled once."""

from __future__ import annotations

import errno
import resource
import signal
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from routing.journal import JournalReader, JournalWriter, segment_path
from routing.models import CallRecord
from routing.recorder import CallRecorder
from routing.redirect import RedirectService
from routing.snapshot import SnapshotHolder, SnapshotOptions, load_snapshot
from tests import factories as f
from tests.integration.routing.test_journal_faults import invite

SOURCE = ("127.0.0.1", 5060)


def journal_lines(journal: JournalWriter) -> list[bytes]:
    return segment_path(journal.directory, journal.name, 1).read_bytes().splitlines()


def test_the_calls_of_a_batch_are_journaled_together_when_the_batch_ends(services, session, tmp_path) -> None:
    f.estate(session)
    with services.session_factory() as s:
        holder = SnapshotHolder(load_snapshot(s, SnapshotOptions()))
    journal = JournalWriter(tmp_path)
    service = RedirectService(holder, journal)

    service.begin_batch()
    answers = [service.on_invite(invite(n), SOURCE, "UDP", time.perf_counter_ns()) for n in range(3)]
    assert [a.status for a in answers] == [302, 302, 302]
    assert journal_lines(journal) == []  # nothing yet: the answers have not left either
    service.end_batch()
    assert len(journal_lines(journal)) == 3 and journal.appended == 3

    # outside a batch (TCP, the route API's callers) each call is journaled at once
    service.on_invite(invite(3), SOURCE, "UDP", time.perf_counter_ns())
    assert len(journal_lines(journal)) == 4
    journal.close()
    assert CallRecorder(services.session_factory, tmp_path).drain() == 4
    ids = list(session.scalars(select(CallRecord.call_id).order_by(CallRecord.id)))
    assert [i[:8] for i in ids] == ["00000000", "00000001", "00000002", "00000003"]


@pytest.fixture
def file_size_limit() -> Iterator[None]:
    """RLIMIT_FSIZE for this process, and SIGXFSZ ignored (so the write fails with EFBIG instead)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    yield
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    signal.signal(signal.SIGXFSZ, previous)


def test_a_write_cut_short_by_the_file_size_limit_is_taken_back_whole(tmp_path, file_size_limit) -> None:
    journal = JournalWriter(tmp_path)
    first = journal.encode({"type": "call", "record_id": "a"})
    journal.write_lines([first])
    lines = [journal.encode({"type": "call", "record_id": f"b{n}", "pad": "x" * 200}) for n in range(4)]
    limit = len(first) + len(lines[0]) + 10  # room for one line and a bit: the kernel writes that much
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))

    with pytest.raises(OSError) as caught:
        journal.write_lines(lines)
    assert caught.value.errno == errno.ENOSPC and "short write" in str(caught.value)
    assert segment_path(tmp_path, "calls", 1).read_bytes() == first  # the torn part is gone
    journal.write_lines(lines[:1])  # what fits still goes in, whole
    assert segment_path(tmp_path, "calls", 1).read_bytes() == first + lines[0]

    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    journal.write_lines(lines[1:])
    batch = JournalReader(tmp_path).read(JournalReader(tmp_path).first_position())
    assert [r["record_id"] for r in batch.records] == ["a", "b0", "b1", "b2", "b3"] and batch.torn == 0
