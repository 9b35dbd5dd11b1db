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
a READ permission for the payload kind: a grant within ``*`` opens every entry of the kind, a
scoped grant (``region:330000``) the entries whose scopes it covers, judged entry by entry from
the statement itself (:class:`Permissions`). A sender may always read what it submitted.

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

from creditlink.gateway.scopes import entry_scopes
from creditlink.sdk.credentials import tls_spki_sha256
from creditlink.sdk.errors import PermissionDenied, Unauthenticated
from creditlink.sdk.trust import Action, NodeInfo, TrustBundle
from creditlink.v1 import statement_pb2

#: Scope decisions a Permissions object remembers (one subscription's worth).
_MAX_DECISIONS: Final = 4096

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
    """Read permissions of one peer under one trust bundle (deny by default).

    A READ grant for a kind within ``*`` opens every entry of that kind; a grant within
    narrower scopes (``region:330000``, ``sector:tax``, ``authority:<USCC>``) opens the entries
    whose own scopes (:func:`creditlink.gateway.scopes.entry_scopes`, the same derivation the
    intake checks publishing with) it covers. A peer may always read its own submissions.
    """

    __slots__ = ("_decisions", "_everywhere", "_node", "_somewhere", "_trust")

    def __init__(self, trust: TrustBundle, node: NodeInfo) -> None:
        """Evaluate ``node``'s READ grants in ``trust`` once, for the kinds a log can hold."""
        self._trust = trust
        self._node = node
        self._everywhere = frozenset(
            kind for kind in STATEMENT_KINDS if trust.permits(node.node_id, Action.READ, kind, "*")
        )
        self._somewhere = self._everywhere | frozenset(
            kind
            for kind in STATEMENT_KINDS
            if trust.grants_any_scope(node.node_id, Action.READ, kind)
        )
        # Entries of one subscription mostly share scopes: decide each combination once.
        self._decisions: dict[tuple[str, tuple[str, ...]], bool] = {}

    @property
    def node(self) -> NodeInfo:
        """The peer."""
        return self._node

    @property
    def readable_kinds(self) -> frozenset[str]:
        """The kinds the peer may read at least some entries of (possibly none)."""
        return self._somewhere

    @property
    def fully_readable_kinds(self) -> frozenset[str]:
        """The kinds the peer may read every entry of (a READ grant within ``*``)."""
        return self._everywhere

    def may_read(
        self, kind: str, *, sender_node_id: str | None = None, payload: bytes | None = None
    ) -> bool:
        """Whether the peer may read an entry of ``kind`` sent by ``sender_node_id``.

        With ``payload`` (the entry's statement), a scoped grant is checked against the
        entry's scopes; without it, only a grant within ``*`` (or being the sender) counts.
        """
        if kind in self._everywhere or (
            sender_node_id is not None and sender_node_id == self._node.node_id
        ):
            return True
        if kind not in self._somewhere or payload is None:
            return False
        try:
            sender: NodeInfo | None = (
                self._trust.node(sender_node_id) if sender_node_id is not None else None
            )
        except KeyError:
            sender = None  # no longer a member: its sector is unknown, its other scopes count
        scopes = entry_scopes(payload, kind, sender)
        decided = self._decisions.get((kind, scopes))
        if decided is None:
            decided = any(
                self._trust.permits(self._node.node_id, Action.READ, kind, scope)
                for scope in scopes
            )
            if len(self._decisions) < _MAX_DECISIONS:
                self._decisions[kind, scopes] = decided
        return decided

    def require_read(
        self, kind: str, *, sender_node_id: str | None = None, payload: bytes | None = None
    ) -> None:
        """Raise ``PermissionDenied`` (``PERMISSION_DENIED_READ``) unless :meth:`may_read`."""
        if not self.may_read(kind, sender_node_id=sender_node_id, payload=payload):
            raise PermissionDenied(
                f"{self._node.node_id!r} may not read this {kind!r} entry"
                if payload is not None and kind in self._somewhere
                else f"{self._node.node_id!r} may not read {kind!r} entries",
                reason=_READ_DENIED,
            )

    def require_some_read(self, kind: str) -> None:
        """Raise ``PermissionDenied`` unless the peer may read some entries of ``kind``."""
        if kind not in self._somewhere:
            raise PermissionDenied(
                f"{self._node.node_id!r} may not read {kind!r} entries", reason=_READ_DENIED
            )

    def require_any_read(self) -> None:
        """Raise ``PermissionDenied`` unless the peer may read at least one kind."""
        if not self._somewhere:
            raise PermissionDenied(
                f"{self._node.node_id!r} may not read this log", reason=_READ_DENIED
            )
