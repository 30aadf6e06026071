"""Terminal sign-on (0800): fresh working keys under the TMK, checked by their check
values; the host's batch adopted; the host's clock compared and adopted (reference §3.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from kassa.iso8583 import Message
from kassa.iso8583.fields import Field60
from kassa.iso8583.keys import KeyMode, unwrap_working_keys
from kassa.net import ConnectFailed, LinkError
from kassa.terminal import requests as rq
from kassa.terminal.context import Ctx
from kassa.terminal.verdict import judge


@dataclass(frozen=True, slots=True)
class SignOnResult:
    ok: bool
    code: str  # "00", a response code, or a guide fault name
    batch: str | None = None
    drift_ms: int | None = None


def host_time_ms(reply: Message, now_ms: int, utc_offset_minutes: int) -> int | None:
    """The host's clock from F13 (MMDD) + F12 (hhmmss), its year taken nearest to ours."""
    date, time = reply.get(13), reply.get(12)
    if not date or not time:
        return None
    tz = timezone(timedelta(minutes=utc_offset_minutes))
    ours = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(tz)
    best: int | None = None
    for year in (ours.year - 1, ours.year, ours.year + 1):
        try:
            when = datetime(year, int(date[:2]), int(date[2:]), int(time[:2]), int(time[2:4]),
                            int(time[4:]), tzinfo=tz)  # fmt: skip
        except ValueError:
            continue
        ms = int(when.timestamp() * 1000)
        if best is None or abs(ms - now_ms) < abs(best - now_ms):
            best = ms
    return best


async def sign_on(ctx: Ctx) -> SignOnResult:
    ctx.reload()
    tmk = ctx.journal.tmk()
    if tmk is None or not ctx.config.tid:
        return SignOnResult(False, "keys_missing")
    mode = KeyMode(ctx.config.key_mode)
    with ctx.journal.db.transaction() as tx:
        stan = ctx.journal.next_stan(tx)
    msg = rq.sign_on(ctx.who, stan, ctx.batch, mode)
    try:
        body = await ctx.link.exchange(ctx.frame(msg, None))
    except ConnectFailed:
        return SignOnResult(False, "host_unreachable")
    except LinkError:
        return SignOnResult(False, "response_timeout")
    verdict = judge(msg, body, None, ctx.header_mode)
    reply = verdict.reply
    if reply is None or verdict.code != "00" or not reply.get(62):
        return SignOnResult(False, verdict.code or "malformed_response")
    keys, ok = unwrap_working_keys(tmk, bytes.fromhex(reply[62]), mode)
    if not ok:
        ctx.journal.event(ctx.now_ms(), "key_check_failed", "00", "check values differ")
        return SignOnResult(False, "key_check_failed")
    return _adopt(ctx, reply, ctx.journal.keys_value(keys))


def _adopt(ctx: Ctx, reply: Message, keys_value: str) -> SignOnResult:
    raw_now = ctx.clock.now_ms()
    host_ms = host_time_ms(reply, raw_now, ctx.config.utc_offset_minutes)
    offset = (host_ms - raw_now) if host_ms is not None else 0
    batch = Field60.parse(reply[60]).batch if reply.get(60) else ctx.batch
    ctx.journal.put(keys=keys_value, signed_on="1", batch=batch, clock_offset_ms=str(offset),
                    signon_ms=str(raw_now + offset))  # fmt: skip
    if abs(offset) > ctx.config.clock_drift_max_ms:
        ctx.journal.event(
            raw_now + offset, "clock_skew", None, f"drift {offset} ms adopted from host"
        )
    return SignOnResult(True, "00", batch, offset)


async def sign_off(ctx: Ctx) -> SignOnResult:
    ctx.reload()
    with ctx.journal.db.transaction() as tx:
        stan = ctx.journal.next_stan(tx)
    msg = rq.sign_off(ctx.who, stan, ctx.batch)
    try:
        body = await ctx.link.exchange(ctx.frame(msg, None))
    except LinkError:
        ctx.journal.put(signed_on="0", keys=None)
        return SignOnResult(False, "host_unreachable")
    verdict = judge(msg, body, None, ctx.header_mode)
    ctx.journal.put(signed_on="0", keys=None)
    return SignOnResult(verdict.code == "00", verdict.code or "malformed_response")


async def echo(ctx: Ctx) -> SignOnResult:
    ctx.reload()
    msg = rq.echo(ctx.who, ctx.batch)
    try:
        body = await ctx.link.exchange(ctx.frame(msg, None))
    except ConnectFailed:
        return SignOnResult(False, "host_unreachable")
    except LinkError:
        return SignOnResult(False, "response_timeout")
    verdict = judge(msg, body, None, ctx.header_mode)
    return SignOnResult(verdict.code == "00", verdict.code or "malformed_response")


async def upload_faults(ctx: Ctx, summary_text: str) -> bool:
    """Send the fault summary to the host (best effort: a failure changes nothing)."""
    msg = rq.status_upload(ctx.who, ctx.batch, summary_text)
    try:
        body = await ctx.link.exchange(ctx.frame(msg, None))
    except LinkError:
        return False
    return judge(msg, body, None, ctx.header_mode).code == "00"
