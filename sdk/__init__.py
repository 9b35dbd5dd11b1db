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

The SDK never imports the gateway.
"""

from creditlink.sdk import batch, envelope, ids, keys, seal, tlog, trust
from creditlink.sdk.batch import BatchedEnvelope, SignedBatch
from creditlink.sdk.envelope import Envelope, payload_type_for
from creditlink.sdk.errors import (
    CreditlinkError,
    InvalidBatch,
    InvalidCheckpoint,
    InvalidEnvelope,
    InvalidKey,
    InvalidProof,
    InvalidTrustBundle,
    SealError,
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
from creditlink.sdk.seal import OpenedEnvelope, Recipient, SealedEnvelope
from creditlink.sdk.trust import TrustBundle, TrustBundleBuilder

__all__ = [
    "Algorithm",
    "BatchedEnvelope",
    "CreditlinkError",
    "Envelope",
    "InvalidBatch",
    "InvalidCheckpoint",
    "InvalidEnvelope",
    "InvalidKey",
    "InvalidProof",
    "InvalidTrustBundle",
    "KeyRecord",
    "KeySet",
    "OpenedEnvelope",
    "PrivateKey",
    "PublicKey",
    "Purpose",
    "Recipient",
    "SealError",
    "SealedEnvelope",
    "SealingPrivateKey",
    "SealingPublicKey",
    "SignedBatch",
    "TrustBundle",
    "TrustBundleBuilder",
    "VerificationError",
    "batch",
    "envelope",
    "ids",
    "keys",
    "payload_type_for",
    "seal",
    "tlog",
    "trust",
]
