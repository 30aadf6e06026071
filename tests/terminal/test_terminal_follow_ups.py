"""Follow-ups (reversals, advice resends, offline uploads) against the real host core:
one durable commit per row, every send counted before it leaves, working keys read once
per run and again after a re-sign-on."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from followkit import (
    START_FEN,
    counting_commits,
    offline_sale,
    pending_sale,
    refund_to_resend,
    states,
)
from termkit import Rig, balance, ledger_ok, rigged

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "host"))
from hostkit import Term

from kassa.iso8583.framing import split_body
from kassa.net import Fault
from kassa.terminal.states import State

pytestmark = pytest.mark.anyio
ROWS = 5


@pytest.fixture
def rig(db_url: str, tmp_path: Path) -> Iterator[Rig]:
    with rigged(db_url, tmp_path, floor_limit_fen=20_000) as r:
        yield r


def attempts(rig: Rig, *ids: int) -> list[int]:
    rows = {row.id: row for row in rig.terminal.journal.txns()}
    return [rows[i].attempts for i in ids]


async def test_offline_uploads_take_one_commit_each(rig: Rig) -> None:
    await rig.terminal.sign_on()
    ids = [offline_sale(rig, 1_000 + n) for n in range(ROWS)]
    with counting_commits(rig.terminal.journal) as commits:
        await rig.terminal.pending.upload_offline()
    assert states(rig.terminal.journal, *ids) == [State.UPLOADED] * ROWS
    # The first row's attempt alone, then each outcome with the next row's attempt.
    assert commits.writes == ROWS + 1
    assert attempts(rig, *ids) == [1] * ROWS
    assert balance(rig) == START_FEN - sum(1_000 + n for n in range(ROWS))
    ledger_ok(rig)


async def test_reversals_take_one_commit_each_and_keep_their_events(rig: Rig) -> None:
    await rig.terminal.sign_on()
    ids = [pending_sale(rig, 2_000 + n, delivered=n % 2 == 0) for n in range(ROWS)]
    assert balance(rig) < START_FEN  # the delivered ones are charged at the host
    terminal = rig.restart()
    with counting_commits(terminal.journal) as commits:
        found = await terminal.recover()
    assert [o.txn_id for o in found] == ids and {o.state for o in found} == {State.IN_DOUBT}
    assert [o.amount_fen for o in found] == [2_000 + n for n in range(ROWS)]
    assert states(terminal.journal, *ids) == [State.REVERSED] * ROWS
    # One for the safe states of all, one for the first attempt, one per reversal.
    assert commits.writes == ROWS + 2
    assert attempts(rig, *ids) == [1] * ROWS
    with terminal.journal.db.transaction(write=False) as tx:
        events = tx.fetchall("SELECT txn_id, code FROM events WHERE kind = 'reversal'")
    assert sorted(i for i, _ in events) == ids  # each reversal's event, with its outcome
    assert all(code == "00" for i, code in events if ids.index(i) % 2 == 0)  # delivered
    assert balance(rig) == START_FEN
    ledger_ok(rig)


async def test_every_send_is_counted_even_when_its_answer_is_lost(rig: Rig) -> None:
    await rig.terminal.sign_on()
    first, second, third = (offline_sale(rig, 1_000 * (n + 1)) for n in range(3))
    rig.schedule.add(None).add(Fault.DROP_RESPONSE)  # the host books the 2nd; answer lost
    await rig.terminal.pending.upload_offline()
    assert states(rig.terminal.journal, first, second, third) == [
        State.UPLOADED, State.OFFLINE, State.OFFLINE,
    ]  # fmt: skip
    assert attempts(rig, first, second, third) == [1, 1, 0]
    await rig.terminal.pending.upload_offline()  # the 2nd again, same STAN: booked once
    assert states(rig.terminal.journal, first, second, third) == [State.UPLOADED] * 3
    assert attempts(rig, first, second, third) == [1, 2, 1]
    assert balance(rig) == START_FEN - 6_000
    ledger_ok(rig)


async def test_resends_and_uploads_after_reversals_one_commit_each(rig: Rig) -> None:
    await rig.terminal.sign_on()
    refund = await refund_to_resend(rig, 3_000, 1_000)
    uploads = [offline_sale(rig, 500 + n) for n in range(3)]
    with counting_commits(rig.terminal.journal) as commits:
        assert await rig.terminal.pending.resolve()
    assert states(rig.terminal.journal, refund) == [State.APPROVED]
    assert states(rig.terminal.journal, *uploads) == [State.UPLOADED] * 3
    assert commits.writes == 1 + 1 + 1 + 3  # one per run's first attempt, one per row
    assert balance(rig) == START_FEN - 3_000 + 1_000 - (500 + 501 + 502)
    ledger_ok(rig)


async def test_new_keys_from_a_re_sign_on_are_used_for_the_rest_of_the_run(rig: Rig) -> None:
    await rig.terminal.sign_on()
    ids = [pending_sale(rig, 3_000 + n, delivered=True) for n in range(3)]
    # The host issues new working keys to this TID behind the terminal's back: the
    # terminal's first reversal is refused (A0, MAC), it signs on again and must send the
    # retry and every following reversal under the new MAK.
    Term(rig.db, rig.core, stan=900_000).sign_on()
    terminal = rig.restart()
    old_mak = terminal.journal.keys().mak  # type: ignore[union-attr]
    await terminal.recover()
    assert terminal.journal.keys().mak != old_mak  # type: ignore[union-attr]
    assert states(terminal.journal, *ids) == [State.REVERSED] * 3
    assert attempts(rig, *ids) == [2, 1, 1]  # the refused send counts too
    assert balance(rig) == START_FEN
    ledger_ok(rig)


async def test_an_upload_approved_with_a_bad_mac_is_not_taken(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host books the upload but its answer's MAC does not verify (tampered on the
    line): the terminal must not mark the row uploaded on an answer it cannot trust. It
    stays stored; the next upload sends it again and the host replays its answer."""
    await rig.terminal.sign_on()
    txn_id = offline_sale(rig, 2_000)
    link = rig.terminal.ctx.link
    real = link.exchange
    tampered = 0

    async def corrupt_once(body: bytes) -> bytes:
        nonlocal tampered
        answer = await real(body)
        if tampered == 0 and split_body(answer).message[:2] == b"\x02\x30":  # the upload's
            tampered += 1
            return answer[:-1] + bytes([answer[-1] ^ 0xFF])
        return answer

    monkeypatch.setattr(link, "exchange", corrupt_once)
    await rig.terminal.pending.upload_offline()
    assert tampered == 1
    assert states(rig.terminal.journal, txn_id) == [State.OFFLINE]
    await rig.terminal.pending.upload_offline()
    assert states(rig.terminal.journal, txn_id) == [State.UPLOADED]
    assert balance(rig) == START_FEN - 2_000  # booked once
    ledger_ok(rig)
