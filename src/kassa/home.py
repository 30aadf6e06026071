"""Where Kassa keeps its files: `--home`, else `KASSA_HOME`, else `~/.kassa`."""

from __future__ import annotations

import os
from pathlib import Path

from kassa.errors import ConfigError


def kassa_home(explicit: Path | None = None) -> Path:
    """The Kassa home directory, created if missing."""
    home = explicit or Path(os.environ.get("KASSA_HOME") or Path.home() / ".kassa")
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the Kassa home {home}: {exc.strerror}") from None
    return home
