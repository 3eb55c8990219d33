"""Tables of the call path: one row per answered call, the journal checkpoint, and each worker's
health (``worker_status``, written by the worker, read by ``/readyz``).

Call rows keep ids of registry objects without foreign keys: a record must outlive the device or
trunk it names, and the recorder must never fail an insert because the registry changed meanwhile.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base


class CallRecord(Base):
    """An INVITE that anigate answered: who called (ANI and how it was learnt), from where, and
    where it was sent, with the decision's reason and the time the answer took."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_device_received", "device_id", "received_at"),
        Index("ix_calls_site_received", "site_id", "received_at"),
        Index("ix_calls_center_received", "center_id", "received_at"),
        Index("ix_calls_trunk_received", "trunk_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: unique id given on the hot path; makes replays of the journal idempotent
    record_id: Mapped[str] = mapped_column(String(32), unique=True)
    call_id: Mapped[str] = mapped_column(String(255), index=True)
    branch: Mapped[str] = mapped_column(String(255), default="")
    received_at: Mapped[datetime] = mapped_column(index=True)
    source: Mapped[str] = mapped_column(String(64))
    transport: Mapped[str] = mapped_column(String(8))
    trunk_id: Mapped[int | None] = mapped_column(Integer)
    trunk_name: Mapped[str] = mapped_column(String(120), default="")
    ani: Mapped[str | None] = mapped_column(String(16), index=True)
    ani_source: Mapped[str | None] = mapped_column(String(16))
    ani_raw: Mapped[str | None] = mapped_column(String(255))
    presented_number: Mapped[str | None] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(String(255))
    privacy: Mapped[str] = mapped_column(String(64), default="")
    identity_verified: Mapped[bool] = mapped_column(default=False)
    attestation: Mapped[str | None] = mapped_column(String(8))
    dnis: Mapped[str] = mapped_column(String(64), default="")
    device_id: Mapped[int | None] = mapped_column(Integer)
    site_id: Mapped[int | None] = mapped_column(Integer)
    center_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(Integer)
    #: RFC 3261 Priority value of the decision; line: the DNIS rule's line kind ("" without one)
    priority: Mapped[str] = mapped_column(String(16), default="")
    line: Mapped[str] = mapped_column(String(16), default="")
    language: Mapped[str | None] = mapped_column(String(8))
    #: an EN 81-28 periodic test call (it moved the device's last test call)
    test_call: Mapped[bool] = mapped_column(default=False)
    targets: Mapped[list[str]] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(Text, default="")
    anomalies: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    latency_us: Mapped[int] = mapped_column(Integer)


class JournalCheckpoint(Base):
    """How far the recorder has drained a journal into the database (committed with the rows)."""

    __tablename__ = "journal_checkpoints"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    segment: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)


class WorkerStatus(Base):
    """The health of one worker process as it last reported it (every couple of seconds): the state
    of its call recorder and its event relay (``running``, ``restarting``, ``down``), how often each
    was restarted and why, and how many journal bytes still wait for the database. A stale
    ``heartbeat_at`` means the worker is gone or stuck."""

    __tablename__ = "worker_status"

    #: ``host:sip-address:port``: a restarted worker takes over its row
    worker: Mapped[str] = mapped_column(String(255), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    recorder_state: Mapped[str] = mapped_column(String(16))
    recorder_pid: Mapped[int | None] = mapped_column(Integer)
    recorder_restarts: Mapped[int] = mapped_column(Integer, default=0)
    recorder_last_error: Mapped[str] = mapped_column(Text, default="")
    journal_backlog_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    #: the SIP listener's sockets are bound (false before it listens and once it stopped)
    sip_listening: Mapped[bool] = mapped_column(Boolean, default=False)
    #: calls answered while the journal could not be written (disk full, read-only), held in memory
    #: now, and since when; ``calls_unjournaled`` counts every such call since the worker started,
    #: ``calls_lost`` those beyond the hold limit, never recorded
    calls_held: Mapped[int] = mapped_column(Integer, default=0)
    calls_held_since: Mapped[datetime | None]
    calls_unjournaled: Mapped[int] = mapped_column(BigInteger, default=0)
    calls_lost: Mapped[int] = mapped_column(BigInteger, default=0)
    #: what calls are answered from: ``database`` (the live registry snapshot) or ``disk`` (the one
    #: kept on disk, while the database could not be read at start), and when that snapshot was taken
    snapshot_source: Mapped[str] = mapped_column(String(16), default="database")
    snapshot_taken_at: Mapped[datetime | None]
    #: the event relay process (``off`` when this worker runs none), supervised like the recorder
    relay_state: Mapped[str] = mapped_column(String(16), default="off")
    relay_pid: Mapped[int | None] = mapped_column(Integer)
    relay_restarts: Mapped[int] = mapped_column(Integer, default=0)
    relay_last_error: Mapped[str] = mapped_column(Text, default="")
