"""The readiness rule over worker_status rows: a fresh heartbeat with a running recorder, a bound SIP
listener, a journal within its bound, no held call and the live snapshot is ready; a stale one, none
at all, or any failed check is not, with each failed check named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from routing.health import readiness
from routing.models import WorkerStatus

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def row(
    name: str = "vm:127.0.0.1:5060",
    age: float = 1.0,
    state: str = "running",
    restarts: int = 0,
    error: str = "",
    backlog: int = 0,
    **kw: object,
) -> WorkerStatus:
    return WorkerStatus(
        worker=name,
        host="vm",
        pid=4242,
        started_at=NOW - timedelta(hours=1),
        heartbeat_at=NOW - timedelta(seconds=age),
        recorder_state=state,
        recorder_pid=4243,
        recorder_restarts=restarts,
        recorder_last_error=error,
        journal_backlog_bytes=backlog,
        **(
            {
                "sip_listening": True,
                "calls_held": 0,
                "calls_unjournaled": 0,
                "calls_lost": 0,
                "snapshot_source": "database",
                "relay_state": "running",
                "relay_restarts": 0,
            }
            | kw
        ),
    )


def test_a_fresh_worker_with_a_running_recorder_is_ready() -> None:
    state = readiness([row(restarts=2, backlog=512)], NOW)
    assert state.ready and state.reason == "ok"
    assert state.workers == [
        {
            "worker": "vm:127.0.0.1:5060",
            "heartbeat_age_s": 1.0,
            "fresh": True,
            "sip_listening": True,
            "recorder": "running",
            "recorder_restarts": 2,
            "relay": "running",
            "relay_restarts": 0,
            "journal_backlog_bytes": 512,
            "calls_held": 0,
            "calls_lost": 0,
            "snapshot": "database",
        }
    ]


def test_no_worker_at_all_is_not_ready() -> None:
    state = readiness([], NOW)
    assert not state.ready
    assert state.reason == "no worker heartbeat in the last 10 s"


def test_a_stale_heartbeat_is_not_ready() -> None:
    state = readiness([row(age=10.5)], NOW)
    assert not state.ready
    assert state.reason == "no worker heartbeat in the last 10 s"
    assert state.workers[0]["fresh"] is False
    assert readiness([row(age=10.0)], NOW).ready  # the limit itself is still fresh


def test_a_restarting_or_down_recorder_is_not_ready_and_says_so() -> None:
    restarting = readiness([row(state="restarting", restarts=1)], NOW)
    assert not restarting.ready
    assert restarting.reason == "the call recorder of vm:127.0.0.1:5060 is restarting"
    assert readiness([row(state="down")], NOW).reason == "the call recorder of vm:127.0.0.1:5060 is down"


def test_a_restarting_or_down_relay_is_not_ready_and_one_the_worker_does_not_run_is_no_fault() -> None:
    restarting = readiness([row(relay_state="restarting", relay_restarts=1)], NOW)
    assert not restarting.ready
    assert restarting.reason == "the event relay of vm:127.0.0.1:5060 is restarting"
    assert readiness([row(relay_state="down")], NOW).reason == "the event relay of vm:127.0.0.1:5060 is down"
    off = readiness([row(relay_state="off")], NOW)  # ANIGATE_RELAY=0: another host relays
    assert off.ready and off.workers[0]["relay"] == "off"


def test_a_stale_row_of_a_gone_worker_does_not_spoil_a_fresh_one() -> None:
    rows = [row("old:5060", age=3600, state="down"), row("new:5060")]
    assert readiness(rows, NOW).ready
    # but a fresh worker whose recorder is down does
    assert not readiness([row("a:5060"), row("b:5060", state="restarting")], NOW).ready


def test_the_answer_never_carries_the_recorders_error_text() -> None:
    state = readiness([row(state="restarting", error="IntegrityError: ani=+4930123")], NOW)
    assert "+4930123" not in repr(state)


def test_a_heartbeat_from_a_clock_slightly_ahead_counts_as_fresh() -> None:
    state = readiness([row(age=-2.0)], NOW)
    assert state.ready and state.workers[0]["heartbeat_age_s"] == 0.0


def test_each_failed_check_of_a_fresh_worker_is_named_in_order() -> None:
    state = readiness(
        [
            row(
                state="restarting",
                backlog=101,
                sip_listening=False,
                calls_held=7,
                calls_lost=2,
                snapshot_source="disk",
                snapshot_taken_at=NOW - timedelta(hours=3),
            )
        ],
        NOW,
        backlog_max_bytes=100,
        sinks_down=["bms"],
    )
    w = "vm:127.0.0.1:5060"
    assert not state.ready
    assert state.reasons == [
        f"the SIP listener of {w} is not bound",
        f"the call recorder of {w} is restarting",
        f"the call journal of {w} holds 101 bytes not yet in the database (more than 100)",
        f"{w} holds 7 answered calls it cannot journal",
        f"{w} answers from the registry snapshot on disk of 2026-12-01T09:00:00+00:00, not the live one",
        "the MQTT sink bms is not connected",
    ]


def test_a_backlog_at_its_bound_is_still_ready_and_lost_calls_alone_do_not_make_it_unready() -> None:
    assert readiness([row(backlog=100, calls_lost=5, calls_unjournaled=5)], NOW, backlog_max_bytes=100).ready


def test_a_disconnected_mqtt_sink_is_unready_even_with_healthy_workers_and_a_missing_worker_comes_first() -> (
    None
):
    assert readiness([row()], NOW, sinks_down=["bms"]).reasons == ["the MQTT sink bms is not connected"]
    assert readiness([], NOW, sinks_down=["bms"]).reasons == [
        "no worker heartbeat in the last 10 s",
        "the MQTT sink bms is not connected",
    ]
