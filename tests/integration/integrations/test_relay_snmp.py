"""Through the relay to a real snmptrapd: an alarm's inform to a manager that is down is retried with
backoff, becomes a dead letter after its attempts, and a manual retry delivers it once the manager is
up, where net-snmp prints it by its symbolic names."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import select

from integrations import relay as r
from integrations import sinks
from integrations.models import DEAD, DELIVERED, Delivery, SinkConfig
from integrations.secretbox import SecretBox
from registry.outbox import add_event
from tests import factories as f
from tests.e2e.sipp import free_port
from tests.integration.integrations import snmptrapd as trapd
from tests.unit import snmp_events as ev

BOX = SecretBox("relay-snmp-key")
A = "ANIGATE-MIB::"


def state(session) -> tuple[str, int]:
    session.expire_all()
    d = session.scalars(select(Delivery)).one_or_none()
    return (d.state, d.attempts) if d is not None else ("not fanned out yet", 0)


def test_an_inform_to_a_down_manager_is_retried_dead_lettered_and_delivered_by_a_manual_retry(
    services, session, tmp_path: Path
) -> None:
    manager = trapd.Snmptrapd(tmp_path / "nms", free_port())
    sink = sinks.create_sink(
        session,
        f.ADMIN,
        BOX,
        name="nms",
        kind="snmp",
        max_attempts=3,
        settings={
            "host": "127.0.0.1",
            "port": manager.port,
            "notify": "inform",
            "timeout": 0.3,
            "retries": 0,
        },
        secrets={"community": trapd.COMMUNITY},
    )
    session.commit()
    alarm = ev.raised()
    add_event(session, alarm)
    session.commit()
    with services.session_factory() as s:
        config = s.get(SinkConfig, sink.id)
        s.expunge(config)
    built = sinks.build("snmp", "nms", config.settings, BOX.open(config.secrets))
    built.open()
    worker = r.SinkWorker(
        services.session_factory, config, built, sinks.carries("snmp"), "w1", base=0.05, send_timeout=2
    )
    try:
        seen = []
        deadline = time.monotonic() + 20
        while state(session)[0] != DEAD:
            assert time.monotonic() < deadline, state(session)
            worker.round()
            seen.append(state(session))
            time.sleep(0.05)
        assert state(session) == (DEAD, 3)
        dead = session.scalars(select(Delivery)).one()
        assert (
            "No SNMP response" in dead.last_error and dead.next_attempt_at > dead.created_at
        )  # it backed off
        manager.start()
        try:
            assert r.retry_dead(session, sink.id) == 1
            session.commit()
            worker.round()
            assert state(session) == (DELIVERED, 1)
            (note,) = [n for n in manager.wait_for(1) if n.trap_oid.endswith("anigateAlarmRaised")]
            assert note[f"{A}anigateEventId.0"] == f"STRING: {alarm.event_id}"
            assert note[f"{A}anigateAlarmSeverity.0"] == "INTEGER: critical(3)"
        finally:
            manager.stop()
    finally:
        built.close()
