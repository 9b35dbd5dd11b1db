"""Who is calling, and what may they read: the peer's TLS identity mapped through the trust bundle.

Every RPC but health runs over mutual TLS (the server requires a client certificate from the
federation CA). The CA only proves the certificate is the federation's; *which* member the
peer is comes from the trust bundle alone: the SHA-256 of the certificate's
SubjectPublicKeyInfo must be one of a node's TLS pins (CXP-TRUST-027). A certificate the CA
signed but no node pins identifies nobody::

    peer = peer_identity(context, trust())                 # NodeInfo, or Unauthenticated
    reads = Permissions(trust(), peer)
    reads.require_read("record")                           # or PermissionDenied

Access control denies by default. Reads (Subscribe, GetReceipt, proofs with their entries) need
a READ permission for the payload kind; a scoped READ grant (``region:330000``) does not yet
open the log, because log entries are not stored with their scope, so only a grant covering
every scope (``*``) does. A sender may always read what it submitted itself.

Development only (``--insecure-dev``, plaintext on loopback): there is no certificate, so the
caller names itself in the ``x-creditlink-dev-peer`` header and
:func:`insecure_dev_peer_identity` takes its word for it (the name must still be a member).
Servicers take the identification as a parameter (``identify=``), :func:`peer_identity` by
default, so that this shortcut is chosen once, where the node is assembled.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final

import grpc

from creditlink.sdk.credentials import tls_spki_sha256
from creditlink.sdk.errors import PermissionDenied, Unauthenticated
from creditlink.sdk.trust import Action, NodeInfo, TrustBundle
from creditlink.v1 import statement_pb2

__all__ = [
    "DEV_PEER_HEADER",
    "STATEMENT_KINDS",
    "PeerIdentity",
    "Permissions",
    "insecure_dev_peer_identity",
    "peer_identity",
]

_Context = grpc.aio.ServicerContext[Any, Any]
#: How a servicer learns who calls: :func:`peer_identity` (mutual TLS), or the dev shortcut.
PeerIdentity = Callable[[_Context, TrustBundle], NodeInfo]
#: Metadata key naming the caller in insecure development mode.
DEV_PEER_HEADER: Final = "x-creditlink-dev-peer"

#: Every payload kind a log entry can have: the ``Statement.body`` cases, kebab-case.
STATEMENT_KINDS: Final = frozenset(
    f.name.replace("_", "-")
    for f in statement_pb2.Statement.DESCRIPTOR.oneofs_by_name["body"].fields
)

_CERT_KEY: Final = "x509_pem_cert"
_READ_DENIED: Final = "PERMISSION_DENIED_READ"


@functools.lru_cache(maxsize=1024)
def _pin(cert_pem: bytes) -> bytes | None:
    # Parsing the certificate costs more than the rest of a small RPC; a peer presents the
    # same certificate on every call, so the pin is remembered (bounded, keyed by the PEM).
    try:
        return tls_spki_sha256(cert_pem)
    except ValueError:
        return None


def peer_identity(context: _Context, trust: TrustBundle) -> NodeInfo:
    """The federation member behind this call's client certificate.

    Raises :class:`~creditlink.sdk.errors.Unauthenticated` with reason
    ``CLIENT_CERTIFICATE_REQUIRED`` when the call carries no (readable) client certificate,
    and ``UNKNOWN_PEER`` when the certificate's key is not pinned by any node of ``trust``.
    """
    cert = next(iter(context.auth_context().get(_CERT_KEY) or ()), None)
    pin = _pin(bytes(cert)) if cert else None
    if pin is None:
        raise Unauthenticated(
            "this call needs a client certificate (mutual TLS)",
            reason="CLIENT_CERTIFICATE_REQUIRED",
        )
    node = trust.node_for_tls_spki(pin)
    if node is None:
        raise Unauthenticated(
            f"no member of trust bundle version {trust.version} pins this client certificate",
            reason="UNKNOWN_PEER",
        )
    return node


def insecure_dev_peer_identity(context: _Context, trust: TrustBundle) -> NodeInfo:
    """DEVELOPMENT ONLY: the member named by the ``x-creditlink-dev-peer`` header.

    Nothing authenticates the name; use it only where the node serves plaintext on loopback.
    Raises ``Unauthenticated`` with ``DEV_PEER_HEADER_REQUIRED`` without the header and
    ``UNKNOWN_PEER`` for a name the bundle does not list.
    """
    name = next(
        (v for k, v in context.invocation_metadata() or () if k == DEV_PEER_HEADER and v), None
    )
    if not isinstance(name, str):
        raise Unauthenticated(
            f"insecure development mode: name the caller in the {DEV_PEER_HEADER} header",
            reason="DEV_PEER_HEADER_REQUIRED",
        )
    try:
        return trust.node(name)
    except KeyError:
        raise Unauthenticated(
            f"{name!r} is not a member of trust bundle version {trust.version}",
            reason="UNKNOWN_PEER",
        ) from None


class Permissions:
    """Read permissions of one peer under one trust bundle (deny by default)."""

    __slots__ = ("_node", "_readable", "_trust")

    def __init__(self, trust: TrustBundle, node: NodeInfo) -> None:
        """Evaluate ``node``'s READ grants in ``trust`` once, for the kinds a log can hold."""
        self._trust = trust
        self._node = node
        self._readable = frozenset(
            kind for kind in STATEMENT_KINDS if trust.permits(node.node_id, Action.READ, kind, "*")
        )

    @property
    def node(self) -> NodeInfo:
        """The peer."""
        return self._node

    @property
    def readable_kinds(self) -> frozenset[str]:
        """The kinds the peer may read (possibly none)."""
        return self._readable

    def may_read(self, kind: str, *, sender_node_id: str | None = None) -> bool:
        """Whether the peer may read an entry of ``kind``; its own submissions always."""
        return kind in self._readable or sender_node_id == self._node.node_id

    def require_read(self, kind: str, *, sender_node_id: str | None = None) -> None:
        """Raise ``PermissionDenied`` (``PERMISSION_DENIED_READ``) unless :meth:`may_read`."""
        if not self.may_read(kind, sender_node_id=sender_node_id):
            raise PermissionDenied(
                f"{self._node.node_id!r} may not read {kind!r} entries", reason=_READ_DENIED
            )

    def require_any_read(self) -> None:
        """Raise ``PermissionDenied`` unless the peer may read at least one kind."""
        if not self._readable:
            raise PermissionDenied(
                f"{self._node.node_id!r} may not read this log", reason=_READ_DENIED
            )
