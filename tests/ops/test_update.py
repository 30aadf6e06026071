"""Signed updates: refusals of unsigned, tampered and foreign packages; install and rollback
of a real wheel into a throwaway virtual environment (never the project's own .venv)."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from kassa.cli import update as cli
from kassa.errors import InputError
from kassa.ops import update as up

T0 = 1_795_000_000_000
PROBE = "kassa_update_probe"

# RFC 8032 section 7.1, TEST 1 (empty message) and TEST 2 (one byte 0x72).
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
]


@pytest.mark.parametrize(("secret", "message", "signature"), RFC8032)
def test_ed25519_matches_rfc8032(secret: str, message: str, signature: str) -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))
    assert key.sign(bytes.fromhex(message)).hex() == signature
    key.public_key().verify(bytes.fromhex(signature), bytes.fromhex(message))


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(directory: Path, version: str) -> Path:
    """A minimal pure-Python wheel, written by hand per PEP 427 (METADATA, WHEEL, RECORD)."""
    info = f"{PROBE}-{version}.dist-info"
    files = {
        f"{PROBE}/__init__.py": f'__version__ = "{version}"\n'.encode(),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {PROBE}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: kassa-tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    path = directory / f"{PROBE}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public, _ = up.keygen(tmp_path / "release")
    return private, public


def home_trusting(tmp_path: Path, public: Path) -> Path:
    home = tmp_path / "home"
    (home / "update").mkdir(parents=True)
    (home / "update" / "trusted.pub").write_bytes(public.read_bytes())
    return home


def signed(directory: Path, version: str, private: Path) -> Path:
    directory.mkdir(exist_ok=True)
    wheel = make_wheel(directory, version)
    up.sign(wheel, up.load_private(private), T0)
    return wheel


def test_verify_refuses_unsigned_tampered_and_foreign(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    private, public = keys
    trusted = up.load_public(public)
    good = signed(tmp_path / "pkgs", "1.0.0", private)
    assert up.verify(good, trusted).ok
    unsigned = make_wheel(tmp_path, "1.1.0")
    assert up.verify(unsigned, trusted).problem.startswith("unsigned")
    tampered = signed(tmp_path / "t", "1.2.0", private)
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one byte
    tampered.write_bytes(bytes(data))
    assert "tampered" in up.verify(tampered, trusted).problem
    other, _, other_id = up.keygen(tmp_path / "other")
    foreign = signed(tmp_path / "f", "1.3.0", other)
    assert f"signed by key {other_id}" in up.verify(foreign, trusted).problem
    edited = signed(tmp_path / "e", "1.4.0", private)
    meta = edited.with_name(edited.name + ".json")
    meta.write_text(meta.read_text().replace('"1.4.0"', '"9.9.9"'))  # claim a newer version
    assert "manifest was changed" in up.verify(edited, trusted).problem


def test_apply_refuses_a_bad_newest_package_before_touching_anything(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    private, public = keys
    home = home_trusting(tmp_path, public)
    signed(tmp_path / "pkgs", "1.0.0", private)
    make_wheel(tmp_path / "pkgs", "2.0.0")  # unsigned and newest
    updater = up.Updater(home, lambda: T0, python=sys.executable, dist=PROBE)
    with pytest.raises(InputError, match=r"refusing .*2\.0\.0.*unsigned"):
        updater.apply(tmp_path / "pkgs")
    assert updater.history() == [] and not (home / "update" / "packages").exists()


@pytest.fixture
def venv(tmp_path: Path) -> str:
    """A throwaway environment (system site-packages give it pip without installing pip)."""
    target = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(target)],
        check=True,
        timeout=120,
    )
    return str(target / "bin" / "python")


def probe_version(python: str) -> str:
    done = subprocess.run(
        [python, "-c", f"import {PROBE}; print({PROBE}.__version__)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def test_apply_upgrade_then_rollback_in_a_real_environment(
    tmp_path: Path, keys: tuple[Path, Path], venv: str
) -> None:
    private, public = keys
    home = home_trusting(tmp_path, public)
    pkgs = tmp_path / "pkgs"
    signed(pkgs, "1.0.0", private)
    updater = up.Updater(home, lambda: T0, python=venv, dist=PROBE)
    first = updater.apply(pkgs)
    assert (first.ok, first.from_version, first.to_version) == (True, None, "1.0.0")
    assert probe_version(venv) == "1.0.0"
    signed(pkgs, "1.1.0", private)
    second = updater.apply(pkgs)
    assert (second.ok, second.from_version, second.to_version) == (True, "1.0.0", "1.1.0")
    assert probe_version(venv) == "1.1.0"
    with pytest.raises(InputError, match="older than the installed"):
        updater.apply(pkgs, version="1.0.0")
    for name in list(pkgs.iterdir()):
        name.unlink()  # rollback needs only what the update store kept
    back = updater.rollback()
    assert (back.ok, back.from_version, back.to_version) == (True, "1.1.0", "1.0.0")
    assert probe_version(venv) == "1.0.0"
    assert [(h["action"], h["from"], h["to"]) for h in updater.history()] == [
        ("apply", None, "1.0.0"),
        ("apply", "1.0.0", "1.1.0"),
        ("rollback", "1.1.0", "1.0.0"),
    ]


def test_a_failed_install_puts_the_previous_version_back(
    tmp_path: Path, keys: tuple[Path, Path], venv: str
) -> None:
    private, public = keys
    home = home_trusting(tmp_path, public)
    pkgs = tmp_path / "pkgs"
    signed(pkgs, "1.0.0", private)
    updater = up.Updater(home, lambda: T0, python=venv, dist=PROBE)
    assert updater.apply(pkgs).ok
    broken = pkgs / f"{PROBE}-2.0.0-py3-none-any.whl"
    broken.write_bytes(b"signed by the release team, but not a zip file")
    up.sign(broken, up.load_private(private), T0)
    outcome = updater.apply(pkgs)
    assert (
        not outcome.ok and "pip failed" in outcome.detail and "1.0.0 reinstalled" in outcome.detail
    )
    assert probe_version(venv) == "1.0.0"
    state = json.loads((home / "update" / "state.json").read_text())
    assert state["current"]["version"] == "1.0.0"  # a failed apply changes no state


def test_cli_keygen_sign_check(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli.app, ["keygen", "--out", str(tmp_path / "rel")]).exit_code == 0
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    wheel = make_wheel(pkgs, "3.0.0")
    result = runner.invoke(
        cli.app, ["sign", str(wheel), "--key", str(tmp_path / "rel" / "release.key")]
    )
    assert result.exit_code == 0 and "signed kassa-update-probe 3.0.0" in result.output
    home = home_trusting(tmp_path, tmp_path / "rel" / "release.pub")
    result = runner.invoke(
        cli.app,
        [
            "check",
            "--dir",
            str(pkgs),
            "--home",
            str(home),
            "--dist",
            PROBE,
            "--python",
            sys.executable,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "available: 3.0.0" in result.output
