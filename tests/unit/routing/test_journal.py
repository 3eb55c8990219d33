"""The call journal hands records over durably: complete lines only, segments, torn writes."""

from __future__ import annotations

import os

from routing.journal import JournalReader, JournalWriter, Position, segment_path


def test_records_are_read_back_in_order_from_any_position(tmp_path) -> None:
    w = JournalWriter(tmp_path)
    for i in range(5):
        w.append({"type": "call", "n": i})
    r = JournalReader(tmp_path)
    first = r.read(r.first_position(), max_records=3)
    assert [x["n"] for x in first.records] == [0, 1, 2]
    rest = r.read(first.end)
    assert [x["n"] for x in rest.records] == [3, 4]
    assert r.read(rest.end).records == [] and r.read(rest.end).end == rest.end


def test_a_partial_last_line_is_left_until_it_is_complete(tmp_path) -> None:
    w = JournalWriter(tmp_path)
    w.append({"n": 1})
    with open(segment_path(tmp_path, "calls", 1), "ab") as f:
        f.write(b'{"n": 2')  # a write in progress
    r = JournalReader(tmp_path)
    batch = r.read(Position(1, 0))
    assert [x["n"] for x in batch.records] == [1]
    with open(segment_path(tmp_path, "calls", 1), "ab") as f:
        f.write(b"}\n")
    assert [x["n"] for x in r.read(batch.end).records] == [2]


def test_a_torn_line_from_a_killed_writer_is_closed_and_skipped(tmp_path) -> None:
    path = segment_path(tmp_path, "calls", 1)
    path.write_bytes(b'{"n": 1}\n{"n": 2, "trunc')
    w = JournalWriter(tmp_path)  # a new process
    w.append({"n": 3})
    batch = JournalReader(tmp_path).read(Position(1, 0))
    assert [x["n"] for x in batch.records] == [1, 3]
    assert batch.torn == 1


def test_segments_roll_over_and_reading_moves_on(tmp_path) -> None:
    w = JournalWriter(tmp_path, max_segment_bytes=60)
    for i in range(6):
        w.append({"type": "call", "n": i, "pad": "x" * 10})
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) > 2 and files[0] == "calls-00000001.jsonl"
    r = JournalReader(tmp_path)
    pos, seen = r.first_position(), []
    for _ in range(20):
        batch = r.read(pos)
        seen += [x["n"] for x in batch.records]
        pos = batch.end
    assert seen == list(range(6))
    assert [p.name for p in r.drained_segments(pos)] == files[:-1]


def test_each_record_is_one_write(tmp_path, monkeypatch) -> None:
    calls = []
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: calls.append(data) or real(fd, data))
    JournalWriter(tmp_path).append({"call_id": "a@b", "ani": "+493012345678"})
    assert calls == [b'{"call_id":"a@b","ani":"+493012345678"}\n']
