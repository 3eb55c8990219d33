"""A worker killed with SIGKILL while sipp calls loses no call record: every call that got its 302
is in the database after a restart (the journal is written before the answer is sent)."""

from __future__ import annotations

import signal
import threading
import time

from sqlalchemy import func, select

from routing.models import CallRecord
from tests.e2e.conftest import start_worker
from tests.e2e.sipp import run_sipp


def test_sigkill_during_calls_loses_no_answered_call(worker_env, estate_db, tmp_path) -> None:
    worker = start_worker(worker_env, tmp_path / "worker-1.log")
    result = {}

    def call() -> None:
        result["sipp"] = run_sipp(
            tmp_path / "sipp",
            worker.port,
            calls=3000,
            rate=400,
            timeout=25,
            headers=["P-Asserted-Identity: <tel:+493012345678>"],
            extra=["-max_retrans", "1"],
        )

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(3)  # about 1,200 calls in
    worker.stop(signal.SIGKILL)
    assert worker.proc.returncode == -signal.SIGKILL
    caller.join(120)
    answered = set(result["sipp"].values("ANSWERED"))
    assert 300 < len(answered) < 3000, result["sipp"].output

    # restart: the recorder drains what the killed process had journaled
    again = start_worker(worker_env, tmp_path / "worker-2.log")
    assert again.stop() == 0
    with estate_db.factory() as s:
        stored = set(s.scalars(select(CallRecord.call_id)))
        duplicates = s.scalar(select(func.count()).select_from(CallRecord)) - len(stored)
    assert answered - stored == set()
    assert duplicates == 0
