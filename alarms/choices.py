"""Choice sets of alarms: ISA-18.2 states, X.733 perceived severities and event types, the alarm kinds
anigate raises, and what raises them. Pure: imports only ``registry.choices``."""

from __future__ import annotations

from registry.choices import LabelledChoice


class AlarmState(LabelledChoice):
    """ISA-18.2 alarm states (ANSI/ISA-18.2-2016 §11, figure 5), plus anigate's ``latched`` lift alarm."""

    UNACK = "active_unacknowledged", "Active, unacknowledged"
    ACKED = "active_acknowledged", "Active, acknowledged"
    #: the condition ended before anyone acknowledged: an operator must still acknowledge
    RTN_UNACK = "returned_unacknowledged", "Returned to normal, unacknowledged"
    #: EN 81-28: an acknowledged lift alarm stays until "rescue ended" (a call or marker from the
    #: device) or an operator reset with a reason
    LATCHED = "latched", "Latched (awaiting rescue ended)"
    SHELVED = "shelved", "Shelved"
    #: in a silence (maintenance window) or inhibited by a wider alarm: recorded, not annunciated
    SUPPRESSED = "suppressed", "Suppressed"
    CLOSED = "closed", "Closed"


#: states an operator sees as active alarms (annunciated)
ANNUNCIATED = frozenset({AlarmState.UNACK, AlarmState.ACKED, AlarmState.RTN_UNACK, AlarmState.LATCHED})
#: states that count as "not acknowledged" for the console's counter and the escalation deadline
UNACKNOWLEDGED = frozenset({AlarmState.UNACK, AlarmState.RTN_UNACK})


class PerceivedSeverity(LabelledChoice):
    """ITU-T X.733 §8.1.2.3, most severe first."""

    CRITICAL = "critical", "Critical"
    MAJOR = "major", "Major"
    MINOR = "minor", "Minor"
    WARNING = "warning", "Warning"
    INDETERMINATE = "indeterminate", "Indeterminate"
    CLEARED = "cleared", "Cleared"


SEVERITY_RANK = {s: i for i, s in enumerate(PerceivedSeverity)}


class EventType(LabelledChoice):
    """ITU-T X.733 §8.1.1 event types."""

    COMMUNICATIONS = "communicationsAlarm", "Communications alarm"
    QUALITY_OF_SERVICE = "qualityOfServiceAlarm", "Quality of service alarm"
    PROCESSING_ERROR = "processingErrorAlarm", "Processing error alarm"
    EQUIPMENT = "equipmentAlarm", "Equipment alarm"
    ENVIRONMENTAL = "environmentalAlarm", "Environmental alarm"
    SECURITY = "securityServiceOrMechanismViolation", "Security violation"


class AlarmKind(LabelledChoice):
    LIFT_EMERGENCY = "lift_emergency", "Lift emergency call"
    EMERGENCY_CALL = "emergency_call", "Emergency call"
    CALL_FLOOD = "call_flood", "Call flood"
    SUSPECTED_ABUSE = "suspected_abuse", "Suspected abuse"
    WRONG_TRUNK = "wrong_trunk", "Call on the wrong trunk"
    OUT_OF_HOURS = "out_of_hours", "Call out of hours"
    LOW_ATTESTATION = "low_attestation", "Weak STIR/SHAKEN attestation"
    UNKNOWN_ANI = "unknown_ani", "Emergency call from an unknown number"
    DECOMMISSIONED_DEVICE = "decommissioned_device", "Call from a decommissioned device"
    MISSED_TEST_CALL = "missed_test_call", "Missed EN 81-28 test call"
    HEARTBEAT_LOST = "heartbeat_lost", "Heartbeat lost"
    TRUNK_SILENT = "trunk_silent", "Every lift phone of a trunk missed its test call"
    SITE_SILENT = "site_silent", "Every lift phone of a site missed its test call"
    #: anigate itself: calls answered but not journaled (held or lost), or answered from the
    #: registry snapshot on disk while the database is away
    SERVICE_DEGRADED = "service_degraded", "anigate service degraded"


#: alarms about anigate itself rather than a device, site or trunk: no center owns them, so every
#: center's operators see them (besides admins), on the alarm list, the console and its live feed
SERVICE_KINDS = frozenset({AlarmKind.SERVICE_DEGRADED})


class Trigger(LabelledChoice):
    """What an alarm rule reacts to: an emergency call itself, an anomaly code of a call, or a
    supervision finding of the jobs."""

    EMERGENCY_CALL = "emergency_call", "An emergency call from a registered device"
    CALL_FLOOD = "call_flood", "Anomaly: call flood"
    WRONG_TRUNK = "wrong_trunk", "Anomaly: wrong trunk"
    OUT_OF_HOURS = "out_of_hours", "Anomaly: out of hours"
    LOW_ATTESTATION = "low_attestation", "Anomaly: weak attestation"
    UNKNOWN_ANI = "unknown_ani", "Anomaly: unknown number on an emergency line"
    DECOMMISSIONED_DEVICE = "decommissioned_device", "Anomaly: decommissioned device"
    MISSED_TEST_CALL = "missed_test_call", "Supervision: missed test call"
    HEARTBEAT_LOST = "heartbeat_lost", "Supervision: heartbeat lost"
    TRUNK_SILENT = "trunk_silent", "Supervision: whole trunk silent"
    SITE_SILENT = "site_silent", "Supervision: whole site silent"


#: triggers that are anomaly codes of a call (``routing.policy``)
ANOMALY_TRIGGERS = frozenset(
    {
        Trigger.CALL_FLOOD,
        Trigger.WRONG_TRUNK,
        Trigger.OUT_OF_HOURS,
        Trigger.LOW_ATTESTATION,
        Trigger.UNKNOWN_ANI,
        Trigger.DECOMMISSIONED_DEVICE,
    }
)


class AlarmAction(LabelledChoice):
    """What a transition did, as kept in its history."""

    RAISE = "raise", "Raised"
    ACKNOWLEDGE = "acknowledge", "Acknowledged"
    NOTE = "note", "Note added"
    CLEAR = "clear", "Cleared"
    RETURN = "return", "Returned to normal"
    RESCUE_ENDED = "rescue_ended", "Rescue ended"
    RESET = "reset", "Reset"
    SHELVE = "shelve", "Shelved"
    UNSHELVE = "unshelve", "Shelving ended"
    SUPPRESS = "suppress", "Suppressed"
    UNSUPPRESS = "unsuppress", "Suppression ended"
    ESCALATE = "escalate", "Escalated"


class SilenceScope(LabelledChoice):
    DEVICE = "device", "Device"
    SITE = "site", "Site"
    TRUNK = "trunk", "Trunk"
