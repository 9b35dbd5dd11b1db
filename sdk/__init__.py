"""Everything a participant needs to speak CXP v1.

The safe, high-level layer (STYLE 6): build and check identifiers, sign and verify DSSE envelopes
and batches, seal and open messages, manage keys, verify the federation trust bundle, and check
transparency-log proofs and checkpoints. Low-level helpers (PAE, strict parsing) live in
``creditlink.sdk._internal`` and are not part of the API.

>>> from creditlink.sdk import PrivateKey, envelope
>>> key = PrivateKey.generate()
>>> signed = envelope.sign(b"payload", "application/vnd.creditlink.record.v1+protobuf", [key])
>>> envelope.verify(
...     signed,
...     keys=[key.public_key],
...     expected_type="application/vnd.creditlink.record.v1+protobuf",
... )
b'payload'

Talking to a gateway: :class:`Client` (blocking) and :class:`AsyncClient` (asyncio), from
:mod:`creditlink.sdk.client` (guide: ``docs/sdk.md``).

The SDK never imports the gateway.
"""

from creditlink.sdk import batch, client, envelope, ids, keys, reports, seal, tlog, trust
from creditlink.sdk.batch import BatchedEnvelope, SignedBatch
from creditlink.sdk.client import AsyncClient, Client
from creditlink.sdk.envelope import Envelope, payload_type_for
from creditlink.sdk.errors import (
    AlreadyExists,
    CreditlinkError,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    InvalidBatch,
    InvalidCheckpoint,
    InvalidEnvelope,
    InvalidKey,
    InvalidProof,
    InvalidTrustBundle,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    Pushback,
    ReplayRejected,
    SealError,
    SignatureInvalid,
    Unauthenticated,
    Unavailable,
    VerificationError,
)
from creditlink.sdk.keys import (
    Algorithm,
    KeyRecord,
    KeySet,
    PrivateKey,
    PublicKey,
    Purpose,
    SealingPrivateKey,
    SealingPublicKey,
)
from creditlink.sdk.mirror import NameListMirror
from creditlink.sdk.seal import OpenedEnvelope, Recipient, SealedEnvelope
from creditlink.sdk.trust import TrustBundle, TrustBundleBuilder

__all__ = [
    "Algorithm",
    "AlreadyExists",
    "AsyncClient",
    "BatchedEnvelope",
    "Client",
    "CreditlinkError",
    "DeadlineExceeded",
    "Envelope",
    "FailedPrecondition",
    "InvalidArgument",
    "InvalidBatch",
    "InvalidCheckpoint",
    "InvalidEnvelope",
    "InvalidKey",
    "InvalidProof",
    "InvalidTrustBundle",
    "KeyRecord",
    "KeySet",
    "LimitExceeded",
    "NameListMirror",
    "NotFound",
    "OpenedEnvelope",
    "PermissionDenied",
    "PrivateKey",
    "PublicKey",
    "Purpose",
    "Pushback",
    "Recipient",
    "ReplayRejected",
    "SealError",
    "SealedEnvelope",
    "SealingPrivateKey",
    "SealingPublicKey",
    "SignatureInvalid",
    "SignedBatch",
    "TrustBundle",
    "TrustBundleBuilder",
    "Unauthenticated",
    "Unavailable",
    "VerificationError",
    "batch",
    "client",
    "envelope",
    "ids",
    "keys",
    "payload_type_for",
    "reports",
    "seal",
    "tlog",
    "trust",
]
