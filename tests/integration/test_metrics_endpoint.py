"""The web app's ``/metrics``: alarm, outbox, sink and worker figures equal to the rows behind them,
open without a token and refused without the right one when ``ANIGATE_METRICS_TOKEN`` is set."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from alarms.models import Alarm
from app import create_app
from integrations import relay, sinks
from integrations.models import DEAD, Delivery
from integrations.secretbox import SecretBox
from registry.db import utcnow
from registry.events import CallRouted
from registry.models import OutboxEvent
from registry.outbox import add_event
from routing.models import WorkerStatus
from tests import factories as f


def scrape(client, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = client.get("/metrics", headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    assert resp.headers["Cache-Control"] == "no-store"
    out = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def at(samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def alarm(session, n: int, state: str, severity: str, **kw) -> None:
    now = utcnow()
    session.add(
        Alarm(
            kind="wrong_trunk",
            resource=f"device:{n}",
            state=state,
            severity=severity,
            event_type="communicationsAlarm",
            first_at=now,
            last_at=now,
            target_center_ids=[],
            **kw,
        )
    )


def test_the_alarm_gauges_count_the_open_alarms_by_severity(client, session) -> None:
    alarm(session, 1, "active_unacknowledged", "critical")
    alarm(session, 2, "latched", "critical")
    alarm(session, 3, "active_acknowledged", "major")
    alarm(session, 4, "shelved", "minor")  # open, but not annunciated
    alarm(session, 5, "closed", "critical", closed_at=utcnow())
    session.commit()
    m = scrape(client)
    assert at(m, "anigate_database_up") == 1
    assert at(m, "anigate_alarms_active", severity="critical") == 2
    assert at(m, "anigate_alarms_active", severity="major") == 1
    assert at(m, "anigate_alarms_active", severity="minor") == 0
    assert at(m, "anigate_alarms_active", severity="warning") == 0
    assert at(m, "anigate_alarms_open", state="shelved", severity="minor") == 1
    assert at(m, "anigate_alarms_open", state="latched", severity="critical") == 1
    assert at(m, "anigate_alarms_open", state="closed", severity="critical") is None


def call(n: int) -> CallRouted:
    return CallRouted(occurred_at=utcnow(), call_id=f"c{n}@pbx", record_id=f"r{n}", ani="+493012345678")


def test_the_outbox_and_sink_backlog_match_the_rows(client, session) -> None:
    sink = sinks.create_sink(
        session,
        f.ADMIN,
        SecretBox("metrics-test"),
        name="bms-hook",
        kind="webhook",
        settings={"url": "http://127.0.0.1:9/hook", "timeout": 2},
        secrets={"secret": "s"},
    )
    session.commit()
    for n in range(4):
        add_event(session, call(n))
    session.commit()
    # the oldest event waits for a minute
    first = session.scalars(select(OutboxEvent).order_by(OutboxEvent.seq)).first()
    session.execute(update(OutboxEvent).where(OutboxEvent.seq == first.seq).values(
        recorded_at=utcnow() - timedelta(seconds=60)
    ))  # fmt: skip
    session.commit()

    m = scrape(client)
    assert at(m, "anigate_outbox_head_seq") == first.seq + 3
    assert at(m, "anigate_sink_enabled", sink="bms-hook", kind="webhook") == 1
    assert at(m, "anigate_sink_outbox_backlog_events", sink="bms-hook") == 4
    assert at(m, "anigate_sink_pending_deliveries", sink="bms-hook") == 0
    assert 59 <= at(m, "anigate_sink_oldest_undelivered_age_seconds", sink="bms-hook") < 600

    assert relay.fan_out(session, sink.id, sinks.carries("webhook")) == 4
    session.commit()
    rows = session.scalars(select(Delivery).where(Delivery.sink_id == sink.id).order_by(Delivery.seq)).all()
    rows[0].state, rows[0].attempts, rows[0].dead_at = DEAD, 10, utcnow()  # the old one is dead now
    rows[1].attempts = 2
    session.commit()

    m = scrape(client)
    assert at(m, "anigate_sink_outbox_backlog_events", sink="bms-hook") == 0
    assert at(m, "anigate_sink_pending_deliveries", sink="bms-hook") == 3
    assert at(m, "anigate_sink_retrying_deliveries", sink="bms-hook") == 1
    assert at(m, "anigate_sink_dead_letters", sink="bms-hook") == 1
    assert at(m, "anigate_sink_oldest_undelivered_age_seconds", sink="bms-hook") < 59


def test_each_worker_reports_its_journal_backlog_and_recorder(client, session) -> None:
    now = utcnow()
    session.add(
        WorkerStatus(
            worker="vm:127.0.0.1:5060",
            host="vm",
            pid=4242,
            started_at=now,
            heartbeat_at=now - timedelta(seconds=30),
            recorder_state="restarting",
            recorder_restarts=3,
            journal_backlog_bytes=123_456,
            relay_state="running",
            relay_restarts=2,
        )
    )
    session.commit()
    m = scrape(client)
    assert at(m, "anigate_worker_journal_backlog_bytes", worker="vm:127.0.0.1:5060") == 123_456
    assert at(m, "anigate_worker_recorder_up", worker="vm:127.0.0.1:5060") == 0
    assert at(m, "anigate_worker_recorder_restarts", worker="vm:127.0.0.1:5060") == 3
    assert at(m, "anigate_worker_relay_up", worker="vm:127.0.0.1:5060") == 1
    assert at(m, "anigate_worker_relay_restarts", worker="vm:127.0.0.1:5060") == 2
    assert 29 <= at(m, "anigate_worker_heartbeat_age_seconds", worker="vm:127.0.0.1:5060") < 600


def test_with_a_token_set_metrics_want_it(services, settings) -> None:
    client = create_app(settings.with_(metrics_token="s3cret-token"), services).test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-token"}):
        resp = client.get("/metrics", headers=headers)
        assert resp.status_code == 401
        assert resp.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert "anigate_" not in resp.get_data(as_text=True)
    assert at(scrape(client, Authorization="Bearer s3cret-token"), "anigate_database_up") == 1


def test_a_database_that_does_not_answer_gives_database_up_0(tmp_path) -> None:
    from config import Settings

    unreachable = "postgresql+psycopg://anigate@127.0.0.1:1/anigate?connect_timeout=2"
    app = create_app(Settings(database_url=unreachable, instance_dir=tmp_path / "i", secret_key="k"))
    m = scrape(app.test_client())
    assert at(m, "anigate_database_up") == 0
    assert at(m, "anigate_alarms_active", severity="critical") is None
