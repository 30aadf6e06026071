"""Receipts at the terminal: rendered when the outcome is recorded (in the same commit),
printed afterwards. A printer fault never undoes a sale: the slips wait in the journal's
print queue, in order, and print when the printer is back — never lost, never twice."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone

from kassa.card.entry import ENTRY_SWIPE
from kassa.clock import SYSTEM
from kassa.iso8583.transactions import TxnType
from kassa.money import Amount
from kassa.store import Transaction
from kassa.terminal.escpos import to_escpos
from kassa.terminal.journal import TXN_COLUMNS, Journal, _record
from kassa.terminal.printer import open_printer
from kassa.terminal.receipt import Copy, EntryMode, Lang, MaskedPan, SaleSlip, render_text
from kassa.terminal.states import State

log = logging.getLogger("kassa.terminal")
_WIDTH = 32


def sale_slip(journal: Journal, tx: Transaction, txn_id: int, copy: Copy = Copy.MERCHANT,
              reprint: bool = False) -> SaleSlip | None:  # fmt: skip
    """The slip of one journal row (read inside `tx`, so a fresh outcome is seen)."""
    row = tx.fetchone(f"SELECT {TXN_COLUMNS} FROM txns WHERE id = ?", (txn_id,))
    if row is None:
        return None
    rec = _record(row)
    config = journal.config_in(tx)
    tz = timezone(timedelta(minutes=config.utc_offset_minutes))
    orig = rec.orig_stan if rec.txn_type in ("void", "completion_void", "preauth_void") else None
    return SaleSlip(
        merchant_name=config.merchant_name or config.mid, mid=config.mid, tid=config.tid,
        operator=rec.operator or "01", card=MaskedPan(rec.pan_masked or "****"),
        entry=EntryMode.from_f22((rec.entry_mode or ENTRY_SWIPE) + "1"),
        txn=TxnType(rec.txn_type), amount=Amount(rec.amount_fen or 0), batch=rec.batch,
        trace=rec.stan, when=datetime.fromtimestamp(rec.created_ms / 1000, UTC).astimezone(tz),
        rrn=rec.rrn, auth_code=rec.auth_code, original_trace=orig,
        original_rrn=rec.orig_rrn if rec.txn_type == "refund" else None,
        original_auth_code=rec.orig_auth if rec.txn_type.startswith("completion") else None,
        copy=copy, reprint=reprint, offline=rec.offline,
        host_declined=rec.state is State.OFFLINE_DECLINED,
    )  # fmt: skip


class PrintingReceipts:
    """The terminal's `Receipts`: queue both stubs with the outcome; print what waits."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def reprint(self, txn_id: int, now_ms: int) -> None:
        """Queue the merchant stub again, marked 重打印 REPRINT, and print it."""
        with self.journal.db.transaction() as tx:
            slip = sale_slip(self.journal, tx, txn_id, reprint=True)
            if slip is not None:
                data = to_escpos(slip, width=_WIDTH, copies=1)
                self.journal.add_print_job(tx, txn_id, "reprint", Copy.MERCHANT.value, data, now_ms)
        self.flush()

    def queue(self, tx: Transaction, txn_id: int, now_ms: int) -> None:
        if self.journal.config_in(tx).printer.startswith("none"):
            return  # no printer configured: nothing would ever print these
        try:
            slip = sale_slip(self.journal, tx, txn_id)
        except Exception:
            # A slip that cannot be rendered must never undo the outcome it belongs to:
            # the transaction stands, the journal has it, `kassa pos reprint` can retry.
            log.exception("receipt for txn %s could not be rendered", txn_id)
            return
        if slip is None:
            return
        lang: Lang = "zh" if self.journal.config_in(tx).language == "zh" else "en"
        for copy in (Copy.MERCHANT, Copy.CARDHOLDER):
            data = to_escpos(slip.as_copy(copy), width=_WIDTH, lang=lang, copies=1)
            self.journal.add_print_job(tx, txn_id, "sale", copy.value, data, now_ms)

    def flush(self) -> str | None:
        """Print every queued slip in order; stop at the first failure. Returns the guide
        fault that stopped printing, or None when the queue is empty."""
        url = self.journal.config().printer
        jobs = self.journal.queued_prints()
        if not jobs or url.startswith("none"):
            return None
        printer = open_printer(url)
        for job_id, data in jobs:
            result = printer.print(data)
            if not result.ok:
                log.warning("receipt %s waits: %s", job_id, result.error)
                return result.error
            self.journal.mark_printed(job_id, SYSTEM.now_ms())
        return None


def preview(journal: Journal, txn_id: int, lang: str = "zh") -> str:
    """The plain-text slip of a transaction (for screens and `kassa pos reprint`)."""
    with journal.db.transaction(write=False) as tx:
        slip = sale_slip(journal, tx, txn_id, reprint=True)
    if slip is None:
        return ""
    return render_text(slip, width=_WIDTH, lang="en" if lang == "en" else "zh")
