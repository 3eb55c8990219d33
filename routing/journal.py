"""Append-only journal of answered calls: the durable hand-off between the SIP hot path and the database.

The listener appends one JSON line per answered call *before* the answer is sent, with one ``write(2)``
on an ``O_APPEND`` descriptor (the calls of one UDP read batch share that write, and their answers
leave after it): the record is then in the kernel's page cache and survives the process being killed.
Lines are encoded and decoded with orjson (several times faster than the standard library's json
on these records, whose encoding was a tenth of the SIP loop's CPU per call). The recorder tails
the journal and inserts batches into the database, committing its read position
(:class:`routing.models.JournalCheckpoint`) in the same transaction as the rows, so a crash or a
database outage delays records but neither loses nor duplicates one. Segments roll over at a size
limit and are deleted once fully drained. Hand-written: no library offers a write-ahead hand-off
into SQLAlchemy with transactional checkpoints, and a broker would put the hot path behind a socket.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

_SEGMENT = re.compile(r"^(?P<name>[a-z]+)-(?P<seq>\d{8})\.jsonl$")


def _segments(directory: Path, name: str) -> list[int]:
    out = []
    for p in directory.iterdir():
        m = _SEGMENT.match(p.name)
        if m and m.group("name") == name:
            out.append(int(m.group("seq")))
    return sorted(out)


def segment_path(directory: Path, name: str, seq: int) -> Path:
    return directory / f"{name}-{seq:08d}.jsonl"


class JournalWriter:
    """Appends records; thread-safe; one ``os.write`` per record (atomic for O_APPEND files)."""

    def __init__(self, directory: Path, name: str = "calls", max_segment_bytes: int = 64 << 20):
        self.directory = Path(directory)
        self.name = name
        self.max_segment_bytes = max_segment_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        existing = _segments(self.directory, name)
        self._seq = existing[-1] if existing else 1
        self._fd = self._open(self._seq)
        self._size = os.fstat(self._fd).st_size
        if self._size and not self._ends_with_newline():
            # a previous process died inside a write: close that torn line so the next one parses
            os.write(self._fd, b"\n")
            self._size += 1
        self.appended = 0

    def _open(self, seq: int) -> int:
        path = segment_path(self.directory, self.name, seq)
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

    def _ends_with_newline(self) -> bool:
        path = segment_path(self.directory, self.name, self._seq)
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    @staticmethod
    def encode(record: dict[str, Any]) -> bytes:
        """One journal line: compact JSON (UTF-8) and a newline."""
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)

    def append(self, record: dict[str, Any]) -> None:
        self.write_lines([self.encode(record)])

    def write_lines(self, lines: list[bytes]) -> None:
        """Append encoded lines with one ``write(2)``: all of them or, on an error, none (a short
        write, which a filling disk can give, is cut off again, so the caller keeps every line and
        nothing is in the journal twice)."""
        data = lines[0] if len(lines) == 1 else b"".join(lines)
        with self._lock:
            if self._size + len(data) > self.max_segment_bytes and self._size:
                fd = self._open(self._seq + 1)  # first: a failed open leaves the old segment in use
                os.close(self._fd)
                self._fd, self._seq, self._size = fd, self._seq + 1, 0
            try:
                written = os.write(self._fd, data)
                if written != len(data):  # a full disk takes part of the lines
                    raise OSError(errno.ENOSPC, f"journal short write: {written} of {len(data)} bytes")
            except OSError:
                # never leave part of a line behind: the next record would be glued to it and lost
                # as torn. Truncating needs no free space.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._size)
                raise
            self._size += written
            self.appended += len(lines)

    def sync(self) -> None:
        """Flush to the disk (for shutdown; SIGKILL needs no fsync, a power cut would)."""
        with self._lock:
            os.fsync(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1


@dataclass(frozen=True)
class Position:
    segment: int
    offset: int


@dataclass(frozen=True)
class Batch:
    records: list[dict[str, Any]]
    #: where reading resumes after this batch
    end: Position
    #: records that were not valid JSON (a torn write); skipped, counted
    torn: int = 0


class JournalReader:
    """Reads complete lines from a position on; never consumes a partial last line."""

    def __init__(self, directory: Path, name: str = "calls"):
        self.directory = Path(directory)
        self.name = name

    def first_position(self) -> Position:
        segs = _segments(self.directory, self.name) if self.directory.exists() else []
        return Position(segs[0] if segs else 1, 0)

    def _later(self, segment: int) -> list[int]:
        segs = _segments(self.directory, self.name) if self.directory.exists() else []
        return [s for s in segs if s > segment]

    def read(self, pos: Position, max_records: int = 5000) -> Batch:
        path = segment_path(self.directory, self.name, pos.segment)
        records: list[dict[str, Any]] = []
        torn = 0
        offset = pos.offset
        try:
            with open(path, "rb") as f:
                f.seek(pos.offset)
                for raw in _lines(f, max_records):
                    offset += len(raw)
                    try:
                        records.append(orjson.loads(raw))
                    except orjson.JSONDecodeError:
                        torn += 1
        except FileNotFoundError:
            # the segment was drained and removed (or never written): resume at the next one
            later = self._later(pos.segment)
            return Batch([], Position(later[0], 0) if later else pos)
        if not records and not torn and offset == pos.offset:
            # at the end of this segment: move on only once the writer has moved on
            later = self._later(pos.segment)
            if later:
                return Batch([], Position(later[0], 0))
        return Batch(records, Position(pos.segment, offset), torn)

    def backlog_bytes(self, pos: Position) -> int:
        """Bytes written after ``pos``: what the recorder has yet to store."""
        total = 0
        for seq in _segments(self.directory, self.name) if self.directory.exists() else []:
            if seq < pos.segment:
                continue
            try:
                size = segment_path(self.directory, self.name, seq).stat().st_size
            except FileNotFoundError:  # drained and removed meanwhile
                continue
            total += max(0, size - pos.offset) if seq == pos.segment else size
        return total

    def drained_segments(self, pos: Position) -> list[Path]:
        """Segments wholly before ``pos``: safe to delete once ``pos`` is committed."""
        return [
            segment_path(self.directory, self.name, s)
            for s in _segments(self.directory, self.name)
            if s < pos.segment
        ]


def _lines(f: Any, limit: int) -> Iterator[bytes]:
    n = 0
    while n < limit:
        raw = f.readline()
        if not raw or not raw.endswith(b"\n"):
            return  # end of file, or a line still being written
        n += 1
        yield raw


def instance_digest(journal_dir: Path, host: str) -> str:
    """What tells one anigate instance from the others on one database, stable across restarts:
    a digest of the host and the journal's absolute path (each instance has its own journal)."""
    return hashlib.sha256(f"{host}\0{Path(journal_dir).resolve()}".encode()).hexdigest()


def checkpoint_name(journal_dir: Path, host: str) -> str:
    """The checkpoint row of one instance's journal: several instances on one database each drain
    their own journal from their own position (a shared row would make one skip or repeat the
    other's records)."""
    return f"calls@{instance_digest(journal_dir, host)[:20]}"
