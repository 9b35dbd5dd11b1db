"""Tests for the development PKI (``creditlink.gateway.pki``).

Certificates are checked field by field and then by a real path validator
(``cryptography.x509.verification``, RFC 5280 / CA-Browser-Forum profile), which is stricter
than what gRPC's BoringSSL demands; the handshakes themselves are in ``test_bootstrap.py``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from creditlink.gateway.pki import (
    DEFAULT_CERT_VALIDITY,
    DevCA,
    generate_tls_key,
    node_uri,
    private_key_pem,
    spki_sha256,
)
from creditlink.sdk.errors import InvalidKey
from creditlink.sdk.ids import InvalidIdentifier

NOW = datetime(2026, 6, 1, tzinfo=UTC)
BACKDATE = timedelta(minutes=5)


@pytest.fixture(scope="module")
def ca() -> DevCA:
    return DevCA.create("test CA", now=NOW)


def _cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def _ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> Any:
    return cert.extensions.get_extension_for_class(kind)


def _store(ca: DevCA) -> verification.Store:
    return verification.Store([ca.certificate])


def test_ca_certificate(ca: DevCA) -> None:
    cert = ca.certificate
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "test CA"
    assert cert.subject == cert.issuer
    cert.verify_directly_issued_by(cert)
    constraints = _ext(cert, x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 0
    usage = _ext(cert, x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign
    assert _ext(cert, x509.SubjectKeyIdentifier).value.digest
    assert cert.not_valid_before_utc == NOW - BACKDATE
    assert cert.not_valid_after_utc == NOW + timedelta(days=3650)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)


def test_server_certificate(ca: DevCA) -> None:
    key = generate_tls_key()
    cert = _cert(
        ca.issue_server_cert(
            key,
            node_id="zj-330000",
            dns_names=["zj.example.cn"],
            ip_addresses=["10.0.0.7"],
            now=NOW,
        )
    )
    cert.verify_directly_issued_by(ca.certificate)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "zj-330000"
    san = _ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "zj.example.cn"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
        ipaddress.ip_address("10.0.0.7"),
    ]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        "urn:creditlink:node:zj-330000"
    ]
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ]
    constraints = _ext(cert, x509.BasicConstraints)
    assert constraints.critical
    assert not constraints.value.ca
    usage = _ext(cert, x509.KeyUsage).value
    assert usage.digital_signature
    assert not usage.key_cert_sign
    assert (
        _ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier
        == _ext(ca.certificate, x509.SubjectKeyIdentifier).value.digest
    )
    assert cert.not_valid_before_utc == NOW - BACKDATE


def test_server_certificate_passes_path_validation(ca: DevCA) -> None:
    cert = _cert(ca.issue_server_cert(generate_tls_key(), node_id="cn-hub", now=NOW))
    builder = verification.PolicyBuilder().store(_store(ca)).time(NOW)
    for name in (
        verification.DNSName("localhost"),
        verification.IPAddress(ipaddress.ip_address("127.0.0.1")),
        verification.IPAddress(ipaddress.ip_address("::1")),
    ):
        chain = builder.build_server_verifier(name).verify(cert, [])
        assert chain[-1] == ca.certificate
    with pytest.raises(verification.VerificationError):
        builder.build_server_verifier(verification.DNSName("example.com")).verify(cert, [])
    # Nodes are also clients of each other (forwarding).
    verified = builder.build_client_verifier().verify(cert, [])
    assert verified.chain[-1] == ca.certificate


def test_client_certificate(ca: DevCA) -> None:
    cert = _cert(ca.issue_client_cert(generate_tls_key(), node_id="zj-330000-operator", now=NOW))
    cert.verify_directly_issued_by(ca.certificate)
    san = _ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == []
    assert san.get_values_for_type(x509.IPAddress) == []
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        node_uri("zj-330000-operator")
    ]
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    builder = verification.PolicyBuilder().store(_store(ca)).time(NOW)
    assert builder.build_client_verifier().verify(cert, []).chain[-1] == ca.certificate
    # clientAuth only: it cannot serve.
    with pytest.raises(verification.VerificationError):
        builder.build_server_verifier(verification.DNSName("localhost")).verify(cert, [])


def test_certificate_from_another_ca_does_not_validate(ca: DevCA) -> None:
    other = DevCA.create("other CA", now=NOW)
    cert = _cert(other.issue_client_cert(generate_tls_key(), node_id="intruder", now=NOW))
    builder = verification.PolicyBuilder().store(_store(ca)).time(NOW)
    with pytest.raises(verification.VerificationError):
        builder.build_client_verifier().verify(cert, [])


def test_leaf_validity_is_capped_at_the_ca(ca: DevCA) -> None:
    short = DevCA.create("short CA", valid_for=timedelta(days=30), now=NOW)
    cert = _cert(short.issue_client_cert(generate_tls_key(), node_id="abc", now=NOW))
    assert cert.not_valid_after_utc == NOW + timedelta(days=30)
    cert = _cert(
        ca.issue_client_cert(
            generate_tls_key(), node_id="abc", valid_for=timedelta(days=7), now=NOW
        )
    )
    assert cert.not_valid_after_utc == NOW + timedelta(days=7)
    assert timedelta(days=7) < DEFAULT_CERT_VALIDITY


def test_issuing_for_a_public_key(ca: DevCA) -> None:
    key = generate_tls_key()
    pem = ca.issue_client_cert(key.public_key(), node_id="abc", now=NOW)
    assert spki_sha256(pem) == spki_sha256(ca.issue_client_cert(key, node_id="abc", now=NOW))


def test_spki_sha256_pins_the_key_not_the_certificate(ca: DevCA) -> None:
    key = generate_tls_key()
    first = ca.issue_server_cert(key, node_id="abc", now=NOW)
    renewed = ca.issue_server_cert(key, node_id="abc", now=NOW + timedelta(days=1))
    assert first != renewed
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert spki_sha256(first) == spki_sha256(renewed) == hashlib.sha256(spki).digest()
    other = ca.issue_server_cert(generate_tls_key(), node_id="abc", now=NOW)
    assert spki_sha256(other) != spki_sha256(first)
    assert len(spki_sha256(first)) == 32


def test_only_p256_keys(ca: DevCA) -> None:
    with pytest.raises(InvalidKey, match="P-256"):
        ca.issue_client_cert(ec.generate_private_key(ec.SECP384R1()), node_id="abc", now=NOW)


@pytest.mark.parametrize("node_id", ["AB", "ab", "Zj-330000", "zj--1", " zj-330000"])
def test_invalid_node_ids(ca: DevCA, node_id: str) -> None:
    with pytest.raises((InvalidIdentifier, ValueError)):
        ca.issue_server_cert(generate_tls_key(), node_id=node_id, now=NOW)


def test_private_key_pem_is_pkcs8(ca: DevCA) -> None:
    pem = private_key_pem(generate_tls_key())
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert isinstance(serialization.load_pem_private_key(pem, None), ec.EllipticCurvePrivateKey)


def test_save_and_load(ca: DevCA, tmp_path: Path) -> None:
    ca.save(tmp_path / "ca.pem", tmp_path / "ca-key.pem")
    assert stat.S_IMODE((tmp_path / "ca-key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ca.pem").stat().st_mode) == 0o644
    loaded = DevCA.load(tmp_path / "ca.pem", tmp_path / "ca-key.pem")
    assert loaded.certificate == ca.certificate
    cert = _cert(loaded.issue_client_cert(generate_tls_key(), node_id="abc", now=NOW))
    cert.verify_directly_issued_by(ca.certificate)
    with pytest.raises(FileExistsError):
        ca.save(tmp_path / "ca.pem", tmp_path / "ca-key.pem")


def test_load_refuses_a_readable_key(ca: DevCA, tmp_path: Path) -> None:
    ca.save(tmp_path / "ca.pem", tmp_path / "ca-key.pem")
    os.chmod(tmp_path / "ca-key.pem", 0o644)
    with pytest.raises(InvalidKey) as info:
        DevCA.load(tmp_path / "ca.pem", tmp_path / "ca-key.pem")
    assert info.value.reason == "KEY_FILE_PERMISSIONS"


def test_load_refuses_a_key_of_another_ca(ca: DevCA, tmp_path: Path) -> None:
    ca.save(tmp_path / "ca.pem", tmp_path / "ca-key.pem")
    other = DevCA.create(now=NOW)
    other.save(tmp_path / "other.pem", tmp_path / "other-key.pem")
    with pytest.raises(ValueError, match="does not match"):
        DevCA.load(tmp_path / "ca.pem", tmp_path / "other-key.pem")


def test_a_leaf_is_not_a_ca(ca: DevCA) -> None:
    key = generate_tls_key()
    leaf = _cert(ca.issue_client_cert(key, node_id="abc", now=NOW))
    with pytest.raises(ValueError, match="not a CA"):
        DevCA(certificate=leaf, private_key=key)
