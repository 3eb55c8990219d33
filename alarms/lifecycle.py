"""The alarm state machine: ISA-18.2 states, with EN 81-28's latched lift alarm. Pure: which state an
action leads to, or why it is refused. The service (``alarms.service``) applies it and keeps the
transition.

    raise        -> active_unacknowledged (suppressed when in a silence or inhibited)
    acknowledge  active_unacknowledged -> active_acknowledged (latched alarm: -> latched)
                 returned_unacknowledged -> closed
    return       (the condition ended) active_unacknowledged -> returned_unacknowledged,
                 active_acknowledged / shelved / suppressed -> closed; a latched alarm ignores it
    rescue ended (latched only) active_unacknowledged -> returned_unacknowledged, else -> closed
    clear        (an operator) any open, not latched -> closed
    reset        (an operator, with a reason) any open -> closed
    shelve       annunciated -> shelved; unshelve -> the state before
    suppress     annunciated -> suppressed; unsuppress -> the state before (active if it was raised
                 suppressed)
    repeat       (the condition again) returned_unacknowledged -> active_unacknowledged, else stays

Must not import flask, sqlalchemy or integrations.
"""

from __future__ import annotations

from alarms.choices import ANNUNCIATED, AlarmAction, AlarmState


class TransitionRefused(ValueError):
    """The action does not apply to the alarm in its state; the message says why, for the operator."""


_S = AlarmState


def next_state(
    state: AlarmState, action: AlarmAction, *, latched: bool, resume: AlarmState | None = None
) -> AlarmState:
    """The state ``action`` leads to from ``state``; :class:`TransitionRefused` if it does not apply.

    ``resume`` is the state remembered when the alarm was shelved or suppressed."""
    if state is _S.CLOSED:
        raise TransitionRefused("the alarm is closed")
    if action is AlarmAction.ACKNOWLEDGE:
        if state is _S.UNACK:
            return _S.LATCHED if latched else _S.ACKED
        if state is _S.RTN_UNACK:
            return _S.CLOSED
        raise TransitionRefused(f"an alarm that is {state.label.lower()} cannot be acknowledged")
    if action is AlarmAction.RETURN:
        if latched:
            return state  # only rescue ended or a reset ends a latched alarm
        if state is _S.UNACK:
            return _S.RTN_UNACK
        if state is _S.RTN_UNACK:
            return state
        return _S.CLOSED
    if action is AlarmAction.RESCUE_ENDED:
        if not latched:
            raise TransitionRefused("only a latched lift alarm waits for rescue ended")
        return _S.RTN_UNACK if state is _S.UNACK else _S.CLOSED
    if action is AlarmAction.CLEAR:
        if latched:
            raise TransitionRefused("a latched lift alarm closes on rescue ended or a reset with a reason")
        return _S.CLOSED
    if action is AlarmAction.RESET:
        return _S.CLOSED
    if action is AlarmAction.SHELVE:
        if state not in ANNUNCIATED:
            raise TransitionRefused(f"an alarm that is {state.label.lower()} cannot be shelved")
        return _S.SHELVED
    if action is AlarmAction.UNSHELVE:
        if state is not _S.SHELVED:
            raise TransitionRefused("the alarm is not shelved")
        return resume or _S.UNACK
    if action is AlarmAction.SUPPRESS:
        if state not in ANNUNCIATED:
            raise TransitionRefused(f"an alarm that is {state.label.lower()} cannot be suppressed")
        return _S.SUPPRESSED
    if action is AlarmAction.UNSUPPRESS:
        if state is not _S.SUPPRESSED:
            raise TransitionRefused("the alarm is not suppressed")
        return resume or _S.UNACK
    if action is AlarmAction.RAISE:
        # the condition again on an open alarm: an alarm that had returned to normal is active again
        return _S.UNACK if state is _S.RTN_UNACK else state
    if action in (AlarmAction.NOTE, AlarmAction.ESCALATE):
        return state
    raise TransitionRefused(f"unknown action {action}")  # pragma: no cover - every action is handled
