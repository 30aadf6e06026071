"""The script of the demo day (see `kassa.ops.demo_day`)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from kassa import logs
from kassa.host.check import check_host
from kassa.iso8583.transactions import TxnType
from kassa.money import Amount
from kassa.net.proxy import FaultProxy
from kassa.ops.demo_day import Day
from kassa.terminal.printing import preview
from kassa.terminal.requests import Original

T = TxnType


async def morning(day: Day) -> None:
    day.say(Panel("08:30 早班签到 Morning: operators log in, terminals sign on", style="bold"))
    day.proxy = FaultProxy("127.0.0.1", day.port)
    proxy_port = await day.proxy.start()
    for n in (1, 2, 3):
        till = day.open_till(n, proxy_port if n == 3 else day.port)
        day.login(till)
        result = await till.terminal.sign_on()
        day.say(f"  {till.name} 签到 sign-on: {result.code}, batch {result.batch}, "
                f"clock drift {result.drift_ms} ms, keys checked")  # fmt: skip
        day.tills.append(till)


async def trading(day: Day) -> None:
    t1, t2, t3 = day.tills
    day.say(Panel("09:00-12:00 营业 Trading", style="bold"))
    s1 = day.show(
        t1, "消费 sale", await t1.terminal.transact(t1.request(T.SALE, "128.00", "rich", "123456"))
    )
    day.show(
        t2,
        "消费 sale (credit card)",
        await t2.terminal.transact(t2.request(T.SALE, "2300.00", "credit", "888888")),
    )
    day.show(
        t2,
        "消费 sale, wrong PIN",
        await t2.terminal.transact(t2.request(T.SALE, "15.00", "rich", "111111")),
    )
    day.show(
        t1,
        "消费 sale, not enough money",
        await t1.terminal.transact(t1.request(T.SALE, "45.00", "poor", "654321")),
    )
    orig = Original(s1.batch or "", s1.stan or "", rrn=s1.rrn, auth_code=s1.auth_code)
    day.show(t1, "消费撤销 void of the 128.00", await t1.terminal.transact(
        t1.request(T.VOID, "128.00", "rich", None, orig, s1.txn_id)))  # fmt: skip
    s2 = day.show(
        t2, "消费 sale", await t2.terminal.transact(t2.request(T.SALE, "88.00", "rich", "123456"))
    )
    ref = Original(s2.batch or "", s2.stan or "", date=None, rrn=s2.rrn)
    day.show(
        t2,
        "退货 refund of 20.00",
        await t2.terminal.transact(t2.request(T.REFUND, "20.00", "rich", None, ref)),
    )
    day.show(
        t3,
        "余额查询 balance inquiry",
        await t3.terminal.transact(t3.request(T.BALANCE, None, "poor", "654321")),
    )
    day.say("\n  签购单 the receipt of T2's sale, as printed (ESC/POS, GB18030):")
    day.say(preview(t2.terminal.journal, s2.txn_id or 0))


async def faults(day: Day) -> None:
    t1, t2, t3 = day.tills
    assert day.proxy is not None
    day.say(Panel("13:00 网络中断 Network cut mid-sale on T3", style="bold yellow"))
    day.proxy.cut_next_response()
    day.show(
        t3,
        "消费 sale, answer lost",
        await t3.terminal.transact(t3.request(T.SALE, "66.00", "rich", "123456")),
    )
    day.show(
        t3,
        "消费 sale, line back",
        await t3.terminal.transact(t3.request(T.SALE, "12.00", "rich", "123456")),
    )
    day.say(Panel("14:00 主机故障 Host outage", style="bold yellow"))
    await day.stop_host()
    day.say("  the host is down")
    day.show(
        t1,
        "消费 sale under the floor",
        await t1.terminal.transact(t1.request(T.SALE, "35.00", "rich", "123456")),
    )
    day.show(
        t2,
        "消费 sale over the floor",
        await t2.terminal.transact(t2.request(T.SALE, "560.00", "rich", "123456")),
    )
    await day.start_host(day.port)
    day.say("  14:20 the host is back")
    day.show(t1, "消费 sale (uploads the offline one first)", await t1.terminal.transact(
        t1.request(T.SALE, "9.90", "rich", "123456")))  # fmt: skip


async def settlement(day: Day) -> None:
    day.say(Panel("22:00 结算 Settlement", style="bold"))
    t3 = day.tills[2]
    lost = t3.terminal.journal.txns("state = 'approved' AND txn_type = 'sale'")[-1]
    with t3.terminal.journal.db.transaction() as tx:  # a disk fault ate one journal record
        tx.execute("DELETE FROM print_jobs WHERE txn_id = ?", (lost.id,))
        tx.execute("DELETE FROM txns WHERE id = ?", (lost.id,))
    day.say(f"  (fault injected: T3's journal lost the record of trace {lost.stan})")
    for till in day.tills:
        result = await till.terminal.settle()
        verdict = (
            "对账平 balanced"
            if result.balanced
            else f"对账不平 unbalanced → 批上送 {result.uploaded} records uploaded"
        )
        totals = result.totals.domestic if result.totals else None
        figures = (f"debits {totals.debit_count} / RMB {Amount(totals.debit_amount_fen).yuan()}, "
                   f"credits {totals.credit_count} / RMB {Amount(totals.credit_amount_fen).yuan()}") if totals else ""  # fmt: skip
        day.say(f"  {till.name} batch {result.batch}: {result.code} {verdict}; {figures}")


_PER_TERMINAL = (
    "SELECT (SELECT COUNT(*) FROM txns WHERE tid = ? AND status = 'approved'"
    "  AND txn_type IN ('sale', 'offline_sale')),"
    " (SELECT COALESCE(SUM(amount_fen), 0) FROM txns WHERE tid = ? AND status = 'approved'"
    "  AND txn_type IN ('sale', 'offline_sale')),"
    " (SELECT COUNT(*) FROM txns WHERE tid = ? AND status = 'approved' AND txn_type = 'refund'),"
    " (SELECT COUNT(*) FROM txns WHERE tid = ? AND status = 'reversed'),"
    " (SELECT COUNT(*) FROM txns WHERE tid = ? AND txn_type = 'offline_sale'),"
    " (SELECT batch FROM terminals WHERE tid = ?)"
)


def report(day: Day) -> None:
    assert day.host is not None
    day.say(Panel("日报 The day's report", style="bold"))
    table = Table(title="host: approved captures and refunds per terminal")
    for col in ("terminal", "sales", "refunds", "reversed", "offline uploaded", "batch"):
        table.add_column(col)
    with day.host.db.transaction(write=False) as tx:
        for till in day.tills:
            tid = till.terminal.ctx.config.tid
            row = tx.fetchone(_PER_TERMINAL, (tid,) * 6)
            assert row is not None
            count, total, refunds, reversed_, offline, batch = row
            table.add_row(tid, f"{count} / RMB {Amount(int(total)).yuan()}", str(refunds),
                          str(reversed_), str(offline), str(batch))  # fmt: skip
        diffs = tx.fetchall(
            "SELECT tid, batch, stan, match FROM batch_details WHERE match <> 'match'"
        )
        diffs += tx.fetchall(
            "SELECT t.tid, t.batch, t.stan, 'missing_at_terminal' FROM txns t JOIN settlements s"
            " ON s.tid = t.tid AND s.batch = t.batch WHERE s.result LIKE '2%'"
            " AND t.status = 'approved' AND t.txn_type IN ('sale', 'offline_sale', 'completion')"
            " AND NOT EXISTS (SELECT 1 FROM batch_details d WHERE d.tid = t.tid"
            " AND d.batch = t.batch AND d.stan = t.stan)"
        )
        proof = check_host(tx)
    day.console.print(table)
    for d in diffs:
        day.say(
            f"  difference listed for 补登 reconciliation: terminal {d[0]} batch {d[1]} trace {d[2]}: {d[3]}"
        )
    day.say(f"  ledger proof: {'OK' if proof.ok else proof.problems} ({proof.entries} entries balance to zero; "
            f"every approval has exactly one capture)")  # fmt: skip


async def run_day(console: Console) -> None:
    with tempfile.TemporaryDirectory(prefix="kassa-demo-") as tmp:
        logs.configure(Path(tmp) / "logs" / "kassa.log")
        day = Day(Path(tmp), console)
        day.open_host()
        await day.start_host()
        try:
            await morning(day)
            await trading(day)
            await faults(day)
            await settlement(day)
            report(day)
        finally:
            if day.proxy is not None:
                await day.proxy.stop()
            await day.stop_host()
            for till in day.tills:
                await till.terminal.ctx.link.close()
                till.terminal.journal.close()
            if day.host is not None:
                day.host.close()
