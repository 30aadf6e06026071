"""The doctor's conclusions about local state (pure): keys, queues, printer, disk, journal,
and the host's database. See `checks` for the severities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kassa.money import Amount
from kassa.ops.doctor.checks import Check, Severity
from kassa.terminal.config import TerminalConfig

keys_age_max_ms = 24 * 3600 * 1000  # UnionPay terminals sign on at least daily
reversal_stuck_ms = 10 * 60 * 1000  # a reversal unanswered this long needs a person
disk_fail_below_bytes = 16 * 1024 * 1024
disk_warn_below_bytes = 128 * 1024 * 1024
_NEAR_CAP = 0.8  # warn once a store-and-forward cap is this full


def _age(now_ms: int, then_ms: int | None) -> str:
    if then_ms is None:
        return "?"
    minutes = max(now_ms - then_ms, 0) // 60_000
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"


def keys_check(has_tmk: bool, has_keys: bool, signon_ms: int | None, now_ms: int,
               age_max_ms: int = keys_age_max_ms) -> Check:  # fmt: skip
    name = "keys"
    if not has_tmk:
        return Check(name, "failure", "no terminal master key (TMK): load it", "keys_missing")
    if not has_keys:
        return Check(name, "failure", "TMK present, no working keys: sign on", "not_signed_on")
    if signon_ms is None or now_ms - signon_ms > age_max_ms:
        text = f"working keys are {_age(now_ms, signon_ms)} old (limit {age_max_ms // 3_600_000} h)"
        return Check(name, "warning", text + ": sign on again", "keys_stale")
    return Check(
        name, "ok", f"TMK and working keys present, from sign-on {_age(now_ms, signon_ms)} ago"
    )


def signed_on_check(signed_on: bool, batch: str) -> Check:
    if not signed_on:
        return Check("signed on", "failure", "not signed on: no online payment possible",
                     "not_signed_on")  # fmt: skip
    return Check("signed on", "ok", f"signed on, batch {batch}")


@dataclass(frozen=True, slots=True)
class Queue:
    """Rows waiting in one state: how many, how much, since when."""

    count: int = 0
    total_fen: int = 0
    oldest_ms: int | None = None


def followups_check(in_doubt: Queue, resend: Queue, now_ms: int,
                    stuck_ms: int = reversal_stuck_ms) -> Check:  # fmt: skip
    """Reversals and advices waiting to be sent: they go before any new transaction."""
    name = "reversals and resends"
    if not in_doubt.count and not resend.count:
        return Check(name, "ok", "nothing waiting")
    waiting = [r for r in (in_doubt, resend) if r.count]
    oldest = min(now_ms if r.oldest_ms is None else r.oldest_ms for r in waiting)
    text = f"{in_doubt.count} reversal(s) and {resend.count} advice(s) to resend waiting, "
    text += f"oldest {_age(now_ms, oldest)}"
    if now_ms - oldest > stuck_ms:
        return Check(name, "failure", text + ": not getting through", "reversal_failed")
    return Check(name, "warning", text + ": sent before the next transaction", "reversal_pending")


def saf_check(offline: Queue, config: TerminalConfig, now_ms: int) -> Check:
    """The store-and-forward queue against its caps (when a cap is reached offline sales
    are refused: fail closed)."""
    name = "store-and-forward"
    if not offline.count:
        return Check(name, "ok", "no offline sale waiting for upload")
    age = 0 if offline.oldest_ms is None else now_ms - offline.oldest_ms
    text = (f"{offline.count}/{config.saf_count_max} offline sale(s), RMB "
            f"{Amount(offline.total_fen).yuan()}/{Amount(config.saf_total_max_fen).yuan()}, "
            f"oldest {_age(now_ms, offline.oldest_ms)}")  # fmt: skip
    filled = max(offline.count / max(config.saf_count_max, 1),
                 offline.total_fen / max(config.saf_total_max_fen, 1),
                 age / max(config.saf_age_max_ms, 1))  # fmt: skip
    if offline.count >= config.saf_count_max:
        return Check(name, "failure", text + ": queue full", "saf_full")
    if filled >= 1:
        return Check(name, "failure", text + ": a cap is reached", "saf_cap_reached")
    if filled >= _NEAR_CAP:
        return Check(name, "warning", text + ": close to a cap; go online", "saf_full")
    return Check(name, "warning", text + ": uploaded once the host answers", "host_unreachable")


def printer_check(url: str, ready: bool | None, paper: str, error: str | None,
                  queued: int, note: str = "") -> Check:  # fmt: skip
    """`ready` None: the printer could not be asked (`note` says why)."""
    name = "printer"
    waiting = f"; {queued} receipt(s) waiting" if queued else ""
    if url.startswith("none"):
        return Check(name, "info", "no printer configured (none://)" + waiting)
    if not ready:
        code = error or "printer_not_connected"
        why = f"{code}, paper {paper}" + (f": {note}" if note else "")
        text = f"{url}: not ready ({why}){waiting}; sales go on, receipts wait for it"
        return Check(name, "failure", text, code)
    if paper == "near_end":
        return Check(name, "warning", f"{url}: paper near its end{waiting}", "printer_no_paper")
    if queued:
        return Check(name, "info", f"{url}: ready{waiting}; they print with the next "
                     "transaction")  # fmt: skip
    return Check(name, "ok", f"{url}: ready, paper {paper}")


def disk_check(path: str, free_bytes: int, total_bytes: int, writable: bool,
               fail_below: int = disk_fail_below_bytes,
               warn_below: int = disk_warn_below_bytes) -> Check:  # fmt: skip
    name = "disk"
    mib = f"{free_bytes // (1024 * 1024)} MiB free of {total_bytes // (1024 * 1024)} MiB"
    if free_bytes < fail_below:
        return Check(name, "failure", f"{path}: {mib}: the journal cannot grow", "disk_full")
    if not writable:
        return Check(name, "failure", f"{path} is not writable ({mib})", "storage_failure")
    if free_bytes < warn_below:
        return Check(name, "warning", f"{path}: {mib}: free space soon", "disk_full")
    return Check(name, "ok", f"{path}: {mib}")


@dataclass(frozen=True, slots=True)
class JournalFacts:
    """What the doctor read from a journal (ids are journal row ids)."""

    integrity: str  # "ok", or what PRAGMA integrity_check said
    bad_states: tuple[int, ...] = ()
    pending: tuple[int, ...] = ()
    users: tuple[int, ...] = ()  # ids of processes that have the journal open
    in_doubt_unsealed: tuple[int, ...] = ()  # in doubt, reversible, without its reversal
    offline_unsealed: tuple[int, ...] = ()  # stored offline, without its upload request
    resend_unsealed: tuple[int, ...] = ()
    settlement_step: str | None = None  # an unfinished settlement run's step
    tz_missing: tuple[int, ...] = ()


def _ids(ids: Sequence[int]) -> str:
    shown = ", ".join(map(str, ids[:8]))
    return shown + (f" and {len(ids) - 8} more" if len(ids) > 8 else "")


def journal_checks(facts: JournalFacts) -> list[Check]:
    out = [
        Check("journal integrity", "ok", "SQLite integrity_check: ok")
        if facts.integrity == "ok"
        else Check("journal integrity", "failure", f"SQLite: {facts.integrity}", "journal_corrupt")
    ]
    broken = [(what, ids) for what, ids in (
        ("unknown state", facts.bad_states), ("in doubt without its reversal", facts.in_doubt_unsealed),
        ("offline without its upload request", facts.offline_unsealed),
        ("to resend without its request", facts.resend_unsealed),
        ("without a time zone", facts.tz_missing)) if ids]  # fmt: skip
    if broken:
        text = "; ".join(f"{what}: rows {_ids(ids)}" for what, ids in broken)
        out.append(Check("journal invariants", "failure", text, "journal_corrupt"))
    else:
        out.append(Check("journal invariants", "ok", "states valid; every row in doubt has its "
                         "reversal and every stored row its request"))  # fmt: skip
    out.append(_in_flight(facts))
    if facts.settlement_step is not None:
        out.append(Check("settlement", "warning", f"a settlement stopped at {facts.settlement_step!r}: "
                         "settle again to finish it", "settlement_interrupted"))  # fmt: skip
    return out


def _in_flight(facts: JournalFacts) -> Check:
    name = "in flight"
    if not facts.pending:
        return Check(name, "ok", "no transaction cut off mid-flight")
    if facts.users:
        text = f"rows {_ids(facts.pending)} in flight in process {_ids(facts.users)}"
        return Check(name, "info", text)
    text = f"rows {_ids(facts.pending)} were cut off mid-flight (power cut or crash) and no "
    text += "terminal process is running: the next start recovers them"
    return Check(name, "warning", text, "power_loss_recovered")


def host_db_check(where: str, error: str | None) -> Check:
    if error is not None:
        return Check("host database", "failure", f"{where}: {error}", "storage_failure")
    return Check("host database", "ok", f"{where} reachable")


def schema_check(component: str, version: int, expected: int) -> Check:
    name = f"{component} schema"
    if version > expected:
        text = f"database at version {version}, this software knows {expected}: update kassa"
        return Check(name, "failure", text, "update_rolled_back")
    if version < expected:
        text = f"version {version}, software expects {expected}: migrated at the next start"
        severity: Severity = "warning" if version else "failure"
        return Check(name, severity, text, "storage_failure")
    return Check(name, "ok", f"version {version} (current)")


def ledger_check(entries: int, accounts: int, problems: Sequence[str]) -> Check:
    if problems:
        text = f"{len(problems)} problem(s): " + "; ".join(problems[:3])
        return Check("host ledger", "failure", text, "journal_corrupt")
    return Check("host ledger", "ok", f"{entries} entries balance, {accounts} accounts agree; "
                 "every approval has exactly one capture")  # fmt: skip


def terminals_check(rows: Sequence[tuple[str, str, int, int | None]], now_ms: int,
                    quiet_ms: int = keys_age_max_ms) -> Check:  # fmt: skip
    """`rows`: (tid, status, signed_on, last_seen_ms) of every terminal at the host."""
    name = "host terminals"
    active = [r for r in rows if r[1] == "active"]
    if not active:
        return Check(name, "info", "no active terminal registered")
    seen = "; ".join(f"{tid} {'signed on' if on else 'signed off'}, last seen "
                     f"{_age(now_ms, last) + ' ago' if last else 'never'}"
                     for tid, _, on, last in active[:10])  # fmt: skip
    quiet = [r[0] for r in active if r[3] is not None and now_ms - r[3] > quiet_ms]
    if quiet:
        return Check(name, "warning", f"not heard from in a day: {', '.join(quiet)}; {seen}",
                     "host_unreachable")  # fmt: skip
    return Check(name, "ok", seen)
