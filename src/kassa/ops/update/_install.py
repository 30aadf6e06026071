"""Installing a verified package into a Python environment, and rolling back (shell).

State lives in ``$KASSA_HOME/update/``: ``trusted.pub`` (the release team's public key),
``packages/`` (a verified copy of every package installed, with its manifest and
signature: what a rollback reinstalls), ``state.json`` (current and previous) and
``history.jsonl`` (one line per apply or rollback, kept forever).

`apply` copies the chosen package into ``packages/``, verifies that copy (what is
installed is exactly what was verified), makes sure the installed version's own signed
package is at hand for a rollback, then runs ``python -m pip install --no-deps --no-index``
and reads the installed version back. When pip fails or the version read back is not the
one asked for, the previous package is reinstalled at once, so the environment is never
left half updated.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kassa.errors import ConfigError, InputError, StoreError
from kassa.ops.update._package import Checked, check_dir, load_public, verify

pip_timeout_s = 600
_VERSION_SCRIPT = (
    "import importlib.metadata as m, sys\n"
    "try:\n    print(m.version(sys.argv[1]))\n"
    "except m.PackageNotFoundError:\n    pass\n"
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an apply or rollback did: `ok`, the versions, and what happened."""

    ok: bool
    action: str
    from_version: str | None
    to_version: str | None
    detail: str


def _version_key(version: str) -> Any:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version)
    except InvalidVersion:
        raise InputError(f"{version!r} is not a version such as 1.2.0") from None


class Updater:
    """Updates of the distribution `dist` installed for the interpreter `python`."""

    def __init__(
        self,
        home: Path,
        now_ms: Callable[[], int],
        python: str = sys.executable,
        dist: str = "kassa",
    ) -> None:
        from packaging.utils import canonicalize_name

        self.dir = home / "update"
        self.store = self.dir / "packages"
        self.now_ms = now_ms
        self.python = python
        self.dist = str(canonicalize_name(dist))

    # -- reading ---------------------------------------------------------------------------

    def trusted(self) -> Ed25519PublicKey:
        return load_public(self.dir / "trusted.pub")

    def installed(self) -> str | None:
        """The version installed now, read by the target interpreter itself."""
        done = subprocess.run(
            [self.python, "-c", _VERSION_SCRIPT, self.dist],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise ConfigError(f"cannot run {self.python}: {done.stderr.strip()[-200:]}")
        return done.stdout.strip() or None

    def check(self, directory: Path) -> list[Checked]:
        return [c for c in check_dir(directory, self.trusted()) if c.name in (self.dist, "")]

    def state(self) -> dict[str, Any]:
        try:
            doc: dict[str, Any] = json.loads((self.dir / "state.json").read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise StoreError(f"{self.dir / 'state.json'} is damaged ({exc})") from None
        return doc

    def history(self) -> list[dict[str, Any]]:
        path = self.dir / "history.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]

    # -- changing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StoreError("another update is running") from None
        try:
            yield
        finally:
            os.close(fd)

    def choose(self, directory: Path, version: str | None) -> Checked:
        """The package to install: `version`, else the newest; refused if it fails to verify."""
        found = [c for c in self.check(directory) if c.version]
        if version is not None:
            wanted = _version_key(version)
            found = [c for c in found if _version_key(c.version) == wanted]
        if not found:
            want = f" version {version}" if version else ""
            raise InputError(f"no {self.dist}{want} package in {directory}")
        pick = max(found, key=lambda c: _version_key(c.version))
        if not pick.ok:
            raise InputError(f"refusing {pick.path.name}: {pick.problem}")
        return pick

    def apply(
        self,
        directory: Path,
        version: str | None = None,
        allow_downgrade: bool = False,
        no_rollback: bool = False,
    ) -> Outcome:
        """Verify and install; see the module docstring for the guarantees."""
        with self._locked():
            pick = self.choose(directory, version)
            current = self.installed()
            if current is not None and _version_key(current) == _version_key(pick.version):
                return Outcome(True, "apply", current, current, "already installed")
            older = current is not None and _version_key(pick.version) < _version_key(current)
            if older and not allow_downgrade:
                raise InputError(
                    f"{pick.version} is older than the installed {current};"
                    " use `kassa update rollback` or --allow-downgrade"
                )
            previous = self._previous(current, directory)
            if current is not None and previous is None and not no_rollback:
                raise InputError(
                    f"no signed package of the installed {self.dist} {current} to roll"
                    f" back to: put it in {directory} or pass --no-rollback"
                )
            target = self._keep(pick.path)
            outcome = self._switch(target, pick.version, previous, current, "apply")
            self._record(outcome, target, previous)
            return outcome

    def rollback(self) -> Outcome:
        """Reinstall the previous version's stored package (verified again first)."""
        with self._locked():
            state = self.state()
            previous = state.get("previous")
            if not previous:
                raise InputError("nothing to roll back to: no earlier update recorded")
            package = self.store / previous["file"]
            checked = verify(package, self.trusted())
            if not checked.ok:
                raise InputError(f"refusing the stored {package.name}: {checked.problem}")
            current = state.get("current") or {}
            back = self.store / current["file"] if current.get("file") else None
            outcome = self._switch(package, checked.version, back, self.installed(), "rollback")
            self._record(outcome, package, back)
            return outcome

    def _previous(self, current: str | None, directory: Path) -> Path | None:
        """A verified package of the installed version, from the store or `directory`."""
        if current is None:
            return None
        for place in (p for p in (self.store, directory) if p.is_dir()):
            for checked in check_dir(place, self.trusted()):
                if (
                    checked.ok
                    and checked.name == self.dist
                    and (_version_key(checked.version) == _version_key(current))
                ):
                    return self._keep(checked.path)
        return None

    def _keep(self, package: Path) -> Path:
        """Copy `package` with its manifest and signature into the store; verify the copy."""
        self.store.mkdir(exist_ok=True)
        target = self.store / package.name
        if package.resolve() != target.resolve():
            for suffix in ("", ".json", ".sig"):
                shutil.copyfile(
                    package.with_name(package.name + suffix), self.store / (package.name + suffix)
                )
        checked = verify(target, self.trusted())
        if not checked.ok:
            raise InputError(f"refusing {package.name}: {checked.problem}")
        return target

    def _pip(self, package: Path) -> tuple[bool, str]:
        command = [
            self.python,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--force-reinstall",
            "--disable-pip-version-check",
            "--no-input",
        ]
        if package.name.endswith(".tar.gz"):
            command.append("--no-build-isolation")  # no index to fetch a build backend from
        try:
            done = subprocess.run(
                [*command, str(package)],
                capture_output=True,
                text=True,
                timeout=pip_timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False, f"pip took longer than {pip_timeout_s} s"
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
        return done.returncode == 0, tail[0][-300:]

    def _switch(
        self, package: Path, version: str, previous: Path | None, current: str | None, action: str
    ) -> Outcome:
        ok, output = self._pip(package)
        now = self.installed()
        if ok and now is not None and _version_key(now) == _version_key(version):
            return Outcome(True, action, current, version, f"installed {package.name}")
        why = f"pip failed: {output}" if not ok else f"version read back is {now}, not {version}"
        if previous is None:
            return Outcome(False, action, current, now, f"{why}; nothing to restore")
        restored, more = self._pip(previous)
        back = self.installed()
        if restored and back == current:
            return Outcome(False, action, current, current, f"{why}; {current} reinstalled")
        return Outcome(
            False, action, current, back, f"{why}; restoring {current} failed too: {more}"
        )

    def _record(self, outcome: Outcome, target: Path, previous: Path | None) -> None:
        if outcome.ok and outcome.from_version != outcome.to_version:
            state = {
                "dist": self.dist,
                "current": {"version": outcome.to_version, "file": target.name},
                "previous": (
                    {"version": outcome.from_version, "file": previous.name} if previous else None
                ),
            }
            _write_atomic(self.dir / "state.json", json.dumps(state, indent=1).encode())
        line = {
            "at_ms": self.now_ms(),
            "action": outcome.action,
            "ok": outcome.ok,
            "from": outcome.from_version,
            "to": outcome.to_version,
            "detail": outcome.detail,
        }
        with open(self.dir / "history.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def _write_atomic(path: Path, data: bytes) -> None:
    temp = path.with_name(path.name + ".tmp")
    with open(temp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)
