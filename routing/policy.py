"""The routing decision: a pure function of the call's facts and a registry snapshot.

No I/O and no clock: the call's instant arrives in :class:`CallFacts`. Must not import ``sip``,
flask or any event sink. Anomalies describe a call; they never change where a registered device's
call goes, and no caller is ever dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from registry.choices import DeviceKind, DeviceStatus
from registry.numbers import describe_number
from routing.snapshot import CenterEntry, DeviceEntry, SiteEntry, Snapshot, TrunkEntry

#: languages (ISO 639-1) spoken in a country (ISO 3166-1), most used first: an unknown caller goes
#: to the first center that speaks one of them
COUNTRY_LANGUAGES: Mapping[str, tuple[str, ...]] = {
    "DE": ("de",),
    "AT": ("de",),
    "CH": ("de", "fr", "it"),
    "LI": ("de",),
    "LU": ("fr", "de", "lb"),
    "BE": ("nl", "fr", "de"),
    "NL": ("nl",),
    "FR": ("fr",),
    "MC": ("fr",),
    "IT": ("it",),
    "SM": ("it",),
    "ES": ("es",),
    "PT": ("pt",),
    "GB": ("en",),
    "IE": ("en", "ga"),
    "US": ("en", "es"),
    "CA": ("en", "fr"),
    "AU": ("en",),
    "NZ": ("en",),
    "DK": ("da",),
    "SE": ("sv",),
    "NO": ("no", "nb"),
    "FI": ("fi", "sv"),
    "PL": ("pl",),
    "CZ": ("cs",),
    "SK": ("sk",),
    "HU": ("hu",),
    "SI": ("sl",),
    "HR": ("hr",),
    "GR": ("el",),
    "TR": ("tr",),
}

#: device kinds whose calls are emergencies; intercoms and others are ordinary calls
_EMERGENCY_KINDS = frozenset(
    {DeviceKind.ELEVATOR_PHONE, DeviceKind.EMERGENCY_PHONE, DeviceKind.CAR_PARK_HELP_POINT}
)
_LOW_ATTEST = frozenset({"B", "C"})
#: statuses routed to the device's site; decommissioned and pending devices are routed as unknown
_ROUTABLE = frozenset({DeviceStatus.ACTIVE, DeviceStatus.MAINTENANCE})


class Priority(StrEnum):
    EMERGENCY = "emergency"
    TEST = "test"  # recognised with the DNIS rules (not yet)
    NORMAL = "normal"


class Severity(StrEnum):
    """How much an anomaly deserves a look; none of them changes a registered device's targets."""

    INFO = "info"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the decision may know about a call. ``at`` is the (aware) instant it arrived.

    ``ani`` is the E.164 routing key (None: none was found); ``ani_verified`` is False when it came
    from From or from an untrusted trunk. ``attestation`` is the STIR/SHAKEN letter (A/B/C) and
    ``verstat`` the terminating carrier's verdict. ``forwarded``: Diversion or History-Info present.
    """

    ani: str | None
    at: datetime
    ani_verified: bool = False
    presented_number: str | None = None
    dnis: str = ""
    trunk: TrunkEntry | None = None
    attestation: str | None = None
    verstat: str | None = None
    forwarded: bool = False
    #: the caller withheld its identity (Privacy id/user/header, RPID privacy, anonymous From)
    withheld: bool = False


@dataclass(frozen=True, slots=True)
class Anomaly:
    code: str
    severity: Severity
    #: JSON-ready values only: it goes to the call record as is
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity.value, "evidence": self.evidence}


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
    priority: Priority = Priority.NORMAL
    #: ISO 639-1 language the call should be answered in, when known
    language: str | None = None
    anomalies: tuple[Anomaly, ...] = ()

    @property
    def center_id(self) -> int | None:
        return self.targets[0].center_id if self.targets else None

    def contacts(self) -> list[tuple[str, float]]:
        """Contact URIs with q-values: the primary 1.0, each fallback 0.1 lower (never below 0.1)."""
        return [(t.uri, max(0.1, round(1.0 - 0.1 * i, 1))) for i, t in enumerate(self.targets)]

    def anomaly_dicts(self) -> list[dict[str, Any]]:
        return [a.as_dict() for a in self.anomalies]


def _targets(centers: list[CenterEntry]) -> tuple[Target, ...]:
    seen: set[str] = set()
    out = []
    for c in centers:
        for uri in c.uris:
            if uri not in seen:
                seen.add(uri)
                out.append(Target(c.id, c.name, uri))
    return tuple(out)


@lru_cache(maxsize=4096)
def _describe(ani: str) -> tuple[str | None, str]:
    # phonenumbers costs tens of µs; unknown callers tend to call again
    return describe_number(ani)


def _add(chain: list[CenterEntry], why: list[str], label: str, center: CenterEntry | None) -> None:
    if center is not None and center not in chain:
        chain.append(center)
        why.append(f"{label} {center.name!r}" + (" first" if len(chain) == 1 else " as fallback"))


def _route_device(
    snap: Snapshot,
    device: DeviceEntry,
    site: SiteEntry,
    at: datetime,
    chain: list[CenterEntry],
    why: list[str],
) -> None:
    """Day center inside the site's business hours, out-of-hours center outside, then the other."""
    day = snap.centers.get(site.day_center_id) if site.day_center_id else None
    night = snap.centers.get(site.out_of_hours_center_id) if site.out_of_hours_center_id else None
    hours = snap.business_hours(site)
    if hours is None:
        why.append("site has no business hours: always inside hours")
        inside = True
    else:
        local = at.astimezone(hours.tz)
        inside = hours.contains(at)
        when = f"{local:%a %Y-%m-%d %H:%M %Z} {site.timezone}"
        if local.date() in hours.holidays:
            when += ", a holiday"
        why.append(f"{'inside' if inside else 'outside'} business hours ({when})")
    if inside:
        _add(chain, why, "day center", day)
        _add(chain, why, "out-of-hours center", night)
    else:
        _add(chain, why, "out-of-hours center", night)
        _add(chain, why, "day center", day)


def _route_unknown(
    snap: Snapshot, ani: str, chain: list[CenterEntry], why: list[str], evidence: dict[str, Any]
) -> str | None:
    """The first center speaking a language of the number's country; the language chosen."""
    region, line = _describe(ani)
    evidence["region"] = region
    evidence["line_type"] = line
    languages = COUNTRY_LANGUAGES.get(region or "", ())
    why.append(f"number of {region or 'no known country'} ({line})")
    for lang in languages:
        center = snap.center_for_language(lang)
        if center is not None:
            _add(chain, why, f"center speaking {lang!r}", center)
            return lang
    if languages:
        why.append(f"no center speaks {'/'.join(languages)}")
    return None


def _device_anomalies(
    snap: Snapshot, device: DeviceEntry, site: SiteEntry, facts: CallFacts, out: list[Anomaly]
) -> None:
    if device.status is DeviceStatus.MAINTENANCE:
        out.append(Anomaly("maintenance", Severity.INFO, {"device_id": device.id}))
    trunk = facts.trunk
    if device.trunk_id is not None and trunk is not None and trunk.id != device.trunk_id:
        evidence = {"expected_trunk_id": device.trunk_id, "trunk_id": trunk.id, "trunk": trunk.name}
        if facts.forwarded:
            out.append(Anomaly("forwarded", Severity.INFO, evidence))
        else:
            out.append(Anomaly("wrong_trunk", Severity.WARNING, evidence))
    hours = snap.active_hours(device, site)
    if hours is not None and not hours.contains(facts.at):
        local = facts.at.astimezone(hours.tz)
        out.append(
            Anomaly(
                "out_of_hours",
                Severity.WARNING,
                {
                    "schedule_id": device.active_schedule_id,
                    "local_time": local.isoformat(timespec="minutes"),
                    "timezone": site.timezone,
                },
            )
        )


def _identity_anomalies(facts: CallFacts, out: list[Anomaly]) -> None:
    if facts.withheld:
        # routed on the ANI all the same; the flag tells displays to hide the caller ID
        out.append(Anomaly("withheld", Severity.INFO, {"ani_known": facts.ani is not None}))
    if facts.ani is not None and not facts.ani_verified:
        out.append(
            Anomaly("unverified_identity", Severity.WARNING, {"presented_number": facts.presented_number})
        )
    trunk = facts.trunk
    if trunk is not None and trunk.expects_attestation:
        failed = bool(facts.verstat) and "failed" in (facts.verstat or "").lower()
        if facts.attestation is None or facts.attestation.upper() in _LOW_ATTEST or failed:
            out.append(
                Anomaly(
                    "low_attestation",
                    Severity.WARNING,
                    {"attestation": facts.attestation, "verstat": facts.verstat, "trunk_id": trunk.id},
                )
            )


def decide(snap: Snapshot, facts: CallFacts) -> Decision:
    """Where the call goes, in which language and with which priority, and what looked wrong."""
    ani = facts.ani
    device = snap.devices.get(ani) if ani else None
    site = snap.sites.get(device.site_id) if device else None
    chain: list[CenterEntry] = []
    why: list[str] = []
    anomalies: list[Anomaly] = []
    language: str | None = None
    priority = Priority.EMERGENCY
    routed_device: DeviceEntry | None = None
    if device is not None and site is not None and device.status in _ROUTABLE:
        routed_device = device
        why.append(f"device {device.id} ({device.kind.value}, {device.status.value}) at site {site.slug}")
        if device.kind not in _EMERGENCY_KINDS:
            priority = Priority.NORMAL
        _route_device(snap, device, site, facts.at, chain, why)
        _device_anomalies(snap, device, site, facts, anomalies)
        language = chain[0].languages[0] if chain and chain[0].languages else None
    elif ani:
        evidence: dict[str, Any] = {"ani": ani}
        code = "unknown_ani"
        if device is None:
            why.append(f"unknown ANI {ani}")
        elif device.status is DeviceStatus.DECOMMISSIONED:
            why.append(f"device {device.id} is decommissioned: routed as an unknown caller")
            evidence["device_id"] = device.id
            code = "decommissioned_device"
        elif device.status is DeviceStatus.PENDING:
            why.append(f"device {device.id} is pending adoption: routed as an unknown caller")
            evidence["pending_device_id"] = device.id
        else:  # pragma: no cover - the registry's foreign key keeps a device's site
            why.append(f"device {device.id} has no site in the snapshot: routed as an unknown caller")
            evidence["device_id"] = device.id
        language = _route_unknown(snap, ani, chain, why, evidence)
        anomalies.append(Anomaly(code, Severity.WARNING, evidence))
        site = None
    else:
        why.append("no ANI")
        anomalies.append(Anomaly("no_ani", Severity.WARNING, {}))
    default = snap.centers.get(snap.default_center_id) if snap.default_center_id else None
    _add(chain, why, "default center", default)
    if language is None and chain and chain[0].languages:
        language = chain[0].languages[0]
    _identity_anomalies(facts, anomalies)
    if anomalies:
        why.append("anomalies: " + ", ".join(a.code for a in anomalies))
    targets = _targets(chain)
    if not targets:
        why.append("no security center with a SIP URI is configured")
        return Decision(
            480,
            "Temporarily Unavailable",
            (),
            routed_device,
            site,
            "; ".join(why),
            priority,
            language,
            tuple(anomalies),
        )
    return Decision(
        302,
        "Moved Temporarily",
        targets,
        routed_device,
        site,
        "; ".join(why),
        priority,
        language,
        tuple(anomalies),
    )
