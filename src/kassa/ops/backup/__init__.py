"""Backups of the host database, the terminal journal and the logs; verify; restore.

    repo = Repository(home / "backups")
    secret = Secret.from_env(home)
    run_backup(repo, secret, targets_for(home, None, None, default_db), kind="full",
               reason="manual", logs_dir=home / "logs", now_ms=SYSTEM.now_ms)
    verify_backup(repo, secret, backup_id, now_ms=SYSTEM.now_ms)
    restore(repo, secret, at="2024-05-01T18:00", overrides={}, yes=True, ...)

Design in short (details in each module):
- SQLite: online snapshot with the backup API; incrementals are page-level diffs against
  the parent backup's copy, rebuilt byte for byte (`sqlite_source`).
- PostgreSQL: a full ``pg_dump --format=custom`` every time, also for ``--incremental``
  (why: `pg_source`).
- Every piece zstd-compressed then sealed with AES-256-GCM in authenticated frames, under
  a key file or a passphrase through scrypt (`crypto`); the manifest records the SHA-256
  of each piece's plaintext and ciphertext and is authenticated with an HMAC (`manifest`).
- Written with fsync and renames so a crash never leaves a half backup (`store`).
- Policy and grandfather-father-son retention are pure (`policy`).
- Remote copies to a mounted directory or an SFTP server, read back after upload, fetched
  back for verify and restore, pruned like the local repository (`remote`, `sftp`);
  configured once in backup.toml's ``[remote]`` (`remote_config`) and kept in step by
  every backup, what failed sent again later (`remote_sync`).
- A restored terminal journal is reconciled with the host (`journal_recon`).
"""

from __future__ import annotations

from kassa.ops.backup.journal_recon import Finding, JournalRecon, reconcile_journal
from kassa.ops.backup.keys import PASSPHRASE_ENV, Secret, unlock
from kassa.ops.backup.manifest import Manifest, Piece, Source
from kassa.ops.backup.pieces import BadPiece
from kassa.ops.backup.policy import BackupInfo, Due, Policy, Retention, due, parse_policy, retention
from kassa.ops.backup.rebuild import Check, VerifyReport, rebuild, verify_backup
from kassa.ops.backup.remote import (
    DirFS,
    RemoteTarget,
    fetch,
    fetched,
    open_remote,
    prune,
    push,
    remote_manifests,
)
from kassa.ops.backup.remote_config import RemoteConfig, configured, load_config, parse_remote
from kassa.ops.backup.remote_sync import (
    Outcome,
    RemoteStatus,
    attempt,
    attempt_within,
    read_status,
    to_push,
)
from kassa.ops.backup.restore import RestoreReport, after_restore, choose, choose_from, restore
from kassa.ops.backup.run import RunResult, run_backup
from kassa.ops.backup.sftp import SftpSpec, connect_sftp, parse_sftp_url
from kassa.ops.backup.store import RemoteCopy, Repository, VerifyMark, chain, copy_to_remote
from kassa.ops.backup.targets import Target, targets_for

__all__ = [
    "PASSPHRASE_ENV",
    "BackupInfo",
    "BadPiece",
    "Check",
    "DirFS",
    "Due",
    "Finding",
    "JournalRecon",
    "Manifest",
    "Outcome",
    "Piece",
    "Policy",
    "RemoteConfig",
    "RemoteCopy",
    "RemoteStatus",
    "RemoteTarget",
    "Repository",
    "RestoreReport",
    "Retention",
    "RunResult",
    "Secret",
    "SftpSpec",
    "Source",
    "Target",
    "VerifyMark",
    "VerifyReport",
    "after_restore",
    "attempt",
    "attempt_within",
    "chain",
    "choose",
    "choose_from",
    "configured",
    "connect_sftp",
    "copy_to_remote",
    "due",
    "fetch",
    "fetched",
    "load_config",
    "open_remote",
    "parse_policy",
    "parse_remote",
    "parse_sftp_url",
    "prune",
    "push",
    "read_status",
    "rebuild",
    "reconcile_journal",
    "remote_manifests",
    "restore",
    "retention",
    "run_backup",
    "targets_for",
    "to_push",
    "unlock",
    "verify_backup",
]
