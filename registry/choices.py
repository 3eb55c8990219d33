"""Choice sets of the registry, each value with a human label (NetBox ``ChoiceSet`` habit)."""

from __future__ import annotations

from enum import StrEnum


class LabelledChoice(StrEnum):
    """A string enum whose members carry a label for forms and tables."""

    label: str

    def __new__(cls, value: str, label: str = "") -> LabelledChoice:
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.label = label or value.replace("_", " ").capitalize()
        return obj

    @classmethod
    def values(cls) -> list[str]:
        return [m.value for m in cls]


class DeviceKind(LabelledChoice):
    ELEVATOR_PHONE = "elevator_phone", "Elevator emergency phone"
    CAR_PARK_HELP_POINT = "car_park_help_point", "Car-park help point"
    DOOR_INTERCOM = "door_intercom", "Door intercom"
    EMERGENCY_PHONE = "emergency_phone", "Emergency phone"
    OTHER = "other", "Other"


class DeviceStatus(LabelledChoice):
    ACTIVE = "active", "Active"
    MAINTENANCE = "maintenance", "In maintenance"
    DECOMMISSIONED = "decommissioned", "Decommissioned"
    #: an unknown caller recorded for a facility manager to adopt or reject
    PENDING = "pending", "Pending adoption"


class LocationKind(LabelledChoice):
    ELEVATOR_CABIN = "elevator_cabin", "Elevator cabin"
    CABIN_ROOF = "cabin_roof", "Cabin roof"
    CABIN_BOTTOM = "cabin_bottom", "Cabin bottom"
    SHAFT_PIT = "shaft_pit", "Shaft pit"
    MACHINE_ROOM = "machine_room", "Machine room"
    CAR_PARK_LEVEL = "car_park_level", "Car-park level"
    ENTRANCE = "entrance", "Entrance"
    STAIRWELL = "stairwell", "Stairwell"
    OTHER = "other", "Other"


class TrunkTrust(LabelledChoice):
    TRUSTED = "trusted", "Trusted (inside the trust domain, RFC 3325)"
    UNTRUSTED = "untrusted", "Untrusted"


class AniHeader(LabelledChoice):
    """Which SIP header carries the network-asserted number on a trunk."""

    PAI = "pai", "P-Asserted-Identity"
    PCI = "pci", "P-Charge-Info"
    RPID = "rpid", "Remote-Party-ID"
    FROM = "from", "From"


class Role(LabelledChoice):
    ADMIN = "admin", "Administrator"
    FACILITY_MANAGER = "facility_manager", "Facility manager"
    OPERATOR = "operator", "Security center operator"
    #: a PBX or contact-center platform that asks where calls go (``calls:route`` tokens only); it
    #: has no registry rights and sees no page but its own tokens
    INTEGRATION = "integration", "Integration account (PBX)"


class TokenScope(LabelledChoice):
    """What an API token may do, on top of its owner's role and sites."""

    REGISTRY_READ = "registry:read", "Read the registry"
    REGISTRY_WRITE = "registry:write", "Change the registry"
    #: for PBXs and contact-center platforms that ask where a call goes (POST /api/v1/calls/route)
    CALLS_ROUTE = "calls:route", "Route calls"
    #: alarms, their history, silences and the alarm rules (GET /api/v1/alarms, /silences, /alarm-rules)
    ALARMS_READ = "alarms:read", "Read alarms and silences"
    #: acknowledge, note, clear, reset and shelve alarms; plan silences; admins: edit alarm rules
    ALARMS_WRITE = "alarms:write", "Act on alarms and silences"


class LineKind(LabelledChoice):
    """What a dialled number (DNIS) is for."""

    EMERGENCY = "emergency", "Emergency line"
    INTERCOM = "intercom", "Intercom line"
    #: EN 81-28 periodic test calls: answered by a test receiver, never by a person
    TEST = "test", "Periodic test line"


class CallPriority(LabelledChoice):
    """How urgent a call is, in the words of the SIP ``Priority`` header (RFC 3261 §20.26)."""

    EMERGENCY = "emergency", "Emergency"
    URGENT = "urgent", "Urgent"
    NORMAL = "normal", "Normal"
    NON_URGENT = "non-urgent", "Non-urgent"


class ListKind(LabelledChoice):
    """What a number list does to a caller that is not a registered device."""

    BLOCK = "block", "Blocklist (603 Decline on intercom lines)"
    GRAY = "gray", "Graylist (routed and flagged)"


class FloodScope(LabelledChoice):
    """What a call-flood limit counts calls by."""

    ANI = "ani", "Per calling number"
    SITE = "site", "Per site"
    TRUNK = "trunk", "Per trunk"


class FloodEffect(LabelledChoice):
    """What a call flood means for the kind of device that floods."""

    #: a lift phone calling again and again: someone may be trapped and pressing the button
    URGENT = "urgent", "Raise urgency"
    #: an intercom rung again and again: likely a prank or abuse
    ABUSE = "abuse", "Suspected abuse"
    FLAG = "flag", "Flag only"


class CsvJobPhase(LabelledChoice):
    """What a web CSV upload job does: check the file (a dry run), then import it once confirmed."""

    CHECK = "check", "Check"
    IMPORT = "import", "Import"


class CsvJobState(LabelledChoice):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ChangeAction(LabelledChoice):
    CREATE = "create", "Created"
    UPDATE = "update", "Updated"
    DELETE = "delete", "Deleted"


#: EN 81-28: a lift alarm device makes a test call at least every 3 days.
DEFAULT_TEST_INTERVAL_HOURS = {DeviceKind.ELEVATOR_PHONE: 72}
