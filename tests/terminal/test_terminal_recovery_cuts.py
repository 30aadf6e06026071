"""Power cuts inside recovery and the follow-ups (the drill's FOLLOW_UP_POINTS): the
terminal process is killed with SIGKILL at the point (`cutchild.py`), then restarted.
Whatever the point, every row is still unresolved (in doubt, to resend, stored offline)
or done, never lost and never `pending`; the next recovery finishes, and the host has
charged exactly what the terminal holds as approved."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from followkit import (
    START_FEN,
    offline_sale,
    pending_sale,
    refund_to_resend,
    states,
)
from termkit import Rig, balance, ledger_ok, rigged

from kassa.terminal.drill import ENV, FOLLOW_UP_POINTS
from kassa.terminal.states import State

pytestmark = pytest.mark.anyio
CHILD = Path(__file__).resolve().parent / "cutchild.py"
KILLED = -9


@dataclass
class Left:
    """What the power cut left: rows by what they should end as."""

    reversals: list[int]  # sales in flight at the cut: reversed, never charged
    refund: int  # an advice whose answer was lost: resent, refunded once
    upload: int  # an offline sale: uploaded, charged once
    charged_fen: int  # what the card must end with


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with rigged(f"sqlite:///{tmp_path / 'host.db'}", tmp_path, floor_limit_fen=20_000) as r:
        yield r


async def leave_work(rig: Rig) -> Left:
    """Sign on, then leave a resend, an offline upload and three sales in flight."""
    await rig.terminal.sign_on()
    refund = await refund_to_resend(rig, 3_000, 1_000)
    upload = offline_sale(rig, 8_000)
    reversals = [pending_sale(rig, 7_000 + n, delivered=n != 1) for n in range(3)]
    rig.terminal.journal.close()  # the power went
    return Left(reversals, refund, upload, 3_000 - 1_000 + 8_000)


def restart(folder: Path, point: str | None) -> int:
    """A restart of the terminal (recovery) in its own process; its exit code."""
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if point:
        env[ENV] = point
    done = subprocess.run([sys.executable, str(CHILD), str(folder)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode in (0, KILLED), done.stderr
    return done.returncode


def unfinished_or_done(rig: Rig, left: Left) -> None:
    """Every row is where a cut may leave it: unresolved (to do again) or finished."""
    journal = rig.restart().journal
    for state in states(journal, *left.reversals):
        assert state in (State.IN_DOUBT, State.REVERSED)
    assert states(journal, left.refund)[0] in (State.RESEND, State.APPROVED)
    assert states(journal, left.upload)[0] in (State.OFFLINE, State.UPLOADED)
    assert journal.in_states(State.PENDING) == []


async def all_done(rig: Rig, left: Left) -> None:
    """A clean restart finishes everything; the host agrees to the fen."""
    terminal = rig.restart()
    await terminal.recover()
    journal = terminal.journal
    assert states(journal, *left.reversals) == [State.REVERSED] * 3
    assert states(journal, left.refund, left.upload) == [State.APPROVED, State.UPLOADED]
    assert balance(rig) == START_FEN - left.charged_fen
    ledger_ok(rig)


@pytest.mark.parametrize("point", FOLLOW_UP_POINTS)
async def test_a_cut_in_recovery_leaves_every_row_to_finish(
    rig: Rig, tmp_path: Path, point: str
) -> None:
    left = await leave_work(rig)
    assert restart(tmp_path, point) == KILLED
    unfinished_or_done(rig, left)
    await all_done(rig, left)


async def test_a_cut_after_every_recorded_outcome_still_ends_right(
    rig: Rig, tmp_path: Path
) -> None:
    left = await leave_work(rig)
    sends = len(left.reversals) + 2
    kills = 0
    while restart(tmp_path, "follow_up_recorded") == KILLED:
        kills += 1
        assert kills <= sends, "no progress from one restart to the next"
    assert kills == sends  # each restart recorded exactly one outcome, then died
    await all_done(rig, left)


async def test_a_row_whose_answer_kills_the_terminal_shows_every_attempt(
    rig: Rig, tmp_path: Path
) -> None:
    left = await leave_work(rig)
    first = left.reversals[0]
    for _ in range(3):  # answered, then the power goes before the outcome is stored
        assert restart(tmp_path, "follow_up_answered") == KILLED
    journal = rig.restart().journal
    assert states(journal, *left.reversals) == [State.IN_DOUBT] * 3
    row = journal.txn(first)
    assert row is not None and row.attempts == 3  # counted before each send
    await all_done(rig, left)  # the repeats were answered from the host's store
