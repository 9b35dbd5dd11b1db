"""The one exception hierarchy of creditlink.

Every error carries a ``reason``: the UPPER_SNAKE ``ErrorInfo.reason`` that the gateway puts on
the wire (domain ``creditlink.v1``) and that metrics count. Subclasses fix a default reason; a
raiser may pass a finer one (``InvalidEnvelope(..., reason="PAYLOAD_TYPE_MISMATCH")``).

Each class also fixes the gRPC status code and HTTP status it travels as (the googleapis
``api_core.exceptions`` pattern), so the gateway's error interceptor, the REST facade and the
clients' ``from_grpc_error`` all read one table: the class hierarchy itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Any, ClassVar, Final, cast

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

__all__ = [
    "ERROR_DOMAIN",
    "AlreadyExists",
    "Cancelled",
    "CreditlinkError",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FieldViolation",
    "InternalError",
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
    "SignatureInvalid",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "VerificationError",
    "error_class_for",
    "from_grpc_error",
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

    #: For an error decoded by :func:`from_grpc_error`: the original ``grpc.RpcError`` (also
    #: its ``__cause__``). ``None`` for an error raised locally.
    grpc_error: grpc.RpcError | None = None
    #: For an error decoded by :func:`from_grpc_error`: the ``google.rpc.Status`` the peer sent
    #: (code, message and every detail, as received), or ``None`` when it sent none.
    status: status_pb2.Status | None = None
    # ErrorInfo.metadata as received (decoded errors only); read through ``metadata``.
    _received_metadata: Mapping[str, str] = MappingProxyType({})

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
        """``ErrorInfo.metadata``: for the peer (none by default; subclasses add keys), or, for an
        error decoded by :func:`from_grpc_error`, what the peer sent."""
        return dict(self._received_metadata)

    @property
    def status_code(self) -> grpc.StatusCode:
        """The gRPC status code: the one received for a decoded error, else the class's."""
        if self.grpc_error is not None:
            code = _code_of(self.grpc_error)
            if code is not None:
                return code
        return self.grpc_code

    def __str__(self) -> str:
        return f"{self.args[0]} [{self.reason}]"

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle as ``cls(*args)`` by default, which would lose the reason and every
        # keyword-only attribute; a gateway's worker processes send these errors back whole.
        return (_restore_error, (type(self), self.args, dict(self.__dict__)))


def _restore_error(
    cls: type[CreditlinkError], args: tuple[Any, ...], state: dict[str, Any]
) -> CreditlinkError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


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


#: The name the issue uses for a signature that does not verify: the same class as
#: :class:`InvalidEnvelope` (reason ``INVALID_SIGNATURE``), so either name catches it.
SignatureInvalid = InvalidEnvelope


class DeadlineExceeded(CreditlinkError):
    """The call's deadline passed before an answer came (the gateway may still have acted on it:
    resend an idempotent call, or look the result up by its id)."""

    default_reason = "DEADLINE_EXCEEDED"
    grpc_code = grpc.StatusCode.DEADLINE_EXCEEDED
    http_status = 504


class Cancelled(CreditlinkError):
    """The call was cancelled (by the caller, or by the server shutting down)."""

    default_reason = "CANCELLED"
    grpc_code = grpc.StatusCode.CANCELLED
    http_status = 499


class Unimplemented(CreditlinkError):
    """The gateway does not serve this method (an older version, or a service not enabled)."""

    default_reason = "UNIMPLEMENTED"
    grpc_code = grpc.StatusCode.UNIMPLEMENTED
    http_status = 501


class InternalError(CreditlinkError):
    """The peer failed in a way it does not explain (a bug on its side, by design opaque)."""

    default_reason = "INTERNAL"
    grpc_code = grpc.StatusCode.INTERNAL
    http_status = 500


# --------------------------------------------------------------------------------------------
# Decoding errors received over gRPC (googleapis api_core's from_grpc_error)
# --------------------------------------------------------------------------------------------

_STATUS_DETAILS_KEY: Final = "grpc-status-details-bin"

#: The class each status code decodes to when the reason names no finer one.
_BY_CODE: Final[Mapping[grpc.StatusCode, type[CreditlinkError]]] = MappingProxyType(
    {
        cls.grpc_code: cls
        for cls in (
            InvalidArgument,
            FailedPrecondition,
            Unauthenticated,
            PermissionDenied,
            NotFound,
            AlreadyExists,
            LimitExceeded,
            Unavailable,
            DeadlineExceeded,
            Cancelled,
            Unimplemented,
            InternalError,
        )
    }
)

# Finer classes, by (status code, ErrorInfo.reason): every class's default reason, plus the
# finer reasons the gateway raises them with. A reason only counts together with its code, so
# a peer cannot turn, say, a PERMISSION_DENIED into a VerificationError by naming its reason.
_FINER_REASONS: Final[Mapping[type[CreditlinkError], tuple[str, ...]]] = MappingProxyType(
    {
        ReplayRejected: ("STALE_MESSAGE",),
        InvalidEnvelope: ("MALFORMED_ENVELOPE", "NO_SIGNATURES", "PAYLOAD_TYPE_MISMATCH"),
        InvalidBatch: (
            "MALFORMED_BATCH",
            "ROOT_MISMATCH",
            "COUNT_MISMATCH",
            "SIGNER_MISMATCH",
            "INDEX_OUT_OF_RANGE",
            "INVALID_INCLUSION_PROOF",
        ),
        InvalidKey: ("KEY_OUTSIDE_VALIDITY", "KEY_REVOKED", "NO_SEALING_KEY", "UNKNOWN_KEY"),
        Pushback: ("RATE_LIMITED",),
    }
)


def _reason_table() -> dict[tuple[grpc.StatusCode, str], type[CreditlinkError]]:
    table: dict[tuple[grpc.StatusCode, str], type[CreditlinkError]] = {}
    for cls in (
        ReplayRejected,
        Pushback,
        VerificationError,
        InvalidEnvelope,
        InvalidBatch,
        InvalidProof,
        InvalidCheckpoint,
        InvalidTrustBundle,
        SealError,
        InvalidKey,
    ):
        for reason in (cls.default_reason, *_FINER_REASONS.get(cls, ())):
            table[(cls.grpc_code, reason)] = cls
    return table


_BY_REASON: Final = MappingProxyType(_reason_table())


def error_class_for(code: grpc.StatusCode, reason: str | None) -> type[CreditlinkError]:
    """The class an error with status ``code`` and ``ErrorInfo.reason`` decodes to.

    The reason picks a finer class only among those of the same status code
    (``ALREADY_EXISTS``/``REPLAYED_MESSAGE`` is a :class:`ReplayRejected`,
    ``INVALID_ARGUMENT``/``INVALID_SIGNATURE`` an :class:`InvalidEnvelope`); otherwise the code
    decides (``PERMISSION_DENIED`` is a :class:`PermissionDenied` whatever its reason). A code
    no class stands for decodes to :class:`CreditlinkError` itself.

    >>> error_class_for(grpc.StatusCode.ALREADY_EXISTS, "REPLAYED_MESSAGE").__name__
    'ReplayRejected'
    >>> error_class_for(grpc.StatusCode.PERMISSION_DENIED, "INVALID_SIGNATURE").__name__
    'PermissionDenied'
    """
    if reason is not None:
        finer = _BY_REASON.get((code, reason))
        if finer is not None:
            return finer
    return _BY_CODE.get(code, CreditlinkError)


def _code_of(error: grpc.RpcError) -> grpc.StatusCode | None:
    # grpc.RpcError itself declares nothing; the errors grpc raises are also grpc.Call (sync)
    # or AioRpcError (asyncio), which have code().
    code = getattr(error, "code", None)
    if not callable(code):
        return None
    value = code()
    return value if isinstance(value, grpc.StatusCode) else None


def _received_status(error: grpc.RpcError) -> status_pb2.Status | None:
    trailing = getattr(error, "trailing_metadata", None)
    if not callable(trailing):
        return None
    # Sync calls return a tuple of (key, value) metadata items, grpc.aio an aio.Metadata; both
    # iterate (key, value) pairs.
    pairs = cast("Iterable[tuple[str, str | bytes]]", trailing() or ())
    for key, value in pairs:
        if key == _STATUS_DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status()
            try:
                status.ParseFromString(value)
            except DecodeError:
                return None  # a peer's garbage: the status code still says what happened
            return status
    return None


def from_grpc_error(error: grpc.RpcError) -> CreditlinkError:
    """The :class:`CreditlinkError` a failed gRPC call stands for (sync or ``grpc.aio``).

    Decodes the ``google.rpc.Status`` the peer put in the trailing metadata: its ``ErrorInfo``
    (the reason, and the class through :func:`error_class_for`, only for the ``creditlink.v1``
    domain; the metadata whatever the domain), ``BadRequest`` field violations (on
    :class:`InvalidArgument` and its subclasses) and ``RetryInfo`` (``retry_after`` on
    :class:`Pushback`). A call that failed without a status from the peer (connection refused,
    deadline, cancellation) decodes from its code alone, with the code's name as reason.

    The original error stays reachable as ``grpc_error`` and ``__cause__``, the received status
    as ``status``, the received code as ``status_code``. Use it as
    ``raise from_grpc_error(exc) from exc``.
    """
    code = _code_of(error) or grpc.StatusCode.UNKNOWN
    status = _received_status(error)
    details = getattr(error, "details", None)
    message = (details() if callable(details) else None) or ""
    reason: str | None = None
    domain_reason: str | None = None
    metadata: dict[str, str] = {}
    violations: list[FieldViolation] = []
    retry_after: timedelta | None = None
    if status is not None:
        message = status.message or message
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            bad = error_details_pb2.BadRequest()
            retry = error_details_pb2.RetryInfo()
            if detail.Unpack(info):
                reason = info.reason or None
                if info.domain == ERROR_DOMAIN:
                    domain_reason = reason
                metadata.update(info.metadata)
            elif detail.Unpack(bad):
                violations.extend(
                    FieldViolation(v.field, v.description) for v in bad.field_violations
                )
            elif detail.Unpack(retry):
                retry_after = max(timedelta(0), retry.retry_delay.ToTimedelta())
    cls = error_class_for(code, domain_reason)
    if cls is LimitExceeded and retry_after is not None:
        # RESOURCE_EXHAUSTED with a delay to wait is push-back, whatever the reason says.
        cls = Pushback
    text = message or f"the call failed with {code.name}"
    exc: CreditlinkError
    if issubclass(cls, InvalidArgument):
        exc = cls(text, reason=reason or code.name, field_violations=tuple(violations))
    elif issubclass(cls, Pushback):
        exc = cls(text, reason=reason or code.name, retry_after=retry_after)
    else:
        exc = cls(text, reason=reason or code.name)
    exc.grpc_error = error
    exc.status = status
    exc._received_metadata = metadata  # a plain dict: errors must stay picklable
    exc.__cause__ = error
    return exc
