"""Power-cut points for drills and crash tests (应急演练).

With `KASSA_DRILL_POWER_CUT=<point>` in its environment, the terminal process kills itself
with SIGKILL the moment it reaches that point — no clean-up, no flush, exactly like a
power cut — so the operator (or a test) can watch recovery do its work afterwards.
"""

from __future__ import annotations

import os
import signal

ENV = "KASSA_DRILL_POWER_CUT"
POINTS = (
    "after_journal",  # the request and its reversal are on disk; nothing sent yet
    "after_send",  # the host has answered; the answer is not recorded yet
    "after_record",  # the outcome is recorded; receipts not printed yet
    "settle_totals",  # the host has answered the 0500; batch upload not started
    "settle_upload",  # details uploaded; batch-upload end not sent
    "settle_end",  # the host closed the batch; the terminal has not moved on yet
)
# Points in the follow-ups (recovery, reversals, advice resends, offline uploads). Kept
# apart from POINTS, which the drills and the chaos runs pick from for one sale or one
# settlement: a sale reaches these only when something was left pending before it.
FOLLOW_UP_POINTS = (
    "recover_settled",  # every row left pending has its safe state on disk; nothing sent
    "follow_up_answered",  # the host answered a reversal or an advice; nothing recorded yet
    "follow_up_recorded",  # its outcome (and the next row's attempt) recorded; next not sent
)


def power_cut(point: str) -> None:
    """Die here, as if the power went, when the drill asks for this point."""
    assert point in POINTS or point in FOLLOW_UP_POINTS, point
    if os.environ.get(ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)
