"""Structured logs: one JSON object per line, card numbers masked before anything is written.

Every record passes through `mask_in_text`, so a PAN that slips into a message or an
exception still never reaches the file (PCI DSS 3.4.1). Files rotate by size.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from datetime import UTC, datetime
from pathlib import Path

from kassa.card import mask_in_text

log_file_size_max_bytes = 10 * 1024 * 1024
log_files_kept = 10


class JsonFormatter(logging.Formatter):
    """`{"ts": ..., "level": ..., "logger": ..., "msg": ..., **extra}` with PANs masked."""

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
        return mask_in_text(json.dumps(doc, ensure_ascii=False, default=str))


def configure(path: Path | None = None, level: str = "info") -> None:
    """Send Kassa's logs as JSON lines to `path` (rotated) or to stderr."""
    handler: logging.Handler
    if path is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=log_file_size_max_bytes, backupCount=log_files_kept, encoding="utf-8"
        )
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("kassa")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
