"""The GET filter forms of the call and alarm lists: values stay in the URL, no CSRF token (nothing
changes). Selects are filled by the views with what the actor may see; no database access here.

May import flask_wtf, wtforms and the alarm and registry choice sets.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, SearchField, SelectField
from wtforms.fields.choices import SelectChoice

from alarms.choices import AlarmKind, AlarmState, PerceivedSeverity
from registry.choices import LabelledChoice

#: what a browser sends from a datetime-local input (with seconds when its step asks for them)
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
UTC_HINT = "UTC (not your local time)"


def _select(label: str, choices: list[SelectChoice] | None = None) -> SelectField:
    return SelectField(label, choices=choices or [], validate_choice=False)


def _choices(cls: type[LabelledChoice], blank: str = "Any") -> list[SelectChoice]:
    return [SelectChoice("", blank), *(SelectChoice(m.value, m.label) for m in cls)]


def _moment(label: str) -> DateTimeLocalField:
    return DateTimeLocalField(label, format=DATETIME_FORMATS, description=UTC_HINT)


class CallFilterForm(FlaskForm):
    """The call history's filters: device, site, center, calling number in any written form, and a
    time range read as UTC."""

    class Meta:
        csrf = False

    ani = SearchField("Calling number", description="Any form: +49 30 1234-5678, 030 12345678, 0049…")
    device = _select("Device")
    site = _select("Site")
    center = _select("Center")
    since = _moment("From")
    until = _moment("Until")


#: the state filter: any, the two groups, then each state
STATE_ANY, STATE_OPEN = "", "open"


def state_choices() -> list[SelectChoice]:
    return [
        SelectChoice(STATE_ANY, "Any"),
        SelectChoice(STATE_OPEN, "Open (not closed)"),
        *(SelectChoice(s.value, s.label) for s in AlarmState),
    ]


class AlarmFilterForm(FlaskForm):
    """The alarm history's filters: state, severity, kind, site and when the alarm was raised (UTC)."""

    class Meta:
        csrf = False

    state = _select("State", state_choices())
    severity = _select("Severity", _choices(PerceivedSeverity))
    kind = _select("Kind", _choices(AlarmKind))
    site = _select("Site")
    since = _moment("Raised from")
    until = _moment("Raised until")
