"""``CallRouted`` events of journal call records, named from the registry in one query per batch.

Runs in the recorder's batch transaction (off the SIP hot path), so that a call row and its event
commit together. Must not import flask, sip or integrations.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.events import CallRouted
from registry.models import Device, Location, SecurityCenter, Site


def call_events(
    session: Session, calls: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]]
) -> list[CallRouted]:
    """One event per call row (as ``routing.recorder.call_row`` made it from the journal record at the
    same place in ``records``), in journal order."""
    device_ids = {c["device_id"] for c in calls if c.get("device_id") is not None}
    places: dict[int, tuple[Any, ...]] = {}
    if device_ids:
        rows = session.execute(
            select(
                Device.id,
                Device.kind,
                Site.name,
                Location.building,
                Location.name,
                Location.floor,
                Location.camera_ref,
            )
            .join(Site, Site.id == Device.site_id)
            .outerjoin(Location, Location.id == Device.location_id)
            .where(Device.id.in_(sorted(device_ids)))
        )
        places = {row[0]: tuple(row[1:]) for row in rows}
    center_ids = {c["center_id"] for c in calls if c.get("center_id") is not None}
    centers: dict[int, str] = {}
    if center_ids:
        named = select(SecurityCenter.id, SecurityCenter.name).where(
            SecurityCenter.id.in_(sorted(center_ids))
        )
        centers = {row[0]: row[1] for row in session.execute(named)}
    return [
        _event(c, r, places.get(c["device_id"]) if c.get("device_id") is not None else None, centers)
        for c, r in zip(calls, records, strict=True)
    ]


def _event(
    c: dict[str, Any], rec: dict[str, Any], place: tuple[Any, ...] | None, centers: dict[int, str]
) -> CallRouted:
    center_id: int | None = c.get("center_id")
    kind, site_name, building, location, floor, camera = place or (None, "", "", "", "", "")
    at: datetime = c["received_at"]
    return CallRouted(
        occurred_at=at,
        call_id=c["call_id"],
        record_id=c["record_id"],
        ani=c.get("ani"),
        ani_source=c.get("ani_source"),
        display_name=c.get("display_name"),
        presented_number=c.get("presented_number"),
        privacy=c.get("privacy") or "",
        attestation=c.get("attestation"),
        identity_verified=bool(c.get("identity_verified")),
        dnis=c.get("dnis") or "",
        trunk_id=c.get("trunk_id"),
        trunk_name=c.get("trunk_name") or "",
        device_id=c.get("device_id"),
        device_kind=kind.value if kind is not None else None,
        site_id=c.get("site_id"),
        site_name=site_name or "",
        building=building or "",
        location=location or "",
        floor=floor or "",
        camera_ref=camera or "",
        center_id=center_id,
        center_name=centers.get(center_id, "") if center_id is not None else "",
        targets=tuple(c.get("targets") or ()),
        target_center_ids=tuple(rec.get("target_center_ids") or ()),
        status=c["status"],
        priority=c.get("priority") or "",
        line=c.get("line") or "",
        test_call=bool(c.get("test_call")),
        rescue_ended=bool(rec.get("rescue_ended")),
        reason=c.get("reason") or "",
        anomalies=tuple(c.get("anomalies") or ()),
    )
