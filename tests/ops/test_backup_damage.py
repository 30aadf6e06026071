"""Damaged backups and wrong secrets: detected with a clear message, and nothing restored."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from backupkit import Clock, make_term, rows_of, sell

from kassa.errors import ConfigError, CryptoError, KassaError, StoreError
from kassa.ops.backup import (
    BadPiece,
    Repository,
    Secret,
    chain,
    copy_to_remote,
    restore,
    run_backup,
    targets_for,
    verify_backup,
)
from kassa.ops.backup.keys import KEY_FILE

PASSPHRASE = "correct horse battery staple"


class Setup:
    """A host database with a full and an incremental backup, then more live data."""

    def __init__(self, url: str, home: Path, env: dict[str, str]) -> None:
        self.url, self.home, self.clock = url, home, Clock()
        self.repo = Repository(home / "backups")
        self.secret = Secret.from_env(home, env)
        term = make_term(url)
        self.ids = []
        for kind, amount in (("full", 100), ("incremental", 200)):
            sell(term, amount)
            result = run_backup(
                self.repo,
                self.secret,
                targets_for(home, url, None, ""),
                kind=kind,
                reason="test",
                logs_dir=None,
                now_ms=self.clock,
            )  # type: ignore[arg-type]
            self.ids.append(result.manifest.id)
        sell(term, 300)
        term.db.close()
        self.live = rows_of(url)

    def restore(self, secret: Secret | None = None, at: str | None = None) -> None:
        restore(
            self.repo,
            secret or self.secret,
            at=at or self.ids[-1],
            overrides={},
            yes=True,
            confirm=lambda q: True,
            now_ms=self.clock,
        )

    def assert_refused(
        self,
        error: type[KassaError],
        message: str,
        secret: Secret | None = None,
        at: str | None = None,
    ) -> None:
        count = len(self.repo.manifests())
        with pytest.raises(error, match=message):
            self.restore(secret, at)
        assert rows_of(self.url) == self.live  # nothing restored
        assert len(self.repo.manifests()) == count  # not even the pre-restore backup


@pytest.fixture
def setup(db_url: str, tmp_path: Path) -> Setup:
    return Setup(db_url, tmp_path, {})


def test_wrong_key_file_is_one_clear_line(setup: Setup) -> None:
    (setup.home / KEY_FILE).write_text("ab" * 32 + "\n")
    fresh = Secret.from_env(setup.home, {})  # a new process reads the (now wrong) key file
    setup.assert_refused(
        CryptoError,
        rf"^cannot decrypt backup ({'|'.join(setup.ids)}): wrong key or damaged$",
        fresh,
    )
    report = verify_backup(setup.repo, Secret.from_env(setup.home, {}), setup.ids[-1], now_ms=1)
    assert not report.ok and report.problem is not None and "wrong key" in report.problem
    mark = setup.repo.verified(setup.ids[-1])
    assert mark is not None and not mark.ok


def test_missing_key_file_says_where_it_should_be(setup: Setup) -> None:
    (setup.home / KEY_FILE).unlink()
    setup.assert_refused(
        ConfigError, "sealed with the key file .* missing", Secret.from_env(setup.home, {})
    )
    assert not (setup.home / KEY_FILE).exists()  # reading never creates a key


def test_wrong_passphrase(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'host.db'}"
    setup = Setup(url, tmp_path, {"KASSA_BACKUP_PASSPHRASE": PASSPHRASE})
    assert setup.repo.get(setup.ids[0]).kdf["name"] == "scrypt"
    wrong = Secret.from_env(tmp_path, {"KASSA_BACKUP_PASSPHRASE": PASSPHRASE + "!"})
    setup.assert_refused(CryptoError, "wrong key or damaged", wrong)
    setup.assert_refused(ConfigError, "set KASSA_BACKUP_PASSPHRASE", Secret.from_env(tmp_path, {}))
    setup.restore()  # the right passphrase works
    assert rows_of(url) != setup.live


def test_short_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="too short"):
        Secret.from_env(tmp_path, {"KASSA_BACKUP_PASSPHRASE": "short"})


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("which", [0, 1])  # the full under the chain, or the incremental
def test_flipped_byte_in_a_piece_is_detected(setup: Setup, which: int) -> None:
    target = setup.repo.root / setup.ids[which] / "db.data.kbk"
    _flip(target, 40)
    message = rf"backup {setup.ids[which]}: piece db.data .*SHA-256"
    setup.assert_refused(BadPiece, message, at=setup.ids[which])
    if setup.repo.get(setup.ids[-1]).parent == setup.ids[0]:
        setup.assert_refused(BadPiece, message)  # and what is built on it (a SQLite chain)
    report = verify_backup(setup.repo, setup.secret, setup.ids[which], now_ms=1)
    assert not report.ok and report.problem is not None and "db.data" in report.problem


def test_missing_piece_is_detected(setup: Setup) -> None:
    (setup.repo.root / setup.ids[-1] / "db.data.kbk").unlink()
    setup.assert_refused(BadPiece, "piece db.data is missing")


def test_edited_manifest_is_detected(setup: Setup) -> None:
    path = setup.repo.root / setup.ids[-1] / "manifest.json"
    doc = json.loads(path.read_text())
    doc["pieces"][0]["plain_bytes"] += 1
    path.write_text(json.dumps(doc))
    setup.assert_refused(CryptoError, "wrong key or damaged")


def test_broken_chain_is_detected(setup: Setup) -> None:
    if setup.repo.get(setup.ids[-1]).parent is None:
        pytest.skip("PostgreSQL backups are all full: no chain to break")
    setup.repo.delete(setup.ids[0])
    setup.assert_refused(StoreError, "chain broken")


def test_verify_test_restore_catches_a_database_damaged_before_the_backup(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'host.db'}"
    term = make_term(url)
    sell(term, 100)
    term.db.close()
    path = tmp_path / "host.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # fold the WAL in: the damage must show
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'txns'").fetchone()
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    data = bytearray(path.read_bytes())
    header = (root - 1) * page_size + (100 if root == 1 else 0)
    data[header + 3 : header + 5] = b"\xff\xff"  # the b-tree page now claims 65535 cells
    path.write_bytes(bytes(data))
    repo, secret = Repository(tmp_path / "backups"), Secret.from_env(tmp_path, {})
    result = run_backup(
        repo,
        secret,
        targets_for(tmp_path, url, None, ""),
        kind="full",
        reason="test",
        logs_dir=None,
        now_ms=Clock(),
    )
    report = verify_backup(repo, secret, result.manifest.id, now_ms=1)
    assert not report.ok and report.problem is not None
    assert report.problem.startswith("db: integrity_check")


def test_remote_copy_is_read_back_and_a_damaged_copy_is_reported(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'host.db'}"
    setup = Setup(url, tmp_path, {})
    remote = tmp_path / "share"
    remote.mkdir()
    newest = setup.repo.get(setup.ids[-1])
    copies = copy_to_remote(setup.repo, chain(setup.repo, newest), remote)
    assert [c.backup_id for c in copies] == setup.ids and all(c.ok for c in copies)
    remote_repo = Repository(remote)
    assert [m.id for m in remote_repo.manifests()] == setup.ids
    assert verify_backup(remote_repo, setup.secret, setup.ids[-1], now_ms=1).ok
    _flip(remote / setup.ids[0] / "db.data.kbk", 99)
    again = copy_to_remote(setup.repo, chain(setup.repo, newest), remote)
    assert [c.ok for c in again] == [False, True] and "SHA-256" in again[0].detail
    with pytest.raises(ConfigError, match="not a directory"):
        copy_to_remote(setup.repo, [newest], tmp_path / "unmounted")
