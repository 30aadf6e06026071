"""A 32-byte secret from an environment variable or a key file created at first use.

Used for the host master key and the terminal's device key. The file holds 64 hex
digits, readable by the owner only (0600), fsynced when created. Lose it and what it
sealed is unreadable: back it up apart from the database.
"""

from __future__ import annotations

import os
from pathlib import Path

from kassa.errors import ConfigError

KEY_SIZE = 32


def _parse(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ConfigError(f"{where}: a key must be 64 hex digits") from None
    if len(key) != KEY_SIZE:
        raise ConfigError(f"{where}: a key must be 64 hex digits, not {len(key) * 2}")
    return key


def load_or_create_key(path: Path, env: str | None = None) -> bytes:
    """The key from `env` if set, else from `path`, creating the file when missing."""
    value = os.environ.get(env) if env else None
    if value:
        return _parse(value, env or "")
    if path.exists():
        try:
            return _parse(path.read_text(), str(path))
        except OSError as exc:
            raise ConfigError(f"cannot read the key file {path}: {exc.strerror}") from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot create the key file {path}: {exc.strerror}") from None
    key = os.urandom(KEY_SIZE)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key
