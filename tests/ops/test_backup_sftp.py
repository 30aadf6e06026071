"""The SFTP backup target against a real OpenSSH server on loopback (`sshkit`)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from backupkit import BACKUP_ID, DAY_MS, Term, new_home, open_host, rows_of, sell
from sshkit import SshServer, keygen, sshd, tiny_disk, unmount
from typer.testing import CliRunner

from kassa.cli.backup import app
from kassa.errors import ConfigError, StoreError
from kassa.host.runtime import default_db_url
from kassa.ops.backup import (
    BadPiece,
    Policy,
    Repository,
    Secret,
    open_remote,
    parse_sftp_url,
    prune,
    push,
    remote_manifests,
    run_backup,
    targets_for,
)
from kassa.ops.backup.sftp import SftpFS

__all__ = ["sshd"]  # the fixture, imported for pytest


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    base = new_home(tmp_path)
    yield base


@pytest.fixture
def term(home: Path) -> Iterator[Term]:
    term = Term(*open_host(default_db_url(home)))
    term.sign_on()
    sell(term, 100)
    yield term
    term.db.close()


def remote_dir(server: SshServer, name: str) -> Path:
    path = server.root / name
    path.mkdir()
    return path


def opts(server: SshServer, name: str, **over: str) -> list[str]:
    args = {"--remote": server.url(name), "--ssh-key": str(server.client_key),
            "--known-hosts": str(server.known_hosts), **over}  # fmt: skip
    return [part for pair in args.items() for part in pair]


def business_rows(url: str) -> dict[str, object]:
    """The data without the audit trail (backups and restores are audited themselves)."""
    rows = {k: v for k, v in rows_of(url).items() if not k.startswith("audit")}
    rows["schema_migrations"] = [r for r in rows.get("schema_migrations", []) if r[0] != "audit"]
    return rows


def invoke(home: Path, *args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, [*args, "--home", str(home)], env={"KASSA_HOME": str(home)})
    return result.exit_code, result.output, result.exception


def test_round_trip_backup_verify_restore_from_the_remote(
    home: Path, term: Term, sshd: SshServer
) -> None:
    url, share = default_db_url(home), remote_dir(sshd, "trip")
    code, out, _ = invoke(home, "run", *opts(sshd, "trip"))
    assert code == 0, out
    first = BACKUP_ID.findall(out)[0]
    assert out.count(": OK (copied and read back)") == 1
    first_rows = business_rows(url)
    sell(term, 250)
    code, out, _ = invoke(home, "run", "--incremental", *opts(sshd, "trip"))
    assert code == 0, out
    second = BACKUP_ID.findall(out)[0]
    assert f"incremental of {first}" in out and out.count(": OK (copied and read back)") == 2
    assert sorted(p.name for p in share.iterdir()) == sorted([first, second])  # no .partial
    local = home / "backups" / second
    for piece in local.glob("*.kbk"):  # the remote holds the very same bytes
        assert (share / second / piece.name).read_bytes() == piece.read_bytes()

    code, out, _ = invoke(home, "list", *opts(sshd, "trip"))
    assert code == 0 and first in out and second in out, out
    shutil.rmtree(home / "backups")  # the local copies are lost: only the remote is left
    code, out, _ = invoke(home, "verify", *opts(sshd, "trip"))
    assert code == 0 and f"remote backup {second}: OK" in out, out
    assert "db: integrity_check: ok" in out
    term.db.close()
    code, out, _ = invoke(home, "restore", "--at", first, "--yes", *opts(sshd, "trip"))
    assert code == 0, out
    assert f"from backup {first}" in out and "host ledger check" in out
    assert business_rows(url) == first_rows


def test_a_corrupted_remote_piece_is_found_and_nothing_restored(
    home: Path, term: Term, sshd: SshServer
) -> None:
    url, share = default_db_url(home), remote_dir(sshd, "bad")
    code, out, _ = invoke(home, "run", *opts(sshd, "bad"))
    assert code == 0, out
    backup_id = BACKUP_ID.findall(out)[0]
    sell(term, 700)
    live = business_rows(url)
    piece = share / backup_id / "db.data.kbk"
    data = bytearray(piece.read_bytes())
    data[len(data) // 2] ^= 0x01
    piece.write_bytes(bytes(data))
    local_before = sorted(p.name for p in (home / "backups").iterdir())

    code, out, _ = invoke(home, "verify", backup_id, *opts(sshd, "bad"))
    assert code == 1 and "FAILED" in out and "db.data" in out and "SHA-256" in out, out
    _, out, error = invoke(home, "restore", "--at", backup_id, "--yes", *opts(sshd, "bad"))
    assert isinstance(error, BadPiece) and error.piece == "db.data", out
    assert business_rows(url) == live  # nothing restored
    assert sorted(p.name for p in (home / "backups").iterdir()) == local_before  # no pre-restore


def test_an_unknown_host_key_is_refused_unless_trusted(home: Path, sshd: SshServer) -> None:
    remote_dir(sshd, "keys")
    empty = home / "known_hosts"
    empty.write_text("")
    _, out, error = invoke(home, "list", *opts(sshd, "keys", **{"--known-hosts": str(empty)}))
    assert isinstance(error, ConfigError), out
    message = str(error)
    assert "unknown host key" in message and sshd.host_fingerprint in message
    assert f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {empty}" in message
    assert "\n" not in message and empty.read_text() == ""  # never added silently

    pinned = {"--known-hosts": str(empty), "--host-key": sshd.host_fingerprint}
    code, out, _ = invoke(home, "list", *opts(sshd, "keys", **pinned))
    assert code == 0, out
    wrong = {"--known-hosts": str(empty), "--host-key": "SHA256:" + "A" * 43}
    _, out, error = invoke(home, "list", *opts(sshd, "keys", **wrong))
    assert isinstance(error, ConfigError) and "is not the pinned" in str(error), out

    other = keygen(home / "other_host_key").with_suffix(".pub")  # known_hosts says another key
    kind, blob = other.read_text().split()[:2]
    changed = home / "changed_hosts"
    changed.write_text(f"[127.0.0.1]:{sshd.port} {kind} {blob}\n")
    _, out, error = invoke(home, "list", *opts(sshd, "keys", **{"--known-hosts": str(changed)}))
    assert isinstance(error, ConfigError) and "not the one in known_hosts" in str(error), out


def test_a_wrong_key_a_closed_port_and_a_missing_path_are_one_line_errors(
    home: Path, sshd: SshServer
) -> None:
    remote_dir(sshd, "errs")
    stranger = keygen(home / "stranger")
    _, out, error = invoke(home, "list", *opts(sshd, "errs", **{"--ssh-key": str(stranger)}))
    assert isinstance(error, ConfigError) and "authentication refused" in str(error), out

    closed = sshd.url("errs").replace(f":{sshd.port}/", ":1/")
    _, out, error = invoke(home, "list", *opts(sshd, "errs", **{"--remote": closed}))
    assert isinstance(error, StoreError) and "connection refused" in str(error), out

    _, out, error = invoke(home, "list", *opts(sshd, "nowhere"))
    assert isinstance(error, ConfigError) and "no directory" in str(error), out
    _, out, error = invoke(home, "list", "--remote", "s3://bucket/kassa")
    assert isinstance(error, ConfigError) and "S3" in str(error), out


def test_a_cut_upload_is_never_taken_for_a_backup(
    home: Path, term: Term, sshd: SshServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    share = remote_dir(sshd, "cut")
    code, out, _ = invoke(home, "run")
    assert code == 0, out
    repo = Repository(home / "backups")
    manifest = repo.manifests()[-1]
    spec = parse_sftp_url(sshd.url("cut"), key_file=sshd.client_key,
                          known_hosts=sshd.known_hosts, host_key=None)  # fmt: skip
    real_write, calls = SftpFS.write, []

    def cut_after_one(self: SftpFS, rel: str, source: object) -> None:
        calls.append(rel)
        if len(calls) > 1:
            raise StoreError("link cut")
        real_write(self, rel, source)  # type: ignore[arg-type]

    monkeypatch.setattr(SftpFS, "write", cut_after_one)
    with open_remote(spec) as fs, pytest.raises(StoreError, match="link cut"):
        push(repo, [manifest], fs)
    assert [p.name for p in share.iterdir()] == [f"{manifest.id}.partial"]
    monkeypatch.setattr(SftpFS, "write", real_write)
    with open_remote(spec) as fs:
        assert remote_manifests(fs) == ([], [])
        copies = push(repo, [manifest], fs)
        assert [c.ok for c in copies] == [True]
        assert remote_manifests(fs)[0] == [manifest]
    assert [p.name for p in share.iterdir()] == [manifest.id]


def test_retention_prunes_the_remote(home: Path, term: Term, sshd: SshServer) -> None:
    share = remote_dir(sshd, "gfs")
    repo, secret = Repository(home / "backups"), Secret.from_env(home, {})
    targets = targets_for(home, None, None, default_db_url(home))
    start = 1_795_000_000_000
    ids = []
    for day in range(3):
        at = start + day * DAY_MS
        taken = run_backup(repo, secret, targets, kind="full", reason="test", logs_dir=None,
                           now_ms=lambda at=at: at)  # fmt: skip
        ids.append(taken.manifest.id)
    spec = parse_sftp_url(sshd.url("gfs"), key_file=sshd.client_key,
                          known_hosts=sshd.known_hosts, host_key=None)  # fmt: skip
    policy = Policy(keep_daily=2, keep_weekly=0, keep_monthly=0)
    with open_remote(spec) as fs:
        assert all(c.ok for c in push(repo, repo.manifests(), fs))
        plan = prune(fs, policy, apply=False)
        assert plan.delete == (ids[0],) and sorted(plan.keep) == sorted(ids[1:])
        assert sorted(p.name for p in share.iterdir()) == sorted(ids)  # a dry run deletes nothing
        prune(fs, policy, apply=True)
        assert [m.id for m in remote_manifests(fs)[0]] == ids[1:]
    assert sorted(p.name for p in share.iterdir()) == sorted(ids[1:])


def test_a_full_remote_disk_is_one_line_and_leaves_no_backup(
    home: Path, term: Term, sshd: SshServer
) -> None:
    full = sshd.root / "full"
    if not tiny_disk(full, "64k"):
        pytest.skip("cannot mount a small tmpfs here (needs CAP_SYS_ADMIN) to fill a disk")
    try:
        with pytest.raises(OSError, match="No space left"), open(full / "filler", "wb") as filler:
            while True:  # fill it up: the next write anywhere on it fails with ENOSPC
                filler.write(b"\0" * 4096)
                filler.flush()
        _, out, error = invoke(home, "run", *opts(sshd, "full"))
        assert isinstance(error, StoreError), out
        message = str(error)
        assert "write failed" in message and "disk is full" in message, message
        assert "the local backup" in message and "\n" not in message
        assert not [p for p in full.iterdir() if BACKUP_ID.fullmatch(p.name)]  # nothing published
    finally:
        unmount(full)


def test_a_directory_remote_is_listed_verified_and_restored_the_same_way(
    home: Path, term: Term
) -> None:
    url, share = default_db_url(home), home.parent / "share"
    share.mkdir()
    code, out, _ = invoke(home, "run", "--remote", str(share))
    assert code == 0 and ": OK (copied and read back)" in out, out
    backup_id = BACKUP_ID.findall(out)[0]
    kept = business_rows(url)
    sell(term, 900)
    shutil.rmtree(home / "backups")
    code, out, _ = invoke(home, "list", "--remote", str(share))
    assert code == 0 and backup_id in out, out
    code, out, _ = invoke(home, "verify", "--remote", str(share))
    assert code == 0 and f"remote backup {backup_id}: OK" in out, out
    term.db.close()
    code, out, _ = invoke(home, "restore", "--at", "latest", "--yes", "--remote", str(share))
    assert code == 0, out
    assert business_rows(url) == kept
