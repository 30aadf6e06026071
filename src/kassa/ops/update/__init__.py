"""Signed software updates: Ed25519-signed packages, verified install, rollback.

    private, public, kid = keygen(out)                # release team, once
    sign(package, load_private(private), now_ms)      # per release: writes .json + .sig
    updater = Updater(home, SYSTEM.now_ms)            # on the terminal or host
    updater.check(directory)                          # every package, verified
    updater.apply(directory)                          # newest; refuses unsigned/tampered/older
    updater.rollback()                                # the version before

Formats and refusals: `kassa.ops.update._package`; install, state and guarantees:
`kassa.ops.update._install`. Version numbers follow PEP 440 (the `packaging` library).
"""

from __future__ import annotations

from kassa.ops.update._install import Outcome, Updater
from kassa.ops.update._package import (
    FORMAT,
    PASSPHRASE_ENV,
    Checked,
    Manifest,
    check_dir,
    key_id,
    keygen,
    load_private,
    load_public,
    name_version,
    sign,
    verify,
)

__all__ = [
    "FORMAT",
    "PASSPHRASE_ENV",
    "Checked",
    "Manifest",
    "Outcome",
    "Updater",
    "check_dir",
    "key_id",
    "keygen",
    "load_private",
    "load_public",
    "name_version",
    "sign",
    "verify",
]
