"""Where the backup secret comes from (shell): a passphrase in the environment, or a key file.

``KASSA_BACKUP_PASSPHRASE`` set: new backups are sealed under scrypt of it. Otherwise under
the 32-byte key in ``$KASSA_HOME/backup.key``, created (0600) at the first backup. Each
manifest records which one sealed it, so reading needs the same secret, and a key file is
never created just to read. Keep a copy of the key file (or the passphrase) away from the
backups: without it they are unreadable, which is the point.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kassa.errors import ConfigError, CryptoError
from kassa.keyfile import load_or_create_key
from kassa.ops.backup import crypto
from kassa.ops.backup.manifest import Manifest

PASSPHRASE_ENV = "KASSA_BACKUP_PASSPHRASE"
KEY_FILE = "backup.key"
passphrase_size_min_chars = 12


@dataclass(frozen=True)
class Secret:
    """The backup secret of this process: a key file path and/or a passphrase."""

    key_path: Path
    passphrase: str | None = field(default=None, repr=False)
    _roots: dict[bytes, bytes] = field(default_factory=dict, repr=False, compare=False)

    @staticmethod
    def from_env(home: Path, env: Mapping[str, str] | None = None) -> Secret:
        values = os.environ if env is None else env
        passphrase = values.get(PASSPHRASE_ENV) or None
        if passphrase is not None and len(passphrase) < passphrase_size_min_chars:
            raise ConfigError(
                f"{PASSPHRASE_ENV} is too short: use at least {passphrase_size_min_chars} characters"
            )
        return Secret(home / KEY_FILE, passphrase)

    def new_kdf(self) -> crypto.Kdf:
        """The KDF to seal a new backup with (creates the key file when it is the key file)."""
        if self.passphrase is None:
            load_or_create_key(self.key_path)
        return crypto.new_kdf(self.passphrase is not None, os.urandom)

    def keys(self, kdf_doc: Mapping[str, Any], backup_id: str) -> crypto.BackupKeys:
        """The working keys of backup `backup_id` sealed under `kdf_doc`."""
        kdf = crypto.Kdf.from_json(kdf_doc)
        cache_key = kdf.salt if kdf.name == "scrypt" else b"keyfile"
        root = self._roots.get(cache_key)
        if root is None:
            root = self._root(kdf, backup_id)
            self._roots[cache_key] = root  # scrypt is slow on purpose; once per salt
        return crypto.backup_keys(root, backup_id)

    def _root(self, kdf: crypto.Kdf, backup_id: str) -> bytes:
        if kdf.name == "scrypt":
            if self.passphrase is None:
                raise ConfigError(
                    f"backup {backup_id} was sealed with a passphrase: set {PASSPHRASE_ENV}"
                )
            return crypto.root_key(kdf, None, self.passphrase)
        if not self.key_path.is_file():
            raise ConfigError(
                f"backup {backup_id} was sealed with the key file {self.key_path}, which is "
                "missing: put the backup key back there"
            )
        return crypto.root_key(kdf, load_or_create_key(self.key_path), None)


def unlock(secret: Secret, manifest: Manifest) -> crypto.BackupKeys:
    """The keys of `manifest` once its MAC proves the secret right and the manifest whole."""
    keys = secret.keys(manifest.kdf, manifest.id)
    if not crypto.mac_matches(keys, manifest.body(), manifest.mac):
        raise CryptoError(f"cannot decrypt backup {manifest.id}: wrong key or damaged")
    return keys
