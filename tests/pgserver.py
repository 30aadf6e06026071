"""A throwaway PostgreSQL server for the test suite (used by conftest.py).

Each pytest process (each xdist worker) starts its own server the first time a test
needs PostgreSQL: simpler and sturdier than sharing one across workers (no lock files,
no question of who stops it), and cheap: the cluster is a copy of a pristine ``initdb``
output cached once per PostgreSQL version (see `_cluster_template`), so a start costs
about 0.3 s. Clusters live on tmpfs (/dev/shm) when there is one (see `scratch_root`).

The server runs with ``fsync=on`` and ``synchronous_commit=on`` because we test
durability. It listens on 127.0.0.1 only, on a free port, plus a unix socket in its
directory, with trust authentication for the superuser ``kassa``.

PostgreSQL refuses to run as root, so when we are root every server command runs as the
``postgres`` OS user (``runuser``) and the directory is handed to it. The server is
stopped at session end, at interpreter exit (atexit), and, if a previous run was killed
outright, by the next run: every directory records its owner's pid, and directories of
dead owners are stopped and removed.

Environment: ``KASSA_PG_BIN`` (directory of initdb/pg_ctl), ``KASSA_PG_TMP`` (where
clusters live).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

PREFIX = "kassa-pg-"
TEMPLATE_PREFIX = "kassa-pgtemplate-"
USER = "kassa"
_CONF = """
listen_addresses = '127.0.0.1'
unix_socket_directories = '{socket_dir}'
fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = 16MB
max_connections = 60
max_wal_size = 256MB
logging_collector = off
log_min_messages = warning
"""
_HBA = "local all all trust\nhost all all 127.0.0.1/32 trust\n"
_START_ATTEMPTS = 3


class PgServerError(RuntimeError):
    """The test server could not be set up; the message says why."""


def find_bin_dir() -> Path | None:
    """`$KASSA_PG_BIN`, else the newest /usr/lib/postgresql/*/bin holding initdb."""
    override = os.environ.get("KASSA_PG_BIN")
    if override:
        return Path(override) if (Path(override) / "initdb").exists() else None
    found = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()]
    found.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    return found[-1] if found else None


@dataclass
class PgServer:
    """A running server; `url(name)` gives a URL for one of its databases."""

    bin_dir: Path
    base: Path
    port: int
    startup_s: float
    _admin: psycopg.Connection | None = field(default=None, repr=False)
    _dropper: ThreadPoolExecutor | None = field(default=None, repr=False)
    _drops: list[Future[None]] = field(default_factory=list, repr=False)

    @property
    def data(self) -> Path:
        return self.base / "data"

    def url(self, dbname: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{dbname}"

    def admin(self) -> psycopg.Connection:
        if self._admin is None or self._admin.closed:
            self._admin = psycopg.connect(self.url("postgres"), autocommit=True)
        return self._admin

    def create_database(self) -> str:
        """A new empty database (from template0); its name."""
        name = f"kassa_{uuid.uuid4().hex[:16]}"
        self.admin().execute(f"CREATE DATABASE {name} TEMPLATE template0")
        return name

    def drop_database(self, name: str) -> None:
        """Drop `name` in the background, ending any connection a test left open.

        Dropping waits for the backends of connections the test just closed to exit,
        which PostgreSQL polls every 100 ms; the next test need not wait for that.
        """
        if self._dropper is None:
            self._dropper = ThreadPoolExecutor(1, thread_name_prefix="pg-drop")
        self._drops.append(self._dropper.submit(self._drop, name))

    def _drop(self, name: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Finish pending drops, stop the server, delete its directory; safe to call twice."""
        if self._dropper is not None:
            self._dropper.shutdown(wait=True)
            self._dropper = None
        failures = [f.exception() for f in self._drops if f.exception() is not None]
        self._drops.clear()
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self.base.exists():
            _stop_cluster(self.bin_dir, self.data)
            shutil.rmtree(self.base, ignore_errors=True)
        if failures:  # a test database that cannot be dropped means something is wrong
            raise PgServerError(f"dropping a test database failed: {failures[0]}")


def start_server(bin_dir: Path) -> PgServer:
    """A server in a new temp directory, from a cached initdb; `PgServerError` if it fails."""
    started = time.perf_counter()
    root = scratch_root()
    remove_stale_servers(bin_dir, root)
    base = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))
    (base / "owner.pid").write_text(str(os.getpid()))
    server: PgServer | None = None
    try:
        _hand_to_server_user(base)
        template = _cluster_template(bin_dir, root)
        subprocess.run(["cp", "-a", str(template), str(base / "data")], check=True)
        (base / "data" / "pg_hba.conf").write_text(_HBA)
        with (base / "data" / "postgresql.conf").open("a") as conf:
            conf.write(_CONF.format(socket_dir=base))
        port = _start(bin_dir, base)
        server = PgServer(bin_dir, base, port, time.perf_counter() - started)
        atexit.register(server.stop)
        server.admin()
        return server
    except BaseException:
        if server is not None:
            server.stop()
        else:
            _stop_cluster(bin_dir, base / "data")
            shutil.rmtree(base, ignore_errors=True)
        raise


def scratch_root() -> Path:
    """Where clusters live: `$KASSA_PG_TMP`, else tmpfs /dev/shm if present, else /tmp.

    On a busy disk every fsync (CREATE DATABASE writes 7 MB and syncs it) can take a
    second; on tmpfs the server still issues each fsync but it returns at once. Crash
    tests kill the server process, which tmpfs survives just as a disk does.
    """
    chosen = os.environ.get("KASSA_PG_TMP")
    if chosen:
        return Path(chosen)
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path("/tmp")


def _cluster_template(bin_dir: Path, root: Path) -> Path:
    """A pristine initdb output, made once per PostgreSQL version and kept in `root`.

    Copying it (~0.1 s) is much faster than initdb (~1 s). It is built aside and renamed
    into place, so concurrent workers never see half of one.
    """
    where = hashlib.sha256(str(bin_dir.resolve()).encode()).hexdigest()[:8]
    template = root / f"{TEMPLATE_PREFIX}{bin_dir.parent.name}-{where}-{os.geteuid()}"
    if (template / "PG_VERSION").exists():
        return template
    building = Path(tempfile.mkdtemp(prefix=f"{TEMPLATE_PREFIX}build-", dir=root))
    try:
        _hand_to_server_user(building)
        _run(bin_dir, "initdb", "-D", str(building / "data"), "-U", USER, "-A", "trust",
             "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")  # fmt: skip
        with contextlib.suppress(OSError):  # another worker won the race: use theirs
            (building / "data").rename(template)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return template


def remove_stale_servers(bin_dir: Path, root: Path) -> None:
    """Stop and delete servers left by test runs whose process no longer exists."""
    for base in root.glob(f"{PREFIX}*"):
        try:
            owner = int((base / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        if not _alive(owner):
            _stop_cluster(bin_dir, base / "data")
            shutil.rmtree(base, ignore_errors=True)


def _start(bin_dir: Path, base: Path) -> int:
    log = base / "server.log"
    for _ in range(_START_ATTEMPTS):
        port = _free_port()
        try:
            _run(bin_dir, "pg_ctl", "start", "-w", "-t", "30", "-D", str(base / "data"),
                 "-l", str(log), "-o", f"-p {port}")  # fmt: skip
            return port
        except PgServerError:
            text = log.read_text(errors="replace") if log.exists() else ""
            if "could not bind" not in text and "already in use" not in text:
                tail = "\n".join(text.splitlines()[-15:])
                raise PgServerError(f"PostgreSQL did not start; its log ends:\n{tail}") from None
    raise PgServerError(f"PostgreSQL found no free port in {_START_ATTEMPTS} attempts")


def _stop_cluster(bin_dir: Path, data: Path) -> None:
    pid_file = data / "postmaster.pid"
    if not pid_file.exists():
        return
    try:
        _run(bin_dir, "pg_ctl", "stop", "-D", str(data), "-m", "immediate", "-w", "-t", "10")
    except PgServerError:
        with contextlib.suppress(OSError, ValueError):  # last resort: the postmaster pid
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGQUIT)


def _run(bin_dir: Path, program: str, *args: str) -> None:
    command = [str(bin_dir / program), *args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        raise PgServerError(f"{program} failed ({done.returncode}): {output}")


def _hand_to_server_user(base: Path) -> None:
    if os.geteuid() != 0:
        return
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        raise PgServerError(
            "running as root needs the 'postgres' OS user, which the postgresql package "
            "creates; run `make test` to install it"
        ) from None
    os.chown(base, account.pw_uid, account.pw_gid)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
