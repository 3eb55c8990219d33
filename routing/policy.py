"""The routing decision: a pure function of the call's facts and a registry snapshot.

No I/O and no clock: the call's instant, and what earlier calls tell (:class:`Recent`), arrive in
:class:`CallFacts`. Must not import ``sip``, flask or any event sink. Anomalies describe a call;
they never change where a registered device's call goes. The only caller ever turned away is a
blocklisted non-device caller on an intercom line (``603 Decline``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple

from registry.choices import (
    CallPriority,
    DeviceKind,
    DeviceStatus,
    FloodEffect,
    FloodScope,
    LineKind,
    ListKind,
)
from registry.numbers import describe_number
from routing.snapshot import (
    CenterEntry,
    DeviceEntry,
    DnisEntry,
    FloodLimit,
    SiteEntry,
    Snapshot,
    TrunkEntry,
)

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
_RANK = {
    CallPriority.NON_URGENT: 0,
    CallPriority.NORMAL: 1,
    CallPriority.URGENT: 2,
    CallPriority.EMERGENCY: 3,
}
#: kept under its old name: the decision's priority is the SIP ``Priority`` header's value set
Priority = CallPriority


class Severity(StrEnum):
    """How much an anomaly deserves a look; none of them changes a registered device's targets."""

    INFO = "info"
    WARNING = "warning"
    #: someone may need help now (a lift phone flooding the center)
    CRITICAL = "critical"


# The three below are built on every call: named tuples cost a third of a frozen dataclass.


class Window(NamedTuple):
    """Count the calls of ``key`` (an ANI, a site id, a trunk id) in the last ``seconds``."""

    scope: FloodScope
    key: str
    seconds: int


class HistoryQuery(NamedTuple):
    """What the decision wants to know about earlier calls (see :func:`history_query`)."""

    device_id: int | None
    repeat_seconds: float
    windows: tuple[Window, ...]


class Recent(NamedTuple):
    """The answer to a :class:`HistoryQuery`, from the worker's memory or the ``calls`` table."""

    #: the center that took the device's last call within the repeat window
    last_center_id: int | None = None
    last_call_age: float | None = None
    #: calls per scope within its window, this call included (read only)
    counts: Mapping[FloodScope, int] = MappingProxyType({})


NO_HISTORY = Recent()


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the decision may know about a call. ``at`` is the (aware) instant it arrived.

    ``ani`` is the E.164 routing key (None: none was found); ``ani_verified`` is False when it came
    from From or from an untrusted trunk. ``attestation`` is the STIR/SHAKEN letter (A/B/C) and
    ``verstat`` the terminating carrier's verdict. ``forwarded``: Diversion or History-Info present.
    ``dnis`` is the dialled number as dialled, ``dnis_number`` its E.164 form when it reads as one.
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
    dnis_number: str | None = None
    #: the trunk's test-call marker header was present
    test_marker: bool = False
    recent: Recent = NO_HISTORY


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
    """Where the call is offered: a security center's URI, or (``center_id`` None) a maintenance
    contact or the test receiver."""

    center_id: int | None
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
    priority: CallPriority = CallPriority.NORMAL
    #: ISO 639-1 language the call should be answered in, when known
    language: str | None = None
    anomalies: tuple[Anomaly, ...] = ()
    #: the DNIS rule's line kind (None: no rule for the dialled number)
    line: LineKind | None = None
    #: an EN 81-28 periodic test call of ``device`` (moves its last test call)
    test_call: bool = False
    #: add the caller to this site as a pending device (its trunk opted in)
    adopt_site_id: int | None = None

    @property
    def center_id(self) -> int | None:
        """The security center offered first (a maintenance contact or test receiver is none)."""
        return next((t.center_id for t in self.targets if t.center_id is not None), None)

    def contacts(self) -> list[tuple[str, float]]:
        """Contact URIs with q-values: the primary 1.0, each fallback 0.1 lower (never below 0.1)."""
        return [(t.uri, max(0.1, round(1.0 - 0.1 * i, 1))) for i, t in enumerate(self.targets)]

    def anomaly_dicts(self) -> list[dict[str, Any]]:
        return [a.as_dict() for a in self.anomalies]


def history_query(snap: Snapshot, ani: str | None, trunk: TrunkEntry | None) -> HistoryQuery:
    """What to look up about earlier calls before deciding: the device's last center (repeat
    caller) and the calls per ANI, site and trunk in the windows of the flood limits that apply."""
    device = snap.devices.get(ani) if ani else None
    routed = device is not None and device.status in _ROUTABLE and device.site_id in snap.sites
    by_ani, by_site, by_trunk = snap.flood_limits(device.kind if routed and device is not None else None)
    windows = []
    if ani and by_ani is not None:
        # the snapshot's own string where there is one: the memory of 100,000 ANIs keys on it
        windows.append(
            Window(FloodScope.ANI, device.ani if device is not None else ani, by_ani.window_seconds)
        )
    if routed and device is not None and by_site is not None:
        windows.append(Window(FloodScope.SITE, str(device.site_id), by_site.window_seconds))
    if trunk is not None and by_trunk is not None:
        windows.append(Window(FloodScope.TRUNK, str(trunk.id), by_trunk.window_seconds))
    return HistoryQuery(
        device.id if routed and device is not None else None, snap.repeat_window, tuple(windows)
    )


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


def _add(
    chain: list[CenterEntry], why: list[str], label: str, center: CenterEntry | None, note: str = ""
) -> None:
    if center is not None and center not in chain:
        chain.append(center)
        why.append(f"{label} {center.name!r}{note}" + (" first" if len(chain) == 1 else " as fallback"))


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


def _route_repeat(snap: Snapshot, recent: Recent, chain: list[CenterEntry], why: list[str]) -> None:
    """A device calling again within the window goes to the center that took its last call."""
    center = snap.centers.get(recent.last_center_id) if recent.last_center_id is not None else None
    if center is not None and center.uris:
        age = f"{recent.last_call_age:.0f} s" if recent.last_call_age is not None else "just"
        _add(chain, why, f"repeat caller (last call {age} ago went to)", center)


def _route_unknown(
    snap: Snapshot, ani: str, chain: list[CenterEntry], why: list[str], evidence: dict[str, Any]
) -> str | None:
    """The regional center of the number's country (nearest: time zone, local knowledge), then
    the first center speaking a language of the country; the language the first one answers in
    (None: its own first language)."""
    region, line = _describe(ani)
    evidence["region"] = region
    evidence["line_type"] = line
    languages = COUNTRY_LANGUAGES.get(region or "", ())
    why.append(f"number of {region or 'no known country'} ({line})")
    regional = snap.regional_center(region) if region else None
    language: str | None = None
    if regional is not None:
        home = regional.center
        _add(chain, why, f"unknown caller from {region}: regional center", home, f" ({regional.basis})")
        # the caller's language if the regional center speaks it, else (None) the center's own
        spoken = {x.lower() for x in home.languages}
        language = next((lang for lang in languages if lang in spoken), None)
    elif region:
        why.append(f"no center serves {region}")
    for lang in languages:
        speaker = snap.center_for_language(lang)
        if speaker is not None:
            _add(chain, why, f"center speaking {lang!r}", speaker)
            return language if regional is not None else lang
    if languages:
        why.append(f"no center speaks {'/'.join(languages)}")
    return language


def _in_maintenance(device: DeviceEntry, at: datetime) -> bool:
    return device.status is DeviceStatus.MAINTENANCE and (
        device.maintenance_until is None or at < device.maintenance_until
    )


def _device_anomalies(
    snap: Snapshot,
    device: DeviceEntry,
    site: SiteEntry,
    facts: CallFacts,
    out: list[Anomaly],
    test_call: bool = False,
) -> None:
    trunk = facts.trunk
    if device.trunk_id is not None and trunk is not None and trunk.id != device.trunk_id:
        evidence = {"expected_trunk_id": device.trunk_id, "trunk_id": trunk.id, "trunk": trunk.name}
        if facts.forwarded:
            out.append(Anomaly("forwarded", Severity.INFO, evidence))
        else:
            out.append(Anomaly("wrong_trunk", Severity.WARNING, evidence))
    hours = snap.active_hours(device, site)
    if not test_call and hours is not None and not hours.contains(facts.at):
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


def _flood_anomalies(
    snap: Snapshot, facts: CallFacts, kind: DeviceKind | None, out: list[Anomaly]
) -> FloodEffect | None:
    """``call_flood`` for each scope over its limit; the strongest effect found."""
    effect: FloodEffect | None = None
    for scope, count in facts.recent.counts.items():
        limit: FloodLimit | None = snap.flood_limit(scope, kind)
        if limit is None or count <= limit.max_calls:
            continue
        severity = Severity.CRITICAL if limit.effect is FloodEffect.URGENT else Severity.WARNING
        out.append(
            Anomaly(
                "call_flood",
                severity,
                {
                    "scope": scope.value,
                    "calls": count,
                    "max_calls": limit.max_calls,
                    "window_seconds": limit.window_seconds,
                    "effect": limit.effect.value,
                },
            )
        )
        if effect is None or limit.effect is FloodEffect.URGENT:
            effect = limit.effect
    return effect


def _list_anomaly(entry: Any, ignored: str | None) -> Anomaly:
    code = "blocklisted" if entry.kind is ListKind.BLOCK else "graylisted"
    evidence: dict[str, Any] = {"pattern": entry.pattern, "reason": entry.reason}
    if ignored:
        evidence["ignored"] = ignored
    return Anomaly(code, Severity.INFO if ignored else Severity.WARNING, evidence)


def _decision(
    targets: tuple[Target, ...],
    why: list[str],
    anomalies: list[Anomaly],
    **kw: Any,
) -> Decision:
    if anomalies:
        why.append("anomalies: " + ", ".join(a.code for a in anomalies))
    if not targets:
        return Decision(
            480, "Temporarily Unavailable", (), reason="; ".join(why), anomalies=tuple(anomalies), **kw
        )
    return Decision(
        302, "Moved Temporarily", targets, reason="; ".join(why), anomalies=tuple(anomalies), **kw
    )


def _test_call(
    snap: Snapshot, facts: CallFacts, rule: DnisEntry | None, device: DeviceEntry | None, by: str
) -> Decision:
    """An EN 81-28 periodic test call: to the test receiver only, never to a person."""
    why = [f"test call ({by})"]
    anomalies: list[Anomaly] = []
    site = snap.sites.get(device.site_id) if device is not None else None
    if device is not None and site is not None:
        why.append(f"device {device.id} ({device.kind.value}, {device.status.value}) at site {site.slug}")
        _device_anomalies(snap, device, site, facts, anomalies, test_call=True)
    elif facts.ani:
        region, line = _describe(facts.ani)
        why.append(f"unknown ANI {facts.ani}")
        anomalies.append(
            Anomaly("unknown_ani", Severity.WARNING, {"ani": facts.ani, "region": region, "line_type": line})
        )
    else:
        anomalies.append(Anomaly("no_ani", Severity.WARNING, {}))
    _identity_anomalies(facts, anomalies)
    receiver = (
        rule.target_uri if rule is not None and rule.line is LineKind.TEST and rule.target_uri else None
    )
    receiver = receiver or snap.test_receiver
    targets: tuple[Target, ...] = ()
    if receiver:
        why.append(f"test receiver {receiver}")
        targets = (Target(None, "test receiver", receiver),)
    else:
        why.append("no test receiver is configured (a test line's DNIS rule or ANIGATE_TEST_RECEIVER)")
    return _decision(
        targets,
        why,
        anomalies,
        device=device,
        site=site,
        priority=rule.priority
        if rule is not None and rule.line is LineKind.TEST
        else CallPriority.NON_URGENT,
        line=rule.line if rule is not None else None,
        test_call=True,
    )


def _test_call_by(
    snap: Snapshot, facts: CallFacts, rule: DnisEntry | None
) -> tuple[str, DeviceEntry | None] | None:
    """How the call is recognised as a test call, and whose; None: not a test call."""
    device = snap.devices.get(facts.ani) if facts.ani else None
    if rule is not None and rule.line is LineKind.TEST:
        return f"dialled test line {rule.number}", device
    if device is None and facts.ani:
        tester = snap.test_anis.get(facts.ani)
        if tester is not None:
            return f"test calling number of device {tester.id}", tester
    if facts.test_marker:
        return "test-call marker header", device
    return None


def decide(snap: Snapshot, facts: CallFacts) -> Decision:
    """Where the call goes, in which language and with which priority, and what looked wrong."""
    rule = snap.dnis_rule(facts.dnis, facts.dnis_number)
    test = _test_call_by(snap, facts, rule)
    if test is not None:
        return _test_call(snap, facts, rule, test[1], test[0])
    ani = facts.ani
    line = rule.line if rule is not None else None
    device = snap.devices.get(ani) if ani else None
    site = snap.sites.get(device.site_id) if device else None
    chain: list[CenterEntry] = []
    first: list[Target] = []
    why: list[str] = []
    if rule is not None:
        why.append(f"dialled {rule.line.value} line {rule.number}")
    anomalies: list[Anomaly] = []
    language: str | None = None
    priority = rule.priority if rule is not None else CallPriority.EMERGENCY
    routed_device: DeviceEntry | None = None
    adopt_site_id: int | None = None
    listed = snap.listed(ani, facts.at) if ani else None
    if device is not None and site is not None and device.status in _ROUTABLE:
        routed_device = device
        why.append(f"device {device.id} ({device.kind.value}, {device.status.value}) at site {site.slug}")
        kind_priority = CallPriority.EMERGENCY if device.kind in _EMERGENCY_KINDS else CallPriority.NORMAL
        if rule is None or _RANK[kind_priority] > _RANK[rule.priority]:
            priority = kind_priority
        if _in_maintenance(device, facts.at):
            contact = device.maintenance_contact or site.maintenance_contact
            until = device.maintenance_until.isoformat() if device.maintenance_until else None
            if contact:
                first.append(Target(None, "maintenance contact", contact))
                why.append(f"in maintenance: maintenance contact {contact} first")
            else:
                why.append("in maintenance, no maintenance contact: to the centers")
            # EN 81-28 alarm filtering: the technician on site makes these calls
            priority = CallPriority.NORMAL
            anomalies.append(
                Anomaly(
                    "maintenance",
                    Severity.INFO,
                    {
                        "device_id": device.id,
                        "alarm_filtered": True,
                        "contact": contact or None,
                        "until": until,
                    },
                )
            )
        _route_repeat(snap, facts.recent, chain, why)
        _route_device(snap, device, site, facts.at, chain, why)
        _device_anomalies(snap, device, site, facts, anomalies)
        if listed is not None:
            # a registered device is never blocked, whatever any list says
            anomalies.append(_list_anomaly(listed, "registered device"))
        language = chain[0].languages[0] if chain and chain[0].languages else None
    elif ani:
        evidence: dict[str, Any] = {"ani": ani}
        code = "unknown_ani"
        if device is None:
            why.append(f"unknown ANI {ani}")
            trunk = facts.trunk
            if trunk is not None and trunk.pending_site_id is not None:
                adopt_site_id = trunk.pending_site_id
                why.append(f"added to site {adopt_site_id} as a pending device (trunk {trunk.name})")
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
        anomalies.append(Anomaly(code, Severity.WARNING, evidence))
        if listed is not None:
            anomalies.append(_list_anomaly(listed, None))
            if listed.kind is ListKind.BLOCK and line is LineKind.INTERCOM:
                why.append(f"{ani} is on the blocklist ({listed.pattern}): declined on an intercom line")
                _identity_anomalies(facts, anomalies)
                return Decision(
                    603,
                    "Decline",
                    (),
                    None,
                    None,
                    "; ".join(why) + "; anomalies: " + ", ".join(a.code for a in anomalies),
                    priority,
                    None,
                    tuple(anomalies),
                    line,
                )
            if listed.kind is ListKind.BLOCK:
                why.append(f"{ani} is on the blocklist ({listed.pattern}) but is never declined on this line")
        language = _route_unknown(snap, ani, chain, why, evidence)
        site = None
    else:
        why.append("no ANI")
        anomalies.append(Anomaly("no_ani", Severity.WARNING, {}))
    default = snap.centers.get(snap.default_center_id) if snap.default_center_id else None
    _add(chain, why, "default center", default)
    if language is None and chain and chain[0].languages:
        language = chain[0].languages[0]
    if (
        _flood_anomalies(snap, facts, routed_device.kind if routed_device else None, anomalies)
        is FloodEffect.URGENT
    ):
        priority = CallPriority.EMERGENCY
    _identity_anomalies(facts, anomalies)
    targets = _targets(chain)
    if first:
        taken = {f.uri for f in first}
        targets = tuple(first) + tuple(t for t in targets if t.uri not in taken)
    if not targets:
        why.append("no security center with a SIP URI is configured")
    return _decision(
        targets,
        why,
        anomalies,
        device=routed_device,
        site=site,
        priority=priority,
        language=language,
        line=line,
        adopt_site_id=adopt_site_id,
    )
