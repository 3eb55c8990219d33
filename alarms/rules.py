"""Which call raises which alarm: the shipped default rules, admins' edits over them, and the pure
evaluation of one ``CallRouted`` into the alarms it raises and the conditions it ends.

Pure: no database, no clock (the call's own time is used). Must not import flask, sqlalchemy or
integrations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from alarms.choices import ANOMALY_TRIGGERS, AlarmKind, EventType, PerceivedSeverity, Trigger
from registry.events import CallRouted

ANY_KIND = ""

#: what each alarm kind is in X.733's words: event type, probable cause (M.3100 / X.733 names)
X733: Mapping[AlarmKind, tuple[EventType, str]] = {
    AlarmKind.LIFT_EMERGENCY: (EventType.ENVIRONMENTAL, "emergencyCall"),
    AlarmKind.EMERGENCY_CALL: (EventType.ENVIRONMENTAL, "emergencyCall"),
    AlarmKind.CALL_FLOOD: (EventType.QUALITY_OF_SERVICE, "thresholdCrossed"),
    AlarmKind.SUSPECTED_ABUSE: (EventType.SECURITY, "unauthorizedAccessAttempt"),
    AlarmKind.WRONG_TRUNK: (EventType.COMMUNICATIONS, "configurationOrCustomizationError"),
    AlarmKind.OUT_OF_HOURS: (EventType.SECURITY, "outOfHoursActivity"),
    AlarmKind.LOW_ATTESTATION: (EventType.SECURITY, "authenticationFailure"),
    AlarmKind.UNKNOWN_ANI: (EventType.SECURITY, "unauthorizedAccessAttempt"),
    AlarmKind.DECOMMISSIONED_DEVICE: (EventType.EQUIPMENT, "configurationOrCustomizationError"),
    AlarmKind.MISSED_TEST_CALL: (EventType.EQUIPMENT, "equipmentMalfunction"),
    AlarmKind.HEARTBEAT_LOST: (EventType.COMMUNICATIONS, "lossOfSignal"),
    AlarmKind.TRUNK_SILENT: (EventType.COMMUNICATIONS, "lossOfSignal"),
    AlarmKind.SITE_SILENT: (EventType.COMMUNICATIONS, "lossOfSignal"),
    AlarmKind.SERVICE_DEGRADED: (EventType.QUALITY_OF_SERVICE, "performanceDegraded"),
}


@dataclass(frozen=True)
class Rule:
    """``trigger`` for devices of ``device_kind`` (``ANY_KIND``: any, unknown callers too) raises
    ``kind`` at ``severity``; ``latched`` alarms close on rescue ended or a reset only."""

    trigger: Trigger
    device_kind: str
    kind: AlarmKind
    severity: PerceivedSeverity
    latched: bool = False
    enabled: bool = True


_C, _MA, _MI, _W = (
    PerceivedSeverity.CRITICAL,
    PerceivedSeverity.MAJOR,
    PerceivedSeverity.MINOR,
    PerceivedSeverity.WARNING,
)

DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(Trigger.EMERGENCY_CALL, "elevator_phone", AlarmKind.LIFT_EMERGENCY, _C, latched=True),
    Rule(Trigger.EMERGENCY_CALL, "car_park_help_point", AlarmKind.EMERGENCY_CALL, _C),
    Rule(Trigger.EMERGENCY_CALL, "emergency_phone", AlarmKind.EMERGENCY_CALL, _C),
    Rule(Trigger.CALL_FLOOD, "elevator_phone", AlarmKind.CALL_FLOOD, _C),
    Rule(Trigger.CALL_FLOOD, "door_intercom", AlarmKind.SUSPECTED_ABUSE, _MI),
    Rule(Trigger.CALL_FLOOD, ANY_KIND, AlarmKind.CALL_FLOOD, _MA),
    Rule(Trigger.WRONG_TRUNK, ANY_KIND, AlarmKind.WRONG_TRUNK, _MA),
    Rule(Trigger.OUT_OF_HOURS, ANY_KIND, AlarmKind.OUT_OF_HOURS, _MI),
    Rule(Trigger.LOW_ATTESTATION, ANY_KIND, AlarmKind.LOW_ATTESTATION, _W),
    Rule(Trigger.UNKNOWN_ANI, ANY_KIND, AlarmKind.UNKNOWN_ANI, _MA),
    Rule(Trigger.DECOMMISSIONED_DEVICE, ANY_KIND, AlarmKind.DECOMMISSIONED_DEVICE, _MA),
    Rule(Trigger.MISSED_TEST_CALL, ANY_KIND, AlarmKind.MISSED_TEST_CALL, _MA),
    Rule(Trigger.HEARTBEAT_LOST, ANY_KIND, AlarmKind.HEARTBEAT_LOST, _MA),
    Rule(Trigger.TRUNK_SILENT, ANY_KIND, AlarmKind.TRUNK_SILENT, _C),
    Rule(Trigger.SITE_SILENT, ANY_KIND, AlarmKind.SITE_SILENT, _C),
)


class RuleBook:
    """The rules in force: the defaults, each replaced by an admin's rule of the same trigger and kind."""

    def __init__(self, overrides: Iterable[Rule] = ()) -> None:
        self._rules: dict[tuple[Trigger, str], Rule] = {(r.trigger, r.device_kind): r for r in DEFAULT_RULES}
        for r in overrides:
            self._rules[(r.trigger, r.device_kind)] = r

    def rules(self) -> list[Rule]:
        return list(self._rules.values())

    def find(self, trigger: Trigger, device_kind: str | None) -> Rule | None:
        """The enabled rule for ``device_kind``, else the any-kind rule; a disabled kind rule hides the
        any-kind one (an admin turned this trigger off for that kind)."""
        if device_kind:
            own = self._rules.get((trigger, device_kind))
            if own is not None:
                return own if own.enabled else None
        general = self._rules.get((trigger, ANY_KIND))
        return general if general is not None and general.enabled else None


@dataclass(frozen=True)
class Raise:
    """An alarm a call or a finding raises (or, if one is open on ``resource``, repeats)."""

    kind: AlarmKind
    severity: PerceivedSeverity
    resource: str
    latched: bool
    specific_problem: str
    additional_text: str = ""
    device_id: int | None = None
    site_id: int | None = None
    trunk_id: int | None = None
    center_id: int | None = None
    call_id: str | None = None
    target_center_ids: tuple[int, ...] = ()
    evidence: dict[str, object] = field(default_factory=dict)

    @property
    def event_type(self) -> EventType:
        return X733[self.kind][0]

    @property
    def probable_cause(self) -> str:
        return X733[self.kind][1]


@dataclass(frozen=True)
class End:
    """The condition of the open ``kind`` alarm on ``resource`` ended; ``rescue`` is EN 81-28's
    "rescue ended", the only automatic end of a latched alarm."""

    kind: AlarmKind
    resource: str
    rescue: bool = False


@dataclass(frozen=True)
class Outcome:
    raises: tuple[Raise, ...] = ()
    ends: tuple[End, ...] = ()


#: lines whose calls are emergencies ("": no DNIS rule; a lift phone calls for help or for its test)
EMERGENCY_LINES = frozenset({"emergency", ""})


def device_resource(device_id: int) -> str:
    return f"device:{device_id}"


def _caller_resource(ev: CallRouted) -> str:
    if ev.device_id is not None:
        return device_resource(ev.device_id)
    if ev.ani:
        return f"ani:{ev.ani}"
    return f"call:{ev.call_id}"[:64]


def _place(ev: CallRouted) -> str:
    parts = [ev.site_name, ev.building, ev.location, f"floor {ev.floor}" if ev.floor else ""]
    return ", ".join(p for p in parts if p)


def _flood_resource(ev: CallRouted, evidence: Mapping[str, object]) -> str:
    scope = evidence.get("scope")
    if scope == "site" and ev.site_id is not None:
        return f"site:{ev.site_id}"
    if scope == "trunk" and ev.trunk_id is not None:
        return f"trunk:{ev.trunk_id}"
    return _caller_resource(ev)


def evaluate_call(ev: CallRouted, book: RuleBook) -> Outcome:
    """What one answered call raises and ends.

    A call from a registered device ends its ``missed_test_call`` and ``heartbeat_lost`` (it is
    alive); a test call raises nothing; a "rescue ended" call ends the device's latched lift alarm
    and raises nothing; otherwise the emergency itself and each anomaly its rule names."""
    ends: list[End] = []
    if ev.device_id is not None:
        res = device_resource(ev.device_id)
        ends += [End(AlarmKind.MISSED_TEST_CALL, res), End(AlarmKind.HEARTBEAT_LOST, res)]
        if ev.rescue_ended:
            ends += [
                End(AlarmKind.LIFT_EMERGENCY, res, rescue=True),
                End(AlarmKind.EMERGENCY_CALL, res, rescue=True),
            ]
    if ev.test_call or ev.rescue_ended:
        return Outcome((), tuple(ends))

    raises: list[Raise] = []
    caller = ev.ani or "a withheld number"
    place = _place(ev)
    if ev.device_id is not None and ev.line in EMERGENCY_LINES:
        rule = book.find(Trigger.EMERGENCY_CALL, ev.device_kind)
        if rule is not None:
            what = f"Emergency call from {caller}" + (f" ({place})" if place else "")
            raises.append(_raise(rule, _caller_resource(ev), what, ev, {}))
    for anomaly in ev.anomalies:
        code = str(anomaly.get("code", ""))
        if code not in ANOMALY_TRIGGERS:
            continue
        trigger = Trigger(code)
        if trigger is Trigger.UNKNOWN_ANI and ev.line != "emergency":
            continue  # an unknown number on an intercom or without a DNIS rule is only flagged
        rule = book.find(trigger, ev.device_kind)
        if rule is None:
            continue
        evidence = dict(anomaly.get("evidence") or {})
        resource = _flood_resource(ev, evidence) if trigger is Trigger.CALL_FLOOD else _caller_resource(ev)
        what = f"{rule.kind.label} ({caller}" + (f", {place})" if place else ")")
        raises.append(_raise(rule, resource, what, ev, evidence))
    return Outcome(tuple(raises), tuple(ends))


def _raise(rule: Rule, resource: str, what: str, ev: CallRouted, evidence: dict[str, object]) -> Raise:
    return Raise(
        kind=rule.kind,
        severity=rule.severity,
        resource=resource,
        latched=rule.latched,
        specific_problem=what[:255],
        additional_text=ev.reason,
        device_id=ev.device_id,
        site_id=ev.site_id,
        trunk_id=ev.trunk_id,
        center_id=ev.center_id,
        call_id=ev.call_id,
        target_center_ids=ev.target_center_ids,
        evidence=evidence,
    )
