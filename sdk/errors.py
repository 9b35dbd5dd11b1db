"""The one exception hierarchy of creditlink.

Every error carries a ``reason``: the UPPER_SNAKE ``ErrorInfo.reason`` that the gateway puts on
the wire (domain ``creditlink.v1``) and that metrics count. Subclasses fix a default reason; a
raiser may pass a finer one (``InvalidEnvelope(..., reason="PAYLOAD_TYPE_MISMATCH")``).
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ERROR_DOMAIN",
    "CreditlinkError",
    "InvalidBatch",
    "InvalidCheckpoint",
    "InvalidEnvelope",
    "InvalidKey",
    "InvalidProof",
    "InvalidTrustBundle",
    "SealError",
    "VerificationError",
]

#: ``ErrorInfo.domain`` for every error creditlink defines.
ERROR_DOMAIN = "creditlink.v1"


class CreditlinkError(Exception):
    """Base of every error creditlink raises on purpose."""

    #: The reason used when the raiser does not name a finer one.
    default_reason: ClassVar[str] = "CREDITLINK_ERROR"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason: str = reason or self.default_reason

    def __str__(self) -> str:
        return f"{self.args[0]} [{self.reason}]"


class VerificationError(CreditlinkError):
    """A signature, proof or policy check failed; nothing derived from the input is returned."""

    default_reason = "VERIFICATION_FAILED"


class InvalidEnvelope(VerificationError):
    """A DSSE envelope is malformed, has the wrong payload type, or its signatures do not verify."""

    default_reason = "INVALID_SIGNATURE"


class InvalidBatch(VerificationError):
    """A batch head or a batch item (index, audit path) does not verify."""

    default_reason = "INVALID_BATCH"


class InvalidProof(VerificationError):
    """A Merkle inclusion or consistency proof does not verify."""

    default_reason = "INVALID_PROOF"


class InvalidCheckpoint(VerificationError):
    """A signed checkpoint (C2SP signed note) is malformed or its signature does not verify."""

    default_reason = "INVALID_CHECKPOINT"


class InvalidTrustBundle(VerificationError):
    """A trust bundle (or an update to one) is not acceptable."""

    default_reason = "INVALID_TRUST_BUNDLE"


class SealError(CreditlinkError):
    """Opening a sealed envelope failed.

    Deliberately uniform: every cause (wrong recipient, bad tag, truncated input, unknown
    suite) yields the same message and reason, so the error cannot serve as an oracle. The
    finer cause goes only to local logs and metrics.
    """

    default_reason = "SEAL_OPEN_FAILED"

    #: The finer cause (a fixed UPPER_SNAKE string), for local metrics and debug logs only; it is
    #: never part of ``str()`` and never sent to the peer.
    _cause: str | None = None


class InvalidKey(CreditlinkError):
    """A key could not be loaded, has the wrong type, or is used outside its validity window."""

    default_reason = "INVALID_KEY"
