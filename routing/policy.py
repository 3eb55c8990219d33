"""The routing decision: a pure function of the call and a registry snapshot (no I/O, no clock).

This issue's rule: a device known by its ANI goes to its site's day center, with the site's other
center and the default center as fallbacks; an unknown (or missing) ANI goes to the default center.
Schedules, languages, DNIS and anomalies arrive with the routing engine issue.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing.snapshot import CenterEntry, DeviceEntry, SiteEntry, Snapshot


@dataclass(frozen=True, slots=True)
class Target:
    center_id: int
    center_name: str
    uri: str


@dataclass(frozen=True, slots=True)
class Decision:
    status: int
    reason_phrase: str
    targets: tuple[Target, ...]
    device: DeviceEntry | None
    site: SiteEntry | None
    #: why each choice was made, for the call record and the operator
    reason: str

    @property
    def center_id(self) -> int | None:
        return self.targets[0].center_id if self.targets else None

    def contacts(self) -> list[tuple[str, float]]:
        """Contact URIs with q-values: the primary 1.0, each fallback 0.1 lower (never below 0.1)."""
        return [(t.uri, max(0.1, round(1.0 - 0.1 * i, 1))) for i, t in enumerate(self.targets)]


def _targets(centers: list[CenterEntry]) -> tuple[Target, ...]:
    seen: set[str] = set()
    out = []
    for c in centers:
        for uri in c.uris:
            if uri not in seen:
                seen.add(uri)
                out.append(Target(c.id, c.name, uri))
    return tuple(out)


def decide(snap: Snapshot, ani: str | None) -> Decision:
    device = snap.devices.get(ani) if ani else None
    site = snap.sites.get(device.site_id) if device else None
    default = snap.centers.get(snap.default_center_id) if snap.default_center_id else None
    chain: list[CenterEntry] = []
    why: list[str] = []
    if device is not None and site is not None:
        why.append(f"device {device.id} ({device.kind.value}) at site {site.slug}")
        for label, cid in (
            ("day center", site.day_center_id),
            ("out-of-hours center", site.out_of_hours_center_id),
        ):
            center = snap.centers.get(cid) if cid else None
            if center is not None and center not in chain:
                chain.append(center)
                why.append(f"{label} {center.name!r}" + (" first" if len(chain) == 1 else " as fallback"))
    elif ani:
        why.append(f"unknown ANI {ani}")
    else:
        why.append("no ANI")
    if default is not None and default not in chain:
        chain.append(default)
        why.append(f"default center {default.name!r}" + (" first" if len(chain) == 1 else " as fallback"))
    targets = _targets(chain)
    if not targets:
        return Decision(
            480,
            "Temporarily Unavailable",
            (),
            device,
            site,
            "; ".join([*why, "no security center with a SIP URI is configured"]),
        )
    return Decision(302, "Moved Temporarily", targets, device, site, "; ".join(why))
