"""``ANIGATE_LOG_FORMAT=json``: a real worker and its recorder write one JSON object a line, and the
line about a call carries that call's SIP Call-ID."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import update

from registry.models import Trunk
from tests.e2e.conftest import Estate, start_worker
from tests.e2e.siptools import invite, status_line, udp_exchange

NOT_ADDED = "caller +4989111222 not added: site"


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_json_lines_carry_the_call_id_of_the_call_they_concern(
    estate_db: Estate, worker_env: dict[str, str], tmp_path: Path
) -> None:
    # the loopback trunk adds unknown callers as pending devices, and the site takes none more
    with estate_db.factory() as s:
        s.execute(
            update(Trunk).where(Trunk.name == "loopback").values(pending_site_id=estate_db.objects["site"].id)
        )
        s.commit()
    env = dict(worker_env, ANIGATE_LOG_FORMAT="json", ANIGATE_MAX_PENDING_DEVICES="0")
    log_path = tmp_path / "worker.log"
    worker = start_worker(env, log_path)
    try:
        call_id = "json-logs-1@127.0.0.1"
        unknown = invite(
            worker.port, call_id=call_id, ani_headers=("P-Asserted-Identity: <tel:+4989111222>",)
        )
        assert status_line(udp_exchange(worker.port, unknown)) == "SIP/2.0 302 Moved Temporarily"
        deadline = time.monotonic() + 20
        while NOT_ADDED not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        assert worker.stop() == 0
    records = lines(log_path)  # every line, the stop's too, is one JSON object
    about = [r for r in records if r["message"].startswith(NOT_ADDED)]
    assert len(about) == 1, log_path.read_text()[-3000:]
    line = about[0]
    assert line["call_id"] == call_id
    assert line["level"] == "WARNING"
    assert line["logger"] == "routing.recorder"
    assert line["process"] == "recorder"
    assert line["message"] == f"{NOT_ADDED} {estate_db.objects['site'].id} already has 0 pending devices"
    assert datetime.fromisoformat(line["time"]).utcoffset().total_seconds() == 0
    listening = [r for r in records if r["message"].startswith("SIP listening on 127.0.0.1:")]
    assert listening and listening[0]["process"] == "worker" and listening[0]["logger"] == "sip.listener"
    assert "call_id" not in listening[0]
    assert {r["process"] for r in records} == {"worker", "recorder", "relay"}
