"""Calls for the history page tests, recorded the way the worker records them: a journal record per
call, drained by the recorder with the app's alarm engine as its observer (so alarms are raised)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bootstrap import Services
from routing.journal import JournalWriter
from routing.recorder import CallRecorder

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
XSS = "<img src=x onerror=alert(1)>"
XSS_ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


class Calls:
    """One journal and one recorder for a test: ``record()`` appends calls and drains them."""

    def __init__(self, services: Services, directory: Path):
        self.writer = JournalWriter(directory)
        self.recorder = CallRecorder(services.session_factory, directory, observers=services.call_observers)
        self.n = 0

    def record(self, *calls: dict[str, Any]) -> None:
        for c in calls:
            self.writer.append(c)
        self.recorder.drain()


def lift_record(est: dict[str, Any], n: int, at: datetime = T0, **kw: Any) -> dict[str, Any]:
    """The journal record of an emergency call from ``estate()``'s lift phone over its trusted trunk."""
    dev, center = est["device"], est["center"]
    record: dict[str, Any] = {
        "type": "call",
        "record_id": f"rec{n:029d}",
        "call_id": f"call-{n}@pbx",
        "branch": f"z9hG4bK{n}",
        "received_at": at.isoformat(),
        "source": "127.0.0.1:5062",
        "transport": "UDP",
        "trunk_id": est["trunk"].id,
        "trunk_name": est["trunk"].name,
        "ani": dev.ani,
        "ani_source": "pai-tel",
        "ani_raw": f"<tel:{dev.ani}>",
        "presented_number": "+493099999999",
        "display_name": "Lift 1 Tower A",
        "privacy": "id",
        "identity_verified": True,
        "attestation": "B",
        "dnis": "+493023905000",
        "device_id": dev.id,
        "site_id": est["site"].id,
        "center_id": center.id,
        "status": 302,
        "priority": "emergency",
        "line": "emergency",
        "language": "de",
        "test_call": False,
        "targets": list(center.sip_uris),
        "target_center_ids": [center.id],
        "reason": "registered device at site Tower A; day center Berlin Control",
        "anomalies": [],
        "latency_us": 180,
    }
    return record | kw


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)
