"""The remote configured once in backup.toml's [remote], used by every backup: `kassa
backup run`, the automatic backup before settlement (`kassa settle run`) and before a
restore, list/verify/restore/schedule, `retry-remote`, and the doctor's check."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from backupkit import BACKUP_ID, DAY_MS, Term, new_home, open_host, sell
from sshkit import SshServer, sshd
from typer.testing import CliRunner

import kassa.cli.backup as backup_cli
from kassa.cli.backup import app
from kassa.cli.settle import app as settle_app
from kassa.errors import ConfigError, StoreError
from kassa.host.runtime import default_db_url
from kassa.ops.backup import (
    Policy,
    Repository,
    Secret,
    parse_remote,
    read_status,
    remote_sync,
    run_backup,
    targets_for,
    to_push,
)
from kassa.ops.backup.remote import push as real_push
from kassa.ops.doctor import doctor
from kassa.ops.doctor.backup_remote import remote_checks

__all__ = ["sshd"]  # the fixture, imported for pytest


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    base = new_home(tmp_path)
    term = Term(*open_host(default_db_url(base)))
    term.sign_on()
    sell(term, 100)
    term.db.close()
    yield base


def configure(home: Path, **remote: str) -> Path:
    lines = ["[remote]", *(f"{key} = {json.dumps(value)}" for key, value in remote.items())]
    path = home / "backup.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def invoke(home: Path, *args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, [*args, "--home", str(home)], env={"KASSA_HOME": str(home)})
    return result.exit_code, result.output, result.exception


def settle(home: Path) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(settle_app, ["run", "--day", "2024-03-05", "--home", str(home)],
                                env={"KASSA_HOME": str(home)})  # fmt: skip
    return result.exit_code, result.output, result.exception


def held(share: Path) -> list[str]:
    """The backups published at a directory remote (a .partial is not one)."""
    return sorted(p.name for p in share.iterdir() if BACKUP_ID.fullmatch(p.name))


def local_ids(home: Path) -> list[str]:
    return [m.id for m in Repository(home / "backups").manifests()]


# -- the [remote] table -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ("remote = 'x'", ["remote must be a table"]),
        ("[remote]\nssh_key = 'k'", ["remote.url must be"]),
        ("[remote]\nurl = ''", ["remote.url must be"]),
        ("[remote]\nurl = 3", ["remote.url must be"]),
        ("[remote]\nurl = 's3://bucket/kassa'", ["remote.url", "S3", "sftp://"]),
        ("[remote]\nurl = 'share/kassa'", ["remote.url", "absolute path"]),
        ("[remote]\nurl = '/mnt/x'\nuser = 'a'", ["unknown key remote.user", "on_failure"]),
        ("[remote]\nurl = '/mnt/x'\non_failure = 'ignore'", ["remote.on_failure", "'warn'"]),
        ("[remote]\nurl = '/mnt/x'\nssh_key = 'k'", ["remote.ssh_key is for sftp://"]),
        ("[remote]\nurl = 'sftp://a@h/srv'\nssh_key = 'gone'", ["remote.ssh_key", "no file"]),
        ("[remote]\nurl = 'sftp://a@h/srv'\nssh_key = 'k'\nhost_key = 'ab'", ["remote.host_key"]),
        ("[remote]\nurl = 'sftp://a@h/srv'\nssh_key = 'k'\nknown_hosts = 1", ["known_hosts"]),
        ("[remote]\nurl = 'sftp://h/srv'\nssh_key = 'k'", ["remote.url", "USER@HOST"]),
        ("[remote]\nurl = 'sftp://a@h:99999/srv'\nssh_key = 'k'", ["remote.url", "port"]),
        ("[remote]\nurl = 'sftp://a@h/../etc'\nssh_key = 'k'", ["remote.url", "absolute"]),
    ],
)
def test_every_bad_value_is_one_line_naming_the_file_and_key(
    home: Path, table: str, words: list[str]
) -> None:
    (home / "k").write_text("a key")
    path = home / "backup.toml"
    path.write_text(table + "\n")
    _, out, error = invoke(home, "list")
    assert isinstance(error, ConfigError), out
    message = str(error)
    assert message.startswith(f"{path}: ") and "\n" not in message, message
    assert all(word in message for word in words), message


def test_good_tables_parse_with_relative_files_taken_from_the_home(home: Path) -> None:
    (home / "k").write_text("a key")
    doc = {"remote": {"url": "sftp://kassa@backup.example:2222/srv/kassa", "ssh_key": "k",
                      "known_hosts": "hosts", "host_key": "SHA256:abc", "on_failure": "warn"}}  # fmt: skip
    config = parse_remote(doc, "backup.toml", home)
    assert config is not None and config.on_failure == "warn"
    assert config.where == "sftp://kassa@backup.example:2222/srv/kassa"
    assert not isinstance(config.target, Path)
    assert config.target.key_file == home / "k" and config.target.known_hosts == home / "hosts"
    assert config.target.host_key == "SHA256:abc"
    share = parse_remote({"remote": {"url": "/mnt/share"}}, "backup.toml", home)
    assert share is not None and share.target == Path("/mnt/share")
    assert share.on_failure == "fail"  # the default: a failed copy fails the command
    assert parse_remote({}, "backup.toml", home) is None


# -- a directory remote, used without any option ---------------------------------------------


def test_a_plain_run_and_the_pre_settlement_backup_copy_to_the_configured_share(
    home: Path,
) -> None:
    share = home.parent / "share"
    share.mkdir()
    configure(home, url=str(share))
    code, out, _ = invoke(home, "run")
    assert code == 0 and ": OK (copied and read back)" in out, out
    first = BACKUP_ID.findall(out)[0]
    assert held(share) == [first]

    code, out, error = settle(home)
    assert code == 0, (out, error)
    assert "backup before settlement" in out and "settlement 2024-03-05" in out
    assert len(local_ids(home)) == 2 and held(share) == local_ids(home)
    for piece in (home / "backups" / local_ids(home)[-1]).glob("*.kbk"):
        assert (share / local_ids(home)[-1] / piece.name).read_bytes() == piece.read_bytes()
    status = read_status(home / "backups")
    assert status is not None and status.ok and status.newest == local_ids(home)[-1]

    code, out, _ = invoke(home, "list")
    assert code == 0 and out.count("│ yes") == 2, out
    code, out, _ = invoke(home, "verify")
    assert code == 0 and f"remote copy at {share}: OK" in out, out
    assert [c.severity for c in remote_checks(home, 1_900_000_000_000)] == ["ok"]


def test_a_damaged_remote_copy_fails_verify_and_says_how_to_repair_it(home: Path) -> None:
    share = home.parent / "share"
    share.mkdir()
    configure(home, url=str(share))
    code, out, _ = invoke(home, "run")
    assert code == 0, out
    backup_id = BACKUP_ID.findall(out)[0]
    piece = share / backup_id / "db.data.kbk"
    data = bytearray(piece.read_bytes())
    data[len(data) // 2] ^= 0x01
    piece.write_bytes(bytes(data))
    _, out, error = invoke(home, "verify")
    assert f"backup {backup_id}: OK" in out  # the local backup itself is sound
    assert isinstance(error, StoreError) and "damaged" in str(error), out
    assert "retry-remote" in str(error) and "\n" not in str(error)


def test_an_unmounted_share_fails_run_keeps_the_local_backup_and_retry_sends_it(
    home: Path,
) -> None:
    share = home.parent / "share"
    configure(home, url=str(share))  # not mounted (not there) yet
    _, out, error = invoke(home, "run")
    assert isinstance(error, StoreError), out
    message = str(error)
    assert message.startswith("remote copy failed: ") and str(share) in message
    assert "the local backups are fine" in message and "kassa backup retry-remote" in message
    assert "\n" not in message
    missed = local_ids(home)
    assert len(missed) == 1  # the local backup stands
    status = read_status(home / "backups")
    assert status is not None and not status.ok and str(share) in status.detail
    [check] = remote_checks(home, 1_900_000_000_000)
    assert check.severity == "warning" and check.guide_code == "backup_remote_failed"
    assert "retry-remote" in check.detail

    share.mkdir()  # the share is back
    code, out, _ = invoke(home, "retry-remote")
    assert code == 0 and f"{share}: 1 backup(s) sent" in out, out
    assert held(share) == missed
    code, out, _ = invoke(home, "retry-remote")
    assert code == 0 and f"{share}: nothing missing" in out, out
    assert [c.severity for c in remote_checks(home, 1_900_000_000_000)] == ["ok"]


def test_on_failure_warn_keeps_the_exit_status_and_still_says_it(home: Path) -> None:
    configure(home, url=str(home.parent / "nowhere"), on_failure="warn")
    code, out, _ = invoke(home, "run")
    assert code == 0 and "warning: remote copy failed" in out and "retry-remote" in out, out
    assert len(local_ids(home)) == 1


def test_a_broken_config_never_costs_the_local_backup(home: Path) -> None:
    (home / "backup.toml").write_text("[remote]\nurl = 's3://bucket'\n")
    _, out, error = invoke(home, "run")
    assert isinstance(error, StoreError) and "S3" in str(error), out
    assert len(local_ids(home)) == 1
    [check] = remote_checks(home, 1_900_000_000_000)
    assert check.severity == "warning" and "S3" in check.detail


def test_an_explicit_remote_overrides_the_configured_one(home: Path) -> None:
    configured, other = home.parent / "configured", home.parent / "other"
    configured.mkdir()
    other.mkdir()
    configure(home, url=str(configured))
    code, out, _ = invoke(home, "run", "--remote", str(other))
    assert code == 0, out
    assert held(other) == local_ids(home) and held(configured) == []
    _, out, error = invoke(home, "list", "--ssh-key", str(home / "k"))
    assert isinstance(error, ConfigError) and "for sftp://" in str(error), out


# -- settlement never waits on the remote ---------------------------------------------------


def test_an_unreachable_remote_never_blocks_the_pre_settlement_backup(home: Path) -> None:
    configure(home, url=str(home.parent / "unmounted"))
    code, out, error = settle(home)
    assert code == 0, (out, error)
    assert "warning: remote copy failed" in out and "settlement 2024-03-05" in out
    assert len(local_ids(home)) == 1  # the local backup before settlement was taken
    status = read_status(home / "backups")
    assert status is not None and not status.ok
    report = asyncio.run(doctor(home))  # the host home: the remote's check is in the report
    checks = {c.name: c for c in report.checks}
    assert checks["backup remote"].severity == "warning" and report.status >= 1


def test_a_broken_config_never_blocks_settlement(home: Path) -> None:
    (home / "backup.toml").write_text("[remote]\nurl = 'share'\n")
    code, out, error = settle(home)
    assert code == 0, (out, error)
    assert "warning: remote copy failed" in out and "absolute path" in out
    assert len(local_ids(home)) == 1


def test_a_hung_remote_is_left_behind_and_its_true_outcome_recorded_later(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    share = home.parent / "share"
    share.mkdir()
    configure(home, url=str(share))
    release, entered = threading.Event(), threading.Event()

    def hanging_push(*args: object) -> object:
        entered.set()
        assert release.wait(30), "never released"
        return real_push(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(remote_sync, "push", hanging_push)
    monkeypatch.setattr(backup_cli, "auto_remote_wait_s", 0.2)
    backup_id = backup_cli.auto_backup(home, "before settlement")
    assert entered.is_set() and held(share) == []
    status = read_status(home / "backups")
    assert status is not None and not status.ok and "not done after" in status.detail
    release.set()
    for thread in threading.enumerate():
        if thread.name == "kassa-backup-remote":
            thread.join(30)
    status = read_status(home / "backups")
    assert status is not None and status.ok, status  # the late copy's real outcome wins
    assert held(share) == [backup_id]


def test_the_pre_restore_backup_goes_to_the_remote(home: Path) -> None:
    share = home.parent / "share"
    share.mkdir()
    configure(home, url=str(share))
    code, out, _ = invoke(home, "run")
    first = BACKUP_ID.findall(out)[0]
    code, out, _ = invoke(home, "restore", "--at", first, "--yes")
    assert code == 0, out
    pre = re.findall(rf"before the restore: ({BACKUP_ID.pattern})", out)[0]
    assert held(share) == sorted([first, pre])


# -- retry: what is missing and kept ---------------------------------------------------------


def test_to_push_sends_what_the_remote_retention_keeps(home: Path, tmp_path: Path) -> None:
    repo, secret = Repository(home / "backups"), Secret.from_env(home, {})
    targets = targets_for(home, None, None, default_db_url(home))
    ids = []
    for day in range(4):
        at = 1_795_000_000_000 + day * DAY_MS
        taken = run_backup(repo, secret, targets, kind="full", reason="test", logs_dir=None,
                           now_ms=lambda at=at: at)  # fmt: skip
        ids.append(taken.manifest.id)
    policy = Policy(keep_daily=2, keep_weekly=0, keep_monthly=0)
    assert [m.id for m in to_push(repo, [], policy, None)] == ids[2:]
    on_remote = [repo.get(ids[3])]
    assert [m.id for m in to_push(repo, on_remote, policy, None)] == [ids[2]]
    # the newest backup's chain is always included (read back again where already there)
    assert [m.id for m in to_push(repo, on_remote, policy, repo.get(ids[3]))] == ids[2:]


# -- SFTP, configured once ------------------------------------------------------------------


def test_a_configured_sftp_remote_is_used_without_any_option(home: Path, sshd: SshServer) -> None:
    share = sshd.root / "configured"
    share.mkdir()
    configure(home, url=sshd.url("configured"), ssh_key=str(sshd.client_key),
              known_hosts=str(sshd.known_hosts))  # fmt: skip
    code, out, _ = invoke(home, "run")
    assert code == 0 and out.count(": OK (copied and read back)") == 1, out
    first = BACKUP_ID.findall(out)[0]
    code, out, error = settle(home)
    assert code == 0, (out, error)
    assert held(share) == local_ids(home) and len(held(share)) == 2
    code, out, _ = invoke(home, "list")
    assert code == 0 and out.count("│ yes") == 2, out
    code, out, _ = invoke(home, "schedule")
    assert code == 0 and f"remote {sshd.url('configured')}:" in out, out

    shutil.rmtree(home / "backups")  # the local disk is lost: the remote is used by itself
    code, out, _ = invoke(home, "list")
    assert code == 0 and out.count("only there") == 2, out
    code, out, _ = invoke(home, "verify", first)
    assert code == 0 and f"remote backup {first}: OK" in out, out
    code, out, _ = invoke(home, "restore", "--at", first, "--yes")
    assert code == 0 and f"from backup {first}" in out, out


def test_a_configured_sftp_remote_that_refuses_never_blocks_settlement(
    home: Path, sshd: SshServer
) -> None:
    closed = sshd.url("configured").replace(f":{sshd.port}/", ":1/")
    configure(home, url=closed, ssh_key=str(sshd.client_key), known_hosts=str(sshd.known_hosts))
    code, out, error = settle(home)
    assert code == 0, (out, error)
    assert "connection refused" in out and "retry-remote" in out
    assert len(local_ids(home)) == 1
