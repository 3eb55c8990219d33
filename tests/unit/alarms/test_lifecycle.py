"""The ISA-18.2 state machine with EN 81-28's latched lift alarm: every state and action, as a table."""

from __future__ import annotations

import pytest

from alarms.choices import AlarmAction, AlarmState
from alarms.lifecycle import TransitionRefused, next_state

S, A = AlarmState, AlarmAction
UNACK, ACKED, RTN, LATCHED, SHELVED, SUPPRESSED, CLOSED = (
    S.UNACK,
    S.ACKED,
    S.RTN_UNACK,
    S.LATCHED,
    S.SHELVED,
    S.SUPPRESSED,
    S.CLOSED,
)
REFUSED = "refused"

# (state, action, latched, resume) -> next state or REFUSED
TABLE = [
    # acknowledge
    (UNACK, A.ACKNOWLEDGE, False, None, ACKED),
    (UNACK, A.ACKNOWLEDGE, True, None, LATCHED),  # acknowledging does not close a lift alarm
    (RTN, A.ACKNOWLEDGE, False, None, CLOSED),
    (RTN, A.ACKNOWLEDGE, True, None, CLOSED),
    (ACKED, A.ACKNOWLEDGE, False, None, REFUSED),
    (LATCHED, A.ACKNOWLEDGE, True, None, REFUSED),
    (SHELVED, A.ACKNOWLEDGE, False, None, REFUSED),
    (SUPPRESSED, A.ACKNOWLEDGE, False, None, REFUSED),
    # the condition ended by itself
    (UNACK, A.RETURN, False, None, RTN),
    (ACKED, A.RETURN, False, None, CLOSED),
    (RTN, A.RETURN, False, None, RTN),
    (SHELVED, A.RETURN, False, None, CLOSED),
    (SUPPRESSED, A.RETURN, False, None, CLOSED),
    (UNACK, A.RETURN, True, None, UNACK),  # a latched alarm ignores it
    (LATCHED, A.RETURN, True, None, LATCHED),
    # rescue ended (EN 81-28)
    (UNACK, A.RESCUE_ENDED, True, None, RTN),  # still to be acknowledged
    (LATCHED, A.RESCUE_ENDED, True, None, CLOSED),
    (SUPPRESSED, A.RESCUE_ENDED, True, None, CLOSED),
    (SHELVED, A.RESCUE_ENDED, True, None, CLOSED),
    (UNACK, A.RESCUE_ENDED, False, None, REFUSED),
    # an operator clears
    (UNACK, A.CLEAR, False, None, CLOSED),
    (ACKED, A.CLEAR, False, None, CLOSED),
    (SHELVED, A.CLEAR, False, None, CLOSED),
    (LATCHED, A.CLEAR, True, None, REFUSED),
    (UNACK, A.CLEAR, True, None, REFUSED),
    # reset with a reason closes anything open
    (UNACK, A.RESET, True, None, CLOSED),
    (LATCHED, A.RESET, True, None, CLOSED),
    (SUPPRESSED, A.RESET, False, None, CLOSED),
    # shelving
    (UNACK, A.SHELVE, False, None, SHELVED),
    (ACKED, A.SHELVE, False, None, SHELVED),
    (RTN, A.SHELVE, False, None, SHELVED),
    (LATCHED, A.SHELVE, True, None, SHELVED),
    (SHELVED, A.SHELVE, False, None, REFUSED),
    (SUPPRESSED, A.SHELVE, False, None, REFUSED),
    (SHELVED, A.UNSHELVE, False, ACKED, ACKED),
    (SHELVED, A.UNSHELVE, False, None, UNACK),
    (UNACK, A.UNSHELVE, False, None, REFUSED),
    # suppression (silences, inhibition)
    (UNACK, A.SUPPRESS, False, None, SUPPRESSED),
    (LATCHED, A.SUPPRESS, True, None, SUPPRESSED),
    (SHELVED, A.SUPPRESS, False, None, REFUSED),
    (SUPPRESSED, A.SUPPRESS, False, None, REFUSED),
    (SUPPRESSED, A.UNSUPPRESS, False, LATCHED, LATCHED),
    (SUPPRESSED, A.UNSUPPRESS, False, None, UNACK),
    (ACKED, A.UNSUPPRESS, False, None, REFUSED),
    # the condition again
    (RTN, A.RAISE, False, None, UNACK),
    (ACKED, A.RAISE, False, None, ACKED),
    (LATCHED, A.RAISE, True, None, LATCHED),
    (SUPPRESSED, A.RAISE, False, None, SUPPRESSED),
    # notes and escalations keep the state
    (UNACK, A.NOTE, False, None, UNACK),
    (LATCHED, A.ESCALATE, True, None, LATCHED),
]


@pytest.mark.parametrize(("state", "action", "latched", "resume", "expected"), TABLE)
def test_each_action_from_each_state(state, action, latched, resume, expected) -> None:  # type: ignore[no-untyped-def]
    if expected == REFUSED:
        with pytest.raises(TransitionRefused):
            next_state(state, action, latched=latched, resume=resume)
    else:
        assert next_state(state, action, latched=latched, resume=resume) is expected


@pytest.mark.parametrize("action", list(AlarmAction))
def test_nothing_moves_a_closed_alarm(action: AlarmAction) -> None:
    with pytest.raises(TransitionRefused, match="the alarm is closed"):
        next_state(CLOSED, action, latched=False)


def test_the_refusals_say_why_in_an_operators_words() -> None:
    with pytest.raises(
        TransitionRefused, match="a latched lift alarm closes on rescue ended or a reset with a reason"
    ):
        next_state(LATCHED, A.CLEAR, latched=True)
    with pytest.raises(
        TransitionRefused, match="an alarm that is active, acknowledged cannot be acknowledged"
    ):
        next_state(ACKED, A.ACKNOWLEDGE, latched=False)
    with pytest.raises(TransitionRefused, match="only a latched lift alarm waits for rescue ended"):
        next_state(UNACK, A.RESCUE_ENDED, latched=False)
    with pytest.raises(TransitionRefused, match="the alarm is not shelved"):
        next_state(UNACK, A.UNSHELVE, latched=False)
    with pytest.raises(TransitionRefused, match="the alarm is not suppressed"):
        next_state(UNACK, A.UNSUPPRESS, latched=False)
    with pytest.raises(TransitionRefused, match="an alarm that is shelved cannot be shelved"):
        next_state(SHELVED, A.SHELVE, latched=False)
    with pytest.raises(TransitionRefused, match="an alarm that is suppressed cannot be suppressed"):
        next_state(SUPPRESSED, A.SUPPRESS, latched=False)


@pytest.mark.parametrize(
    ("state", "action", "latched", "message"),
    [
        (CLOSED, A.NOTE, False, "the alarm is closed"),
        (ACKED, A.ACKNOWLEDGE, False, "an alarm that is active, acknowledged cannot be acknowledged"),
        (
            LATCHED,
            A.ACKNOWLEDGE,
            True,
            "an alarm that is latched (awaiting rescue ended) cannot be acknowledged",
        ),
        (UNACK, A.RESCUE_ENDED, False, "only a latched lift alarm waits for rescue ended"),
        (UNACK, A.CLEAR, True, "a latched lift alarm closes on rescue ended or a reset with a reason"),
        (SUPPRESSED, A.SHELVE, False, "an alarm that is suppressed cannot be shelved"),
        (ACKED, A.UNSHELVE, False, "the alarm is not shelved"),
        (SHELVED, A.SUPPRESS, False, "an alarm that is shelved cannot be suppressed"),
        (SHELVED, A.UNSUPPRESS, False, "the alarm is not suppressed"),
    ],
)
def test_each_refusal_reads_exactly_so(state: S, action: A, latched: bool, message: str) -> None:
    with pytest.raises(TransitionRefused) as refused:
        next_state(state, action, latched=latched)
    assert str(refused.value) == message


def test_an_action_the_machine_does_not_know_is_refused_by_name() -> None:
    with pytest.raises(TransitionRefused) as refused:
        next_state(UNACK, "page_the_janitor", latched=False)  # type: ignore[arg-type]
    assert str(refused.value) == "unknown action page_the_janitor"
