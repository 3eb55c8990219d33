"""``/healthz`` answers whenever the web app runs; ``/readyz`` is 200 only while the database answers
and a worker's fresh heartbeat says it is healthy (SIP listener bound, call recorder running, journal
backlog within its bound, no call held unjournaled, the live snapshot) and every enabled MQTT sink is
connected, else 503 naming each failed check. No login."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from app import create_app
from bootstrap import build_services
from config import Settings
from integrations.models import SinkConfig
from registry.cli import upgrade_database
from registry.db import utcnow
from routing.health import (
    ChildState,
    SnapshotSource,
    WorkerReport,
    journal_backlog,
    record_worker_status,
)
from routing.journal import JournalWriter
from routing.models import WorkerStatus
from routing.recorder import CallRecorder

#: nothing listens on port 1: the database "does not answer" at once
UNREACHABLE = "postgresql+psycopg://anigate@127.0.0.1:1/anigate?connect_timeout=2"


def report(state: ChildState = ChildState.RUNNING, restarts: int = 0) -> WorkerReport:
    return WorkerReport(
        worker="vm:127.0.0.1:5060",
        host="vm",
        pid=4242,
        started_at=utcnow(),
        recorder_state=state,
        recorder_pid=4243,
        recorder_restarts=restarts,
        recorder_last_error="killed by SIGKILL after 3 s" if restarts else "",
    )


def beat(session, tmp_path, state: ChildState = ChildState.RUNNING, restarts: int = 0) -> None:
    record_worker_status(session, report(state, restarts), utcnow(), tmp_path / "journal")
    session.commit()


def test_healthz_answers_without_login(client) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}
    assert resp.headers["Cache-Control"] == "no-store"


def test_readyz_without_any_worker_is_503(client) -> None:
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json() == {
        "status": "unavailable",
        "reason": "no worker heartbeat in the last 10 s",
        "reasons": ["no worker heartbeat in the last 10 s"],
        "workers": [],
    }


def test_readyz_is_200_while_a_worker_beats_with_its_recorder_running(client, session, tmp_path) -> None:
    beat(session, tmp_path)
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "ready" and body["reason"] == "ok" and body["reasons"] == []
    assert body["workers"][0] == {
        "worker": "vm:127.0.0.1:5060",
        "heartbeat_age_s": body["workers"][0]["heartbeat_age_s"],
        "fresh": True,
        "sip_listening": True,
        "recorder": "running",
        "recorder_restarts": 0,
        "relay": "off",
        "relay_restarts": 0,
        "journal_backlog_bytes": 0,
        "calls_held": 0,
        "calls_lost": 0,
        "snapshot": "database",
    }
    assert resp.headers["Cache-Control"] == "no-store"


def test_readyz_is_503_while_the_recorder_restarts_and_200_again_after(client, session, tmp_path) -> None:
    beat(session, tmp_path, ChildState.RESTARTING, restarts=1)
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["reason"] == "the call recorder of vm:127.0.0.1:5060 is restarting"
    assert "SIGKILL" not in resp.get_data(as_text=True)  # the error text stays in the table
    beat(session, tmp_path, ChildState.RUNNING, restarts=1)
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json()["workers"][0]["recorder_restarts"] == 1


def test_readyz_is_503_once_the_heartbeat_is_stale(client, session, tmp_path) -> None:
    beat(session, tmp_path)
    session.execute(update(WorkerStatus).values(heartbeat_at=utcnow() - timedelta(seconds=11)))
    session.commit()
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["reason"] == "no worker heartbeat in the last 10 s"
    assert resp.get_json()["workers"][0]["fresh"] is False


def test_readyz_is_503_when_the_database_does_not_answer_and_healthz_still_200(tmp_path) -> None:
    settings = Settings.from_env(
        {}, database_url=UNREACHABLE, instance_dir=tmp_path / "instance", secret_key="t", demo=False
    )
    services = build_services(settings)
    try:
        client = create_app(services=services).test_client()
        resp = client.get("/readyz")
        assert resp.status_code == 503
        assert resp.get_json() == {
            "status": "unavailable",
            "reason": "the database does not answer",
            "reasons": ["the database does not answer"],
        }
        assert "127.0.0.1:1" not in resp.get_data(as_text=True)
        assert client.get("/healthz").status_code == 200
    finally:
        services.close()


def test_the_heartbeat_reports_the_journal_backlog(services, session, tmp_path) -> None:
    journal_dir = tmp_path / "journal"
    writer = JournalWriter(journal_dir)
    for n in range(3):
        writer.append({"type": "heartbeat", "device_id": 1, "at": "2026-12-01T12:00:00+00:00", "n": n})
    writer.close()
    size = sum(p.stat().st_size for p in journal_dir.iterdir())
    assert journal_backlog(session, journal_dir) == size
    record_worker_status(session, report(), utcnow(), journal_dir)
    session.commit()
    assert session.get(WorkerStatus, "vm:127.0.0.1:5060").journal_backlog_bytes == size
    CallRecorder(services.session_factory, journal_dir).drain()
    session.expire_all()
    assert journal_backlog(session, journal_dir) == 0


def test_readyz_names_every_failed_check_of_a_fresh_worker_and_of_the_mqtt_sinks(
    client, session, tmp_path
) -> None:
    record_worker_status(
        session,
        replace(
            report(),
            sip_listening=False,
            calls_held=3,
            calls_unjournaled=3,
            snapshot_source=SnapshotSource.DISK,
            snapshot_taken_at=datetime(2026, 12, 1, 23, 0, tzinfo=UTC),
        ),
        utcnow(),
        tmp_path / "journal",
    )
    session.execute(update(WorkerStatus).values(journal_backlog_bytes=60 << 20))
    session.add_all(
        [
            SinkConfig(name="bms", kind="mqtt", status="cannot connect: [Errno 111] Connection refused"),
            SinkConfig(name="bms-2", kind="mqtt", status="disconnected: waiting for the peer"),
            SinkConfig(name="ok", kind="mqtt", status="connected"),
            SinkConfig(name="off", kind="mqtt", enabled=False, status="cannot connect: refused"),
            SinkConfig(name="new", kind="mqtt", status=""),  # the relay has not reported yet
            SinkConfig(name="hook", kind="webhook", status="cannot connect: refused"),
        ]
    )
    session.commit()
    resp = client.get("/readyz")
    assert resp.status_code == 503
    body = resp.get_json()
    w = "vm:127.0.0.1:5060"
    assert body["reasons"] == [
        f"the SIP listener of {w} is not bound",
        f"the call journal of {w} holds 62914560 bytes not yet in the database (more than 52428800)",
        f"{w} holds 3 answered calls it cannot journal",
        f"{w} answers from the registry snapshot on disk of 2026-12-01T23:00:00+00:00, not the live one",
        "the MQTT sink bms is not connected",
        "the MQTT sink bms-2 is not connected",
    ]
    assert body["reason"] == "; ".join(body["reasons"])
    assert "Errno" not in resp.get_data(as_text=True)  # the relay's error text stays in the table
    assert body["workers"][0] | {"heartbeat_age_s": 0} == {
        "worker": w,
        "heartbeat_age_s": 0,
        "fresh": True,
        "sip_listening": False,
        "recorder": "running",
        "recorder_restarts": 0,
        "relay": "off",
        "relay_restarts": 0,
        "journal_backlog_bytes": 62914560,
        "calls_held": 3,
        "calls_lost": 0,
        "snapshot": "disk",
    }


def test_readyz_is_200_again_once_the_worker_journals_its_held_calls_and_the_sink_connects(
    client, session, tmp_path
) -> None:
    record_worker_status(session, replace(report(), calls_held=3), utcnow(), tmp_path / "journal")
    session.add(SinkConfig(name="bms", kind="mqtt", status="disconnected: waiting for the peer"))
    session.commit()
    assert client.get("/readyz").status_code == 503
    record_worker_status(session, replace(report(), calls_held=0, calls_unjournaled=3), utcnow(), tmp_path)
    session.execute(update(SinkConfig).values(status="connected"))
    session.commit()
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["workers"][0]["calls_held"] == 0


def test_the_journal_backlog_bound_comes_from_the_settings(tmp_path, database_url) -> None:
    settings = Settings.from_env(
        {"ANIGATE_READY_JOURNAL_BACKLOG_MB": "0.001"},
        database_url=database_url,
        instance_dir=tmp_path / "instance",
        secret_key="t",
        demo=False,
    )
    services = build_services(settings)
    try:
        upgrade_database(database_url)
        with services.session_factory() as s:
            beat(s, tmp_path)
            s.execute(update(WorkerStatus).values(journal_backlog_bytes=2000))
            s.commit()
        resp = create_app(services=services).test_client().get("/readyz")
        assert resp.status_code == 503
        assert resp.get_json()["reasons"] == [
            "the call journal of vm:127.0.0.1:5060 holds 2000 bytes not yet in the database (more than 1048)"
        ]
    finally:
        services.close()
