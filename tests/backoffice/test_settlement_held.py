"""A sale the risk rules held is not paid to the merchant until a supervisor releases it."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "host"))

from hostkit import T0_MS, Term, open_host

from kassa.backoffice import COMPONENT, MIGRATIONS, run_day
from kassa.backoffice.schema import Cutoff
from kassa.iso8583.transactions import TxnType
from kassa.risk import RiskEngine, load_rules
from kassa.store import migrate

HOLD_BIG = (
    '[rules.big]\ntype = "velocity"\nkey = "card"\nwindow_s = 600\nmax_count = 1\naction = "hold"\n'
)


def test_held_sale_waits_for_release(db_url: str) -> None:
    db, core = open_host(db_url)
    migrate(db, COMPONENT, MIGRATIONS)
    try:
        core.financial.risk = RiskEngine(load_rules(HOLD_BIG))
        term = Term(db, core)
        term.sign_on()
        assert term.send(term.request(TxnType.SALE, 1_000))[39] == "00"
        held = term.send(term.request(TxnType.SALE, 2_000))  # the second in 10 min: held
        assert held[39] == "00"
        with db.transaction() as tx:
            alerts = tx.fetchall("SELECT action, stan FROM risk_alerts")
        assert alerts == [("hold", held[11])]
        day = date(2026, 11, 18)
        cut = Cutoff(23, 0)
        first = run_day(db, day, T0_MS + 86_400_000, cut)
        assert first.total("gross_fen") == 1_000  # the held 20.00 is not paid
        with db.transaction() as tx:
            tx.execute("UPDATE risk_alerts SET review = 'released'")
        second = run_day(db, date(2026, 11, 19), T0_MS + 2 * 86_400_000, cut)
        assert second.total("gross_fen") == 2_000  # released: paid the next day, once
    finally:
        db.close()
