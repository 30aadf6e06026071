"""What cashiers do at the tills: sales, voids, refunds, balance inquiries, pre-auths and
completions, wrong PINs. Each operation returns the outcome as one line for the trace.

Originals (the sale a void undoes, the hold a completion captures) are picked from the
till's own journal, as the real terminal's menus do. The PIN block is made when the PIN
is entered, under the working keys the terminal holds at that moment.
"""

from __future__ import annotations

import random

from kassa.card import CardInput
from kassa.iso8583.pinblock import make_pin_block
from kassa.iso8583.transactions import TxnType
from kassa.sim.checks import Checker
from kassa.sim.reference import CARDS, SimCard
from kassa.sim.world import Till
from kassa.terminal.journal import TxnRecord
from kassa.terminal.outcome import Outcome
from kassa.terminal.requests import Original
from kassa.terminal.service import TxnRequest
from kassa.terminal.states import State

T = TxnType
_CARD_WEIGHTS = (6, 6, 6, 5, 2, 1)  # mostly good cards; some poor, a lost one now and then
_BY_PAN = {card.pan: card for card in CARDS}


def describe(out: Outcome) -> str:
    state = out.state.value if out.state else "-"
    notes = f" [{', '.join(out.notes)}]" if out.notes else ""
    where = f" stan={out.stan}" if out.stan else ""
    return f"{state} {out.code}{where}{notes}"


class Cashier:
    """Drives the tills; remembers holds captured and what each cashier was told."""

    def __init__(self, rng: random.Random, checker: Checker) -> None:
        self.rng = rng
        self.checker = checker
        self.completed: set[tuple[int, int]] = set()
        self.warnings: list[str] = []

    # -- building requests ----------------------------------------------------------

    def card(self) -> SimCard:
        return self.rng.choices(CARDS, _CARD_WEIGHTS)[0]

    def amount(self) -> int:
        if self.rng.random() < 0.75:
            return self.rng.randint(100, 20_000)  # at or under the floor limit
        return self.rng.randint(20_001, 300_000)

    @staticmethod
    def request(till: Till, txn: TxnType, amount: int | None, card: SimCard, pin: str | None,
                original: Original | None = None, orig_id: int | None = None) -> TxnRequest:  # fmt: skip
        keys = till.pos.journal.keys()
        block = make_pin_block(keys.pik, pin, card.pan) if pin and keys else None
        swipe = CardInput.from_swipe(card.swipe())
        return TxnRequest(txn, amount, swipe, block, original, orig_id)

    async def run(self, till: Till, req: TxnRequest, pin_right: bool = True) -> str:
        out = await till.pos.transact(req)
        if out.state in (State.APPROVED, State.OFFLINE) and out.txn_id is not None:
            self.checker.told[(till.index, out.txn_id)] = out.state
        if pin_right and req.pin_block is not None and out.code in ("55", "99"):
            self.warnings.append(
                f"{till.name} {req.txn.value} stan={out.stan}: right PIN answered {out.code}"
            )
        return describe(out)

    def _rows(self, till: Till, types: tuple[str, ...], *states: State) -> list[TxnRecord]:
        marks = ", ".join("?" for _ in states)
        kinds = ", ".join("?" for _ in types)
        return till.pos.journal.txns(
            f"state IN ({marks}) AND txn_type IN ({kinds})",
            (*(s.value for s in states), *types),
        )

    def _card_of(self, till: Till, row: TxnRecord) -> SimCard | None:
        pan = till.pos.journal.sealed(row.id, "pan_sealed")
        return _BY_PAN.get(pan.decode()) if pan else None

    # -- operations -----------------------------------------------------------------

    async def sale(self, till: Till) -> str:
        card = self.card()
        return await self.run(till, self.request(till, T.SALE, self.amount(), card, card.pin))

    async def wrong_pin(self, till: Till) -> str:
        card = self.card()
        wrong = f"{(int(card.pin) + 1 + self.rng.randint(0, 8000)) % 10_000:04d}"
        req = self.request(till, T.SALE, self.amount(), card, wrong)
        return await self.run(till, req, pin_right=False)

    async def balance(self, till: Till) -> str:
        card = self.card()
        return await self.run(till, self.request(till, T.BALANCE, None, card, card.pin))

    async def preauth(self, till: Till) -> str:
        card = self.card()
        return await self.run(till, self.request(till, T.PREAUTH, self.amount(), card, card.pin))

    async def void(self, till: Till) -> str:
        batch = till.pos.ctx.batch
        rows = [r for r in self._rows(till, ("sale",), State.APPROVED) if r.batch == batch]
        if not rows:
            return "nothing to void; sale: " + await self.sale(till)
        row = self.rng.choice(rows)
        card = self._card_of(till, row)
        assert card is not None
        original = Original(row.batch, row.stan, rrn=row.rrn, auth_code=row.auth_code)
        req = self.request(till, T.VOID, row.amount_fen, card, None, original, row.id)
        return f"of {row.stan}: " + await self.run(till, req)

    async def refund(self, till: Till) -> str:
        rows = [r for r in self._rows(till, ("sale",), State.APPROVED, State.UPLOADED) if r.rrn]
        if not rows:
            return "nothing to refund; balance inquiry: " + await self.balance(till)
        row = self.rng.choice(rows)
        card = self._card_of(till, row)
        assert card is not None
        amount = self.rng.randint(1, row.amount_fen or 1)
        original = Original(row.batch, row.stan, date=row.host_date or "1118", rrn=row.rrn)
        req = self.request(till, T.REFUND, amount, card, None, original, row.id)
        return f"of {row.stan}: " + await self.run(till, req)

    def _hold(self, till: Till) -> TxnRecord | None:
        rows = [
            r
            for r in self._rows(till, ("preauth",), State.APPROVED)
            if (till.index, r.id) not in self.completed
        ]
        return self.rng.choice(rows) if rows else None

    async def completion(self, till: Till) -> str:
        row = self._hold(till)
        if row is None:
            return "no hold to complete; pre-auth: " + await self.preauth(till)
        card = self._card_of(till, row)
        assert card is not None and row.amount_fen is not None
        amount = self.rng.randint(row.amount_fen // 2 + 1, row.amount_fen * 115 // 100)
        original = Original(row.batch, row.stan, date=row.host_date, auth_code=row.auth_code)
        req = self.request(till, T.COMPLETION, amount, card, None, original, row.id)
        line = await self.run(till, req)
        if line.startswith(State.APPROVED.value):
            self.completed.add((till.index, row.id))
        return f"of {row.stan}: {line}"

    async def preauth_void(self, till: Till) -> str:
        row = self._hold(till)
        if row is None:
            return "no hold to void; pre-auth: " + await self.preauth(till)
        card = self._card_of(till, row)
        assert card is not None
        original = Original(row.batch, row.stan, date=row.host_date, auth_code=row.auth_code)
        req = self.request(till, T.PREAUTH_VOID, row.amount_fen, card, None, original, row.id)
        line = await self.run(till, req)
        if line.startswith(State.APPROVED.value):
            self.completed.add((till.index, row.id))
        return f"of {row.stan}: {line}"
