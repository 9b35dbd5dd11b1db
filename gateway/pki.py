"""A development certificate authority for loopback nodes, tests and ``creditlink dev up``.

**Development only.** Production federations bring their own CA (or several): in CXP a TLS
certificate identifies a node only through the SHA-256 of its SubjectPublicKeyInfo, pinned in
the signed trust bundle (CXP-TRUST-027), so the CA matters to the TLS handshake and to nothing
else. Names in certificates carry no authority.

What it issues (ECDSA P-256 everywhere, which BoringSSL in gRPC accepts for servers and
clients alike)::

    ca = DevCA.create("creditlink development CA")
    key = generate_tls_key()
    cert_pem = ca.issue_server_cert(key, node_id="zj-330000")   # serverAuth + clientAuth
    pin = spki_sha256(cert_pem)                                  # goes into the trust bundle

- CA: self-signed, ``BasicConstraints(ca=True, path_length=0)``, keyCertSign/cRLSign, SKI.
- Node certificates: CN and ``urn:creditlink:node:<node_id>`` URI SAN name the node, DNS and
  IP SANs always include ``localhost``, ``127.0.0.1`` and ``::1``; extended key usage
  serverAuth and clientAuth (nodes are clients of each other when forwarding).
- Client certificates: CN and URI SAN, clientAuth only.
- Leaves: ``BasicConstraints(ca=False)``, digitalSignature, SKI and AKI, validity starting
  five minutes back (clock skew) and never beyond the CA's own.

The same class also serves as the CA of a federation made with ``creditlink federation create``
(:mod:`creditlink.gateway.enrollment`): created with its own ``organization`` name, it issues
node certificates from certificate signing requests (:meth:`DevCA.issue_from_csr`) with exactly
the names the request asks for, and no loopback names.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from creditlink.sdk.credentials import read_secret_file, tls_spki_sha256, write_file_atomic
from creditlink.sdk.errors import InvalidKey
from creditlink.sdk.ids import validate_node_id

__all__ = [
    "DEFAULT_CA_VALIDITY",
    "DEFAULT_CERT_VALIDITY",
    "LOOPBACK_DNS_NAMES",
    "LOOPBACK_IP_ADDRESSES",
    "DevCA",
    "generate_tls_key",
    "node_uri",
    "private_key_pem",
    "spki_sha256",
]

#: Validity of a development CA. Long, because nothing renews it.
DEFAULT_CA_VALIDITY: Final = timedelta(days=3650)
#: Validity of development leaf certificates (capped at the CA's end).
DEFAULT_CERT_VALIDITY: Final = timedelta(days=3650)
#: Names every development server certificate carries.
LOOPBACK_DNS_NAMES: Final = ("localhost",)
LOOPBACK_IP_ADDRESSES: Final = ("127.0.0.1", "::1")

_ORGANIZATION: Final = "creditlink (development)"
# Certificates start a little in the past so a peer whose clock is slightly behind accepts them.
_BACKDATE: Final = timedelta(minutes=5)

TlsKey = ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey


def generate_tls_key() -> ec.EllipticCurvePrivateKey:
    """A fresh ECDSA P-256 TLS key."""
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """``key`` as unencrypted PKCS#8 PEM (what ``tls/key.pem`` and gRPC expect)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def spki_sha256(cert_pem: bytes) -> bytes:
    """The TLS pin of a certificate: SHA-256 of its DER SubjectPublicKeyInfo (32 bytes)."""
    return tls_spki_sha256(cert_pem)


def node_uri(node_id: str) -> str:
    """The URI SAN naming a node in development certificates: ``urn:creditlink:node:<id>``."""
    return f"urn:creditlink:node:{node_id}"


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now


def _p256_public(key: TlsKey) -> ec.EllipticCurvePublicKey:
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(
        public.curve, ec.SECP256R1
    ):
        raise InvalidKey("development certificates are issued for ECDSA P-256 keys only")
    return public


def _name(common_name: str, organization: str = _ORGANIZATION) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


class DevCA:
    """A self-signed development CA holding its private key in memory.

    Build with :meth:`create` or :meth:`load`; persist with :meth:`save` (key file 0600).
    """

    __slots__ = ("_cert", "_key")

    def __init__(
        self, *, certificate: x509.Certificate, private_key: ec.EllipticCurvePrivateKey
    ) -> None:
        """Wrap a CA certificate and its key (``ValueError`` if they do not belong together)."""
        der = serialization.Encoding.DER
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        if _p256_public(private_key).public_bytes(
            der, spki
        ) != certificate.public_key().public_bytes(der, spki):
            raise ValueError("CA key does not match the CA certificate")
        try:
            constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        except x509.ExtensionNotFound:
            raise ValueError("certificate is not a CA (no BasicConstraints)") from None
        if not constraints.value.ca:
            raise ValueError("certificate is not a CA")
        self._cert = certificate
        self._key = private_key

    @classmethod
    def create(
        cls,
        common_name: str = "creditlink development CA",
        *,
        valid_for: timedelta = DEFAULT_CA_VALIDITY,
        now: datetime | None = None,
        organization: str = _ORGANIZATION,
    ) -> DevCA:
        """A new CA with a fresh P-256 key, valid from (about) ``now`` for ``valid_for``.

        ``organization`` is the O attribute of its name and of every certificate it issues;
        names carry no authority in CXP.
        """
        now = _now(now)
        key = generate_tls_key()
        public = key.public_key()
        name = _name(common_name, organization)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + valid_for)
            # path_length 0: this CA signs leaves only, never another CA.
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(certificate=cert, private_key=key)

    @classmethod
    def load(cls, cert_path: str | Path, key_path: str | Path) -> DevCA:
        """Load a CA saved by :meth:`save`; the key file must not be readable by others."""
        cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
        try:
            key = serialization.load_pem_private_key(read_secret_file(key_path), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise InvalidKey(f"{key_path}: not an unencrypted PKCS#8 PEM key") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise InvalidKey(f"{key_path}: the development CA key must be ECDSA P-256")
        return cls(certificate=cert, private_key=key)

    def save(self, cert_path: str | Path, key_path: str | Path) -> None:
        """Write the certificate (0644) and the key (PKCS#8, 0600); never overwrites."""
        write_file_atomic(key_path, private_key_pem(self._key), mode=0o600, overwrite=False)
        write_file_atomic(cert_path, self.cert_pem, overwrite=False)

    @property
    def certificate(self) -> x509.Certificate:
        """The CA certificate."""
        return self._cert

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate as PEM (``tls/ca.pem`` of every member)."""
        return self._cert.public_bytes(serialization.Encoding.PEM)

    def issue_server_cert(
        self,
        key: TlsKey,
        *,
        node_id: str,
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        valid_for: timedelta = DEFAULT_CERT_VALIDITY,
        now: datetime | None = None,
    ) -> bytes:
        """A node certificate (PEM) for ``key``: serverAuth and clientAuth.

        The SANs are ``dns_names`` and ``ip_addresses`` plus the loopback names, and the
        node's URI. Nodes forward to each other, so the same certificate serves as client.
        """
        dns = list(dict.fromkeys([*LOOPBACK_DNS_NAMES, *dns_names]))
        ips = list(dict.fromkeys([*LOOPBACK_IP_ADDRESSES, *ip_addresses]))
        names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        return self._issue(
            key,
            node_id=node_id,
            names=names,
            usages=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
            valid_for=valid_for,
            now=now,
        )

    def issue_client_cert(
        self,
        key: TlsKey,
        *,
        node_id: str,
        valid_for: timedelta = DEFAULT_CERT_VALIDITY,
        now: datetime | None = None,
    ) -> bytes:
        """A client certificate (PEM) for ``key``: clientAuth only, named by node URI."""
        return self._issue(
            key,
            node_id=node_id,
            names=[],
            usages=[ExtendedKeyUsageOID.CLIENT_AUTH],
            valid_for=valid_for,
            now=now,
        )

    def issue_from_csr(
        self,
        csr: x509.CertificateSigningRequest,
        *,
        node_id: str,
        valid_for: timedelta = DEFAULT_CERT_VALIDITY,
        now: datetime | None = None,
    ) -> bytes:
        """A node certificate (PEM, serverAuth and clientAuth) for the key of ``csr``.

        The request's signature must verify (the requester holds the key: ``ValueError``
        otherwise) and its key must be ECDSA P-256 (:class:`InvalidKey`). The certificate
        carries the DNS and IP subject alternative names the request asks for, and nothing
        else but the node's URI: unlike :meth:`issue_server_cert` no loopback names are added,
        since a real node is reached under the names it advertises. Which names a node may
        claim is the caller's decision; names carry no authority in CXP (the trust bundle's
        TLS pin does). The subject is the node id under this CA's organization.
        """
        if not csr.is_signature_valid:
            raise ValueError("the certificate signing request's signature does not verify")
        try:
            requested = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            requested = x509.SubjectAlternativeName([])
        names: list[x509.GeneralName] = [
            *(x509.DNSName(name) for name in requested.get_values_for_type(x509.DNSName)),
            *(x509.IPAddress(ip) for ip in requested.get_values_for_type(x509.IPAddress)),
        ]
        public = csr.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise InvalidKey("certificates are issued for ECDSA P-256 keys only")
        return self._issue(
            public,
            node_id=node_id,
            names=names,
            usages=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
            valid_for=valid_for,
            now=now,
        )

    def _organization(self) -> str:
        # Leaves carry the CA's organization: "creditlink (development)" for a development CA,
        # the federation's name for one made by `creditlink federation create`.
        found = self._cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        return str(found[0].value) if found else _ORGANIZATION

    def _issue(
        self,
        key: TlsKey,
        *,
        node_id: str,
        names: list[x509.GeneralName],
        usages: list[x509.ObjectIdentifier],
        valid_for: timedelta,
        now: datetime | None,
    ) -> bytes:
        now = _now(now)
        if validate_node_id(node_id) != node_id:
            raise ValueError(f"node id {node_id!r} has surrounding whitespace")
        public = _p256_public(key)
        not_after = min(now + valid_for, self._cert.not_valid_after_utc)
        ca_ski = self._cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(node_id, self._organization()))
            .issuer_name(self._cert.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    # ECDHE-ECDSA: the key only signs the handshake.
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.SubjectAlternativeName(
                    [*names, x509.UniformResourceIdentifier(node_uri(node_id))]
                ),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM)

    def __repr__(self) -> str:
        return f"DevCA({self._cert.subject.rfc4514_string()!r})"
