"""Shared by the reconciliation tests (no tests here): a real terminal and a real host
drive a day, then each kind of disagreement is injected the way it happens in the field.

The day (terminal 12345678, every sale approved by the host unless said otherwise):
  A 100.00 ... left alone: terminal and host agree
  B  50.00 ... its journal record is deleted (a terminal restored from an old backup)
  C  80.00 ... the journal says 120.00 (a keyed amount fixed by hand at the terminal)
  D  30.00 ... the journal says reversed; the host still holds the money
  E  20.00 ... answer lost, reversed automatically at the host; the journal then says
               approved (its reversal record lost)
  F  60.00 ... approved offline; the journal says uploaded with an RRN, but the upload
               never reached the host (lost upload)
  H  15.00 ... answer lost and the reversal not delivered: in doubt (in flight)
  G  10.00 ... host unreachable: approved offline, waiting in store-and-forward (in flight)
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "terminal"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "host"))

from hostkit import CREDIT_PAN, PAN, REFERENCE, T0_MS, Term, open_host
from termkit import Rig, make_rig, rigged

from kassa.audit import AuditLog, ChainKey
from kassa.auth import HASH_FAST, AuthSettings, Role, totp_code, totp_step, vault_sealer
from kassa.auth.store import OperatorStore
from kassa.backoffice.recon import ReconSources, RunSummary, ensure_schema, run_recon
from kassa.host.check import check_host
from kassa.net import Fault
from kassa.store import Database
from kassa.terminal.outcome import Outcome
from kassa.terminal.states import State
from kassa.vault import derive_key

TID = "12345678"
MASTER = bytes(range(32))
PASSWORD = "Recon-Pass-2026"
LOST_UPLOAD_RRN = "990000000001"
__all__ = ["CREDIT_PAN", "PAN", "REFERENCE", "Rig", "Term", "make_rig", "open_host", "rigged"]


@dataclass
class Day:
    """The outcomes of the day, by letter."""

    sales: dict[str, Outcome] = field(default_factory=dict)

    def txn_id(self, letter: str) -> int:
        found = self.sales[letter].txn_id
        assert found is not None
        return found


def set_journal(rig: Rig, txn_id: int, **values: object) -> None:
    """Change a journal row behind the terminal's back (the injected disagreement)."""
    sets = ", ".join(f"{k} = ?" for k in values)
    with rig.terminal.journal.db.transaction() as tx:
        tx.execute(f"UPDATE txns SET {sets} WHERE id = ?", (*values.values(), txn_id))


def calm(rig: Rig) -> None:
    """Forget faults scheduled but not used: the network is fine again."""
    while len(rig.schedule):
        rig.schedule.take()


async def drive_day(rig: Rig) -> Day:
    day = Day()
    assert (await rig.terminal.sign_on()).ok
    for letter, amount in (("A", 10_000), ("B", 5_000), ("C", 8_000), ("D", 3_000)):
        day.sales[letter] = await rig.sale(amount)
        assert day.sales[letter].state is State.APPROVED
    rig.schedule.add(Fault.DROP_RESPONSE)
    day.sales["E"] = await rig.sale(2_000)
    assert rig.terminal.journal.txn(day.txn_id("E")).state is State.REVERSED  # type: ignore[union-attr]
    rig.schedule.add(Fault.DROP_REQUEST, times=2)  # the sale, and the upload if tried at once
    day.sales["F"] = await rig.sale(6_000)
    assert day.sales["F"].state is State.OFFLINE
    calm(rig)
    set_journal(rig, day.txn_id("F"), state="uploaded", rrn=LOST_UPLOAD_RRN, response_code="00")
    rig.schedule.add(Fault.DROP_RESPONSE).add(Fault.DROP_REQUEST)
    day.sales["H"] = await rig.sale(1_500)
    assert day.sales["H"].state is State.IN_DOUBT
    rig.schedule.add(Fault.DROP_REQUEST, times=4)  # H's reversal, G, G's upload
    day.sales["G"] = await rig.sale(1_000)
    assert day.sales["G"].state is State.OFFLINE
    calm(rig)
    # The injected disagreements.
    with rig.terminal.journal.db.transaction() as tx:
        tx.execute("DELETE FROM txns WHERE id = ?", (day.txn_id("B"),))
    set_journal(rig, day.txn_id("C"), amount_fen=12_000)
    set_journal(rig, day.txn_id("D"), state="reversed")
    set_journal(rig, day.txn_id("E"), state="approved")
    return day


def write_journal(
    rig: Rig, path: Path, with_tid: bool = False, only: set[int] | None = None
) -> Path:
    """What `kassa pos journal --json` prints, to a file (optionally with a tid per line)."""
    lines = []
    for row in rig.terminal.journal.txns():
        if only is None or row.id in only:
            doc = row.to_json()
            if with_tid:
                doc["tid"] = TID
            lines.append(json.dumps(doc, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Staff:
    """Back-office operators on the host database, and a clock for their one-time codes."""

    def __init__(self, db: Database) -> None:
        seal, open_sealed = vault_sealer(derive_key(MASTER, "totp"), random.Random(3).randbytes)
        self.store = OperatorStore(
            db, settings=AuthSettings(hash_params=HASH_FAST), seal=seal, open_sealed=open_sealed
        )
        self.audit = AuditLog(db, "cli", ChainKey.from_master(MASTER))
        self.now_ms = T0_MS + 3_600_000
        self.secrets: dict[str, str] = {}
        for who, role in (("ops01", Role.OPERATOR), ("ops02", Role.OPERATOR),
                          ("sup01", Role.SUPERVISOR), ("sup02", Role.SUPERVISOR),
                          ("cash01", Role.CASHIER)):  # fmt: skip
            password = PASSWORD if role is not Role.CASHIER else "735194"
            _, secret = self.store.add(who, role, password, self.now_ms, temporary=False)
            if secret:
                self.secrets[who] = secret

    def tick(self) -> int:
        """Half a minute later: a new one-time code step."""
        self.now_ms += 30_000
        return self.now_ms

    def code(self, who: str) -> str:
        return totp_code(self.secrets[who], totp_step(self.now_ms))


def reconcile(rig: Rig, staff: Staff, **kw: object) -> RunSummary:
    ensure_schema(rig.db)
    sources = ReconSources(terminal_dbs=(rig.journal_path,), **kw)  # type: ignore[arg-type]
    return run_recon(rig.db, sources, staff.tick(), "ops01", staff.audit)


def host_ok(db: Database) -> None:
    with db.transaction(write=False) as tx:
        report = check_host(tx)
    assert report.ok, report.problems
