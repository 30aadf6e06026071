"""Structured logs: one JSON object per line, card data masked before anything is written.

Every record passes through `redact`: PANs (`kassa.card.mask_in_text`), track-2 data even
when its PAN fails the Luhn check (PAN masked, everything after the separator starred),
and 16-hex-digit values right after a ``pin`` / ``pin_block`` key (an encrypted PIN block
is still not logged, PCI DSS 3.3.1). So card data that slips into a message, an extra
field or an exception still never reaches the file (3.4.1).

Files: ``kassa.log`` in ``$KASSA_HOME/logs`` (where backups pick them up) or the given
path, rotated at local midnight and whenever the next line would pass the size limit;
rotated files are ``kassa.log.YYYY-MM-DD`` (then ``.1``, ``.2`` for more the same day),
the newest `log_files_kept` kept. One process per file: two processes rotating the
same file race (a limit of `logging` file handlers), so give each its own name.

`terminal_fault_summary` folds the terminal journal's event log into a short list the
terminal can send to the host (see its docstring).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from kassa.card import mask_in_text, mask_pan

if TYPE_CHECKING:
    from kassa.terminal.journal import Journal

log_file_size_max_bytes = 10 * 1024 * 1024
log_files_kept = 30  # a month of daily files, fewer when they also rotate by size
LOG_FILE = "kassa.log"

# Track 2: PAN, separator, then at least expiry (4) + service code (3) digits.
_TRACK2 = re.compile(r"(?<![0-9A-Za-z])([0-9]{12,19})([=Dd])([0-9]{7,}F?)")
# A PIN block after a key named pin / pin_block / pinblock / pin-block, JSON or key=value.
_PIN_KEY = re.compile(
    r"""(?<![A-Za-z0-9_])((?:pin|pin[_-]?block)["']?\s*[:=]\s*["']?)"""
    r"([0-9A-Fa-f]{16})(?![0-9A-Fa-f])",
    re.IGNORECASE,
)


def _mask_track(match: re.Match[str]) -> str:
    return mask_pan(match.group(1)) + match.group(2) + "*" * len(match.group(3))


def redact(text: str) -> str:
    """`text` with PANs, track-2 data and PIN blocks after a ``pin`` key masked."""
    text = _TRACK2.sub(_mask_track, text)
    text = _PIN_KEY.sub(lambda m: m.group(1) + "*" * 16, text)
    return mask_in_text(text)


class JsonFormatter(logging.Formatter):
    """`{"ts": ..., "level": ..., "logger": ..., "msg": ..., **extra}`, card data masked."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            doc.update(fields)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(doc, ensure_ascii=False, default=str))


class DailySizeRotatingHandler(logging.handlers.BaseRotatingHandler):
    """A file handler that rotates at local midnight and at `max_bytes`, keeping `files_kept`.

    `clock` gives epoch seconds (`time.time` unless a test passes its own); `tz` the zone
    whose midnight counts (None: the machine's local time). A file left by an earlier
    run is dated by its modification time, so yesterday's lines never land in today's file.
    """

    def __init__(
        self,
        path: Path,
        max_bytes: int = log_file_size_max_bytes,
        files_kept: int = log_files_kept,
        clock: Callable[[], float] = time.time,
        tz: tzinfo | None = None,
    ) -> None:
        assert max_bytes > 0 and files_kept >= 0
        self.max_bytes = max_bytes
        self.files_kept = files_kept
        self.clock = clock
        self.tz = tz
        started = path.stat().st_mtime if path.is_file() else clock()
        self.day = self._day(started)
        super().__init__(str(path), "a", encoding="utf-8")

    def _day(self, seconds: float) -> date:
        return datetime.fromtimestamp(seconds, self.tz).date()

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        if self.stream is None:
            self.stream = self._open()
        stream: TextIO = self.stream
        size = stream.seek(0, os.SEEK_END)
        today = self._day(self.clock())
        if today != self.day and size == 0:
            self.day = today  # an empty file needs no rotation, only a new date
        if size == 0:
            return False
        if today != self.day:
            return True
        line = (self.format(record) + self.terminator).encode("utf-8")
        return size + len(line) > self.max_bytes

    def doRollover(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        base = Path(self.baseFilename)
        stamp = f"{base.name}.{self.day.isoformat()}"
        # After the newest of the day, never in a gap pruning left: a gap sorts as oldest.
        numbers = [_number(p.name, stamp) for p in self.rotated() if p.name.startswith(stamp)]
        target = base.with_name(f"{stamp}.{max(numbers) + 1}" if numbers else stamp)
        if base.exists():
            os.replace(base, target)
        self._prune()
        self.day = self._day(self.clock())
        self.stream = self._open()

    def rotated(self) -> list[Path]:
        """The rotated files of this log, oldest first."""
        base = Path(self.baseFilename)
        pattern = re.compile(re.escape(base.name) + r"\.(\d{4}-\d{2}-\d{2})(?:\.(\d+))?")
        found = []
        for path in base.parent.iterdir():
            match = pattern.fullmatch(path.name)
            if match:
                found.append(((match.group(1), int(match.group(2) or 0)), path))
        return [path for _, path in sorted(found)]

    def _prune(self) -> None:
        old = self.rotated()
        for path in old[: max(0, len(old) - self.files_kept)]:
            path.unlink(missing_ok=True)


def _number(name: str, stamp: str) -> int:
    return int(name[len(stamp) + 1 :] or 0) if name != stamp else 0


def configure(
    path: Path | None = None,
    level: str = "info",
    home: Path | None = None,
    *,
    max_bytes: int = log_file_size_max_bytes,
    files_kept: int = log_files_kept,
) -> None:
    """Send Kassa's logs as JSON lines to `path`, else to ``home/logs/kassa.log``, else stderr."""
    if path is None and home is not None:
        path = home / "logs" / LOG_FILE
    handler: logging.Handler
    if path is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = DailySizeRotatingHandler(path, max_bytes, files_kept)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("kassa")
    for old in root.handlers:
        old.close()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


# -- the terminal's faults, for the host -----------------------------------------------------

_ROUTINE_KINDS = frozenset({"settlement", "sign_on", "retention_purge"})
fault_kinds_max = 64


def terminal_fault_summary(journal: Journal, since_ms: int = 0) -> list[dict[str, Any]]:
    """The journal's faults since `since_ms`, one dict per (kind, code), most frequent first.

    Each dict: kind, code, count, first_ms, last_ms, last_detail (masked), and the guide's
    cause / outcome class / English meaning when the code or kind is in the guide. Routine
    events (a settlement closed, a sign-on, a purge) with an approval code are left out.
    """
    from kassa.guide import find, is_approved

    with journal.db.transaction(write=False) as tx:
        rows = tx.fetchall(
            "SELECT kind, code, COUNT(*), MIN(at_ms), MAX(at_ms) FROM events WHERE at_ms >= ?"
            " GROUP BY kind, code",
            (since_ms,),
        )
        out: list[dict[str, Any]] = []
        for kind, code, count, first_ms, last_ms in rows:
            if kind in _ROUTINE_KINDS and (code is None or is_approved(code)):
                continue
            last = tx.fetchone(
                "SELECT detail FROM events WHERE kind = ? AND (code = ? OR (code IS NULL AND"
                " ? IS NULL)) AND at_ms >= ? ORDER BY at_ms DESC, id DESC LIMIT 1",
                (kind, code, code, since_ms),
            )
            item: dict[str, Any] = {
                "kind": kind,
                "code": code,
                "count": int(count),
                "first_ms": int(first_ms),
                "last_ms": int(last_ms),
                "last_detail": redact(last[0]) if last else "",
            }
            entry = find(code) if code and not is_approved(code) else find(kind)
            if entry is not None:
                item.update(
                    cause=entry.cause.value,
                    outcome=entry.outcome.letter,
                    meaning_en=entry.meaning_en,
                )
            out.append(item)
    out.sort(key=lambda item: (-item["count"], -item["last_ms"], item["kind"]))
    return out[:fault_kinds_max]


def fault_summary_text(summary: list[dict[str, Any]], size_max_bytes: int = 512) -> str:
    """The summary as compact ASCII for a message field: ``kind:code*count;...``.

    Fits `size_max_bytes` (F62 carries up to 512 in the UnionPay dialect) by dropping the
    least frequent entries; a trailing ``+N`` says how many were dropped.
    """
    parts = [f"{item['kind']}:{item['code'] or '-'}*{item['count']}" for item in summary]
    for keep in range(len(parts), -1, -1):
        dropped = len(parts) - keep
        text = ";".join(parts[:keep] + ([f"+{dropped}"] if dropped else []))
        if len(text.encode("utf-8")) <= size_max_bytes:
            return text
    return ""
