"""Test doubles for the middle of the system (STYLE.md): a clock that moves only when told, a
journal whose disk fills up when told."""

from __future__ import annotations

import errno
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from routing.journal import JournalWriter


class FakeClock:
    """``clock()`` returns the time it was set to; ``advance()`` moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 12, 2, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now

    def set(self, when: datetime) -> datetime:
        self.now = when
        return when


class FailingJournal:
    """A real journal (``routing.journal.JournalWriter``) whose appends fail while ``broken`` is
    set, with the error a full disk gives: the fault of the journal's disk, without a full disk."""

    def __init__(self, directory: Path) -> None:
        self.inner = JournalWriter(directory)
        self.broken = False

    encode = staticmethod(JournalWriter.encode)

    def append(self, record: dict[str, Any]) -> None:
        self.write_lines([self.encode(record)])

    def write_lines(self, lines: list[bytes]) -> None:
        if self.broken:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.inner.write_lines(lines)

    def close(self) -> None:
        self.inner.close()
