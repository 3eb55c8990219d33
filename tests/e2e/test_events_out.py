"""Events out through the real worker: a sinks file names a webhook, sipp calls from a registered
lift phone, and the webhook receives the call's ``call.routed`` and its ``alarm.raised``, signed,
from the worker's background process (never from the SIP loop)."""

from __future__ import annotations

import json
import time

from integrations.webhooks import verify
from tests.e2e.conftest import start_worker
from tests.e2e.sipp import run_sipp
from tests.webhook_receiver import SECRET, Receiver


def test_a_lift_call_reaches_the_webhook_of_the_sinks_file(worker_env, tmp_path) -> None:
    receiver = Receiver()
    sinks_file = tmp_path / "sinks.toml"
    sinks_file.write_text(
        f"""
[[sink]]
name = "bms-hook"
kind = "webhook"
[sink.settings]
url = "{receiver.url}"
[sink.secrets]
secret = "{SECRET}"
"""
    )
    worker = start_worker(worker_env | {"ANIGATE_SINKS_FILE": str(sinks_file)}, tmp_path / "worker.log")
    try:
        time.sleep(0.5)  # the relay reads its sinks every 2 s; the call's events wait in the outbox
        result = run_sipp(tmp_path, worker.port, headers=["P-Asserted-Identity: <tel:+493012345678>"])
        assert result.returncode == 0, result.output
        (call_id,) = result.values("ANSWERED")
        deadline = time.monotonic() + 10
        while len(receiver.got) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        events = receiver.events()
        assert [e["type"] for e in events] == ["call.routed", "alarm.raised"], worker.log()[-3000:]
        assert {e["body"]["call_id"] for e in events} == {call_id}
        for headers, body in receiver.got:
            assert verify(SECRET, headers["X-Anigate-Signature"], body, time.time())
        assert json.loads(receiver.got[1][1])["body"]["severity"] == "critical"
        assert "sinks file" in worker.log() and "bms-hook created" in worker.log()
    finally:
        worker.stop()
        receiver.close()
