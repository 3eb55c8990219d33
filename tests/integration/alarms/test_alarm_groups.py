"""Alarm grouping per site (``alarms.groups``), as Alertmanager's ``group_wait``/``group_interval``:
a blackout's burst of lift alarms at one site becomes one ``alarm.group`` event with counts by kind
after the wait, then at most one per interval with what came since; each site (and center) is its
own group; nothing is counted twice, nothing is missed between two notifications; the job runs once
per tick among workers; the console shows the counts on load and live, to its own center only."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from alarms.groups import GroupSettings, group_alarms, latest_groups
from alarms.jobs import JobRunner, JobSettings
from alarms.service import AlarmService
from console.stream import visible_to
from registry.actors import Actor
from registry.choices import Role
from registry.db import utcnow
from registry.events import AlarmsGrouped, CallRouted
from registry.outbox import read_events
from tests import factories as f
from tests.fakes import FakeClock

SETTINGS = GroupSettings(wait=timedelta(seconds=10), interval=timedelta(seconds=60))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(utcnow())  # outbox rows carry the real time of their commit


@pytest.fixture
def svc(clock: FakeClock) -> AlarmService:
    return AlarmService(clock)


@pytest.fixture
def est(session: Session) -> dict[str, Any]:
    """Two sites of one center, site A with 4 lift phones, site B with 2; a second center."""
    c = f.center(session)
    other = f.center(session, name="Hamburg", sip_uris=["sip:hh@127.0.0.1:5071"])
    sch = f.schedule(session)
    t = f.trunk(session)
    out: dict[str, Any] = {"center": c, "other": other, "trunk": t, "devices": {}}
    for name, slug, n, base in (("Tower A", "tower-a", 4, 100), ("Depot B", "depot-b", 2, 200)):
        s = f.site(
            session, name=name, slug=slug, day_center=c.id, out_of_hours_center=c.id, business_hours=sch.id
        )
        loc = f.location(session, s.id)
        out[slug] = s
        out["devices"][slug] = [
            f.device(session, s.id, location=loc.id, trunk=t.id, ani=f"+49301234{base + i:04d}")
            for i in range(n)
        ]
    session.commit()
    return out


def lift_calls(
    est: dict[str, Any], slug: str, at: datetime, tag: str, center: Any = None
) -> list[CallRouted]:
    center = center or est["center"]
    return [
        CallRouted(
            occurred_at=at,
            call_id=f"{tag}-{d.id}@pbx",
            record_id=f"{tag}-{d.id}",
            ani=d.ani,
            device_id=d.id,
            device_kind="elevator_phone",
            site_id=est[slug].id,
            site_name=est[slug].name,
            trunk_id=est["trunk"].id,
            center_id=center.id,
            line="emergency",
        )
        for d in est["devices"][slug]
    ]


def groups(session: Session, after: int = 0) -> list[AlarmsGrouped]:
    return [e.event for e in read_events(session, after=after) if isinstance(e.event, AlarmsGrouped)]


def counts(g: AlarmsGrouped) -> tuple[Any, ...]:
    return (g.site_name, g.raised, g.total_raised, g.first)


def test_a_burst_at_one_site_waits_group_wait_then_is_one_notification_with_counts(
    session, svc, est, clock
) -> None:
    svc.on_calls(session, lift_calls(est, "tower-a", clock(), "a1"))
    session.commit()
    now = utcnow()
    assert group_alarms(session, now + timedelta(seconds=5), SETTINGS) == []  # still gathering
    session.commit()
    (g,) = group_alarms(session, now + timedelta(seconds=11), SETTINGS)
    session.commit()
    assert counts(g) == ("Tower A", {"lift_emergency": 4}, 4, True)
    assert g.active == {"lift_emergency": 4}
    assert (g.site_id, g.center_id) == (est["tower-a"].id, est["center"].id)
    assert g.window_end == now + timedelta(seconds=11)
    assert [counts(x) for x in groups(session)] == [counts(g)]  # in the outbox, for every sink
    # nothing new: no notification, however long
    assert group_alarms(session, now + timedelta(minutes=3), SETTINGS) == []


def test_a_busy_site_is_notified_at_most_once_per_interval_with_what_came_since(
    session, svc, est, clock
) -> None:
    svc.on_calls(session, lift_calls(est, "tower-a", clock(), "a1"))
    session.commit()
    start = utcnow()
    (first,) = group_alarms(session, start + timedelta(seconds=11), SETTINGS)
    session.commit()
    # the same phones call again (repeats of their open alarms) and site B starts its own group
    svc.on_calls(
        session, lift_calls(est, "tower-a", clock(), "a2") + lift_calls(est, "depot-b", clock(), "b1")
    )
    session.commit()
    later = utcnow()
    due = group_alarms(session, later + timedelta(seconds=11), SETTINGS)  # B's wait is over, A's interval not
    session.commit()
    assert [counts(g) for g in due] == [("Depot B", {"lift_emergency": 2}, 2, True)]
    (follow_up,) = group_alarms(session, start + timedelta(seconds=11 + 60), SETTINGS)
    session.commit()
    assert counts(follow_up) == ("Tower A", {}, 0, False)
    assert follow_up.repeated == {"lift_emergency": 4}  # one repeat event per alarm and batch
    assert follow_up.window_start == first.window_end  # back to back: nothing missed in between
    assert follow_up.active == {"lift_emergency": 4}
    assert group_alarms(session, start + timedelta(seconds=11 + 120), SETTINGS) == []  # counted once


def test_each_center_of_a_site_is_its_own_group_and_operators_see_only_their_own(
    session, svc, est, clock
) -> None:
    svc.on_calls(session, lift_calls(est, "tower-a", clock(), "a1"))
    svc.on_calls(session, lift_calls(est, "depot-b", clock(), "b1", center=est["other"]))
    session.commit()
    sent = group_alarms(session, utcnow() + timedelta(seconds=11), SETTINGS)
    session.commit()
    assert sorted((g.site_name, g.center_id, g.total_raised) for g in sent) == [
        ("Depot B", est["other"].id, 2),
        ("Tower A", est["center"].id, 4),
    ]
    olga = Actor(name="olga", role=Role.OPERATOR, source="web", user_id=9, center_id=est["center"].id)
    seen = [
        e.event for e in read_events(session) if isinstance(e.event, AlarmsGrouped) and visible_to(olga, e)
    ]
    assert [g.site_name for g in seen] == ["Tower A"]
    since = utcnow() - timedelta(minutes=1)
    assert [g.site_name for g in latest_groups(session, est["center"].id, since)] == ["Tower A"]
    assert sorted(g.site_name for g in latest_groups(session, None, since)) == ["Depot B", "Tower A"]


def test_the_groups_job_runs_once_per_tick_among_workers_and_reads_its_settings(
    services, session, svc, est, clock
) -> None:
    svc.on_calls(session, lift_calls(est, "tower-a", clock(), "a1"))
    session.commit()
    later = FakeClock(utcnow() + timedelta(seconds=30))
    settings = JobSettings(group_wait=timedelta(seconds=20), group_interval=timedelta(seconds=90))
    assert settings.groups_every == 5.0
    one = JobRunner(services.session_factory, "w1", svc, settings, clock=later)
    two = JobRunner(services.session_factory, "w2", svc, settings, clock=later)
    assert (one.run("groups"), two.run("groups")) == (True, False)
    session.expire_all()
    assert [counts(g) for g in groups(session)] == [("Tower A", {"lift_emergency": 4}, 4, True)]
