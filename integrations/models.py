"""Tables of events out: the configured sinks and each event's delivery to each sink.

A delivery row is created per (sink, outbox event) by the relay's fan-out and carries that sink's
state of that event: pending (with its next attempt), delivered, or dead (a dead letter, until
someone retries it). The payload is not copied: it is the outbox row of the same ``seq``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base, utcnow

#: delivery states
PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


class SinkConfig(Base):
    """A consumer of events: an MQTT broker, an SNMP manager, a webhook URL, a VMS. ``settings`` are
    shown to admins; ``secrets`` (passwords, keys, communities) are stored encrypted with a key derived
    from the secret key and never shown again. ``cursor`` is the outbox ``seq`` up to which events
    were fanned out into deliveries for this sink (the outbox hands out ``seq`` in commit order, so
    the cursor never skips a late commit)."""

    __tablename__ = "sinks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(default=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secrets: Mapped[str] = mapped_column(Text, default="")
    #: event types this sink receives; empty: every type its kind carries
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: failures after which an event becomes a dead letter, and its age limit in seconds
    max_attempts: Mapped[int] = mapped_column(Integer, default=10)
    max_age_seconds: Mapped[int] = mapped_column(Integer, default=86_400)
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: the relay's last word on the connection (``connected``, or why not), and when
    status: Mapped[str] = mapped_column(Text, default="")
    status_at: Mapped[datetime | None]


class Delivery(Base):
    """One event on its way to one sink."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("sink_id", "seq", name="uq_deliveries_sink_seq"),
        Index("ix_deliveries_order", "sink_id", "order_key", "state", "seq"),
        #: the relay's claim walks a sink's pending rows in outbox order (the only index that starts
        #: with sink and state: a due index beside it was taken for that walk by PostgreSQL without
        #: statistics, and the whole backlog sorted)
        Index("ix_deliveries_queue", "sink_id", "state", "seq"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    sink_id: Mapped[int] = mapped_column(ForeignKey("sinks.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(48))
    #: events of one key are delivered in order (the device, else the site, else one key for all)
    order_key: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(12), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    delivered_at: Mapped[datetime | None]
    dead_at: Mapped[datetime | None]
