"""Two ``worker.py`` processes on one database (PostgreSQL in ``make test-postgres``): each tick of
each supervision job runs in exactly one of them, and a lift phone overdue for its test call gets one
``missed_test_call`` however many workers look."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select

from alarms.models import Alarm, JobRun
from registry.db import utcnow
from registry.models import Device
from tests.e2e.conftest import start_worker

RAN = re.compile(r"job (\w+) tick (\S+) ran: ")


def test_each_job_tick_runs_once_among_two_workers(estate_db, worker_env, tmp_path) -> None:
    with estate_db.factory() as s:
        lift = s.get(Device, estate_db.objects["lift"].id)
        lift.last_test_call_at = utcnow() - timedelta(hours=80)  # type: ignore[union-attr]
        s.commit()
    env = worker_env | {"ANIGATE_SUPERVISION_INTERVAL": "1", "ANIGATE_DEADLINE_INTERVAL": "1"}
    workers = [
        start_worker(
            env | {"ANIGATE_INSTANCE_DIR": str(tmp_path / f"instance-{n}")}, tmp_path / f"worker-{n}.log"
        )
        for n in (1, 2)
    ]
    try:
        time.sleep(6)
    finally:
        codes = [w.stop() for w in workers]
    logs = [w.log() for w in workers]
    assert codes == [0, 0], "\n".join(log[-2000:] for log in logs)
    runs = [(m.group(1), m.group(2)) for log in logs for m in RAN.finditer(log)]
    per_tick = Counter(runs)
    assert per_tick and max(per_tick.values()) == 1, per_tick.most_common(3)
    ticks = Counter(job for job, _ in per_tick)
    assert ticks["supervision"] >= 3 and ticks["deadlines"] >= 3, ticks
    assert not any("failed" in log for log in logs), "\n".join(log[-3000:] for log in logs)
    with estate_db.factory() as s:
        leases = s.scalars(select(JobRun).where(JobRun.job == "supervision")).all()
        assert len(leases) == ticks["supervision"]  # every lease taken was run, by its taker
        # the jobs run in each worker's recorder process (off the SIP loop's GIL)
        recorders = {
            m.group(1) for log in logs for m in re.finditer(r"call recorder started \(pid (\d+)\)", log)
        }
        assert len(recorders) == 2
        assert {lease.worker.rsplit(":", 1)[1] for lease in leases} <= recorders
        missed = s.scalar(select(func.count()).select_from(Alarm).where(Alarm.kind == "missed_test_call"))
    assert missed == 1
