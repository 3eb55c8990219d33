"""Alarm grouping per site, as Alertmanager groups alerts: in a blackout a site raises hundreds of
alarms in a minute (one ``lift_emergency`` per stuck car, floods per site and trunk); a pager or a
building-management screen wants one notification per site and interval with the counts, not one
per alarm. The per-alarm events and records stay as they are; this adds ``alarm.group`` events.

- ``group_wait``: a site with no recent notification waits this long after its first new alarm, so
  that the burst it starts lands in one notification;
- ``group_interval``: after a notification, the next one for that site comes at most this much
  later, with what was raised or repeated in between.

A group is a site and the center its alarms are filed under (an operator sees counts of their own
center's alarms only; a site normally has one center at a time).

No table of its own: the last ``alarm.group`` event of each group in the outbox says up to which
outbox position (``through_seq``) it counted and when it was sent, so that any worker (the job runs
once per tick, ``alarms.jobs``) continues where another left off, across restarts. Events older than
the horizon are neither counted nor looked up. Must not import flask.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alarms.choices import AlarmState
from alarms.models import Alarm
from registry.events import AlarmRaised, AlarmRepeated, AlarmsGrouped, from_envelope
from registry.models import OutboxEvent, Site
from registry.outbox import add_events

#: what a group counts
_COUNTED = (AlarmRaised.type, AlarmRepeated.type)
#: what the ``active`` counts include (the console's list)
_OPEN = (
    AlarmState.UNACK.value,
    AlarmState.ACKED.value,
    AlarmState.RTN_UNACK.value,
    AlarmState.LATCHED.value,
    AlarmState.SHELVED.value,
)


@dataclass(frozen=True)
class GroupSettings:
    wait: timedelta = timedelta(seconds=10)
    interval: timedelta = timedelta(seconds=60)

    @property
    def horizon(self) -> timedelta:
        """How far back a site's last notification and its new alarms are looked for: beyond it a
        site starts a new group (waits ``wait`` again)."""
        return max(self.interval * 5, timedelta(minutes=10))


@dataclass(frozen=True)
class _Last:
    """A site's last notification."""

    at: datetime
    through_seq: int


#: a group: (site id, center id)
Key = tuple[int, int | None]


def last_notifications(session: Session, since: datetime) -> dict[Key, _Last]:
    """Each group's last ``alarm.group`` event recorded since ``since``."""
    newest = (
        select(func.max(OutboxEvent.seq).label("seq"))
        .where(OutboxEvent.type == AlarmsGrouped.type, OutboxEvent.recorded_at >= since)
        .group_by(OutboxEvent.site_id, OutboxEvent.center_id)
        .subquery()
    )
    rows = session.execute(
        select(OutboxEvent.site_id, OutboxEvent.center_id, OutboxEvent.recorded_at, OutboxEvent.body).join(
            newest, OutboxEvent.seq == newest.c.seq
        )
    )
    out = {}
    for site_id, center_id, recorded_at, body in rows:
        if site_id is None:
            continue
        try:  # the time the job that wrote it ran at (the window's end); else when it was written
            at = datetime.fromisoformat(body["window_end"])
        except (KeyError, TypeError, ValueError):
            at = recorded_at
        out[(site_id, center_id)] = _Last(at, int(body.get("through_seq") or 0))
    return out


def group_alarms(
    session: Session, now: datetime, settings: GroupSettings = GroupSettings()
) -> list[AlarmsGrouped]:
    """Write the ``alarm.group`` events due at ``now`` (in ``session``'s transaction); returns them."""
    since = now - settings.horizon
    last = last_notifications(session, since)
    # groups with alarm events in the horizon, and the newest of them: a cheap first pass
    candidates = session.execute(
        select(OutboxEvent.site_id, OutboxEvent.center_id, func.max(OutboxEvent.seq))
        .where(
            OutboxEvent.type.in_(_COUNTED),
            OutboxEvent.recorded_at >= since,
            OutboxEvent.site_id.is_not(None),
        )
        .group_by(OutboxEvent.site_id, OutboxEvent.center_id)
    ).all()
    due: list[tuple[Key, _Window]] = []
    for site_id, center_id, newest in candidates:
        if site_id is None:
            continue
        key: Key = (site_id, center_id)
        previous = last.get(key)
        if newest <= (previous.through_seq if previous else 0):
            continue
        if previous is not None and now - previous.at < settings.interval:
            continue  # notified recently: the next one at the interval (asked before the window's
            # query: in a storm most of 500 sites are inside their interval at each tick)
        window = _window(session, key, previous.through_seq if previous else 0, since)
        if window.first_at is None:
            continue
        if now - window.first_at < settings.wait:
            continue  # let the burst gather
        due.append((key, window))
    if not due:
        return []
    sites = sorted({site_id for (site_id, _), _ in due})
    names = dict(session.execute(select(Site.id, Site.name).where(Site.id.in_(sites))).all())
    active = _active(session, sites)
    out = []
    for key, w in due:
        previous = last.get(key)
        site_id, center_id = key
        out.append(
            AlarmsGrouped(
                occurred_at=now,
                site_id=site_id,
                site_name=names.get(site_id, ""),
                center_id=center_id,
                window_start=previous.at if previous else w.first_at,  # type: ignore[arg-type]
                window_end=now,
                raised=dict(sorted(w.raised.items())),
                repeated=dict(sorted(w.repeated.items())),
                active=dict(sorted(active.get(key, {}).items())),
                total_raised=sum(w.raised.values()),
                first=previous is None,
                through_seq=w.through_seq,
            )
        )
    add_events(session, out)
    return out


@dataclass
class _Window:
    first_at: datetime | None
    through_seq: int
    raised: dict[str, int]
    repeated: dict[str, int]


def _window(session: Session, key: Key, after_seq: int, since: datetime) -> _Window:
    """What a group raised and repeated after outbox position ``after_seq`` (one index range scan
    on ``(site_id, seq)``)."""
    site_id, center_id = key
    kind = OutboxEvent.body["kind"].as_string()
    rows = session.execute(
        select(
            OutboxEvent.type,
            kind,
            func.count(),
            func.min(OutboxEvent.recorded_at),
            func.max(OutboxEvent.seq),
        )
        .where(
            OutboxEvent.site_id == site_id,
            OutboxEvent.center_id.is_(None) if center_id is None else OutboxEvent.center_id == center_id,
            OutboxEvent.seq > after_seq,
            OutboxEvent.type.in_(_COUNTED),
            OutboxEvent.recorded_at >= since,
        )
        .group_by(OutboxEvent.type, kind)
    ).all()
    w = _Window(None, after_seq, {}, {})
    for etype, k, count, first_at, through in rows:
        (w.raised if etype == AlarmRaised.type else w.repeated)[str(k)] = int(count)
        w.first_at = first_at if w.first_at is None else min(w.first_at, first_at)
        w.through_seq = max(w.through_seq, int(through))
    return w


def _active(session: Session, site_ids: list[int]) -> dict[Key, dict[str, int]]:
    out: dict[Key, dict[str, int]] = defaultdict(dict)
    rows = session.execute(
        select(Alarm.site_id, Alarm.center_id, Alarm.kind, func.count())
        .where(Alarm.site_id.in_(site_ids), Alarm.state.in_(_OPEN))
        .group_by(Alarm.site_id, Alarm.center_id, Alarm.kind)
    )
    for site_id, center_id, kind, count in rows:
        if site_id is not None:
            out[(site_id, center_id)][getattr(kind, "value", str(kind))] = int(count)
    return out


def latest_groups(session: Session, center_id: int | None, since: datetime) -> list[AlarmsGrouped]:
    """The last notification of each group (of center ``center_id``, or every group for None)
    since ``since``, newest first: what the console shows on load."""
    newest = (
        select(func.max(OutboxEvent.seq).label("seq"))
        .where(OutboxEvent.type == AlarmsGrouped.type, OutboxEvent.recorded_at >= since)
        .group_by(OutboxEvent.site_id, OutboxEvent.center_id)
    )
    if center_id is not None:
        newest = newest.where(OutboxEvent.center_id == center_id)
    rows = session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.seq.in_(newest.scalar_subquery()))
        .order_by(OutboxEvent.seq.desc())
    )
    found = []
    for row in rows:
        ev = from_envelope(
            {"event_id": row.event_id, "type": row.type, "occurred_at": row.occurred_at, "body": row.body}
        )
        if isinstance(ev, AlarmsGrouped):
            found.append(ev)
    return found
