"""The one exception hierarchy of creditlink.

Every error carries a ``reason``: the UPPER_SNAKE ``ErrorInfo.reason`` that the gateway puts on
the wire (domain ``creditlink.v1``) and that metrics count. Subclasses fix a default reason; a
raiser may pass a finer one (``InvalidEnvelope(..., reason="PAYLOAD_TYPE_MISMATCH")``).

Each class also fixes the gRPC status code and HTTP status it travels as (the googleapis
``api_core.exceptions`` pattern), so the gateway's error interceptor, the REST facade and the
clients' ``from_grpc_error`` all read one table: the class hierarchy itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

import grpc

__all__ = [
    "ERROR_DOMAIN",
    "AlreadyExists",
    "CreditlinkError",
    "FailedPrecondition",
    "FieldViolation",
    "InvalidArgument",
    "InvalidBatch",
    "InvalidCheckpoint",
    "InvalidEnvelope",
    "InvalidKey",
    "InvalidProof",
    "InvalidTrustBundle",
    "LimitExceeded",
    "NotFound",
    "PermissionDenied",
    "Pushback",
    "ReplayRejected",
    "SealError",
    "Unauthenticated",
    "Unavailable",
    "VerificationError",
]

#: ``ErrorInfo.domain`` for every error creditlink defines.
ERROR_DOMAIN = "creditlink.v1"


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One offending field of a request (``google.rpc.BadRequest.FieldViolation``)."""

    #: Path of the field, dotted, e.g. ``record.subject.uscc``.
    field: str
    #: What is wrong with it, for people.
    description: str


class CreditlinkError(Exception):
    """Base of every error creditlink raises on purpose."""

    #: The reason used when the raiser does not name a finer one.
    default_reason: ClassVar[str] = "CREDITLINK_ERROR"
    #: gRPC status code the error travels as.
    grpc_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNKNOWN
    #: HTTP status of the same error in the REST facade.
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason: str = reason or self.default_reason

    @property
    def message(self) -> str:
        """The human-readable message, without the reason."""
        text: str = self.args[0]
        return text

    @property
    def metadata(self) -> dict[str, str]:
        """Extra ``ErrorInfo.metadata`` for the peer (none by default; subclasses add keys)."""
        return {}

    def __str__(self) -> str:
        return f"{self.args[0]} [{self.reason}]"


class InvalidArgument(CreditlinkError):
    """A request or message is malformed or violates the contract; nothing was stored."""

    default_reason = "INVALID_ARGUMENT"
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 400

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        field_violations: tuple[FieldViolation, ...] = (),
    ) -> None:
        super().__init__(message, reason=reason)
        self.field_violations: tuple[FieldViolation, ...] = tuple(field_violations)


class FailedPrecondition(CreditlinkError):
    """The request is well formed but the system is not in a state to accept it."""

    default_reason = "FAILED_PRECONDITION"
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 400


class Unauthenticated(CreditlinkError):
    """The peer could not be identified (no client certificate, or one the bundle does not pin)."""

    default_reason = "UNAUTHENTICATED"
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    http_status = 401


class PermissionDenied(CreditlinkError):
    """The peer is known but not permitted to do this (deny by default)."""

    default_reason = "PERMISSION_DENIED"
    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    http_status = 403


class NotFound(CreditlinkError):
    """The named resource does not exist (or is not visible to the caller)."""

    default_reason = "NOT_FOUND"
    grpc_code = grpc.StatusCode.NOT_FOUND
    http_status = 404


class AlreadyExists(CreditlinkError):
    """A resource with this identity exists with different content."""

    default_reason = "ALREADY_EXISTS"
    grpc_code = grpc.StatusCode.ALREADY_EXISTS
    http_status = 409


class ReplayRejected(AlreadyExists):
    """A message id was seen before with other content, or the message is outside the window."""

    default_reason = "REPLAYED_MESSAGE"


class Pushback(CreditlinkError):
    """Overload or a rate limit: retry later (after ``retry_after`` when given)."""

    default_reason = "PUSHBACK"
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 429

    def __init__(
        self, message: str, *, reason: str | None = None, retry_after: timedelta | None = None
    ) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after


class LimitExceeded(CreditlinkError):
    """A request breaks a fixed limit (message size, flow-control credits): resending it as is
    will fail again, unlike :class:`Pushback`."""

    default_reason = "LIMIT_EXCEEDED"
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 413


class Unavailable(CreditlinkError):
    """The service or a dependency (store, upstream) cannot be reached right now."""

    default_reason = "UNAVAILABLE"
    grpc_code = grpc.StatusCode.UNAVAILABLE
    http_status = 503


class VerificationError(InvalidArgument):
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


class SealError(InvalidArgument):
    """Opening a sealed envelope failed.

    Deliberately uniform: every cause (wrong recipient, bad tag, truncated input, unknown
    suite) yields the same message and reason, so the error cannot serve as an oracle. The
    finer cause goes only to local logs and metrics.
    """

    default_reason = "SEAL_OPEN_FAILED"

    #: The finer cause (a fixed UPPER_SNAKE string), for local metrics and debug logs only; it is
    #: never part of ``str()`` and never sent to the peer.
    _cause: str | None = None


class InvalidKey(InvalidArgument):
    """A key could not be loaded, has the wrong type, or is used outside its validity window."""

    default_reason = "INVALID_KEY"
