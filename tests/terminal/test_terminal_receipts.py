"""Receipts at the terminal: queued with the outcome, printed after; a printer fault
never undoes the sale, and the slips print when the printer is back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from termkit import Rig, make_rig

from kassa.terminal.printing import PrintingReceipts, preview
from kassa.terminal.states import State

pytestmark = pytest.mark.anyio


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    out = tmp_path / "printer.bin"
    r = make_rig(f"sqlite:///{tmp_path / 'host.db'}", tmp_path, printer=f"file://{out}")
    r.terminal.pending.receipts = PrintingReceipts(r.terminal.journal)
    try:
        yield r
    finally:
        r.close()


async def test_sale_prints_both_stubs_in_chinese(rig: Rig, tmp_path: Path) -> None:
    await rig.terminal.sign_on()
    outcome = await rig.sale(12_800)
    data = (tmp_path / "printer.bin").read_bytes()
    assert data.startswith(b"\x1b@") and data.count(b"\x1dV") == 2  # two stubs, each cut
    text = data.decode("gb18030", "replace")
    assert "商户存根" in text and "持卡人存根" in text and "128.00" in text
    assert "6212264000001899463" not in text and outcome.rrn in text
    assert rig.terminal.journal.queued_prints() == []


async def test_paper_out_the_sale_completes_and_the_slips_wait(rig: Rig, tmp_path: Path) -> None:
    await rig.terminal.sign_on()
    (tmp_path / "printer.bin.status").write_text("out")
    outcome = await rig.sale(5_000)
    assert outcome.state is State.APPROVED  # the printer never undoes a sale
    assert len(rig.terminal.journal.queued_prints()) == 2
    assert (
        not (tmp_path / "printer.bin").exists()
        or b"5" not in (tmp_path / "printer.bin").read_bytes()
    )
    (tmp_path / "printer.bin.status").write_text("ok")
    assert rig.terminal.pending.receipts.flush() is None
    assert rig.terminal.journal.queued_prints() == []
    assert "50.00" in (tmp_path / "printer.bin").read_bytes().decode("gb18030", "replace")


async def test_reprint_is_marked(rig: Rig) -> None:
    await rig.terminal.sign_on()
    outcome = await rig.sale(700)
    text = preview(rig.terminal.journal, outcome.txn_id or 0)
    assert "重打印" in text and "7.00" in text
