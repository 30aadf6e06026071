"""Card transactions at the host: the card is found and checked, then each type applies
its own rule and books its ledger entry (reference §3.5, §3.9).

A decline is a `Reply` with the code; an approval carries RRN, authorisation code and
settlement date; every business answer is recorded so a repeat is replayed, never redone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kassa import ledger
from kassa.errors import CryptoError
from kassa.host import issuer, repo, riskgate
from kassa.host.context import Ctx
from kassa.host.netmgmt import allocate_rrn
from kassa.host.originals import Originals
from kassa.host.records import Card, CardKind, TxnStatus
from kassa.host.reply import Reply
from kassa.host.riskfeed import RiskFeed
from kassa.host.secrets import HostSecrets
from kassa.iso8583.fields import BalanceAmount, Field53, Field54
from kassa.iso8583.track import decrypt_track
from kassa.iso8583.transactions import TxnType
from kassa.risk import Action, RiskEngine

if TYPE_CHECKING:
    from kassa.host.core import HostConfig

_T = TxnType
_PIN_REQUIRED_FOR_DEBIT = frozenset({_T.SALE, _T.PREAUTH, _T.BALANCE})
_DEBITS = frozenset({_T.SALE, _T.PREAUTH, _T.OFFLINE_SALE, _T.OFFLINE_UPLOAD})


class Financial:
    def __init__(
        self, secrets: HostSecrets, config: HostConfig, rand: Callable[[int], bytes]
    ) -> None:
        self.secrets = secrets
        self.config = config
        self.rand = rand
        self.risk: RiskEngine | None = None
        self.feed: RiskFeed | None = None  # the counters shared with other nodes, if any
        self.originals = Originals(self)

    def handle(self, ctx: Ctx, txn: TxnType) -> Reply:
        pan, expiry = self._card_data(ctx)
        state = None
        if pan:
            state = repo.card_state(ctx.tx, self.secrets.pan_hash(pan), ctx.settle_date)
        card = state.card if state is not None else None
        base: dict[str, Any] = {"txn_type": txn.value, "amount_fen": ctx.amount_fen}
        if card is not None:
            base.update(card_ref=card.card_ref, pan_masked=card.pan_masked)
        mcc = ctx.merchant.mcc if ctx.merchant else ""
        ctx.risk_event = riskgate.event_for(ctx, txn.value, card.card_ref if card else None, mcc)
        assert ctx.orphan_reversed is not None, "the idempotency look-up runs first"
        if ctx.orphan_reversed:
            return self.decline(ctx, "25", base)  # reversed before it arrived: never approve
        code = issuer.check_card(card, expiry, ctx.local.date())
        if code is None and card is not None:
            code = self._pin(ctx, card, pan, txn)
        if code is not None or state is None:
            return self.decline(ctx, code or "14", base)
        return self._by_type(ctx, txn, state, base)

    def _by_type(
        self, ctx: Ctx, txn: TxnType, state: repo.CardState, base: dict[str, Any]
    ) -> Reply:
        """`state`: the card, its balance and day's usage, read together (nothing in between
        moves them)."""
        if txn is _T.BALANCE:
            return self._balance(ctx, state.card, state.balance, base)
        if txn in _DEBITS:
            return self._debit(ctx, txn, state, base)
        return self.originals.handle(ctx, txn, state.card, base)

    # -- card data and PIN ----------------------------------------------------------

    def _card_data(self, ctx: Ctx) -> tuple[str | None, str | None]:
        """The PAN (from F2, else track 2, decrypting it when 53.3 says so) and expiry."""
        track = ctx.msg.get(35)
        if track and ctx.keys is not None and ctx.keys.tdk and self._track_encrypted(ctx):
            try:
                track = decrypt_track(ctx.keys.tdk, track)
            except CryptoError:
                track = None
        pan = ctx.msg.get(2) or (track.split("D", 1)[0] if track and "D" in track else None)
        expiry = ctx.msg.get(14)
        if expiry is None and track and "D" in track:
            expiry = track.split("D", 1)[1][:4] or None
        return pan, expiry

    @staticmethod
    def _track_encrypted(ctx: Ctx) -> bool:
        f53 = ctx.msg.get(53)
        return bool(f53) and Field53.parse(f53 or "").track_encrypted

    def _pin(self, ctx: Ctx, card: Card, pan: str | None, txn: TxnType) -> str | None:
        assert ctx.keys is not None and pan is not None
        block = ctx.msg.get(52)
        required = (
            self.config.debit_pin_required
            and card.kind is CardKind.DEBIT
            and txn in _PIN_REQUIRED_FOR_DEBIT
        )
        result = issuer.check_pin(
            card, pan, bytes.fromhex(block) if block else None, ctx.keys.pik,
            self.secrets.pvk, required,
        )  # fmt: skip
        if result.wrong_count != card.wrong_pin_count:
            repo.set_wrong_pins(ctx.tx, card.card_ref, result.wrong_count)
        return result.code

    # -- outcomes -------------------------------------------------------------------

    def decline(self, ctx: Ctx, code: str, base: dict[str, Any]) -> Reply:
        riskgate.observe(self.risk, ctx, code, self.feed)
        record = {**base, "status": TxnStatus.DECLINED.value, "rrn": allocate_rrn(ctx)}
        return Reply(code, {37: record["rrn"], 32: self.config.acquirer_id}, record=record)

    def approve(
        self, ctx: Ctx, base: dict[str, Any], entry: ledger.LedgerEntry | None, **extra: Any
    ) -> Reply:
        riskgate.observe(self.risk, ctx, "00", self.feed)
        if entry is not None:
            repo.append_entry(ctx.tx, entry)
        rrn, auth = allocate_rrn(ctx), f"{int.from_bytes(self.rand(4), 'big') % 10**6:06d}"
        record = {
            **base, "status": TxnStatus.APPROVED.value, "rrn": rrn, "auth_code": auth,
            "entry_id": entry.entry_id if entry else None, **extra,
        }  # fmt: skip
        fields = {15: ctx.settle_date, 32: self.config.acquirer_id, 37: rrn, 38: auth}
        return Reply("00", fields, record=record)

    def entry_id(self, ctx: Ctx) -> str:
        return f"{ctx.tid}:{ctx.batch}:{ctx.stan}:{ctx.msg.mti}"

    @staticmethod
    def txn_key(ctx: Ctx) -> str:
        return f"{ctx.tid}:{ctx.batch}:{ctx.stan}"

    # -- balance inquiry and debits -------------------------------------------------

    def _balance(self, ctx: Ctx, card: Card, balance: int, base: dict[str, Any]) -> Reply:
        limit = card.credit_limit_fen if card.kind is CardKind.CREDIT else 0
        account_type = "30" if card.kind is CardKind.CREDIT else "10"
        items = (
            BalanceAmount(account_type, "01", "156", balance),
            BalanceAmount(account_type, "02", "156", balance + limit),
        )
        reply = self.approve(ctx, base, None)
        reply.fields[54] = Field54(items).to_field()
        return reply

    def _debit(self, ctx: Ctx, txn: TxnType, state: repo.CardState, base: dict[str, Any]) -> Reply:
        assert ctx.merchant is not None
        card, amount = state.card, ctx.amount_fen
        if amount <= 0:
            return self.decline(ctx, "13", base)
        code = issuer.check_merchant(ctx.merchant, card, amount)
        if code is None and ctx.merchant.daily_limit_fen is not None:
            day_fen = repo.merchant_day_fen(ctx.tx, ctx.merchant.mid, ctx.settle_date)
            code = issuer.check_merchant_day(ctx.merchant, day_fen, amount)
        if code is None:
            count, spent = state.day_usage
            code = issuer.check_card_limits(card, count, spent, amount)
        if code is None:
            code = issuer.check_funds(card, state.balance, amount)
        if code is not None:
            return self.decline(ctx, code, base)
        judged = riskgate.evaluate(self.risk, ctx, self.feed)
        if judged is not None:
            decision, base["risk"] = judged
            if decision.action is Action.DECLINE:
                return self.decline(ctx, decision.response_code or "59", base)
        key, eid, at = self.txn_key(ctx), self.entry_id(ctx), ctx.now_ms
        if txn is _T.PREAUTH:
            entry = ledger.preauth_hold(key, card.card_ref, amount, at_ms=at, entry_id=eid)
        else:
            entry = ledger.sale(
                key, card.card_ref, ctx.merchant.mid, amount, at_ms=at, entry_id=eid
            )
        return self.approve(ctx, base, entry)
