"""The SFTP backup target (shell): a directory on an SSH server, reached with paramiko.

    spec = parse_sftp_url("sftp://kassa@backup.example:22/srv/kassa", key_file=Path(...),
                          known_hosts=Path.home() / ".ssh/known_hosts", host_key=None)
    with connect_sftp(spec) as remote:   # a `RemoteFS` rooted at /srv/kassa
        push(repo, manifests, remote)

Authentication is by private key only (no password, no agent: a cron job must not depend
on either). The server's host key must be known: listed in the known_hosts file (OpenSSH
format, hashed or not, ``[host]:port`` for another port than 22) or pinned with its
SHA-256 fingerprint (``SHA256:...`` as ``ssh-keygen -lf`` prints it). An unknown key is
refused with one line saying how to trust it; nothing is ever added to known_hosts.

Each file is written, flushed and fsynced on the server (the ``fsync@openssh.com``
extension, when the server has it) before it is used; `remote.push` publishes a backup
by renaming its directory, so a cut upload is never taken for a backup.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, TypeVar
from urllib.parse import unquote, urlsplit

import paramiko
from paramiko.sftp import CMD_EXTENDED, CMD_STATUS

from kassa.errors import ConfigError, StoreError

T = TypeVar("T")
connect_timeout_s = 15.0
io_timeout_s = 60.0  # a server that stops answering mid-transfer must not hang a backup
chunk_bytes = 1 << 20


@dataclass(frozen=True, slots=True)
class SftpSpec:
    """Where and how to reach an SFTP target."""

    user: str
    host: str
    port: int
    path: str
    key_file: Path
    known_hosts: Path | None
    host_key: str | None  # a pinned fingerprint, "SHA256:..."

    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"sftp://{self.user}@{host}:{self.port}{self.path}"

    @property
    def known_name(self) -> str:
        """How known_hosts names this server."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


def parse_sftp_url(
    url: str, *, key_file: Path, known_hosts: Path | None, host_key: str | None
) -> SftpSpec:
    """``sftp://user@host[:port]/absolute/path``; ConfigError saying what is wrong."""
    parts = urlsplit(url)
    try:
        port = parts.port or 22
    except ValueError:
        raise ConfigError(f"{url}: the port must be a number 1..65535") from None
    if parts.scheme != "sftp" or not parts.hostname or not parts.username:
        raise ConfigError(f"{url}: expected sftp://USER@HOST[:PORT]/PATH")
    if parts.password is not None:
        raise ConfigError(f"{url}: no password in the URL; give the private key with --ssh-key")
    path = unquote(parts.path).rstrip("/")
    if not path.startswith("/") or ".." in PurePosixPath(path).parts:
        raise ConfigError(f"{url}: give the remote directory as an absolute path, e.g. /srv/kassa")
    if host_key is not None and not host_key.startswith("SHA256:"):
        raise ConfigError(f"--host-key {host_key!r}: give it as ssh-keygen -lf prints it, SHA256:…")
    if not key_file.is_file():
        raise ConfigError(f"--ssh-key {key_file}: no such file (the private key for {url})")
    return SftpSpec(
        unquote(parts.username), parts.hostname, port, path, key_file, known_hosts, host_key
    )


class _RefuseUnknown(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
    """Accept an unknown host key only when it is the pinned fingerprint; never save it."""

    def __init__(self, spec: SftpSpec) -> None:
        self.spec = spec

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        fingerprint = str(key.fingerprint)
        if self.spec.host_key is not None and fingerprint == self.spec.host_key:
            return
        file = self.spec.known_hosts or Path("~/.ssh/known_hosts")
        if self.spec.host_key is not None:
            raise ConfigError(
                f"{self.spec.where}: host key {fingerprint} is not the pinned {self.spec.host_key}:"
                " refused (someone may be in between; check the server's key)"
            )
        raise ConfigError(
            f"{self.spec.where}: unknown host key {key.get_name()} {fingerprint}: refused; if the"
            f" server shows that key (ssh-keygen -lf on its /etc/ssh/ssh_host_*_key.pub), trust"
            f" it with `ssh-keyscan -p {self.spec.port} {self.spec.host} >> {file}`"
            f" or --host-key {fingerprint}"
        )


@contextlib.contextmanager
def connect_sftp(spec: SftpSpec) -> Iterator[SftpFS]:
    """An SFTP session rooted at `spec.path` (which must exist); one-line errors."""
    client = paramiko.SSHClient()
    try:
        if spec.known_hosts is not None and spec.known_hosts.is_file():
            client.load_host_keys(str(spec.known_hosts))
        client.set_missing_host_key_policy(_RefuseUnknown(spec))
        _connect(client, spec)
        try:
            sftp = client.open_sftp()
            sftp.get_channel().settimeout(io_timeout_s)
        except (paramiko.SSHException, OSError) as exc:
            raise StoreError(
                f"{spec.where}: the server refused the SFTP subsystem: {exc}"
            ) from None
        remote = SftpFS(sftp, spec)
        remote.check_root()
        yield remote
    finally:
        client.close()


def _connect(client: paramiko.SSHClient, spec: SftpSpec) -> None:
    where = spec.where
    try:
        client.connect(
            spec.host, spec.port, username=spec.user, key_filename=str(spec.key_file),
            timeout=connect_timeout_s, banner_timeout=connect_timeout_s,
            auth_timeout=connect_timeout_s, allow_agent=False, look_for_keys=False,
        )  # fmt: skip
    except paramiko.BadHostKeyException as exc:
        raise ConfigError(
            f"{where}: the host key {exc.key.fingerprint} is not the one in known_hosts"
            f" ({exc.expected_key.fingerprint}): refused; if the server was really rebuilt,"
            f" remove the old line with `ssh-keygen -R '{spec.known_name}'` and trust the new one"
        ) from None
    except paramiko.PasswordRequiredException:
        raise ConfigError(
            f"--ssh-key {spec.key_file}: the key has a passphrase; backups run unattended:"
            " give a key without one"
        ) from None
    except paramiko.AuthenticationException:
        raise ConfigError(
            f"{where}: authentication refused for {spec.user} with the key {spec.key_file}:"
            f" add {spec.key_file}.pub to ~{spec.user}/.ssh/authorized_keys on the server"
        ) from None
    except paramiko.SSHException as exc:
        raise StoreError(f"{where}: SSH failed: {exc}") from None
    except socket.gaierror:
        raise ConfigError(f"{where}: cannot resolve the host name {spec.host}") from None
    except TimeoutError:
        raise StoreError(f"{where}: no answer in {connect_timeout_s:.0f} s (firewall?)") from None
    except OSError as exc:
        if _refused(exc):
            raise StoreError(
                f"{where}: connection refused: is the SSH server running on port {spec.port}?"
            ) from None
        raise StoreError(f"{where}: cannot connect: {exc.strerror or exc}") from None


def _refused(exc: OSError) -> bool:
    if exc.errno == errno.ECONNREFUSED:
        return True
    inner = getattr(exc, "errors", None)  # paramiko's NoValidConnectionsError: one per address
    return isinstance(inner, dict) and any(
        isinstance(e, OSError) and e.errno == errno.ECONNREFUSED for e in inner.values()
    )


class SftpFS:
    """The remote directory as a `RemoteFS`: paths are relative to `spec.path`, "/"-joined."""

    def __init__(self, sftp: paramiko.SFTPClient, spec: SftpSpec) -> None:
        self.sftp, self.spec, self.where = sftp, spec, spec.where

    def _path(self, rel: str) -> str:
        return f"{self.spec.path}/{rel}" if rel else self.spec.path

    def _do(self, what: str, rel: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except OSError as exc:
            raise self._error(what, rel, exc) from None
        except paramiko.SSHException as exc:
            raise StoreError(f"{self.where}/{rel}: {what}: SSH failed: {exc}") from None

    def _error(self, what: str, rel: str, exc: OSError) -> StoreError:
        if exc.errno == errno.ENOENT:
            return StoreError(f"{self.where}/{rel}: {what}: no such file or directory")
        if exc.errno == errno.EACCES:
            return StoreError(f"{self.where}/{rel}: {what}: permission denied on the server")
        reason = exc.strerror or str(exc) or type(exc).__name__
        hint = (
            " (SFTP says no more than this: most often the remote disk is full or over quota)"
            if what == "write" and "Failure" in reason
            else ""
        )
        return StoreError(f"{self.where}/{rel}: {what} failed: {reason}{hint}")

    def check_root(self) -> None:
        try:
            attrs = self.sftp.stat(self.spec.path)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise ConfigError(
                    f"{self.where}: no directory {self.spec.path} on the server: create it first"
                ) from None
            raise self._error("stat", "", exc) from None
        if not stat.S_ISDIR(attrs.st_mode or 0):
            raise ConfigError(f"{self.where}: {self.spec.path} is not a directory")

    def listdir(self, rel: str = "") -> list[str]:
        return sorted(self._do("list", rel, lambda: self.sftp.listdir(self._path(rel))))

    def kind(self, rel: str) -> str | None:
        """Whether `rel` is a "dir" or a "file"; None when nothing is there."""
        try:
            attrs = self.sftp.stat(self._path(rel))
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise self._error("stat", rel, exc) from None
        return "dir" if stat.S_ISDIR(attrs.st_mode or 0) else "file"

    def mkdir(self, rel: str) -> None:
        self._do("mkdir", rel, lambda: self.sftp.mkdir(self._path(rel), 0o700))

    def write(self, rel: str, source: BinaryIO) -> None:
        """Write all of `source` to `rel`, flushed and fsynced on the server."""

        def put() -> None:
            size = 0
            with self.sftp.open(self._path(rel), "wb") as out:
                out.set_pipelined(True)
                while block := source.read(chunk_bytes):
                    out.write(block)
                    size += len(block)
                out.flush()
                _wait_acks(self.sftp, out)
                self._fsync(out)
            stored = self.sftp.stat(self._path(rel)).st_size
            if stored != size:
                raise OSError(f"Failure: {stored} bytes stored of {size}")

        self._do("write", rel, put)

    def _fsync(self, handle: Any) -> None:
        try:
            self.sftp._request(CMD_EXTENDED, "fsync@openssh.com", handle.handle)
        except OSError as exc:
            if "unsupported" not in str(exc).lower():
                raise
            # A server without the extension: the read-back check still proves the copy.

    @contextlib.contextmanager
    def open(self, rel: str) -> Iterator[_Reader]:
        handle = self._do("open", rel, lambda: self.sftp.open(self._path(rel), "rb"))
        handle.prefetch()
        try:
            yield _Reader(self, rel, handle)
        finally:
            handle.close()

    def rename(self, old: str, new: str) -> None:
        self._do("rename", old, lambda: self.sftp.rename(self._path(old), self._path(new)))

    def remove(self, rel: str) -> None:
        self._do("remove", rel, lambda: self.sftp.remove(self._path(rel)))

    def rmtree(self, rel: str) -> None:
        """Remove `rel` and everything under it; nothing there is fine."""
        kind = self.kind(rel)
        if kind == "file":
            self.remove(rel)
        elif kind == "dir":
            for name in self.listdir(rel):
                self.rmtree(f"{rel}/{name}")
            self._do("rmdir", rel, lambda: self.sftp.rmdir(self._path(rel)))


def _wait_acks(sftp: paramiko.SFTPClient, handle: Any) -> None:
    """Read the server's answer to every write still outstanding, raising the first error.

    Why by hand: paramiko 5.1 (pinned) drops the status of a pipelined write that arrives
    while it waits for another request, and its close() swallows errors, so a write the
    server refused (a full disk) would pass unseen. The server answers in order, so the
    oldest outstanding request's answer is the next to arrive.
    """
    pending = handle._reqs
    while pending:
        kind, _ = sftp._read_response(pending.popleft())  # raises on an error status
        if kind != CMD_STATUS:
            raise OSError("Failure: unexpected answer to a write")


class _Reader:
    """A remote file read in blocks, its errors turned into one-line StoreErrors."""

    def __init__(self, fs: SftpFS, rel: str, handle: Any) -> None:
        self.fs, self.rel, self.handle = fs, rel, handle

    def read(self, size: int = -1) -> bytes:
        return self.fs._do("read", self.rel, lambda: bytes(self.handle.read(size)))
