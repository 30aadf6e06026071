"""The host core: one request frame in, one response frame out, inside a transaction.

    body (TPDU + header + message) ─> decode ─> gate (terminal, merchant, keys, MAC,
    batch) ─> idempotency (same TID+batch+STAN+MTI: replay or 94) ─> handler ─> record
    ─> response (TPDU echoed, header processing nibble, MAC)

Pure but for the caller's open transaction: no sockets, no clock, no randomness of its
own (`now_ms` and `rand` come in). A malformed message is answered 30 when its MTI can
be read; a frame that cannot even be split is not answered (the server closes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from kassa.errors import DecodeError
from kassa.host import repo
from kassa.host.context import Ctx, content_hash, response_fields, scrubbed_json
from kassa.host.financial import Financial
from kassa.host.netmgmt import NetMgmt
from kassa.host.reply import Reply
from kassa.host.reversal import handle_reversal
from kassa.host.secrets import HostSecrets
from kassa.host.settle import handle_batch_upload, handle_settlement
from kassa.iso8583 import MTI_NAMES, Message, codec, decode, encode
from kassa.iso8583.framing import Frame, HeaderMode, split_body
from kassa.iso8583.mac import MacAlgorithm, compute_mac, verify_mac
from kassa.iso8583.message import check_value
from kassa.iso8583.transactions import identify, response_mti
from kassa.risk import RiskEngine
from kassa.store import Transaction

log = logging.getLogger("kassa.host")

_MACED_RESPONSES = frozenset({"0110", "0210", "0230", "0410"})
_FINANCIAL = frozenset({"0100", "0200", "0220", "0400", "0620"})
# What a refusal without the database echoes (reference §2): enough for the terminal to
# match it to its request (MTI, STAN, TID, amount) and show it.
_ECHOED_ON_REFUSAL = (2, 3, 4, 11, 22, 25, 41, 42, 49, 60)


@dataclass(frozen=True, slots=True)
class HostConfig:
    """How this host behaves; every value has the UnionPay-direct default."""

    acquirer_id: str = "48520000"
    utc_offset_minutes: int = 480  # China Standard Time, no daylight saving
    header_mode: HeaderMode = HeaderMode.AUTO
    mac_algorithm: MacAlgorithm = MacAlgorithm.ECB
    debit_pin_required: bool = True


class HostCore:
    """Handles one frame at a time; share one per process."""

    def __init__(
        self,
        secrets: HostSecrets,
        config: HostConfig,
        rand: Callable[[int], bytes],
        risk: RiskEngine | None = None,
    ) -> None:
        self.secrets = secrets
        self.config = config
        self.rand = rand
        self.netmgmt = NetMgmt(secrets, config.acquirer_id, rand)
        self.financial = Financial(secrets, config, rand)
        self.financial.risk = risk
        self.last: tuple[str, str] | None = None  # (kind, F39) of the last answer, for metrics

    def handle(self, tx: Transaction, body: bytes, now_ms: int) -> bytes | None:
        """Answer one frame body; None means: send nothing and close the connection."""
        try:
            frame = split_body(body, self.config.header_mode)
        except DecodeError as exc:
            log.warning("unsplittable frame: %s", exc)
            return None
        try:
            msg = decode(frame.message, frame.message_offset)
        except DecodeError as exc:
            return self._format_error(tx, frame, exc, now_ms)
        if msg.mti[2] in "13579":  # a response (0110, 0210, ...) is never a request
            log.warning("a response MTI %s sent as a request: dropped", msg.mti)
            return None
        ctx = Ctx(tx, msg, frame.header, now_ms, self.config.utc_offset_minutes)
        reply = self._dispatch(ctx, frame.message)
        return self._finish(ctx, frame, reply)

    # -- gate -----------------------------------------------------------------------

    def _dispatch(self, ctx: Ctx, message: bytes) -> Reply:
        if ctx.msg.mti in ("0800", "0820"):
            return self.netmgmt.handle(ctx)
        refusal = self._gate(ctx, message)
        if refusal is not None:
            return refusal
        if ctx.msg.mti == "0500":
            return handle_settlement(ctx)
        if ctx.msg.mti == "0320":
            return handle_batch_upload(ctx)
        if ctx.msg.mti not in _FINANCIAL:
            return Reply("40")
        replay = self._idempotent(ctx)
        if replay is not None:
            return replay
        if ctx.msg.mti == "0400":
            return handle_reversal(ctx)
        if ctx.msg.mti == "0620":
            return Reply("00")
        txn = identify(ctx.msg)
        return Reply("40") if txn is None else self.financial.handle(ctx, txn)

    def _gate(self, ctx: Ctx, message: bytes) -> Reply | None:
        # The terminal's row is locked from here to COMMIT, BEFORE `_idempotent`: see
        # `repo.lock_terminal` for why (the same request at two host nodes at once).
        terminal, ctx.merchant = repo.claim_terminal(ctx.tx, ctx.tid, ctx.now_ms)
        if terminal is None:
            return Reply("97")
        ctx.terminal = terminal
        if (
            ctx.merchant is None
            or terminal.mid != ctx.msg.get(42)
            or ctx.merchant.status != "active"
        ):
            return Reply("03")
        if terminal.status != "active":
            return Reply("58")
        if not terminal.signed_on or terminal.keys_sealed is None:
            ctx.resign_on = True
            return Reply("C1")
        ctx.keys = self.secrets.open_keys(terminal.tid, terminal.keys_sealed)
        if ctx.msg.mti in _FINANCIAL and not self._mac_ok(ctx, message):
            ctx.resign_on = True
            return Reply("A0")
        if ctx.batch != terminal.batch and not self._closed_batch(ctx):
            ctx.resign_on = True
            return Reply("77")
        return None

    @staticmethod
    def _closed_batch(ctx: Ctx) -> bool:
        """A message for a batch the host already closed that must still be taken: a resumed
        settlement or batch upload, or a reversal or advice the terminal could not send
        before the batch closed (booked late; reconciliation shows it against the batch)."""
        if ctx.msg.mti not in ("0500", "0320", "0400", "0220"):
            return False
        row = ctx.tx.fetchone(
            "SELECT 1 FROM settlements WHERE tid = ? AND batch = ? AND status = 'closed'",
            (ctx.tid, ctx.batch),
        )
        return row is not None

    def _mac_ok(self, ctx: Ctx, message: bytes) -> bool:
        """F64 checked over the bytes the terminal sent (not a re-encoding of what was
        decoded): the MAB is the message from the MTI up to F64, as the terminal MACed it.
        F64 is always the last field (the dialect ends at 64) and the decoder refuses any
        byte after the last field, so that MAB is `message` minus its last 8 bytes."""
        mac = ctx.msg.fields.get(64)
        if mac is None or ctx.keys is None:
            return False
        return verify_mac(
            ctx.keys.mak, codec.mac_input(message), bytes.fromhex(mac), self.config.mac_algorithm
        )

    def _idempotent(self, ctx: Ctx) -> Reply | None:
        seen, ctx.orphan_reversed = repo.txn_and_orphan(
            ctx.tx, ctx.tid, ctx.batch, ctx.stan, ctx.msg.mti
        )
        if seen is None:
            return None
        if seen.content_hash != content_hash(ctx.msg):
            return Reply("94")
        stored = decode(seen.response)
        fields = dict(stored.fields)
        if 2 in ctx.msg:
            fields[2] = ctx.msg[2]
        return Reply(stored[39], replay=fields)

    # -- answer ---------------------------------------------------------------------

    def _finish(self, ctx: Ctx, frame: Frame, reply: Reply) -> bytes:
        if reply.replay is not None:
            fields = reply.replay  # a stored response, decoded: canonical already
        else:
            # Echoed values were decoded (canonical); the handler's are checked here.
            fields = response_fields(ctx, check_value(39, reply.code))
            for number, value in reply.fields.items():
                fields[number] = check_value(number, value)
            for number in reply.drop:
                fields.pop(number, None)
        mti = response_mti(ctx.msg.mti)
        maced = ctx.keys is not None and mti in _MACED_RESPONSES
        msg = Message.from_checked(mti, fields)
        self.last = (_kind_of(ctx.msg), str(fields.get(39, "")))
        raw = codec.encode_with_mac_slot(msg) if maced else encode(msg)  # encoded once
        if reply.record is not None:
            self._record(ctx, reply, codec.without_pan_and_mac(raw))
        if maced:
            assert ctx.keys is not None
            mac = compute_mac(ctx.keys.mak, codec.mac_input(raw), self.config.mac_algorithm)
            raw = raw[: -codec.MAC_SIZE] + mac
        header = frame.header
        if header is not None:
            header = header.with_processing("3" if ctx.resign_on else "0")
        return Frame(frame.tpdu, header, raw).to_bytes()[2:]

    def _record(self, ctx: Ctx, reply: Reply, stored: bytes) -> None:
        """Keep the request and its answer (`stored`: the response without PAN and MAC)."""
        assert reply.record is not None
        values = {
            "tid": ctx.tid,
            "batch": ctx.batch,
            "stan": ctx.stan,
            "mti": ctx.msg.mti,
            "content_hash": content_hash(ctx.msg),
            "mid": ctx.msg.fields.get(42) or "",
            "response_code": reply.code,
            "settle_date": ctx.settle_date,
            "created_ms": ctx.now_ms,
            "updated_ms": ctx.now_ms,
            "request": scrubbed_json(ctx.msg),
            "response": stored,
            **reply.record,
        }
        repo.insert_txn(ctx.tx, values)

    def refusal(self, body: bytes, code: str) -> bytes | None:
        """An answer `code` (96: system malfunction) to a request that was NOT booked —
        its group's transaction was rolled back — built without the database. Only for
        authorisation requests (0100, 0200): a reversal, advice or settlement gets no
        answer (None), so that the terminal sends it again rather than take a refusal for
        "done". Not MACed (there are no keys without the database); terminals take a
        decline without a MAC."""
        try:
            frame = split_body(body, self.config.header_mode)
            msg = decode(frame.message, frame.message_offset)
        except DecodeError:
            return None
        if msg.mti not in ("0100", "0200"):
            return None
        fields = {n: msg[n] for n in _ECHOED_ON_REFUSAL if n in msg}
        return _bare_answer(frame, msg.mti, {**fields, 39: code})

    def _format_error(
        self, tx: Transaction, frame: Frame, exc: DecodeError, now_ms: int
    ) -> bytes | None:
        mti = frame.message[:2].hex()
        log.warning("malformed message from a terminal: %s", exc)
        repo.log_event(tx, now_ms, None, "format_error", "30", str(exc))
        if mti not in MTI_NAMES or mti[2] in "13579":
            return None
        return _bare_answer(frame, mti, {39: "30"})


def _bare_answer(frame: Frame, request_mti: str, fields: dict[int, str]) -> bytes:
    """The response to `request_mti` with just `fields`, no MAC, in the request's framing:
    what the host answers when it cannot (or need not) go through the whole core."""
    answer = Message(response_mti(request_mti), fields)
    return Frame(frame.tpdu, frame.header, encode(answer)).to_bytes()[2:]


def _kind_of(msg: Message) -> str:
    """What a request was, for metrics: a transaction type, reversal, or management."""
    if msg.mti == "0400":
        return "reversal"
    if msg.mti in ("0500", "0320"):
        return "settlement"
    if msg.mti in ("0800", "0820"):
        return "management"
    txn = identify(msg)
    return txn.value if txn else "other"
