"""Request messages a terminal sends, built from the transaction table (pure).

Each builder returns a Message without F64; `seal` adds the MAC and returns the wire
bytes (MTI onwards). Field sets follow reference §2 (per-message table) and §3.
"""

from __future__ import annotations

from dataclasses import dataclass

from kassa.card import CardInput, reversal_subset
from kassa.iso8583 import Message, codec
from kassa.iso8583.fields import (
    BatchUploadRecord,
    Field48BatchEnd,
    Field48BatchUpload,
    Field48Settlement,
    Field53,
    Field60,
    Field61,
    NetMgmt,
)
from kassa.iso8583.keys import KeyMode
from kassa.iso8583.mac import MacAlgorithm, compute_mac
from kassa.iso8583.transactions import TxnType, build_request, spec_of

CURRENCY_CNY = "156"
PIN_MAX_LENGTH = "12"  # F26: the PIN pad accepts up to 12 digits


@dataclass(frozen=True, slots=True)
class Identity:
    """Who sends: terminal, merchant and the operator at the keyboard."""

    tid: str
    mid: str
    operator: str = "01"

    @property
    def f63(self) -> str:
        return self.operator.ljust(3)[:3]


@dataclass(frozen=True, slots=True)
class Original:
    """The original a void, refund, completion or pre-auth void refers to."""

    batch: str = "000000"
    stan: str = "000000"
    date: str | None = None  # MMDD
    rrn: str | None = None
    auth_code: str | None = None


def sign_on(who: Identity, stan: str, batch: str, mode: KeyMode = KeyMode.DOUBLE) -> Message:
    f60 = Field60.management(batch, mode.value).to_field()
    return Message("0800", {11: stan, 41: who.tid, 42: who.mid, 60: f60, 63: who.f63})


def sign_off(who: Identity, stan: str, batch: str) -> Message:
    f60 = Field60.management(batch, NetMgmt.SIGN_OFF).to_field()
    return Message("0820", {11: stan, 41: who.tid, 42: who.mid, 60: f60})


def echo(who: Identity, batch: str) -> Message:
    f60 = Field60.management(batch, NetMgmt.ECHO).to_field()
    return Message("0820", {41: who.tid, 42: who.mid, 60: f60})


def status_upload(who: Identity, batch: str, text: str) -> Message:
    """终端状态上送 (0820, 60.3 = 362): here, the terminal's fault summary as ASCII in F62."""
    f60 = Field60.management(batch, "362").to_field()
    raw = text.encode("ascii", "replace")[:512]
    return Message("0820", {41: who.tid, 42: who.mid, 60: f60, 62: raw.hex().upper()})


def financial(
    txn: TxnType,
    who: Identity,
    stan: str,
    batch: str,
    amount_fen: int | None,
    card: CardInput,
    pin_block: bytes | None = None,
    original: Original | None = None,
    track_encrypted: bool = False,
) -> Message:
    """A card transaction request of type `txn` (no MAC yet)."""
    spec = spec_of(txn)
    fields: dict[int, str] = {11: stan, 41: who.tid, 42: who.mid, 49: CURRENCY_CNY}
    fields[60] = Field60.financial(spec.type_code, batch).to_field()
    if amount_fen is not None:
        fields[4] = f"{amount_fen:012d}"
    fields.update(_card_fields(card, pin_block is not None))
    if pin_block is not None:
        fields[26] = PIN_MAX_LENGTH
        fields[52] = pin_block.hex().upper()
    if pin_block is not None or track_encrypted:
        pin_format = "2" if pin_block is not None else "0"
        fields[53] = Field53(pin_format, "6", track_encrypted).to_field()
    if original is not None:
        fields.update(_original_fields(txn, original))
    if txn in (TxnType.REFUND, TxnType.COMPLETION_ADVICE, TxnType.OFFLINE_UPLOAD):
        fields[63] = who.f63
    return build_request(txn, fields)


def _card_fields(card: CardInput, pin_entered: bool) -> dict[int, str]:
    fields = {22: card.pos_entry_mode(pin_entered)}
    if card.track2 is not None:
        fields[35] = card.track2.nibbles()
    else:
        fields[2] = card.pan
    if card.track2 is None and card.expiry:
        fields[14] = card.expiry
    if card.track3:
        fields[36] = card.track3
    if card.pan_seq:
        fields[23] = card.pan_seq
    if card.icc_data:
        fields[2] = card.pan
        fields[55] = card.icc_data.hex().upper()
    return fields


def _original_fields(txn: TxnType, orig: Original) -> dict[int, str]:
    fields: dict[int, str] = {}
    if orig.rrn:
        fields[37] = orig.rrn
    if orig.auth_code:
        fields[38] = orig.auth_code
    date = orig.date if txn in (TxnType.REFUND, TxnType.PREAUTH_VOID, TxnType.COMPLETION) else None
    fields[61] = Field61(orig.batch, orig.stan, date).to_field()
    return fields


_REVERSAL_DROPS = (26, 35, 36, 37, 52, 53, 64)


def reversal(request: Message, reason: str, auth_code: str | None = None) -> Message:
    """The 0400 for `request`: same STAN, amount, F3, F60; reason in F39; no track, PIN or
    RRN (reference §3.6); F55 reduced to the tags a reversal carries."""
    fields = {n: v for n, v in request.fields.items() if n not in _REVERSAL_DROPS}
    fields[39] = reason
    if auth_code:
        fields[38] = auth_code
    if 55 in fields:
        fields[55] = reversal_subset(bytes.fromhex(fields[55])).hex().upper()
    if request.get(2) is None and request.get(35):
        fields[2] = (request.get(35) or "").split("D", 1)[0]
    return Message("0400", fields)


def settlement(who: Identity, stan: str, batch: str, totals: Field48Settlement) -> Message:
    f60 = Field60.management(batch, NetMgmt.SETTLE).to_field()
    return Message(
        "0500",
        {11: stan, 41: who.tid, 42: who.mid, 48: totals.to_field(), 49: CURRENCY_CNY,
         60: f60, 63: who.f63},
    )  # fmt: skip


def batch_details(
    who: Identity, stan: str, batch: str, records: tuple[BatchUploadRecord, ...]
) -> Message:
    f60 = Field60.management(batch, NetMgmt.SETTLE).to_field()
    f48 = Field48BatchUpload(records).to_field()
    return Message("0320", {11: stan, 41: who.tid, 42: who.mid, 48: f48, 60: f60})


def batch_end(who: Identity, stan: str, batch: str, count: int, balanced: bool) -> Message:
    f60 = Field60.management(batch, NetMgmt.batch_end(balanced)).to_field()
    f48 = Field48BatchEnd(count).to_field()
    return Message("0320", {11: stan, 41: who.tid, 42: who.mid, 48: f48, 60: f60})


def seal(msg: Message, mak: bytes | None, algorithm: MacAlgorithm = MacAlgorithm.ECB) -> bytes:
    """Wire bytes of `msg`, with F64 computed under `mak` when one is given."""
    if mak is None:
        return codec.encode(msg)
    raw = codec.encode(codec.with_mac_placeholder(msg))
    return raw[: -codec.MAC_SIZE] + compute_mac(mak, codec.mac_input(raw), algorithm)
