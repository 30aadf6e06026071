"""Network management (0800 / 0820): sign-on with fresh working keys, sign-off, echo,
status upload (reference §3.2-3.4, §3.10)."""

from __future__ import annotations

from collections.abc import Callable

from kassa.card import mask_in_text
from kassa.host import repo
from kassa.host.context import Ctx
from kassa.host.reply import Reply
from kassa.host.secrets import HostSecrets
from kassa.iso8583.fields import Field60
from kassa.iso8583.fields import NetMgmt as Code
from kassa.iso8583.keys import KeyMode, generate_working_keys, wrap_working_keys

_SIGN_ON_MODES = frozenset(m.value for m in KeyMode)


def allocate_rrn(ctx: Ctx) -> str:
    """A retrieval reference number unique at this host (shared by every host node): 12
    digits from `repo.next_rrn` (a sequence on PostgreSQL, no row lock held to COMMIT)."""
    return f"{repo.next_rrn(ctx.tx) % 10**12:012d}"


class NetMgmt:
    def __init__(self, secrets: HostSecrets, acquirer_id: str, rand: Callable[[int], bytes]):
        self.secrets = secrets
        self.acquirer_id = acquirer_id
        self.rand = rand

    def handle(self, ctx: Ctx) -> Reply:
        code = (ctx.msg.get(60) or "")[8:11]
        terminal = repo.terminal(ctx.tx, ctx.tid)
        if terminal is None:
            return Reply("97")
        ctx.terminal = terminal
        if terminal.mid != ctx.msg.get(42):
            return Reply("03")
        if terminal.status != "active":
            return Reply("58")
        if ctx.msg.mti == "0800" and code in _SIGN_ON_MODES:
            return self._sign_on(ctx, KeyMode(code))
        if ctx.msg.mti == "0820" and code == Code.SIGN_OFF:
            repo.set_signed_off(ctx.tx, terminal.tid, ctx.now_ms)
            return Reply("00", {32: self.acquirer_id})
        if ctx.msg.mti == "0820" and code == Code.STATUS_UPLOAD:
            repo.touch_terminal(ctx.tx, terminal.tid, ctx.now_ms)
            text = _ascii(ctx.msg.get(62))
            saf, _, faults = text.partition(";") if text.startswith("saf=") else ("", "", text)
            if saf[4:].isdigit():
                repo.log_event(ctx.tx, ctx.now_ms, terminal.tid, "terminal_status", saf[4:], saf)
            if faults:
                repo.log_event(ctx.tx, ctx.now_ms, terminal.tid, "terminal_faults", None, faults)
            return Reply("00", drop=(11,))
        if ctx.msg.mti == "0820" and code == Code.ECHO:
            repo.touch_terminal(ctx.tx, terminal.tid, ctx.now_ms)
            return Reply("00", drop=(11,))
        return Reply("40")

    def _sign_on(self, ctx: Ctx, mode: KeyMode) -> Reply:
        terminal = ctx.terminal
        assert terminal is not None
        tmk = self.secrets.open_tmk(terminal.tid, terminal.tmk_sealed)
        keys = generate_working_keys(mode, self.rand)
        f62 = wrap_working_keys(tmk, keys, mode)
        sealed = self.secrets.seal_keys(terminal.tid, keys, self.rand)
        repo.set_keys(ctx.tx, terminal.tid, mode.value, sealed, ctx.now_ms, _version(ctx))
        repo.log_event(ctx.tx, ctx.now_ms, terminal.tid, "sign_on", "00", f"key mode {mode.value}")
        f60 = Field60.management(terminal.batch, mode.value).to_field()
        fields = {32: self.acquirer_id, 37: allocate_rrn(ctx), 60: f60, 62: f62.hex().upper()}
        return Reply("00", fields)


def _ascii(raw: str | None) -> str:
    """Printable ASCII from a b field (hex); anything else is dropped, card numbers masked."""
    if not raw:
        return ""
    text = bytes.fromhex(raw).decode("ascii", "replace")
    return mask_in_text("".join(ch for ch in text if ch.isprintable()))[:512]


def _version(ctx: Ctx) -> str | None:
    """The terminal's self-description from F62 (用法十九), if it is printable text."""
    raw = ctx.msg.get(62)
    if not raw:
        return None
    text = bytes.fromhex(raw).decode("ascii", "replace")
    return text[:40] if text.isprintable() else None
