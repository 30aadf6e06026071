"""Device drills: the printer runs out of paper; the disk fills up.

The disk drill puts the terminal's home on a small tmpfs it mounts (we may be root in a
lab); where mounting is not allowed it makes the journal unable to grow with SQLite's
`PRAGMA max_page_count`, which fails writes with the very error a full disk gives
(SQLITE_FULL). The drill says which one it used.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

from kassa.errors import StoreError
from kassa.ops.drills.cast import Till
from kassa.ops.drills.network import TID, doctor_says, state_of
from kassa.ops.drills.stage import Stage
from kassa.terminal.states import State

tmpfs_size = "4m"


def _printed(till: Till) -> tuple[int, int, int]:
    """(printed jobs, queued jobs, bytes of every printed job)."""
    with till.terminal.journal.db.transaction(write=False) as tx:
        rows = tx.fetchall("SELECT state, LENGTH(payload) FROM print_jobs")
    printed = [int(r[1]) for r in rows if r[0] == "printed"]
    return len(printed), sum(1 for r in rows if r[0] == "queued"), sum(printed)


async def printer_paper(stage: Stage) -> None:
    """缺纸: the sale still completes; both receipts wait in the journal's print queue and
    print in order, once each, when the paper is back."""
    say = stage.say
    paper = stage.base / "printer" / "receipts.bin"
    paper.parent.mkdir(parents=True, exist_ok=True)
    status = paper.with_name(paper.name + ".status")
    status.write_text("ok")
    say.step("开店", f"The terminal prints to file://{paper} (status in {status.name})")
    till = stage.till(TID, settings={"printer": f"file://{paper}"})
    await till.terminal.sign_on()
    say.outcome("消费 sale", await till.sale("10.00"))

    say.step("缺纸", "The printer runs out of paper")
    status.write_text("out")
    await doctor_says(stage, till, "printer")
    for amount in ("20.00", "30.00"):
        outcome = await till.sale(amount)
        say.outcome("消费 sale", outcome)
        say.expect(outcome.state is State.APPROVED, "the sale completes without paper")
    say.guide("printer_no_paper")
    printed, queued, _ = _printed(till)
    say(f"  打印队列 print queue: {printed} printed, {queued} waiting")
    say.expect(queued == 4, "both stubs of the two sales wait in the queue")

    say.step("装纸", "Paper loaded: the waiting receipts print, in order")
    status.write_text("ok")
    left = till.terminal.pending.receipts.flush()
    printed, queued, size = _printed(till)
    say(f"  打印队列 print queue: {printed} printed, {queued} waiting ({left or 'no fault'})")
    say.expect(queued == 0 and printed == 6, "every stub printed")
    on_paper = paper.stat().st_size
    say(f"  the printer received {on_paper} bytes; the printed jobs hold {size}")
    say.expect(on_paper == size, "each receipt came out exactly once")
    await doctor_says(stage, till, "printer")


def mount_small_disk(stage: Stage, where: Path) -> bool:
    """Mount a small tmpfs at `where` when allowed (unmounted when the stage closes)."""
    where.mkdir(parents=True, exist_ok=True)
    command = ["mount", "-t", "tmpfs", "-o", f"size={tmpfs_size}", "tmpfs", str(where)]
    try:
        mounted = subprocess.run(command, capture_output=True, check=False).returncode == 0
    except OSError:
        mounted = False
    if mounted:
        stage.cleanups.append(
            lambda: subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)
        )
    return mounted


def _fill(where: Path) -> Path:
    """Write a filler file until the file system says it is full."""
    filler = where / "filler.bin"
    with filler.open("wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(bytes(64 * 1024))
            out.flush()
    return filler


_FILLER = (
    "INSERT INTO txns (batch, stan, txn_type, state, reversible, note, created_ms, updated_ms,"
    " tz) VALUES ('FILLER', ?, 'filler', 'declined', 0, ?, 0, 0, 'UTC+00:00')"
)


def _cap_journal(till: Till, cap: bool) -> None:
    """Cap the journal's size and fill the transaction table's last free bytes with filler
    rows (`cap` False: undo both), so the next sale's insert fails with SQLITE_FULL, the
    error a full disk gives."""
    db = till.terminal.journal.db
    if not cap:
        with db.transaction() as tx:
            tx.execute("DELETE FROM txns WHERE batch = 'FILLER'")
            tx.fetchone("PRAGMA max_page_count = 1073741823")
        return
    with db.transaction() as tx:
        row = tx.fetchone("PRAGMA page_count")
        assert row is not None
        tx.fetchone(f"PRAGMA max_page_count = {int(row[0]) + 4}")
    count = 0
    for size in (2048, 256, 16, 0):  # big rows first, then ever smaller into the gaps
        with contextlib.suppress(StoreError):
            while True:
                count += 1
                with db.transaction() as tx:
                    tx.execute(_FILLER, (f"{count:06d}", "x" * size))


async def disk_full(stage: Stage) -> None:
    """存储满: with the disk full the terminal cannot journal a sale, so it sends nothing
    (journal before send: nothing charged); with space freed it works again."""
    say = stage.say
    mounted = mount_small_disk(stage, stage.base / "disk")
    how = f"a {tmpfs_size} tmpfs, filled to the brim" if mounted else (
        "the journal capped with PRAGMA max_page_count (no mount allowed here)")  # fmt: skip
    say.step("开店", f"The terminal's home is on a small disk ({how})")
    till = stage.till(TID, home=stage.base / "disk")
    await _disk_story(stage, till, mounted)


async def _disk_story(stage: Stage, till: Till, mounted: bool) -> None:
    say = stage.say
    await till.terminal.sign_on()
    say.outcome("消费 sale", await till.sale("10.00"))
    say.step("存储满", "The disk fills up")
    filler = _fill(stage.base / "disk") if mounted else None
    if filler is None:
        _cap_journal(till, True)
    await doctor_says(stage, till, "disk")
    before = len(till.terminal.journal.txns("batch <> 'FILLER'"))
    outcome = await till.sale("20.00")
    say.outcome("消费 sale", outcome)
    for note in outcome.notes:
        say(f"      refused before sending — {note}")
    say.expect(outcome.state is None and outcome.code in ("disk_full", "storage_failure"),
               "a sale that cannot be journaled is refused before sending")  # fmt: skip
    now = len(till.terminal.journal.txns("batch <> 'FILLER'"))
    say.expect(now == before, "nothing was journaled or sent")
    say.step("清理空间", "Space is freed (settled data purged under the retention policy)")
    if filler is not None:
        filler.unlink()
    else:
        _cap_journal(till, False)
    after = await till.sale("30.00")
    say.outcome("消费 sale", after)
    say.expect(after.state is State.APPROVED, "sales work again once there is space")
    say.expect(state_of(till, after.txn_id) is State.APPROVED, "the new sale is recorded")
