"""Prometheus metrics read from the database at scrape time, for the web app's ``/metrics``: the
outbox and each sink's backlog, retries and dead letters, each worker's journal backlog and
recorder and relay, and the open alarms by state and severity.

Every figure is a fact of the shared database, so both gunicorn processes (or any number of web
hosts) answer a scrape alike: no ``PROMETHEUS_MULTIPROC_DIR`` is needed, and nothing is counted in
process memory. Cheap queries only, so that a scrape stays fast with millions of call and delivery
rows: no count over ``calls``; the outbox head is the one-row ``outbox_sequence``; the oldest event
of a backlog is one row by the unique ``seq`` index; deliveries are counted per sink and state
(``ix_deliveries_queue``), where only the pending and dead rows are walked (delivered ones, the
millions, never); open alarms through the partial index on ``state != 'closed'``.
May import every package (a leaf, see ``ops``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from alarms.choices import ANNUNCIATED, AlarmState, PerceivedSeverity
from alarms.models import Alarm
from integrations.models import DEAD, PENDING, Delivery, SinkConfig
from registry.db import utcnow
from registry.models import OutboxEvent
from registry.outbox import head
from routing.health import ChildState
from routing.models import WorkerStatus

log = logging.getLogger(__name__)


def _age(now: datetime, then: datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0


def _recorded_at(session: Session, where: Any) -> datetime | None:
    """``recorded_at`` of the first outbox event matching ``where``, in ``seq`` order (one index row)."""
    return session.scalar(select(OutboxEvent.recorded_at).where(where).order_by(OutboxEvent.seq).limit(1))


class DatabaseCollector(Collector):
    """Metric families from the database; a database that does not answer gives
    ``anigate_database_up 0`` and nothing else (the scrape itself still succeeds)."""

    def __init__(self, factory: sessionmaker[Session]):
        self.factory = factory

    def collect(self) -> Iterator[Any]:
        t0 = time.perf_counter()
        try:
            with self.factory() as session:
                families = list(self._families(session, utcnow()))
        except SQLAlchemyError as exc:
            log.warning("metrics: the database does not answer: %s", exc)
            families = []
        yield GaugeMetricFamily(
            "anigate_database_up", "1 when the database answered this scrape", value=1 if families else 0
        )
        yield from families
        yield GaugeMetricFamily(
            "anigate_metrics_database_seconds",
            "Time the database queries of this scrape took",
            value=time.perf_counter() - t0,
        )

    def _families(self, session: Session, now: datetime) -> Iterator[Any]:
        last = head(session)
        yield GaugeMetricFamily(
            "anigate_outbox_head_seq", "seq of the last committed outbox event", value=last
        )
        yield from self._sinks(session, now, last)
        yield from self._workers(session, now)
        yield from self._alarms(session)

    def _sinks(self, session: Session, now: datetime, last: int) -> Iterator[Any]:
        labels = ["sink"]
        enabled = GaugeMetricFamily(
            "anigate_sink_enabled", "1 when the sink is enabled", labels=["sink", "kind"]
        )
        backlog = GaugeMetricFamily(
            "anigate_sink_outbox_backlog_events",
            "Outbox events committed after the sink's cursor (not yet fanned out into its deliveries)",
            labels=labels,
        )
        pending = GaugeMetricFamily(
            "anigate_sink_pending_deliveries", "Deliveries to the sink not yet acknowledged", labels=labels
        )
        retrying = GaugeMetricFamily(
            "anigate_sink_retrying_deliveries",
            "Pending deliveries that failed at least once and wait for their next attempt",
            labels=labels,
        )
        dead = GaugeMetricFamily(
            "anigate_sink_dead_letters", "Deliveries given up (dead letters, until retried)", labels=labels
        )
        oldest = GaugeMetricFamily(
            "anigate_sink_oldest_undelivered_age_seconds",
            "Age of the oldest event the sink has not acknowledged yet (0: none waits)",
            labels=labels,
        )
        rows = session.execute(
            select(SinkConfig.id, SinkConfig.name, SinkConfig.kind, SinkConfig.enabled, SinkConfig.cursor)
        ).all()
        for sink_id, name, kind, is_enabled, cursor in rows:
            enabled.add_metric([name, kind], 1 if is_enabled else 0)
            n_pending, first_pending, n_retrying = session.execute(
                select(
                    func.count(),
                    func.min(Delivery.seq),
                    func.coalesce(func.sum(case((Delivery.attempts > 0, 1), else_=0)), 0),
                ).where(Delivery.sink_id == sink_id, Delivery.state == PENDING)
            ).one()
            n_dead = session.scalar(
                select(func.count()).where(Delivery.sink_id == sink_id, Delivery.state == DEAD)
            )
            unfanned = max(0, last - cursor) if is_enabled else 0
            times = []
            if first_pending is not None:
                times.append(_recorded_at(session, OutboxEvent.seq == first_pending))
            if unfanned:
                times.append(_recorded_at(session, OutboxEvent.seq > cursor))
            known = [t for t in times if t is not None]
            backlog.add_metric([name], unfanned)
            pending.add_metric([name], n_pending)
            retrying.add_metric([name], n_retrying)
            dead.add_metric([name], n_dead or 0)
            oldest.add_metric([name], _age(now, min(known)) if known else 0.0)
        yield from (enabled, backlog, pending, retrying, dead, oldest)

    def _workers(self, session: Session, now: datetime) -> Iterator[Any]:
        labels = ["worker"]
        backlog = GaugeMetricFamily(
            "anigate_worker_journal_backlog_bytes",
            "Call journal bytes of the worker not yet stored in the database (as of its last heartbeat)",
            labels=labels,
        )
        beat = GaugeMetricFamily(
            "anigate_worker_heartbeat_age_seconds",
            "Seconds since the worker last wrote its status row",
            labels=labels,
        )
        up = GaugeMetricFamily(
            "anigate_worker_recorder_up",
            "1 when the worker's last status says its call recorder runs",
            labels=labels,
        )
        restarts = GaugeMetricFamily(
            "anigate_worker_recorder_restarts",
            "Restarts of the worker's call recorder since it started",
            labels=labels,
        )
        relay_up = GaugeMetricFamily(
            "anigate_worker_relay_up",
            "1 when the worker's last status says its event relay runs (absent: it runs none)",
            labels=labels,
        )
        relay_restarts = GaugeMetricFamily(
            "anigate_worker_relay_restarts",
            "Restarts of the worker's event relay since it started",
            labels=labels,
        )
        rows = session.execute(
            select(
                WorkerStatus.worker,
                WorkerStatus.heartbeat_at,
                WorkerStatus.recorder_state,
                WorkerStatus.recorder_restarts,
                WorkerStatus.journal_backlog_bytes,
                WorkerStatus.relay_state,
                WorkerStatus.relay_restarts,
            )
        ).all()
        for worker, heartbeat_at, state, n_restarts, backlog_bytes, relay, n_relay in rows:
            backlog.add_metric([worker], backlog_bytes)
            beat.add_metric([worker], _age(now, heartbeat_at))
            up.add_metric([worker], 1 if state == ChildState.RUNNING else 0)
            restarts.add_metric([worker], n_restarts)
            if relay != ChildState.OFF:
                relay_up.add_metric([worker], 1 if relay == ChildState.RUNNING else 0)
                relay_restarts.add_metric([worker], n_relay)
        yield from (backlog, beat, up, restarts, relay_up, relay_restarts)

    def _alarms(self, session: Session) -> Iterator[Any]:
        counts = session.execute(
            select(Alarm.state, Alarm.severity, func.count())
            .where(Alarm.state != AlarmState.CLOSED)
            .group_by(Alarm.state, Alarm.severity)
        ).all()
        active = GaugeMetricFamily(
            "anigate_alarms_active",
            "Alarms operators see as active (unacknowledged, acknowledged, returned unacknowledged, "
            "latched), by X.733 severity",
            labels=["severity"],
        )
        open_ = GaugeMetricFamily(
            "anigate_alarms_open",
            "Alarms not closed, by ISA-18.2 state and severity",
            labels=["state", "severity"],
        )
        by_severity = dict.fromkeys(
            (s.value for s in PerceivedSeverity if s is not PerceivedSeverity.CLEARED), 0
        )
        for state, severity, n in counts:
            open_.add_metric([AlarmState(state).value, PerceivedSeverity(severity).value], n)
            if state in ANNUNCIATED:
                key = PerceivedSeverity(severity).value
                by_severity[key] = by_severity.get(key, 0) + n
        for severity, n in by_severity.items():
            active.add_metric([severity], n)
        yield from (active, open_)
