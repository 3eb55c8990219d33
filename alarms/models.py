"""Tables of alarms: the alarm with its ISA-18.2 state and X.733 fields, every transition, the rules
that say which call raises which alarm (admins' edits over the shipped defaults), silences, and the
lease rows that keep each supervision job to one run per tick. Must not import flask or integrations.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from alarms.choices import (
    AlarmAction,
    AlarmKind,
    AlarmState,
    EventType,
    PerceivedSeverity,
    SilenceScope,
    Trigger,
)
from registry.db import Base, utcnow
from registry.models import enum_column


def _enum(cls: type, name: str) -> Enum:
    return enum_column(cls, name, length=40)


class Alarm(Base):
    """A condition someone must see: raised by a call (an emergency, an anomaly) or by supervision
    (a missed EN 81-28 test call), with X.733's fields and ISA-18.2's state.

    One open alarm per ``kind`` and ``resource`` (``device:7``, ``site:3``, ``trunk:2``,
    ``ani:+4930...``): the same condition again grows ``count`` and ``last_at`` (de-duplication).
    """

    __tablename__ = "alarms"
    __table_args__ = (
        # de-duplication holds across processes: a second open alarm of one kind on one resource fails
        Index(
            "uq_alarms_open_kind_resource",
            "kind",
            "resource",
            unique=True,
            sqlite_where=text("state != 'closed'"),
            postgresql_where=text("state != 'closed'"),
        ),
        Index("ix_alarms_center_state", "center_id", "state"),
        Index("ix_alarms_site_state", "site_id", "state"),
        Index("ix_alarms_device", "device_id"),
        Index("ix_alarms_state_deadline", "state", "ack_deadline_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[AlarmKind] = mapped_column(_enum(AlarmKind, "alarm_kind"))
    resource: Mapped[str] = mapped_column(String(64))
    state: Mapped[AlarmState] = mapped_column(_enum(AlarmState, "alarm_state"))
    #: X.733 perceived severity, event type, probable cause, specific problem, additional text
    severity: Mapped[PerceivedSeverity] = mapped_column(_enum(PerceivedSeverity, "perceived_severity"))
    event_type: Mapped[EventType] = mapped_column(_enum(EventType, "alarm_event_type"))
    probable_cause: Mapped[str] = mapped_column(String(64), default="")
    specific_problem: Mapped[str] = mapped_column(String(255), default="")
    additional_text: Mapped[str] = mapped_column(Text, default="")
    #: EN 81-28 lift alarm: acknowledging does not close it; rescue ended or a reset does
    latched: Mapped[bool] = mapped_column(Boolean, default=False)
    center_id: Mapped[int | None] = mapped_column(Integer)
    device_id: Mapped[int | None] = mapped_column(Integer)
    site_id: Mapped[int | None] = mapped_column(Integer)
    trunk_id: Mapped[int | None] = mapped_column(Integer)
    #: the call that raised it, and the centers that call was offered to (escalation goes down the list)
    call_id: Mapped[str | None] = mapped_column(String(255))
    target_center_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer, default=1)
    ack_deadline_at: Mapped[datetime | None]
    acked_at: Mapped[datetime | None]
    acked_by: Mapped[str] = mapped_column(String(120), default="")
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    #: the condition ended (a test call came, rescue ended); the alarm may still wait for an ack
    returned_at: Mapped[datetime | None]
    shelved_until: Mapped[datetime | None]
    #: the state to go back to when a shelving or a suppression ends
    resume_state: Mapped[AlarmState | None] = mapped_column(_enum(AlarmState, "alarm_resume_state"))
    silence_id: Mapped[int | None] = mapped_column(ForeignKey("silences.id", ondelete="SET NULL"))
    inhibited_by_id: Mapped[int | None] = mapped_column(ForeignKey("alarms.id", ondelete="SET NULL"))
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    transitions: Mapped[list[AlarmTransition]] = relationship(
        back_populates="alarm", order_by="AlarmTransition.id", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Alarm {self.id} {self.kind.value} {self.resource} {self.state.value}>"


class AlarmTransition(Base):
    """One step in an alarm's life: who did what, when, from which state to which, and why."""

    __tablename__ = "alarm_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    action: Mapped[AlarmAction] = mapped_column(_enum(AlarmAction, "alarm_action"))
    from_state: Mapped[AlarmState | None] = mapped_column(_enum(AlarmState, "alarm_from_state"))
    to_state: Mapped[AlarmState] = mapped_column(_enum(AlarmState, "alarm_to_state"))
    by: Mapped[str] = mapped_column(String(120))
    user_id: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")

    alarm: Mapped[Alarm] = relationship(back_populates="transitions")


class AlarmRule(Base):
    """An admin's rule: what a trigger (an emergency call, an anomaly, a supervision finding) raises
    for a device kind (``device_kind`` empty: any kind, unknown callers included). Replaces the
    shipped default of the same trigger and kind (``alarms.rules.DEFAULT_RULES``); ``enabled``
    false turns it off."""

    __tablename__ = "alarm_rules"
    __table_args__ = (UniqueConstraint("trigger", "device_kind", name="uq_alarm_rules_trigger_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trigger: Mapped[Trigger] = mapped_column(_enum(Trigger, "alarm_trigger"))
    device_kind: Mapped[str] = mapped_column(String(32), default="")
    kind: Mapped[AlarmKind] = mapped_column(_enum(AlarmKind, "alarm_rule_kind"))
    severity: Mapped[PerceivedSeverity] = mapped_column(_enum(PerceivedSeverity, "alarm_rule_severity"))
    latched: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Silence(Base):
    """A maintenance window: alarms of the device, site or trunk raised between ``starts_at`` and
    ``ends_at`` are recorded as suppressed, not annunciated; when it ends while their condition
    holds, they become active."""

    __tablename__ = "silences"
    __table_args__ = (Index("ix_silences_scope", "scope", "target_id", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[SilenceScope] = mapped_column(_enum(SilenceScope, "silence_scope"))
    target_id: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: set once the end has been processed (suppressed alarms re-raised)
    expired_at: Mapped[datetime | None]


class JobRun(Base):
    """The lease of a supervision job's tick: the first worker to insert ``(job, tick)`` runs it, any
    other worker sharing the database skips it (a primary key works the same on SQLite and
    PostgreSQL, and needs no lock held while the job runs)."""

    __tablename__ = "job_runs"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    tick: Mapped[datetime] = mapped_column(primary_key=True)
    worker: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    result: Mapped[str] = mapped_column(Text, default="")
