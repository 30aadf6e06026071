"""A real OpenSSH server on loopback for the SFTP backup tests.

The server runs ``/usr/sbin/sshd -D -f <its own config>`` on a free 127.0.0.1 port with its
own host key, accepts one generated client key (authorized_keys in its own directory) and
serves SFTP with ``internal-sftp``. It is stopped when the fixture ends.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")
KEYGEN = shutil.which("ssh-keygen")


@dataclass(frozen=True)
class SshServer:
    port: int
    root: Path  # a directory on the server the tests write backups into
    client_key: Path
    known_hosts: Path
    host_fingerprint: str
    user: str

    def url(self, sub: str = "backups") -> str:
        return f"sftp://{self.user}@127.0.0.1:{self.port}{self.root / sub}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def keygen(path: Path) -> Path:
    assert KEYGEN is not None
    subprocess.run([KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


def _fingerprint(public: Path) -> str:
    assert KEYGEN is not None
    out = subprocess.run([KEYGEN, "-lf", str(public)], check=True, capture_output=True, text=True)
    return out.stdout.split()[1]


def _config(base: Path, port: int) -> Path:
    config = base / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {base / 'host_key'}\n"
        f"PidFile {base / 'sshd.pid'}\nAuthorizedKeysFile {base / 'authorized_keys'}\n"
        "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
        "Subsystem sftp internal-sftp\nLogLevel ERROR\n"
    )
    return config


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    if not SSHD.exists() or KEYGEN is None:
        pytest.skip("no OpenSSH server: install openssh-server (scripts/sysdeps.sh does)")
    base = tmp_path_factory.mktemp("sshd")
    keygen(base / "host_key")
    client = keygen(base / "client_key")
    shutil.copy(base / "client_key.pub", base / "authorized_keys")
    port = _free_port()
    config = _config(base, port)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    subprocess.run([str(SSHD), "-t", "-f", str(config)], check=True)
    process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)])
    try:
        _wait_listening(port, process)
        host_pub = (base / "host_key.pub").read_text().split()
        known = base / "known_hosts"
        known.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
        root = base / "server"
        (root / "backups").mkdir(parents=True)
        yield SshServer(port, root, client, known, _fingerprint(base / "host_key.pub"),
                        getpass.getuser())  # fmt: skip
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("sshd did not listen within 10 s")


def tiny_disk(path: Path, size: str) -> bool:
    """Mount a tmpfs of `size` at `path` (a full disk on demand); False if not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          check=False, capture_output=True)  # fmt: skip
    return done.returncode == 0 and os.path.ismount(path)


def unmount(path: Path) -> None:
    subprocess.run(["umount", str(path)], check=False, capture_output=True)
