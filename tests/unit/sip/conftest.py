"""Fixtures of the SIP library tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.sip.helpers import TORTURE_DIR


@pytest.fixture(scope="session")
def torture_dir() -> Path:
    """The RFC 4475 folder; its absence fails the test (never a silent skip)."""
    if not TORTURE_DIR.is_dir() or not any(TORTURE_DIR.glob("*.dat")):
        pytest.fail(f"RFC 4475 torture folder missing: {TORTURE_DIR} (set ANIGATE_SIP_TORTURE_DIR)")
    return TORTURE_DIR
