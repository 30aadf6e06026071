"""TLS contexts for the host server and the terminal link, and a self-signed pair for demos.

Both contexts refuse anything older than TLS 1.2. Every problem with a file becomes a
one-line `ConfigError` naming the command-line option it came from, so `kassa` can print
it as is ("--tls-cert /x: file not found").
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kassa.errors import ConfigError

_SELF_SIGNED_DAYS = 365
# RSA rather than ECDSA: older POS terminals' TLS stacks often know only RSA suites.
_RSA_BITS = 2048


def _readable(option: str, path: str | os.PathLike[str]) -> str:
    """The path as text, or a ConfigError when it is not a readable regular file."""
    text = os.fspath(path)
    if not os.path.exists(text):
        raise ConfigError(f"{option} {text}: file not found")
    if not os.path.isfile(text):
        raise ConfigError(f"{option} {text}: not a file")
    if not os.access(text, os.R_OK):
        raise ConfigError(f"{option} {text}: not readable; check its permissions")
    return text


def _tls12_floor(context: ssl.SSLContext) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def server_context(
    cert_file: str | os.PathLike[str], key_file: str | os.PathLike[str]
) -> ssl.SSLContext:
    """A server context (TLS 1.2+) holding the PEM certificate chain and its private key."""
    cert = _readable("--tls-cert", cert_file)
    key = _readable("--tls-key", key_file)
    context = _tls12_floor(ssl.create_default_context(ssl.Purpose.CLIENT_AUTH))
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        reason = exc.reason or exc.strerror or "unreadable"
        raise ConfigError(
            f"--tls-cert {cert}: cannot be used with --tls-key {key} ({reason}); "
            "give a PEM certificate and its unencrypted PEM private key"
        ) from None
    return context


def client_context(ca_file: str | os.PathLike[str] | None, verify: bool = True) -> ssl.SSLContext:
    """A client context (TLS 1.2+).

    With `verify` the host's certificate and name are checked, against `ca_file` (PEM) when
    given, else against the system's trust store. Without it nothing is checked: for a lab
    only, the channel is then encrypted but not authenticated.
    """
    cafile = None if ca_file is None else _readable("--tls-ca", ca_file)
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    _tls12_floor(context)
    if cafile is not None:
        try:
            context.load_verify_locations(cafile=cafile)
        except ssl.SSLError as exc:
            reason = exc.reason or exc.strerror or "unreadable"
            raise ConfigError(
                f"--tls-ca {cafile}: not a PEM certificate ({reason}); give the host's CA in PEM"
            ) from None
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def make_self_signed(
    directory: str | os.PathLike[str], names: tuple[str, ...] = ("localhost",)
) -> tuple[Path, Path]:
    """Write a fresh self-signed certificate and key into `directory`; return their paths.

    The certificate names `names` (DNS) plus 127.0.0.1 and ::1, is valid for a year and is
    its own trust anchor: a client verifies it with `client_context(cert_path)`. The key
    file is created with mode 0600. For demos and tests, never for production.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
    cert = _self_signed_certificate(key, names)
    cert_path, key_path = folder / "kassa-selfsigned.crt", folder / "kassa-selfsigned.key"
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Create the key file private from its first byte, not chmod after writing.
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key_pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _self_signed_certificate(key: rsa.RSAPrivateKey, names: tuple[str, ...]) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "kassa")])
    now = datetime.datetime.now(datetime.UTC)
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", "::1")]
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # tolerate small clock skew
        .not_valid_after(now + datetime.timedelta(days=_SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
