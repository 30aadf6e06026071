"""The remote copy configured once in ``backup.toml``, used by every backup.

    [remote]
    url = "sftp://kassa@backup.example:22/srv/kassa"   # or a directory: "/mnt/share/kassa"
    ssh_key = "backup_ssh_key"          # sftp only; default $KASSA_HOME/backup_ssh_key
    known_hosts = "/etc/kassa/known_hosts"  # sftp only; default ~/.ssh/known_hosts
    host_key = "SHA256:..."             # sftp only, optional: pin the server's key
    on_failure = "fail"                 # or "warn"

Relative file names are taken from the Kassa home. A directory must be given as an
absolute path (a cron job's working directory is not the operator's). Whether the share
is mounted, or the server answers, is not checked here: that is a failed copy when it
happens (the local backup stands), never a reason to refuse the configuration.

``on_failure`` decides what a failed remote copy does to `kassa backup run` and
`kassa backup schedule`: ``fail`` (the default) keeps the local backup and exits non-zero
with one line saying what failed and to run `kassa backup retry-remote`, so cron mails
it; ``warn`` prints the same line and exits 0. The automatic backups before settlement
and before a restore only ever warn: the remote never stops a settlement or a restore.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from kassa.errors import ConfigError
from kassa.ops.backup.policy import Policy, parse_policy
from kassa.ops.backup.sftp import SftpSpec, parse_sftp_url

OnFailure = Literal["fail", "warn"]
KEYS = ("url", "ssh_key", "known_hosts", "host_key", "on_failure")
SSH_KEY_DEFAULT = "backup_ssh_key"
_SFTP_ONLY = ("ssh_key", "known_hosts", "host_key")


@dataclass(frozen=True, slots=True)
class RemoteConfig:
    """A remote copy target, what a failure of it does, and who named it (for messages)."""

    target: Path | SftpSpec
    on_failure: OnFailure = "fail"
    origin: str = "--remote"  # or "<home>/backup.toml [remote]"

    @property
    def where(self) -> str:
        return str(self.target) if isinstance(self.target, Path) else self.target.where

    def with_sftp(
        self, ssh_key: Path | None, known_hosts: Path | None, host_key: str | None
    ) -> RemoteConfig:
        """The configured SFTP target with the command line's options put over its own."""
        if not isinstance(self.target, SftpSpec):
            raise ConfigError(
                f"--ssh-key, --known-hosts and --host-key are for sftp://; {self.origin}"
                f" is the directory {self.target}"
            )
        spec = self.target
        spec = replace(spec, key_file=ssh_key) if ssh_key is not None else spec
        spec = replace(spec, known_hosts=known_hosts) if known_hosts is not None else spec
        spec = replace(spec, host_key=host_key) if host_key is not None else spec
        return replace(self, target=spec)


def parse_remote(doc: Mapping[str, Any], where: str, home: Path) -> RemoteConfig | None:
    """The ``[remote]`` table of a parsed backup.toml, None when there is none; a one-line
    `ConfigError` naming the file, the key and what to give instead."""
    table = doc.get("remote")
    if table is None:
        return None
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: remote must be a table [remote] with url = ...")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key remote.{unknown[0]}; use {', '.join(KEYS)}")
    on_failure = table.get("on_failure", "fail")
    if on_failure not in ("fail", "warn"):
        raise ConfigError(f"{where}: remote.on_failure = {on_failure!r}; use 'fail' or 'warn'")
    url = table.get("url")
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(
            f"{where}: remote.url must be a directory or sftp://USER@HOST[:PORT]/PATH (got {url!r})"
        )
    origin = f"{where} [remote]"
    if url.startswith("sftp://"):
        return RemoteConfig(_sftp(table, url, where, home), on_failure, origin)
    if "://" in url:
        raise ConfigError(
            f"{where}: remote.url = {url!r}: S3 and other targets are not supported;"
            " give a directory (a mounted share) or sftp://USER@HOST[:PORT]/PATH"
        )
    given = [key for key in _SFTP_ONLY if key in table]
    if given:
        raise ConfigError(f"{where}: remote.{given[0]} is for sftp:// only; remote.url is a dir")
    path = Path(url).expanduser()
    if not path.is_absolute():
        raise ConfigError(f"{where}: remote.url = {url!r}: give the directory as an absolute path")
    return RemoteConfig(path, on_failure, origin)


def _sftp(table: Mapping[str, Any], url: str, where: str, home: Path) -> SftpSpec:
    key_file = _file(table, "ssh_key", where, home) or home / SSH_KEY_DEFAULT
    if not key_file.is_file():
        raise ConfigError(
            f"{where}: remote.ssh_key: no file {key_file}; give the private key for {url}"
            " (ssh-keygen -t ed25519 -N '' -f FILE)"
        )
    known_hosts = _file(table, "known_hosts", where, home) or Path.home() / ".ssh/known_hosts"
    host_key = table.get("host_key")
    if host_key is not None and (
        not isinstance(host_key, str) or not host_key.startswith("SHA256:")
    ):
        raise ConfigError(
            f"{where}: remote.host_key = {host_key!r}; give it as ssh-keygen -lf prints it,"
            " SHA256:..."
        )
    try:
        return parse_sftp_url(url, key_file=key_file, known_hosts=known_hosts, host_key=host_key)
    except ConfigError as exc:
        raise ConfigError(f"{where}: remote.url: {exc}") from None


def _file(table: Mapping[str, Any], key: str, where: str, home: Path) -> Path | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: remote.{key} = {value!r}; give a file name")
    path = Path(value).expanduser()
    return path if path.is_absolute() else home / path


def load_config(home: Path) -> dict[str, Any]:
    """``home/backup.toml`` parsed, or an empty document when there is none."""
    path = home / "backup.toml"
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def configured(home: Path) -> tuple[RemoteConfig | None, Policy]:
    """The ``[remote]`` and the policy of ``home/backup.toml``; ConfigError if either is bad."""
    doc, where = load_config(home), str(home / "backup.toml")
    return parse_remote(doc, where, home), parse_policy(doc, where)
