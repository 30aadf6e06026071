"""The host master key: `KASSA_HOST_MASTER_KEY` (64 hex digits) or `host/master.key`.

At first use the key file is created with 32 random bytes, readable by the owner only.
Lose it and every sealed PAN, TMK and PIN value is unreadable: back it up apart from
the database.
"""

from __future__ import annotations

from pathlib import Path

from kassa.keyfile import load_or_create_key

ENV = "KASSA_HOST_MASTER_KEY"


def load_master_key(path: Path) -> bytes:
    """The master key from the environment, else `path`, creating it when missing."""
    return load_or_create_key(path, ENV)
