"""TLS: contexts, the self-signed pair, and real TLS between HostLink and FrameServer."""

from __future__ import annotations

import ssl
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from netkit import TPDU, Harness, harness, until

from kassa.errors import ConfigError
from kassa.net import ConnectFailed, ConnectionLost, HostAddress, HostLink
from kassa.net.tls import client_context, make_self_signed, server_context

pytestmark = pytest.mark.anyio


@pytest.fixture
async def kit() -> AsyncIterator[Harness]:
    async with harness() as opened:
        yield opened


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def other_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_self_signed(tmp_path_factory.mktemp("tls-other"))


def test_self_signed_pair(pair: tuple[Path, Path]) -> None:
    cert_path, key_path = pair
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert cert.issuer == cert.subject
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600


def test_contexts_refuse_anything_below_tls_1_2(pair: tuple[Path, Path]) -> None:
    assert server_context(*pair).minimum_version == ssl.TLSVersion.TLSv1_2
    assert client_context(pair[0]).minimum_version == ssl.TLSVersion.TLSv1_2
    unverified = client_context(None, verify=False)
    assert (unverified.verify_mode, unverified.check_hostname) == (ssl.CERT_NONE, False)


def test_missing_files_are_one_line_config_errors(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigError) as caught:
        server_context(missing, pair[1])
    assert str(caught.value) == f"--tls-cert {missing}: file not found"
    with pytest.raises(ConfigError, match=r"^--tls-key .*: file not found$"):
        server_context(pair[0], missing)
    with pytest.raises(ConfigError, match=r"^--tls-ca .*: file not found$"):
        client_context(missing)
    with pytest.raises(ConfigError, match=r"^--tls-cert .*: not a file$"):
        server_context(tmp_path, pair[1])


def test_unusable_files_are_config_errors(
    tmp_path: Path, pair: tuple[Path, Path], other_pair: tuple[Path, Path]
) -> None:
    with pytest.raises(ConfigError, match="--tls-cert") as caught:
        server_context(pair[0], other_pair[1])  # a key that does not match the certificate
    assert "\n" not in str(caught.value)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="--tls-ca"):
        client_context(junk)


async def test_tls_round_trip(kit: Harness, pair: tuple[Path, Path]) -> None:
    server = await kit.server(ssl_context=server_context(*pair))
    for host in ("127.0.0.1", "localhost"):
        link = HostLink(
            [HostAddress(host, server.port, tls=True)], ssl_context=client_context(pair[0])
        )
        try:
            for number in range(3):
                body = TPDU + bytes([number]) * 50
                assert await link.exchange(body) == b"ok:" + body
        finally:
            await link.close()
    await until(lambda: server.connection_count == 0)
    assert kit.errors == []


async def test_plain_client_against_a_tls_server_fails_cleanly(
    kit: Harness, pair: tuple[Path, Path]
) -> None:
    server = await kit.server(ssl_context=server_context(*pair))
    plain = await kit.client(server.port)
    await plain.send(TPDU + b"in the clear")
    assert await plain.hung_up()
    link = HostLink([HostAddress("127.0.0.1", server.port)])  # tls not asked for
    try:
        with pytest.raises(ConnectionLost) as caught:
            await link.exchange(TPDU + b"x")
        assert caught.value.sent is True
    finally:
        await link.close()
    # The server carries on serving TLS clients.
    secure = await kit.client(server.port, client_context(pair[0]))
    await secure.send(TPDU + b"y")
    assert await secure.recv() == b"ok:" + TPDU + b"y"


async def test_tls_client_against_a_plain_server_never_sends(kit: Harness) -> None:
    server = await kit.server()
    link = HostLink(
        [HostAddress("127.0.0.1", server.port, tls=True)],
        ssl_context=client_context(None, verify=False),
    )
    try:
        with pytest.raises(ConnectFailed) as caught:
            await link.exchange(TPDU + b"x")
    finally:
        await link.close()
    assert (caught.value.reason, caught.value.sent) == ("tls", False)
    # The ClientHello read as a UnionPay frame has an impossible length: that connection only.
    assert [kind for kind, _ in kit.errors] == ["bad-frame"]


async def test_an_untrusted_certificate_is_a_tls_connect_failure(
    kit: Harness, pair: tuple[Path, Path], other_pair: tuple[Path, Path]
) -> None:
    server = await kit.server(ssl_context=server_context(*pair))
    address = HostAddress("127.0.0.1", server.port, tls=True)
    link = HostLink([address], ssl_context=client_context(other_pair[0]))
    try:
        with pytest.raises(ConnectFailed) as caught:
            await link.exchange(TPDU + b"x")
        assert caught.value.reason == "tls"
        assert "CERTIFICATE_VERIFY_FAILED" in caught.value.attempts[0].detail
        bad = await link.probe(address)
        assert bad.tcp_ms is not None and bad.tls_ok is False
        assert bad.error is not None and bad.error.startswith("tls:")
    finally:
        await link.close()
    good = await HostLink([address], ssl_context=client_context(pair[0])).probe(address)
    assert (good.tls_ok, good.error) == (True, None)
    await until(lambda: server.connection_count == 0)
