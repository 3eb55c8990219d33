"""Shared helpers of the SIP library tests: raw messages live as files (tests/data/sip, RFC 4475 folder)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
TRACE_DIR = REPO / "tests" / "data" / "sip"
# The RFC 4475 torture corpus is shared, not copied: beside the clone in CI, overridable by env.
TORTURE_DIR = Path(os.environ.get("ANIGATE_SIP_TORTURE_DIR", str(REPO / ".." / "shared" / "sip-torture")))


def trace(name: str) -> bytes:
    """The bytes of tests/data/sip/<name>.txt (CRLF line ends, exact Content-Length)."""
    return (TRACE_DIR / f"{name}.txt").read_bytes()


def trace_names() -> list[str]:
    return sorted(p.stem for p in TRACE_DIR.glob("*.txt"))


def sip(text: str, body: str = "") -> bytes:
    """A message from readable text: LF → CRLF, headers end with an empty line, then ``body``."""
    head = text.strip("\n").replace("\n", "\r\n")
    return f"{head}\r\n\r\n{body}".encode()
