"""``rediss://``: the connection speaks TLS to a real ``redis-server`` with a TLS port."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from llmport.adapters.redis import RedisConnection
from llmport.adapters.redis.server import RedisServer, free_port


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost/127.0.0.1 that is its own CA, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "llmport-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[RedisServer, int, Path]]:
    cert, key = self_signed(tmp_path)
    tls_port = free_port()
    args = ("--tls-port", str(tls_port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
            "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no")
    with RedisServer(extra_args=args) as server:
        yield server, tls_port, cert


async def test_rediss_urls_connect_over_tls(tls_redis: tuple[RedisServer, int, Path]) -> None:
    _, port, ca = tls_redis
    connection = RedisConnection(f"rediss://localhost:{port}/0?ssl_ca_certs={ca}", timeout=2.0)
    try:
        assert await connection.ping() is True
        assert not connection.health.degraded
    finally:
        await connection.aclose()


async def test_plain_redis_urls_cannot_talk_to_a_tls_port(tls_redis: tuple[RedisServer, int, Path]) -> None:
    _, port, _ = tls_redis
    connection = RedisConnection(f"redis://localhost:{port}/0", timeout=0.5)
    try:
        assert await connection.ping() is False
        assert connection.health.degraded
    finally:
        await connection.aclose()


async def test_an_untrusted_certificate_is_refused(tls_redis: tuple[RedisServer, int, Path]) -> None:
    _, port, _ = tls_redis
    connection = RedisConnection(f"rediss://localhost:{port}/0", timeout=2.0)  # system CAs only
    try:
        assert await connection.ping() is False
    finally:
        await connection.aclose()
