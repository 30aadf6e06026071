"""The life of one terminal transaction, as a transition table (h11 style).

    pending ──approved──> approved ──voided──> voided
       │  ──declined──> declined
       │  ──mac_bad / no_answer / store_failed──> in_doubt ──reversal_answered──> reversed
       │  ──not_sent──> not_sent (nothing left the terminal: nothing charged)
       │  ──offline_ok──> offline ──uploaded──> uploaded  /  ──upload_declined──> offline_declined
       └─ (advice, no answer) ──> resend ──approved/declined──> ...

A (state, event) pair missing from the table is a bug, raised naming both.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    PENDING = "pending"  # journaled, sent or about to be: outcome not known yet
    APPROVED = "approved"
    DECLINED = "declined"
    IN_DOUBT = "in_doubt"  # outcome unknown: a reversal must be answered before anything else
    REVERSED = "reversed"
    NOT_SENT = "not_sent"
    OFFLINE = "offline"  # approved offline, waiting in store-and-forward
    UPLOADED = "uploaded"
    OFFLINE_DECLINED = "offline_declined"
    RESEND = "resend"  # an advice (refund, completion advice) to send again, same STAN
    VOIDED = "voided"
    NO_ANSWER = "no_answer"  # a balance inquiry that got no answer: nothing to undo


class Event(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    MAC_BAD = "mac_bad"
    NO_ANSWER = "no_answer"
    STORE_FAILED = "store_failed"
    NOT_SENT = "not_sent"
    OFFLINE_OK = "offline_ok"
    REVERSAL_ANSWERED = "reversal_answered"
    UPLOADED = "uploaded"
    UPLOAD_DECLINED = "upload_declined"
    VOIDED = "voided"
    VOID_REVERSED = "void_reversed"
    RESEND = "resend"


S, E = State, Event
TABLE: dict[tuple[State, Event], State] = {
    (S.PENDING, E.APPROVED): S.APPROVED,
    (S.PENDING, E.DECLINED): S.DECLINED,
    (S.PENDING, E.MAC_BAD): S.IN_DOUBT,
    (S.PENDING, E.NO_ANSWER): S.IN_DOUBT,
    (S.PENDING, E.STORE_FAILED): S.IN_DOUBT,
    (S.PENDING, E.NOT_SENT): S.NOT_SENT,
    (S.PENDING, E.OFFLINE_OK): S.OFFLINE,
    (S.PENDING, E.RESEND): S.RESEND,
    (S.APPROVED, E.STORE_FAILED): S.IN_DOUBT,
    (S.IN_DOUBT, E.REVERSAL_ANSWERED): S.REVERSED,
    (S.IN_DOUBT, E.NO_ANSWER): S.IN_DOUBT,
    (S.RESEND, E.APPROVED): S.APPROVED,
    (S.RESEND, E.DECLINED): S.DECLINED,
    (S.RESEND, E.NO_ANSWER): S.RESEND,
    (S.RESEND, E.NOT_SENT): S.RESEND,
    (S.OFFLINE, E.UPLOADED): S.UPLOADED,
    (S.OFFLINE, E.UPLOAD_DECLINED): S.OFFLINE_DECLINED,
    (S.OFFLINE, E.NO_ANSWER): S.OFFLINE,
    (S.OFFLINE, E.NOT_SENT): S.OFFLINE,
    (S.APPROVED, E.VOIDED): S.VOIDED,
    (S.UPLOADED, E.VOIDED): S.VOIDED,
    (S.VOIDED, E.VOID_REVERSED): S.APPROVED,
}

# States after which nothing more is sent for the transaction.
FINAL = frozenset({S.APPROVED, S.DECLINED, S.REVERSED, S.NOT_SENT, S.UPLOADED,
                   S.OFFLINE_DECLINED, S.VOIDED, S.NO_ANSWER})  # fmt: skip
# States in which money moved (or will, once uploaded) at the host for this terminal.
CHARGED = frozenset({S.APPROVED, S.OFFLINE, S.UPLOADED, S.VOIDED})


class TransitionError(AssertionError):
    """A (state, event) pair the table does not allow: a bug in the terminal."""


def next_state(state: State, event: Event) -> State:
    try:
        return TABLE[(state, event)]
    except KeyError:
        raise TransitionError(f"no transition from {state.value!r} on {event.value!r}") from None
