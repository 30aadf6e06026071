"""The host master key: from `KASSA_HOST_MASTER_KEY` (64 hex digits) or a key file.

At first use the key file is created with 32 random bytes, readable by the owner only.
Lose it and every sealed PAN, TMK and PIN value is unreadable: back it up apart from
the database.
"""

from __future__ import annotations

import os
from pathlib import Path

from kassa.errors import ConfigError

ENV = "KASSA_HOST_MASTER_KEY"
_SIZE = 32


def _parse(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ConfigError(f"{where}: the host master key must be 64 hex digits") from None
    if len(key) != _SIZE:
        raise ConfigError(f"{where}: the host master key must be 64 hex digits, not {len(key) * 2}")
    return key


def load_master_key(path: Path) -> bytes:
    """The master key from the environment, else `path`, creating it when missing."""
    env = os.environ.get(ENV)
    if env:
        return _parse(env, ENV)
    if path.exists():
        try:
            return _parse(path.read_text(), str(path))
        except OSError as exc:
            raise ConfigError(f"cannot read the master key {path}: {exc.strerror}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(_SIZE)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key
