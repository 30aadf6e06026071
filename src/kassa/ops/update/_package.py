"""Signed update packages: the manifest, release keys, signing and verification.

A package is three files side by side::

    kassa-0.2.0-py3-none-any.whl         the wheel (or an sdist .tar.gz)
    kassa-0.2.0-py3-none-any.whl.json    manifest: format, name, version, file, sha256, size,
                                         created, key_id
    kassa-0.2.0-py3-none-any.whl.sig     Ed25519 signature, base64, one line

The signature covers the manifest's canonical JSON (sorted keys, no spaces), which holds
the SHA-256 of the package file: so the file, its name and its version are all signed,
and a manifest edited to pass an old package off as new does not verify. Verification
refuses, each with its reason: no manifest or signature (unsigned), a signature that does
not verify under the trusted key (tampered manifest, or signed by another key: the
manifest's `key_id` says which), a file whose SHA-256 differs (tampered package), and a
file name whose project or version differs from the manifest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kassa.errors import ConfigError, CryptoError, InputError

FORMAT = "kassa-update/1"
SUFFIXES = (".whl", ".tar.gz")
PASSPHRASE_ENV = "KASSA_UPDATE_KEY_PASSPHRASE"


@dataclass(frozen=True, slots=True)
class Manifest:
    name: str
    version: str
    file: str
    sha256: str
    size: int
    created: str
    key_id: str

    def body(self) -> bytes:
        doc = {"format": FORMAT, **{f: getattr(self, f) for f in self.__slots__}}
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Checked:
    """One package file and the verdict on it: `problem` is empty when it may be installed."""

    path: Path
    name: str
    version: str
    problem: str

    @property
    def ok(self) -> bool:
        return not self.problem


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def is_package(path: Path) -> bool:
    return path.is_file() and path.name.endswith(SUFFIXES)


def name_version(filename: str) -> tuple[str, str]:
    """(canonical name, version) from a wheel or sdist file name; `InputError` if not one."""
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )

    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename) as exc:
        raise InputError(f"{filename}: not a wheel or sdist file name ({exc})") from None
    return str(name), str(version)


def file_sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# -- keys ------------------------------------------------------------------------------------


def keygen(out: Path) -> tuple[Path, Path, str]:
    """Write ``release.key`` (private, 0600; encrypted when the passphrase env is set) and
    ``release.pub``; refuses to overwrite. Returns both paths and the key id."""
    private_path, public_path = out / "release.key", out / "release.pub"
    if private_path.exists() or public_path.exists():
        raise InputError(f"{out} already holds a release key; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    passphrase = os.environ.get(PASSPHRASE_ENV, "").encode()
    crypt = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, crypt)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public = key.public_key()
    public_path.write_bytes(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private_path, public_path, key_id(public)


def load_private(path: Path) -> Ed25519PrivateKey:
    passphrase = os.environ.get(PASSPHRASE_ENV, "").encode() or None
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), passphrase)
    except OSError as exc:
        raise ConfigError(f"cannot read the release key {path}: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise CryptoError(
            f"{path}: not a usable private key ({exc}); set {PASSPHRASE_ENV}?"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CryptoError(f"{path}: not an Ed25519 key; make one with `kassa update keygen`")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise ConfigError(
            f"no trusted update key at {path} ({exc.strerror}): install the"
            " release team's release.pub there"
        ) from None
    except ValueError as exc:
        raise CryptoError(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CryptoError(f"{path}: not an Ed25519 public key")
    return key


# -- signing and verifying -------------------------------------------------------------------


def sign(package: Path, key: Ed25519PrivateKey, now_ms: int) -> Manifest:
    """Write the manifest and the signature beside `package`."""
    if not is_package(package):
        raise InputError(f"{package}: not a package file ({', '.join(SUFFIXES)})")
    name, version = name_version(package.name)
    sha256, size = file_sha256(package)
    created = datetime.fromtimestamp(now_ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    manifest = Manifest(
        name, version, package.name, sha256, size, created, key_id(key.public_key())
    )
    body = manifest.body()
    package.with_name(package.name + ".json").write_bytes(body + b"\n")
    signature = base64.b64encode(key.sign(body)).decode()
    package.with_name(package.name + ".sig").write_text(signature + "\n", encoding="ascii")
    return manifest


def _manifest(doc: Any) -> Manifest:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} manifest")
    return Manifest(
        str(doc["name"]),
        str(doc["version"]),
        str(doc["file"]),
        str(doc["sha256"]),
        int(doc["size"]),
        str(doc["created"]),
        str(doc["key_id"]),
    )


def verify(package: Path, trusted: Ed25519PublicKey) -> Checked:
    """The verdict on `package` under the `trusted` key (never raises for a bad package)."""
    try:
        name, version = name_version(package.name)
    except InputError as exc:
        return Checked(package, "", "", str(exc))
    meta, sig = package.with_name(package.name + ".json"), package.with_name(package.name + ".sig")
    if not meta.is_file() or not sig.is_file():
        return Checked(package, name, version, "unsigned: no manifest (.json) or signature (.sig)")
    try:
        text = meta.read_bytes()
        manifest = _manifest(json.loads(text))
        signature = base64.b64decode(sig.read_text(encoding="ascii").strip(), validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        return Checked(package, name, version, f"damaged manifest or signature ({exc})")
    try:
        trusted.verify(signature, manifest.body())
    except InvalidSignature:
        if manifest.key_id != key_id(trusted):
            why = f"signed by key {manifest.key_id}, not the trusted key {key_id(trusted)}"
        else:
            why = "signature does not verify: the manifest was changed"
        return Checked(package, name, version, why)
    if manifest.file != package.name or (manifest.name, manifest.version) != (name, version):
        return Checked(package, name, version, "the signed manifest is for another file")
    if file_sha256(package) != (manifest.sha256, manifest.size):
        return Checked(package, name, version, "tampered: the file's SHA-256 is not the signed one")
    return Checked(package, name, version, "")


def check_dir(directory: Path, trusted: Ed25519PublicKey) -> list[Checked]:
    """Every package file in `directory`, verified, in name order."""
    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory of update packages")
    return [verify(p, trusted) for p in sorted(directory.iterdir()) if is_package(p)]
