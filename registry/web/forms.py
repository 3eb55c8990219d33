"""Flask-WTF forms of the registry pages: they collect and present, they never validate.

Field names are the cleaners' keys (``registry.services.clean_*``), so a ``ValidationFailed`` maps
straight onto the fields. No validators here (selects too: ``validate_choice=False``): the one
validation path is the cleaner. May import flask_wtf and wtforms; no database access.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import (
    BooleanField,
    Field,
    PasswordField,
    SearchField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice

from registry.accounts import MIN_PASSWORD_LENGTH
from registry.choices import (
    AniHeader,
    CallPriority,
    DeviceKind,
    DeviceStatus,
    FloodEffect,
    FloodScope,
    LabelledChoice,
    LineKind,
    ListKind,
    LocationKind,
    Role,
    TrunkTrust,
)
from registry.schedules import window_lines
from registry.services import DEFAULT_PRIORITY

Choices = list[SelectChoice]
#: the empty choice of an optional reference
NONE = SelectChoice("", "—")


def choices_of(cls: type[LabelledChoice], blank: str | None = None) -> Choices:
    options = [SelectChoice(m.value, m.label) for m in cls]
    return [SelectChoice("", blank), *options] if blank is not None else options


def _select(label: str, choices: Choices | None = None, **kw: Any) -> SelectField:
    return SelectField(label, choices=choices or [], validate_choice=False, **kw)


class PageForm(FlaskForm):
    """A form of the pages: its fields without the CSRF token, and a use case's errors put on them."""

    def fields(self) -> list[Field]:
        return [f for f in self if f.name != "csrf_token"]

    def set_errors(self, errors: Mapping[str, str | Markup]) -> dict[str, str | Markup]:
        """Put each message on its field; returns those that belong to no field of this form."""
        rest: dict[str, str | Markup] = {}
        for key, message in errors.items():
            field = self._fields.get(key.removesuffix("_id"))
            if field is None or key == "csrf_token":
                rest[key] = message
            else:
                field.errors = [message]
        return rest


class ResourceForm(PageForm):
    """A registry object's form: ``LINES`` are textareas of one value per line (sent as lists);
    ``REFS`` maps a reference field to the kind of object its select lists (filled by the view)."""

    LINES: ClassVar[frozenset[str]] = frozenset()
    REFS: ClassVar[dict[str, str]] = {}
    #: kept out of a create when left blank, so that the cleaner applies its default
    BLANK_MEANS_DEFAULT: ClassVar[frozenset[str]] = frozenset()

    def cleaner_data(self, creating: bool) -> dict[str, Any]:
        """The posted values as the cleaner's raw mapping."""
        data: dict[str, Any] = {}
        for field in self.fields():
            value = field.data
            if field.name in self.LINES:
                value = [line.strip() for line in (value or "").splitlines() if line.strip()]
            elif isinstance(value, str):
                value = value.strip()
            if creating and field.name in self.BLANK_MEANS_DEFAULT and value in ("", None):
                continue
            data[field.name] = value
        return data

    def show(self, obj: Any) -> None:
        """Fill the fields with an object's current values (the edit page's first view)."""
        values: dict[str, Any] = {}
        for field in self.fields():
            name = field.name
            if hasattr(obj, f"{name}_id"):
                ref = getattr(obj, f"{name}_id")
                values[name] = "" if ref is None else str(ref)
            elif isinstance(field, BooleanField):
                values[name] = bool(getattr(obj, name, False))
            else:
                values[name] = self.as_text(name, getattr(obj, name, None))
        self.process(data=values)

    def as_text(self, name: str, value: Any) -> str:
        """A stored value as its field shows it: lists one a line in a textarea, else comma-separated."""
        return _as_text(value, lines=name in self.LINES or isinstance(self[name], TextAreaField))


def _as_text(value: Any, *, lines: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ("\n" if lines else ", ").join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value)


class CenterForm(ResourceForm):
    LINES = frozenset({"sip_uris"})

    name = StringField("Name")
    sip_uris = TextAreaField(
        "SIP URIs", description="One per line, in the order calls try them (sip: or sips:)."
    )
    phone = StringField("Phone", description="Fallback telephone number, any format.")
    languages = StringField("Languages", description="ISO 639 codes, comma-separated: de, en")
    timezone = StringField("Timezone", description="IANA name, e.g. Europe/Berlin", default="UTC")
    countries = StringField(
        "Countries",
        description="ISO 3166 codes, comma-separated: DE, AT, CH. Unknown callers from these "
        "countries come here first (else by the countries of the center's sites, then by language).",
    )
    ack_deadlines = StringField(
        "Acknowledgement deadlines",
        description="Seconds per severity before an unacknowledged alarm escalates to the next "
        "center: critical=30, major=300. Empty: the service's defaults (critical 45 s).",
    )


class SiteForm(ResourceForm):
    REFS = {
        "day_center": "center",
        "out_of_hours_center": "center",
        "business_hours": "schedule",
    }

    name = StringField("Name")
    slug = StringField("Slug", description="Lower-case letters, digits and hyphens: spree-tower")
    address = TextAreaField("Address")
    country = StringField("Country", description="ISO 3166 code: DE, GB")
    timezone = StringField("Timezone", description="IANA name, e.g. Europe/Berlin")
    day_center = _select("Day center")
    out_of_hours_center = _select("Out-of-hours center")
    business_hours = _select("Business hours", description="None: always inside business hours.")
    holidays = StringField("Holidays", description="ISO dates, comma-separated: 2026-12-25, 2026-12-26")
    maintenance_contact = StringField(
        "Maintenance contact", description="SIP URI called first for devices in maintenance."
    )
    notes = TextAreaField("Notes")


class LocationForm(ResourceForm):
    REFS = {"site": "site"}

    site = _select("Site")
    building = StringField("Building")
    name = StringField("Name", description="Lift 1, Level -2, Main entrance")
    kind = _select("Kind", choices_of(LocationKind, "Choose…"))
    floor = StringField("Floor")
    camera_ref = StringField("Camera", description="VMS camera id or ONVIF profile token.")
    notes = TextAreaField("Notes", description="For responders: keys, access, hazards.")


class TrunkForm(ResourceForm):
    LINES = frozenset({"source_addresses"})
    REFS = {"pending_site": "site"}

    name = StringField("Name")
    carrier = StringField("Carrier")
    source_addresses = TextAreaField(
        "Source addresses", description="IP addresses or CIDR networks, one per line."
    )
    trust = _select("Trust", choices_of(TrunkTrust, "Choose…"))
    ani_header = _select("ANI header", choices_of(AniHeader), default=AniHeader.PAI.value)
    default_region = StringField("Default region", description="ISO 3166 code for national numbers: DE")
    expects_attestation = BooleanField("Expects STIR/SHAKEN attestation")
    test_call_marker = StringField(
        "Test-call marker", description="SIP header marking test calls: X-Alarm-Type: test"
    )
    rescue_ended_marker = StringField(
        "Rescue-ended marker",
        description="SIP header of a lift phone's 'rescue ended' call, which closes its lift alarm: "
        "X-Alarm-Type: rescue-ended",
    )
    pending_site = _select(
        "Pending site", description="Unknown callers on this trunk are added here for adoption."
    )
    notes = TextAreaField("Notes")


class DeviceForm(ResourceForm):
    REFS = {
        "site": "site",
        "location": "location",
        "trunk": "trunk",
        "active_schedule": "schedule",
    }
    BLANK_MEANS_DEFAULT = frozenset({"test_interval_hours"})

    ani = StringField("ANI", description="Any format; national numbers are read with the site's country.")
    kind = _select("Kind", choices_of(DeviceKind, "Choose…"))
    status = _select("Status", choices_of(DeviceStatus), default=DeviceStatus.ACTIVE.value)
    site = _select("Site")
    location = _select("Location", description="A location of the device's site.")
    trunk = _select("Trunk", description="The trunk its calls are expected on.")
    active_schedule = _select("Active hours", description="None: the device may call at any time.")
    test_interval_hours = StringField(
        "Test interval (hours)",
        description="EN 81-28 test calls; blank: the kind's default (72 h for lifts).",
    )
    test_ani = StringField("Test ANI", description="A separate number used only for test calls.")
    maintenance_until = StringField(
        "Maintenance until", description="ISO 8601 with UTC offset: 2026-12-01T08:00:00+01:00"
    )
    maintenance_contact = StringField("Maintenance contact", description="SIP URI; else the site's.")
    vendor = StringField("Vendor")
    model = StringField("Model")
    serial = StringField("Serial number")
    notes = TextAreaField("Notes")


class ScheduleForm(ResourceForm):
    LINES = frozenset({"windows"})

    name = StringField("Name")
    windows = TextAreaField(
        "Windows",
        description=(
            "One a line: days then start-end, e.g. mon-fri 08:00-18:00 or sat,sun 10:00-14:00. "
            "An end at or before the start runs past midnight (sat 22:00-03:00); 24:00 ends the day."
        ),
    )
    holidays = TextAreaField(
        "Holidays", description="ISO dates, comma-separated or one a line: 2026-12-25, 2026-12-26"
    )

    def as_text(self, name: str, value: Any) -> str:
        if name == "windows":
            return "\n".join(window_lines(value or []))
        return super().as_text(name, value)


class DnisRuleForm(ResourceForm):
    number = StringField(
        "Number", description="The dialled number, any format (030 555900), or digits as dialled (112)."
    )
    line = _select("Line", choices_of(LineKind, "Choose…"))
    priority = _select(
        "Priority",
        choices_of(CallPriority, "Default of the line"),
        description="Blank: the line's default ("
        + "; ".join(f"{line.label.lower()}: {prio.value}" for line, prio in DEFAULT_PRIORITY.items())
        + ").",
    )
    target_uri = StringField("Target URI", description="Test lines: the SIP URI of the test receiver.")
    description = StringField("Description")


class NumberListEntryForm(ResourceForm):
    pattern = StringField(
        "Number or prefix",
        description="A calling number, any format, or a prefix: + then digits then *: +4930555*",
    )
    kind = _select("List", choices_of(ListKind, "Choose…"))
    reason = TextAreaField("Reason")
    expires_at = StringField(
        "Expires at", description="ISO 8601 with UTC offset: 2026-12-01T08:00:00+01:00; blank: never."
    )


class FloodRuleForm(ResourceForm):
    scope = _select("Counted", choices_of(FloodScope, "Choose…"))
    device_kind = _select(
        "Device kind",
        choices_of(DeviceKind, "Any kind"),
        description="Any kind: callers without a rule for their own kind, unknown callers included.",
    )
    max_calls = StringField("Max calls", description="More calls than this within the window is a flood.")
    window_seconds = StringField("Window (seconds)")
    effect = _select("Effect", choices_of(FloodEffect), default=FloodEffect.FLAG.value)


class DeviceFilterForm(FlaskForm):
    """The device list's filters: a GET form whose values stay in the URL."""

    class Meta:
        csrf = False

    q = SearchField("Search", description="ANI, serial, vendor, model or notes")
    site = _select("Site")
    kind = _select("Kind", choices_of(DeviceKind, "Any"))
    status = _select("Status", choices_of(DeviceStatus, "Any"))
    trunk = _select("Trunk")


class DeleteForm(FlaskForm):
    """The confirmation of a delete: a POST with the CSRF token and nothing else."""


class UserForm(PageForm):
    """A new user (admins only). ``password_repeat`` is checked by the view, the rest by
    ``registry.accounts.create_user``."""

    username = StringField("Username")
    role = _select("Role", choices_of(Role, "Choose…"))
    password = PasswordField("Password", description=f"At least {MIN_PASSWORD_LENGTH} characters.")
    password_repeat = PasswordField("Repeat password")
    sites = SelectMultipleField(
        "Sites", choices=[], validate_choice=False, description="A facility manager's sites."
    )
    center = _select("Center", description="An operator's security center.")


class UserEditForm(PageForm):
    """A user's role, sites, center and active flag; a new password only when one is typed."""

    role = _select("Role", choices_of(Role))
    sites = SelectMultipleField(
        "Sites", choices=[], validate_choice=False, description="A facility manager's sites."
    )
    center = _select("Center", description="An operator's security center.")
    is_active = BooleanField("Active", description="An inactive user cannot log in.")
    new_password = PasswordField(
        "New password", description="Blank keeps the password; a new one ends the user's open sessions."
    )
    new_password_repeat = PasswordField("Repeat new password")


class UnlockForm(FlaskForm):
    """The unlock button of a locked user: a POST with the CSRF token and nothing else."""
