"""The transport-free core of the clients: build requests, verify responses, keep stream state.

:class:`~creditlink.sdk.client.Client` (grpc, blocking) and
:class:`~creditlink.sdk.client.AsyncClient` (grpc.aio) are thin transports over one
:class:`ClientCore` (STYLE 10: the googleapis split, with the request building and response
verification that GAPIC generates from one template written once here instead). Nothing in
this module does network I/O; the transports send what it builds and hand it what comes back.

Building, for every submission:

1. each statement is completed (message id, sender, recipients, creation time and request id
   where the caller left them unset) and serialized ONCE; those bytes are what is signed;
2. one statement is signed as a DSSE envelope, several as ONE signed batch (one signature over
   the RFC 9162 Merkle root of their leaves);
3. the signed bytes are sealed (HPKE) to the recipients' sealing keys from the trust bundle:
   the recipients the statements name, which must include the gateway submitted to.

Verifying, for every answer (each step raises; only verified data is returned):

* a receipt: signed by the gateway's ``receipt`` key valid now, then parsed strictly; it names
  the gateway, its log, and exactly what was sent (id, leaf count, payload digest or batch
  root, payload type); its checkpoint verifies under the gateway's checkpoint key and covers
  the leaves it names;
* a checkpoint: the C2SP note verifies under the gateway's checkpoint key, then its origin is
  the gateway's log origin (:func:`creditlink.sdk.tlog.verify_checkpoint`);
* a log entry: the signature (or batch head signature and item audit path) under the sender's
  keys for the kind at the entry's integration time, then a strict parse, then body kind and
  header sender;
* proofs: RFC 9162 inclusion of the entry's leaf in the verified checkpoint's root, or
  consistency between two verified checkpoints of the same log.

Stream state lives here too: :class:`Upload` (``SubmitStream``: credits, sequencing, batch
sizing, resending unanswered batches after a broken stream, receipts back in order) and
:class:`SubscriptionState` (``Subscribe``: cursor, deduplication across reconnects, progress).
"""

from __future__ import annotations

import collections
import enum
import hashlib
import importlib.metadata
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import grpc
import tenacity
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from tenacity.retry import retry_base
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from creditlink.sdk import envelope as _dsse
from creditlink.sdk._internal.frozen import builder
from creditlink.sdk._internal.strict import parse_strict
from creditlink.sdk.batch import (
    MAX_BATCH_ITEMS,
    BatchedEnvelope,
    BatchItem,
    VerifiedHeads,
    item_leaf_hash,
    sign_batch,
    verify_batched,
)
from creditlink.sdk.client._types import (
    ConsistencyProof,
    Entry,
    InclusionProof,
    Receipt,
    SubmitProgress,
)
from creditlink.sdk.credentials import Credentials
from creditlink.sdk.envelope import Envelope, payload_type_for
from creditlink.sdk.errors import (
    CreditlinkError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    InvalidCheckpoint,
    InvalidEnvelope,
    InvalidTrustBundle,
    LimitExceeded,
    PermissionDenied,
    Unavailable,
    VerificationError,
    error_class_for,
)
from creditlink.sdk.keys import PublicKey, SealingPublicKey
from creditlink.sdk.seal import (
    ENVELOPE_CONTENT_TYPE,
    SIGNED_BATCH_CONTENT_TYPE,
    Recipient,
    seal,
)
from creditlink.sdk.tlog import (
    Checkpoint,
    NoteVerifier,
    root_from_leaf_hashes,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from creditlink.sdk.trust import MAX_CHAIN_LENGTH, TrustBundle
from creditlink.v1 import (
    envelope_pb2,
    exchange_service_pb2,
    log_pb2,
    statement_pb2,
)

__all__ = [
    "DEFAULT",
    "DEFAULT_CHANNEL_OPTIONS",
    "METHOD_DEFAULTS",
    "RECEIPT_PAYLOAD_TYPE",
    "STATEMENT_KINDS",
    "Backoff",
    "ClientCore",
    "MethodDefaults",
    "OptionalRetry",
    "OptionalTimeout",
    "PreparedSubmit",
    "Retry",
    "SubscriptionState",
    "TrustUpdate",
    "Upload",
    "channel_options",
    "default_target",
    "kind_of",
    "normalize_kinds",
    "resolve",
]

#: DSSE payload type of a gateway's signed receipt.
RECEIPT_PAYLOAD_TYPE: Final = payload_type_for("receipt")

#: Every statement kind of the contract (the ``Statement.body`` cases, kebab-case).
STATEMENT_KINDS: Final = frozenset(
    f.name.replace("_", "-")
    for f in statement_pb2.Statement.DESCRIPTOR.oneofs_by_name["body"].fields
)
# Body message type full name -> oneof field name, so a bare body (a CreditRecord) can be
# wrapped into its Statement without the caller naming the case.
_BODY_FIELDS: Final = {
    f.message_type.full_name: f.name
    for f in statement_pb2.Statement.DESCRIPTOR.oneofs_by_name["body"].fields
    if f.message_type is not None
}


class _Default(enum.Enum):
    DEFAULT = "DEFAULT"


#: "Use the method's default" for ``timeout=`` and ``retry=`` (``None`` means "none at all").
DEFAULT: Final = _Default.DEFAULT


# Attempts of a call that has neither a deadline nor an attempt limit.
_UNBOUNDED_ATTEMPTS: Final = 10

#: ``Entry(...)`` for the entries a subscription verifies, one per entry: without the frozen
#: dataclass's ``__init__``.
_new_entry: Final = builder(Entry)


@dataclass(frozen=True, kw_only=True)
class Retry:
    """When and how often to retry a call that failed with ``UNAVAILABLE``.

    Only calls that are safe to repeat are ever retried: reads, and submissions, which always
    carry a ``request_id`` (the gateway answers a repeated one with the original receipt).
    Waits grow from ``initial`` by ``multiplier`` up to ``maximum`` seconds, with jitter.
    ``max_attempts`` counts the first attempt; ``None`` (the default) leaves the limit to the
    call's deadline, as the googleapis clients do (and to 10 attempts for a call without one).
    """

    initial: float = 0.1
    maximum: float = 5.0
    multiplier: float = 2.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum or self.multiplier < 1:
            raise ValueError("need 0 < initial <= maximum and multiplier >= 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1 (or None)")

    def controls(self, timeout: float | None) -> tuple[stop_base, wait_base, retry_base]:
        """tenacity's ``stop``, ``wait`` and ``retry`` for a call with overall ``timeout``.

        The wait never runs past the deadline: tenacity stops *before* a wait that would.
        """
        stop: stop_base
        if self.max_attempts is not None:
            stop = tenacity.stop_after_attempt(self.max_attempts)
            if timeout is not None:
                stop = stop | tenacity.stop_before_delay(timeout)
        elif timeout is not None:
            stop = tenacity.stop_before_delay(timeout)
        else:
            # Neither a deadline nor an attempt limit: still never retry without end.
            stop = tenacity.stop_after_attempt(_UNBOUNDED_ATTEMPTS)
        wait = tenacity.wait_exponential(
            multiplier=self.initial, max=self.maximum, exp_base=self.multiplier
        ) + tenacity.wait_random(0, self.initial)
        return stop, wait, tenacity.retry_if_exception_type(Unavailable)


@dataclass(frozen=True)
class MethodDefaults:
    """A method's default deadline (seconds, for the whole call including retries) and retry."""

    timeout: float | None
    retry: Retry | None


OptionalTimeout = float | None | _Default
OptionalRetry = Retry | None | _Default

_READ = MethodDefaults(timeout=10.0, retry=Retry())
_WRITE = MethodDefaults(timeout=30.0, retry=Retry())

#: Defaults per RPC (STYLE 11). Every unary call has a deadline; reads and submissions retry on
#: UNAVAILABLE (a submission always carries its request id). Streams never retry mid-stream:
#: ``SubmitStream`` resends unanswered batches on a new stream (same request ids) and its
#: timeout bounds the wait for an answer; ``Subscribe`` resumes from its cursor and its
#: timeout bounds the silence it tolerates (the gateway sends progress every 30 s when idle).
METHOD_DEFAULTS: Final[Mapping[str, MethodDefaults]] = {
    "Submit": _WRITE,
    "SubmitStream": MethodDefaults(
        timeout=60.0, retry=Retry(initial=0.2, maximum=5.0, max_attempts=10)
    ),
    "Subscribe": MethodDefaults(
        timeout=90.0, retry=Retry(initial=0.2, maximum=10.0, max_attempts=None)
    ),
    "GetCheckpoint": _READ,
    "GetInclusionProof": _READ,
    "GetConsistencyProof": _READ,
    "GetReceipt": _READ,
    "GetTrustBundle": _READ,
    # The domain services: reads (lists page by page) and writes, whose request id makes a
    # repeat answer with the original receipt.
    **dict.fromkeys(
        (
            "GetRecord",
            "ListRecords",
            "ListOverdueRecords",
            "GetNameListEntry",
            "ListNameListEntries",
            "CheckSubject",
            "GetMeasureList",
            "ListMeasureLists",
            "DiffMeasureLists",
            "GetObjection",
            "ListObjections",
            "GetRepairApplication",
            "ListRepairApplications",
            "GetReport",
            "VerifyReport",
        ),
        _READ,
    ),
    **dict.fromkeys(
        (
            "CorrectRecord",
            "RevokeRecord",
            "CreateNameListEntry",
            "TransitionNameListEntry",
            "PublishMeasureList",
            "FileObjection",
            "ResolveObjection",
            "SubmitRepairApplication",
            "DecideRepairApplication",
            "IssueReport",
            "RevokeReport",
            "SupersedeReport",
        ),
        _WRITE,
    ),
}


def _sdk_version() -> str:
    try:
        return importlib.metadata.version("creditlink")
    except importlib.metadata.PackageNotFoundError:  # running from a bare checkout
        return "0"


#: Channel options the clients start from; ``options=`` overrides them key by key.
#: Keepalive: ping every 30 s, also between calls, and give up on a connection after 10 s
#: without an answer, so a long ``Subscribe`` notices a vanished gateway; the gateway allows
#: pings every 10 s (gateway ``KEEPALIVE_OPTIONS``). Messages up to 64 MiB each way (a
#: gateway's own limit is lower and ``SubmitStream`` batches follow what it grants).
DEFAULT_CHANNEL_OPTIONS: Final[Mapping[str, int | str]] = {
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.max_pings_without_data": 0,
    "grpc.max_send_message_length": 64 * 1024 * 1024,
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
    # Reconnect soon after a gateway comes back: grpc's own default backs off to 120 s, far
    # longer than a restart takes; the clients add their own jittered backoff on top. (Not
    # grpc.min_reconnect_backoff_ms: grpc also uses it as the connect timeout, TLS included.)
    "grpc.initial_reconnect_backoff_ms": 200,
    "grpc.max_reconnect_backoff_ms": 5_000,
    "grpc.primary_user_agent": f"creditlink-sdk/{_sdk_version()}",
}

# SubmitStream batch sizing ("auto"): start small so the first receipts (and the progress
# callback) come quickly and batches pipeline, then double after each receipt up to what the
# gateway grants. Bytes: the payloads plus framing must stay under the granted request size.
_AUTO_FIRST_BATCH: Final = 500
_ITEM_OVERHEAD: Final = 16  # BatchItem framing: two tags, two length prefixes, the item's own
_BATCH_OVERHEAD: Final = 2048  # request id, sequence, seal header, batch head envelope, tag
_RECIPIENT_OVERHEAD: Final = 256  # one wrapped key and its header entry
#: Resends of one batch the gateway refused as retryable (push-back) before giving up.
_MAX_BATCH_ATTEMPTS: Final = 8
_MAX_PUSHBACK_WAIT: Final = 30.0
#: Entries per ``Subscribe`` response the clients ask for while catching up.
_SUBSCRIBE_PAGE: Final = 256


def _now(clock: Callable[[], datetime]) -> datetime:
    now = clock()
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("the client's clock must return timezone-aware datetimes")
    return now


def _mismatch(what: str) -> VerificationError:
    return VerificationError(what, reason="RECEIPT_MISMATCH")


#: Payload type -> kind, for every statement kind (asked once per entry a feed brings).
_KIND_OF: Final = {payload_type_for(kind): kind for kind in STATEMENT_KINDS}


def kind_of(payload_type: str) -> str:
    """The statement kind a payload type names; ``VerificationError`` if it names none."""
    kind = _KIND_OF.get(payload_type)
    if kind is not None:
        return kind
    raise VerificationError(
        f"payload type {payload_type!r} is not a CXP v1 statement type",
        reason="UNKNOWN_PAYLOAD_TYPE",
    )


@dataclass(frozen=True, slots=True)
class _Prepared:
    """One statement, completed and serialized once (the bytes that are signed)."""

    payload: bytes
    payload_type: str
    message_id: str
    request_id: str
    #: The recipients the signed header names (empty: a broadcast statement).
    recipients: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Expected:
    """What the receipt of a submission must acknowledge."""

    message_id: str
    leaf_count: int
    digest: bytes
    payload_type: str
    statement_ids: tuple[str, ...]


@dataclass(frozen=True)
class PreparedSubmit:
    """A ready ``SubmitRequest`` (sent as is on every attempt) and what its receipt must say."""

    request: exchange_service_pb2.SubmitRequest
    expected: _Expected


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _instant(ts: timestamp_pb2.Timestamp) -> datetime:
    """When a log entry was integrated: ``ts.ToDatetime(tzinfo=UTC)`` in a quarter of the time
    (it runs for every entry a subscription verifies), and a ``VerificationError`` rather than
    a ``ValueError`` for a timestamp outside the range the contract allows."""
    global _last_instant
    seconds, nanos = ts.seconds, ts.nanos
    last = _last_instant
    if last[0] == seconds and last[1] == nanos:
        return last[2]  # the entries of one append share their instant
    if not (_MIN_SECONDS <= seconds <= _MAX_SECONDS and 0 <= nanos < 1_000_000_000):
        raise VerificationError(
            "log entry has an integrated_at outside the Timestamp range", reason="MALFORMED_ENTRY"
        )
    when = _EPOCH + timedelta(0, seconds, nanos // 1000)  # positional: faster
    _last_instant = (seconds, nanos, when)
    return when


#: The last instant converted (seconds, nanos, datetime): one tuple, swapped whole.
_last_instant: tuple[int, int, datetime] = (0, -1, _EPOCH)

#: The range of google.protobuf.Timestamp: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
_MIN_SECONDS: Final = -62_135_596_800
_MAX_SECONDS: Final = 253_402_300_799


class ClientCore:
    """Request building and response verification for one party talking to one gateway.

    ``credentials`` sign and name the caller; their trust bundle decides every key. ``gateway``
    is the node id of the gateway at ``target``: given, or the trust-bundle node whose
    endpoints list ``target``, or else found on first use from the gateway's verified
    checkpoint (:meth:`identify_gateway`). ``clock`` gives the (timezone-aware) time keys and
    statements are checked and dated at.
    """

    def __init__(
        self,
        *,
        credentials: Credentials,
        target: str,
        gateway: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._credentials = credentials
        self._trust = credentials.trust_bundle
        self._target = target
        self._clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        if gateway is not None:
            try:
                self._trust.node(gateway)
            except KeyError:
                raise ValueError(f"gateway {gateway!r} is not in the trust bundle") from None
            if not self._trust.node(gateway).log_origin:
                raise ValueError(f"{gateway!r} keeps no log: it is not a gateway")
        self._gateway = gateway or self._gateway_listing(target)
        self._heads = VerifiedHeads()
        # (sender, kind, instant) -> the batch-head keys, for the last batch item verified.
        self._batch_keys: tuple[tuple[str, str, datetime], list[PublicKey]] | None = None

    def _gateway_listing(self, target: str) -> str | None:
        found = [n.node_id for n in self._trust.nodes() if target in n.endpoints and n.log_origin]
        return found[0] if len(found) == 1 else None

    # -- identity ---------------------------------------------------------------------------

    @property
    def credentials(self) -> Credentials:
        """The caller's credentials."""
        return self._credentials

    @property
    def trust_bundle(self) -> TrustBundle:
        """The trust bundle every check uses (updated by :meth:`adopt_trust_bundle`)."""
        return self._trust

    @property
    def target(self) -> str:
        """The gateway address."""
        return self._target

    @property
    def gateway_known(self) -> bool:
        """Whether the gateway's node id is known (else :meth:`identify_gateway` first)."""
        return self._gateway is not None

    @property
    def gateway(self) -> str:
        """The gateway's node id; ``RuntimeError`` until it is known."""
        if self._gateway is None:
            raise RuntimeError("the gateway is not identified yet (call identify_gateway)")
        return self._gateway

    def now(self) -> datetime:
        """The client's clock."""
        return _now(self._clock)

    def identify_gateway(self, signed: log_pb2.SignedCheckpoint) -> str:
        """Learn the gateway's node id from a checkpoint it served, verified.

        The (unauthenticated) origin only selects the candidate: the node whose log has that
        origin. The note must then verify under that node's checkpoint key with that origin,
        which only the node can produce for its current log. Passing ``gateway=`` explicitly
        avoids this round trip and is the stronger choice.
        """
        if self._gateway is not None:
            return self._gateway
        candidates = [n for n in self._trust.nodes() if n.log_origin == signed.origin]
        if len(candidates) != 1:
            raise InvalidCheckpoint(
                f"the gateway at {self._target} serves a log no federation member keeps",
                reason="UNKNOWN_LOG",
            )
        node_id = candidates[0].node_id
        self.verify_checkpoint(signed, node_id=node_id)
        self._gateway = node_id
        return node_id

    # -- statements -------------------------------------------------------------------------

    def _statement(
        self, message: Message, recipients: Sequence[str] | None
    ) -> tuple[statement_pb2.Statement, str]:
        statement = statement_pb2.Statement()
        if isinstance(message, statement_pb2.Statement):
            statement.CopyFrom(message)  # never change the caller's object
        else:
            name = _BODY_FIELDS.get(message.DESCRIPTOR.full_name)
            if name is None:
                raise TypeError(
                    f"{message.DESCRIPTOR.full_name} is neither a Statement nor a statement body"
                )
            getattr(statement, name).CopyFrom(message)
        case = statement.WhichOneof("body")
        if case is None:
            raise ValueError("the statement has no body")
        header = statement.header
        if header.sender_node_id and header.sender_node_id != self._credentials.node_id:
            raise ValueError(
                f"the statement names sender {header.sender_node_id!r}; these credentials "
                f"sign as {self._credentials.node_id!r}"
            )
        header.sender_node_id = self._credentials.node_id
        if recipients is not None:
            named = list(dict.fromkeys(recipients))
            if header.recipient_node_ids and list(header.recipient_node_ids) != named:
                raise ValueError("recipients= differs from the recipients the statement names")
            del header.recipient_node_ids[:]
            header.recipient_node_ids.extend(named)
        elif not header.recipient_node_ids:
            header.recipient_node_ids.append(self.gateway)
        if header.recipient_node_ids and self.gateway not in header.recipient_node_ids:
            # The gateway opens only what is sealed to it, and refuses a statement that does
            # not name it (it forwards to the other recipients itself).
            raise ValueError(
                f"the recipients {list(header.recipient_node_ids)} must include the gateway "
                f"{self.gateway!r} the statement is submitted to"
            )
        if not header.message_id:
            header.message_id = str(uuid.uuid4())
        if not header.request_id:
            header.request_id = str(uuid.uuid4())
        if not header.HasField("created_at"):
            header.created_at.FromDatetime(self.now().astimezone(UTC))
        return statement, case.replace("_", "-")

    def prepare(self, message: Message, recipients: Sequence[str] | None = None) -> _Prepared:
        """Complete one statement and serialize it once (the bytes that get signed).

        ``message`` is a ``Statement`` or a bare body (``CreditRecord``...). Unset header
        fields are filled in: message id and request id (random UUIDs), sender (these
        credentials), creation time (now), recipients (``recipients``, else the gateway;
        ``recipients=()`` leaves them empty, for the broadcast kinds). Set fields are kept and
        checked: the sender must be these credentials, the recipients must include the gateway.
        """
        statement, kind = self._statement(message, recipients)
        header = statement.header
        return _Prepared(
            # Deterministic: a retry of the same record signs the same bytes.
            payload=statement.SerializeToString(deterministic=True),
            payload_type=payload_type_for(kind),
            message_id=header.message_id,
            request_id=header.request_id,
            recipients=tuple(header.recipient_node_ids),
        )

    def _seal_to(self, recipients: Iterable[str]) -> list[Recipient]:
        now = self.now()
        out = []
        for node_id in recipients:
            key = self._trust.sealing_key(node_id, at=now).public_key
            assert isinstance(key, SealingPublicKey)  # SEAL records hold sealing keys
            out.append(Recipient(node_id=node_id, key=key))
        return out

    def _seal_recipients(self, prepared: Sequence[_Prepared]) -> tuple[str, ...]:
        named = {p.recipients for p in prepared if p.recipients}
        if len(named) > 1:
            raise ValueError(
                "statements sealed together must name the same recipients; submit statements "
                "for different recipients separately"
            )
        return named.pop() if named else (self.gateway,)

    def seal_single(self, prepared: _Prepared) -> tuple[envelope_pb2.SealedEnvelope, _Expected]:
        """Sign one statement as a DSSE envelope and seal it."""
        key = self._credentials.signing_key
        signed = _dsse.sign(prepared.payload, prepared.payload_type, [key])
        sealed = seal(
            signed.to_bytes(),
            content_type=ENVELOPE_CONTENT_TYPE,
            sender_node_id=self._credentials.node_id,
            recipients=self._seal_to(self._seal_recipients([prepared])),
            now=self.now(),
        )
        expected = _Expected(
            message_id=prepared.message_id,
            leaf_count=1,
            digest=hashlib.sha256(prepared.payload).digest(),
            payload_type=prepared.payload_type,
            statement_ids=(prepared.message_id,),
        )
        return sealed.to_proto(), expected

    def seal_batch(
        self, prepared: Sequence[_Prepared], batch_id: str
    ) -> tuple[envelope_pb2.SealedEnvelope, _Expected]:
        """Sign statements as ONE batch (one signature over their Merkle root) and seal it."""
        items = [BatchItem(p.payload, p.payload_type) for p in prepared]
        now = self.now()
        signed = sign_batch(
            items,
            self._credentials.signing_key,
            signer_node_id=self._credentials.node_id,
            batch_id=batch_id,
            signed_at=now,
        )
        sealed = seal(
            signed.to_bytes(),
            content_type=SIGNED_BATCH_CONTENT_TYPE,
            sender_node_id=self._credentials.node_id,
            recipients=self._seal_to(self._seal_recipients(prepared)),
            now=now,
        )
        types = {p.payload_type for p in prepared}
        expected = _Expected(
            message_id=batch_id,
            leaf_count=len(items),
            digest=root_from_leaf_hashes([item_leaf_hash(i) for i in items]),
            # The gateway names the items' type when they share one, else none.
            payload_type=types.pop() if len(types) == 1 else "",
            statement_ids=tuple(p.message_id for p in prepared),
        )
        return sealed.to_proto(), expected

    def build_submit(
        self, messages: Sequence[Message], recipients: Sequence[str] | None
    ) -> PreparedSubmit:
        """The ``SubmitRequest`` for one statement (an envelope) or several (one batch)."""
        if not messages:
            raise ValueError("nothing to submit")
        prepared = [self.prepare(m, recipients) for m in messages]
        if len(prepared) == 1:
            sealed, expected = self.seal_single(prepared[0])
            # For a single statement the idempotency key is its header's request id.
            request_id = prepared[0].request_id
        else:
            if len(prepared) > MAX_BATCH_ITEMS:
                raise ValueError(f"at most {MAX_BATCH_ITEMS} statements per batch")
            request_id = str(uuid.uuid4())
            # The batch id doubles as the request id: one key names the batch everywhere.
            sealed, expected = self.seal_batch(prepared, request_id)
        request = exchange_service_pb2.SubmitRequest(request_id=request_id, sealed=sealed)
        return PreparedSubmit(request=request, expected=expected)

    # -- verification -----------------------------------------------------------------------

    def _note_verifiers(self, node_id: str, at: datetime) -> list[NoteVerifier]:
        verifiers = []
        for record in self._trust.checkpoint_keys(node_id, at=at):
            # The bundle fixes CHECKPOINT keys to Ed25519 with a note name; anything else is
            # skipped rather than trusted.
            key = serialization.load_der_public_key(record.public_key.public_bytes)
            if isinstance(key, Ed25519PublicKey) and record.note_name:
                verifiers.append(NoteVerifier(name=record.note_name, public_key=key))
        return verifiers

    def verify_checkpoint(
        self, signed: log_pb2.SignedCheckpoint, *, node_id: str | None = None
    ) -> Checkpoint:
        """Verify a checkpoint of the gateway's (or ``node_id``'s) log; return it parsed.

        The note must verify under one of the node's checkpoint keys valid now and name the
        node's log origin; the unsigned copies of origin, size and root beside the note are
        ignored (only the note is authoritative).
        """
        node = self._trust.node(node_id or self.gateway)
        failure = InvalidCheckpoint(
            f"{node.node_id!r} has no checkpoint key valid now", reason="NO_VALID_KEY"
        )
        for verifier in self._note_verifiers(node.node_id, self.now()):
            try:
                return verify_checkpoint(signed.note, verifier=verifier, origin=node.log_origin)
            except InvalidCheckpoint as exc:
                failure = exc
        raise failure

    def verify_receipt(
        self, signed: envelope_pb2.Envelope, expected: _Expected | None, *, message_id: str = ""
    ) -> Receipt:
        """Verify a signed receipt against what was sent (``expected``; ``None`` for a receipt
        looked up by ``message_id`` alone, whose digest cannot be compared)."""
        envelope, receipt = self._signed_receipt(signed)
        want_id = expected.message_id if expected is not None else message_id
        if receipt.message_id != want_id:
            raise _mismatch(f"receipt acknowledges {receipt.message_id!r}, not {want_id!r}")
        if expected is not None and (
            receipt.leaf_count != expected.leaf_count
            or receipt.payload_digest != expected.digest
            or receipt.payload_type != expected.payload_type
        ):
            raise _mismatch(f"receipt for {want_id!r} does not acknowledge what was sent")
        return self._receipt(
            envelope, receipt, expected.statement_ids if expected is not None else ()
        )

    def verify_own_receipt(self, signed: envelope_pb2.Envelope, *, payload_type: str) -> Receipt:
        """Verify the receipt of a statement the gateway signed itself on the caller's order
        (a report, a report status change): as :meth:`verify_receipt`, except that the message
        is the gateway's, so its id and digest are the gateway's; it must be one leaf of
        ``payload_type``. What the statement says is checked where it is read (with proofs)."""
        envelope, receipt = self._signed_receipt(signed)
        if receipt.leaf_count != 1 or receipt.payload_type != payload_type:
            raise _mismatch(f"receipt does not acknowledge one {payload_type!r} statement")
        return self._receipt(envelope, receipt, (receipt.message_id,))

    def _signed_receipt(self, signed: envelope_pb2.Envelope) -> tuple[Envelope, log_pb2.Receipt]:
        gateway = self.gateway
        node = self._trust.node(gateway)
        envelope = Envelope.from_proto(signed)
        # 1. Signed by the gateway's receipt key, valid now (it was just issued or served).
        payload = _dsse.verify(
            envelope,
            keys=self._trust.signing_keys(gateway, kind="receipt", at=self.now()),
            expected_type=RECEIPT_PAYLOAD_TYPE,
        )
        # 2. Only then parsed, strictly.
        receipt = parse_strict(log_pb2.Receipt, payload)
        # 3. It is this gateway's, for its log (what it acknowledges: the callers check).
        if receipt.gateway_node_id != gateway or receipt.log_origin != node.log_origin:
            raise _mismatch(f"receipt names gateway {receipt.gateway_node_id!r}, not {gateway!r}")
        if receipt.leaf_count < 1 or not receipt.HasField("accepted_at"):
            raise _mismatch("receipt lacks its leaf count or acceptance time")
        return envelope, receipt

    def _receipt(
        self, envelope: Envelope, receipt: log_pb2.Receipt, statement_ids: tuple[str, ...]
    ) -> Receipt:
        # 4. Its checkpoint verifies and covers the leaves it names.
        checkpoint = self.verify_checkpoint(receipt.checkpoint)
        if checkpoint.size < receipt.first_leaf_index + receipt.leaf_count:
            raise InvalidCheckpoint(
                f"receipt checkpoint of size {checkpoint.size} does not cover leaves "
                f"{receipt.first_leaf_index}..{receipt.first_leaf_index + receipt.leaf_count - 1}",
                reason="RECEIPT_MISMATCH",
            )
        return Receipt(
            message_id=receipt.message_id,
            gateway_node_id=receipt.gateway_node_id,
            log_origin=receipt.log_origin,
            first_leaf_index=receipt.first_leaf_index,
            leaf_count=receipt.leaf_count,
            payload_digest=receipt.payload_digest,
            payload_type=receipt.payload_type,
            accepted_at=receipt.accepted_at.ToDatetime(tzinfo=UTC),
            checkpoint=checkpoint,
            statement_ids=statement_ids,
            envelope=envelope,
        )

    def verify_entry(self, pb: log_pb2.LogEntry) -> Entry:
        """Verify a log entry (see :class:`~creditlink.sdk.client.Entry`) and return it."""
        if not pb.HasField("integrated_at") or not pb.sender_node_id:
            raise VerificationError("log entry lacks its sender or time", reason="MALFORMED_ENTRY")
        sender = pb.sender_node_id
        # Keys are those valid when the gateway logged the entry: a key rotated out since then
        # still verifies what it signed while it was valid.
        at = _instant(pb.integrated_at)
        signed: Envelope | BatchedEnvelope
        batch_id: str | None = None
        which = pb.WhichOneof("signed")
        if which == "envelope":
            envelope = Envelope.from_proto(pb.envelope)
            kind = kind_of(envelope.payload_type)
            payload = _dsse.verify(
                envelope,
                keys=self._trust.signing_keys(sender, kind=kind, at=at),
                expected_type=envelope.payload_type,
            )
            payload_type, signed = envelope.payload_type, envelope
        elif which == "batched":
            batched = self._heads.batched_from_proto(pb.batched)
            kind = kind_of(batched.item.payload_type)
            # The head key signs any batch; each item needs its own kind's permission. Items
            # of a batch share sender, kind and logging instant: looked up once for them.
            asked = (sender, kind, at)
            last = self._batch_keys
            if last is not None and last[0] == asked:
                head_keys = last[1]
            else:
                if not self._trust.signing_keys(sender, kind=kind, at=at):
                    raise InvalidEnvelope(
                        f"{sender!r} may not sign {kind!r} statements",
                        reason="KIND_NOT_PERMITTED",
                    )
                head_keys = self._trust.signing_keys(sender, kind="batch-head", at=at)
                self._batch_keys = (asked, head_keys)
            item = verify_batched(
                batched,
                keys=head_keys,
                expected_type=batched.item.payload_type,
                expected_signer=sender,
                heads=self._heads,  # the items of one batch share its head: verified once
            )
            payload, payload_type = item.item.payload, item.item.payload_type
            batch_id, signed = item.batch_id, batched
        else:
            raise VerificationError("log entry carries no signed message", reason="MALFORMED_ENTRY")
        # Verified: only now parsed, strictly, and checked against what the signature covers.
        statement = parse_strict(statement_pb2.Statement, payload)
        if (statement.WhichOneof("body") or "").replace("_", "-") != kind:
            raise VerificationError(
                f"statement body is not the {kind!r} its payload type names",
                reason="PAYLOAD_KIND_MISMATCH",
            )
        if statement.header.sender_node_id != sender:
            raise VerificationError(
                f"statement names sender {statement.header.sender_node_id!r}, signed by {sender!r}",
                reason="SENDER_MISMATCH",
            )
        return _new_entry(
            leaf_index=pb.leaf_index,
            sender_node_id=sender,
            kind=kind,
            payload_type=payload_type,
            payload=payload,
            statement=statement,
            integrated_at=at,
            batch_id=batch_id,
            signed=signed,
        )

    @staticmethod
    def inclusion_request(
        *, leaf_index: int | None, message_id: str | None, tree_size: int
    ) -> exchange_service_pb2.GetInclusionProofRequest:
        """The request for an inclusion proof of one leaf (by index or message id)."""
        if tree_size < 0 or (leaf_index is not None and leaf_index < 0):
            raise ValueError("leaf_index and tree_size must not be negative")
        if leaf_index is not None and message_id is None:
            return exchange_service_pb2.GetInclusionProofRequest(
                leaf_index=leaf_index, tree_size=tree_size
            )
        if message_id is not None and leaf_index is None:
            return exchange_service_pb2.GetInclusionProofRequest(
                message_id=message_id, tree_size=tree_size
            )
        raise ValueError("give exactly one of leaf_index and message_id")

    def verify_inclusion(
        self,
        response: exchange_service_pb2.GetInclusionProofResponse,
        request: exchange_service_pb2.GetInclusionProofRequest,
    ) -> InclusionProof:
        """Verify an inclusion proof answer against its request."""
        # 1. The checkpoint the proof leads to.
        checkpoint = self.verify_checkpoint(response.checkpoint)
        proof = response.proof
        if request.tree_size and checkpoint.size != request.tree_size:
            raise InvalidCheckpoint(
                f"asked for tree size {request.tree_size}, got a checkpoint of {checkpoint.size}",
                reason="PROOF_SIZE_MISMATCH",
            )
        # 2. The entry, verified on its own; it must be the leaf asked for.
        entry = self.verify_entry(response.entry)
        which = request.WhichOneof("leaf")
        if which == "leaf_index" and entry.leaf_index != request.leaf_index:
            raise VerificationError(
                f"asked for leaf {request.leaf_index}, got leaf {entry.leaf_index}",
                reason="WRONG_LEAF",
            )
        if which == "message_id" and request.message_id not in (entry.message_id, entry.batch_id):
            raise VerificationError(
                f"asked for {request.message_id!r}, got an entry of another message",
                reason="WRONG_LEAF",
            )
        # 3. The audit path leads from the entry's leaf hash to the checkpoint's root.
        return self.prove_included(entry, checkpoint, proof, note=response.checkpoint.note)

    @staticmethod
    def prove_included(
        entry: Entry, checkpoint: Checkpoint, proof: log_pb2.InclusionProof, *, note: str
    ) -> InclusionProof:
        """Check that ``proof`` is for ``entry``'s leaf in ``checkpoint``'s tree (both verified
        already) and that its audit path leads from the leaf hash to the root."""
        if entry.leaf_index != proof.leaf_index or proof.tree_size != checkpoint.size:
            raise VerificationError(
                "the proof is for another leaf or tree size than its entry and checkpoint",
                reason="PROOF_SIZE_MISMATCH",
            )
        hashes = tuple(proof.hashes)
        verify_inclusion(
            leaf_hash=entry.leaf_hash,
            index=entry.leaf_index,
            tree_size=checkpoint.size,
            proof=hashes,
            root=checkpoint.root_hash,
        )
        return InclusionProof(entry=entry, checkpoint=checkpoint, hashes=hashes, note=note)

    def verify_consistency(
        self,
        old: Checkpoint,
        new_signed: log_pb2.SignedCheckpoint,
        proof: log_pb2.ConsistencyProof | None,
    ) -> ConsistencyProof:
        """Verify that the gateway's checkpoint ``new_signed`` extends ``old`` (``proof`` is
        ``None`` only when ``old`` is the empty tree, which every tree extends trivially)."""
        new = self.verify_checkpoint(new_signed)
        if new.origin != old.origin:
            raise InvalidCheckpoint(
                f"checkpoint of log {old.origin!r} compared with one of {new.origin!r}",
                reason="ORIGIN_MISMATCH",
            )
        hashes: tuple[bytes, ...] = ()
        if proof is not None:
            if (proof.from_size, proof.to_size) != (old.size, new.size):
                raise VerificationError(
                    f"the proof is from {proof.from_size} to {proof.to_size}, the checkpoints "
                    f"are of {old.size} and {new.size}",
                    reason="PROOF_SIZE_MISMATCH",
                )
            hashes = tuple(proof.hashes)
        verify_consistency(
            size1=old.size, size2=new.size, root1=old.root_hash, root2=new.root_hash, proof=hashes
        )
        return ConsistencyProof(old=old, new=new, hashes=hashes)

    # -- trust bundle -----------------------------------------------------------------------

    def trust_update(self) -> TrustUpdate:
        """Start following the gateway's trust bundle from the one this client trusts."""
        return TrustUpdate(self)

    def adopt_trust_bundle(self, bundle: TrustBundle) -> None:
        """Use ``bundle`` from now on (it must be a verified successor of the current one)."""
        current = self._trust
        if bundle.federation_id != current.federation_id or bundle.version < current.version:
            raise ValueError("only a later version of the same federation's bundle is adopted")
        self._trust = bundle
        self._batch_keys = None

    # -- streams ----------------------------------------------------------------------------

    def upload(
        self,
        *,
        recipients: Sequence[str] | None,
        batch_size: int | Literal["auto"],
        progress: Callable[[SubmitProgress], None] | None,
    ) -> Upload:
        """The state of one ``submit_records`` call."""
        return Upload(self, recipients=recipients, batch_size=batch_size, progress=progress)

    def subscription(
        self, kinds: Iterable[str] | str, *, cursor: int, follow: bool
    ) -> SubscriptionState:
        """The state of one subscription."""
        return SubscriptionState(self, kinds=kinds, cursor=cursor, follow=follow)

    def subscription_key(self, kinds: Iterable[str] | str, name: str | None) -> str:
        """The cursor-store key of a subscription: ``name``, else gateway and kinds."""
        if name is not None:
            if not name:
                raise ValueError("a subscription name must not be empty")
            return name
        return f"{self.gateway}:{','.join(sorted(normalize_kinds(kinds))) or '*'}"


def normalize_kinds(kinds: Iterable[str] | str) -> tuple[str, ...]:
    """Statement kinds as a tuple without repeats (``ValueError`` for a kind that is none)."""
    wanted = (kinds,) if isinstance(kinds, str) else tuple(dict.fromkeys(kinds))
    unknown = sorted(set(wanted) - STATEMENT_KINDS)
    if unknown:
        raise ValueError(f"unknown statement kinds {unknown}")
    return wanted


def default_target(credentials: Credentials) -> str:
    """The gateway a credentials directory names first (``ValueError`` if it names none)."""
    if not credentials.endpoints:
        raise ValueError(
            f"{credentials.directory} names no gateway endpoint; pass target='host:port'"
        )
    return credentials.endpoints[0]


class TrustUpdate:
    """Following the gateway's trust bundle version by version (TUF-style), sans I/O.

    Start with :meth:`start` and the envelope the gateway serves as current; until it returns
    a :class:`TrustBundle`, fetch the version it returns (an ``int``) and :meth:`feed` it. Each
    version is verified under its predecessor (:meth:`TrustBundle.verify_update`); nothing is
    parsed before its signatures verify, so the walk asks for versions one by one rather than
    reading the version number from an unverified bundle.
    """

    def __init__(self, core: ClientCore) -> None:
        self._core = core
        self._current: Envelope | None = None
        self._bundle = core.trust_bundle
        #: Every newly verified version, oldest first (to persist in order).
        self.chain: list[TrustBundle] = []

    def start(self, current: Envelope) -> TrustBundle | int:
        """The gateway serves ``current``: the result, or the next version to fetch."""
        self._current = current
        if current == self._bundle.to_envelope():
            return self._bundle
        try:
            return self._step(current)
        except InvalidTrustBundle as exc:
            if exc.reason != "TRUST_BUNDLE_VERSION_GAP":
                raise
        return self._bundle.version + 1

    def feed(self, envelope: Envelope) -> TrustBundle | int:
        """The version last asked for: the result, or the next version to fetch."""
        assert self._current is not None, "start() first"
        bundle = self._step(envelope)
        if envelope == self._current:
            return bundle
        if len(self.chain) >= MAX_CHAIN_LENGTH:
            raise InvalidTrustBundle(
                f"more than {MAX_CHAIN_LENGTH} versions behind",
                reason="TRUST_BUNDLE_CHAIN_TOO_LONG",
            )
        return bundle.version + 1

    def _step(self, envelope: Envelope) -> TrustBundle:
        bundle = self._bundle.verify_update(envelope, now=self._core.now())
        self._bundle = bundle
        self.chain.append(bundle)
        return bundle

    def missing(self, version: int) -> InvalidTrustBundle:
        """The error for a version the gateway does not keep."""
        return InvalidTrustBundle(
            f"the gateway's trust bundle does not follow version {self._bundle.version}: it "
            f"keeps no version {version}",
            reason="TRUST_BUNDLE_HISTORY_INCOMPLETE",
        )


# --------------------------------------------------------------------------------------------
# SubmitStream
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Batch:
    number: int  # creation order; receipts come back in this order
    first_record: int  # index of its first record in the caller's iterable
    count: int
    request_id: str
    sealed: envelope_pb2.SealedEnvelope
    expected: _Expected
    attempts: int = 0
    not_before: float = 0.0


# Rejection reasons that are not INVALID_ARGUMENT, by the class the unary call would raise.
_STATUS_BY_NUMBER: Final = {status.value[0]: status for status in grpc.StatusCode}
_REJECTION_CLASSES: Final[Mapping[str, type[CreditlinkError]]] = {
    "UNKNOWN_SENDER": PermissionDenied,
    "SENDER_MISMATCH": PermissionDenied,
    "KIND_NOT_PERMITTED": PermissionDenied,
    "PERMISSION_DENIED_SCOPE": PermissionDenied,
    "TRUST_BUNDLE_EXPIRED": FailedPrecondition,
    "UNROUTABLE_RECIPIENT": FailedPrecondition,
    "BATCH_TOO_LARGE": LimitExceeded,
}


def _rejection_class(reason: str, code: int = 0) -> type[CreditlinkError]:
    """The class for a batch rejected on the stream: from its status code and reason, as a
    unary call's error; from the reason alone for a gateway that sends no code."""
    if code:
        status = _STATUS_BY_NUMBER.get(code)
        if status is not None:
            return error_class_for(status, reason)
    if reason in _REJECTION_CLASSES:
        return _REJECTION_CLASSES[reason]
    for candidate in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ):
        finer = error_class_for(candidate, reason)
        if finer is not error_class_for(candidate, None):
            return finer
    return InvalidArgument


class Upload:
    """The sans-I/O state of one ``submit_records`` call, across one or more streams.

    The transport opens a stream (:meth:`stream_opened`), passes every response to
    :meth:`on_response` (which returns the receipts now due, in record order), adds records
    while :attr:`wants_records`, and sends what :meth:`next_request` returns. If the stream
    breaks, :meth:`stream_broken` puts every unanswered batch back to be resent, unchanged
    and with the same request id, on the next stream: the gateway answers a batch it already
    accepted with its original receipt, so nothing is logged twice.
    """

    def __init__(
        self,
        core: ClientCore,
        *,
        recipients: Sequence[str] | None,
        batch_size: int | Literal["auto"],
        progress: Callable[[SubmitProgress], None] | None,
    ) -> None:
        if batch_size != "auto" and (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, int)
            or not 1 <= batch_size <= MAX_BATCH_ITEMS
        ):
            raise ValueError(f"batch_size must be 'auto' or 1 to {MAX_BATCH_ITEMS}")
        self._core = core
        self._recipients = None if recipients is None else tuple(recipients)
        self._fixed = None if batch_size == "auto" else batch_size
        self._target = _AUTO_FIRST_BATCH
        self._progress = progress
        # Granted by the gateway (FlowControl).
        self._credits = 0
        self._max_items = 0
        self._max_bytes = 0
        # The batch being filled, and a record that did not fit in it.
        self._current: list[_Prepared] = []
        self._current_bytes = 0
        self._current_first = 0
        self._carry: _Prepared | None = None
        self._seal_set: tuple[str, ...] | None = None
        self._records = 0
        self._numbers = 0
        self._sequence = 0
        self._outstanding: dict[int, _Batch] = {}
        self._resend: collections.deque[_Batch] = collections.deque()
        self._delayed: list[_Batch] = []
        self._done: dict[int, Receipt | None] = {}
        self._next_due = 0
        self._failure: CreditlinkError | None = None
        self._sent_records = 0
        self._sent_batches = 0
        self._acked_records = 0
        self._acked_batches = 0

    # -- state --------------------------------------------------------------------------------

    @property
    def outstanding(self) -> int:
        """Batches sent on the current stream and not answered yet."""
        return len(self._outstanding)

    @property
    def failure(self) -> CreditlinkError | None:
        """The first batch refused for good, as the error ``submit_records`` ends with."""
        return self._failure

    @property
    def _limits_known(self) -> bool:
        return self._max_items > 0 and self._max_bytes > 0

    @property
    def _target_items(self) -> int:
        target = self._fixed if self._fixed is not None else self._target
        return max(1, min(target, self._max_items, MAX_BATCH_ITEMS))

    @property
    def _budget(self) -> int:
        recipients = len(self._seal_set) if self._seal_set else 1
        return self._max_bytes - _BATCH_OVERHEAD - _RECIPIENT_OVERHEAD * recipients

    @property
    def _full(self) -> bool:
        return self._carry is not None or len(self._current) >= self._target_items

    @property
    def wants_records(self) -> bool:
        """Whether the transport should add records now: the gateway's limits are known, no
        batch was refused for good, and the batch being filled has room."""
        return self._failure is None and self._limits_known and not self._full

    def finished(self, exhausted: bool) -> bool:
        """Whether nothing is left to send or wait for (``exhausted``: no more records)."""
        if self._outstanding or self._resend or self._delayed:
            return False
        if self._failure is not None:
            return True  # stop after a refusal; what was accepted has its receipts
        return exhausted and not self._current and self._carry is None

    def wait_time(self) -> float | None:
        """Seconds until a pushed-back batch may be resent, when that is all there is to do."""
        if self._outstanding or self._resend or not self._delayed:
            return None
        return max(0.0, min(b.not_before for b in self._delayed) - time.monotonic())

    # -- records ------------------------------------------------------------------------------

    def add(self, record: Message) -> None:
        """Complete, serialize and place one record (the transport checks :attr:`wants_records`)."""
        index = self._records
        prepared = self._core.prepare(record, self._recipients)
        self._records += 1
        seal_set = prepared.recipients or (self._core.gateway,)
        if self._seal_set is None:
            self._seal_set = seal_set
        elif prepared.recipients and seal_set != self._seal_set:
            raise ValueError(
                f"record {index} names recipients {list(prepared.recipients)}, the records "
                f"before it {list(self._seal_set)}: submit_records seals every batch to one set"
            )
        size = len(prepared.payload) + len(prepared.payload_type) + _ITEM_OVERHEAD
        if size > self._budget:
            raise LimitExceeded(
                f"record {index} ({size} bytes) does not fit in a batch the gateway accepts "
                f"({self._max_bytes} bytes)",
                reason="RECORD_TOO_LARGE",
            )
        if self._current and self._current_bytes + size > self._budget:
            self._carry = prepared  # it opens the next batch
            return
        if not self._current:
            self._current_first = index
        self._current.append(prepared)
        self._current_bytes += size

    def _take_batch(self) -> _Batch:
        items = self._current
        first = self._current_first
        self._current, self._current_bytes = [], 0
        while True:
            batch_id = str(uuid.uuid4())
            sealed, expected = self._core.seal_batch(items, batch_id)
            # The estimate is generous; should it still be exceeded, halve and try again.
            if sealed.ByteSize() + 256 <= self._max_bytes or len(items) == 1:
                break
            items, rest = items[: len(items) // 2], items[len(items) // 2 :]
            self._current = rest + self._current
            self._current_bytes = sum(
                len(p.payload) + len(p.payload_type) + _ITEM_OVERHEAD for p in self._current
            )
            self._target = max(1, len(items))
        if self._current:
            self._current_first = first + len(items)
        batch = _Batch(
            number=self._numbers,
            first_record=first,
            count=len(items),
            request_id=batch_id,
            sealed=sealed,
            expected=expected,
        )
        self._numbers += 1
        if self._carry is not None and not self._current:
            self._current, self._carry = [self._carry], None
            self._current_first = first + len(items)
            self._current_bytes = (
                len(self._current[0].payload) + len(self._current[0].payload_type) + _ITEM_OVERHEAD
            )
        return batch

    # -- stream -------------------------------------------------------------------------------

    def stream_opened(self) -> None:
        """A new stream: no credits yet, sequence numbers start again at 1."""
        self._credits = 0
        self._sequence = 0

    def stream_broken(self) -> None:
        """The stream failed: every unanswered batch is resent, first, on the next stream."""
        pending = sorted(self._outstanding.values(), key=lambda b: b.number)
        self._outstanding.clear()
        self._resend.extendleft(reversed(pending))

    def next_request(self, exhausted: bool) -> exchange_service_pb2.SubmitStreamRequest | None:
        """The next request to send, if a credit allows one and there is something to send."""
        if self._credits <= 0 or not self._limits_known:
            return None
        batch: _Batch | None = None
        if self._resend:
            batch = self._resend.popleft()
        else:
            now = time.monotonic()
            ready = [b for b in self._delayed if b.not_before <= now]
            if ready:
                batch = min(ready, key=lambda b: b.number)
                self._delayed.remove(batch)
            elif self._failure is None and self._current and (self._full or exhausted):
                batch = self._take_batch()
                self._sent_records += batch.count
                self._sent_batches += 1
        if batch is None:
            return None
        self._credits -= 1
        self._sequence += 1
        self._outstanding[self._sequence] = batch
        return exchange_service_pb2.SubmitStreamRequest(
            sequence=self._sequence, request_id=batch.request_id, sealed_batch=batch.sealed
        )

    def on_response(self, response: exchange_service_pb2.SubmitStreamResponse) -> list[Receipt]:
        """Take one response; return the receipts now due, in record order."""
        which = response.WhichOneof("event")
        if which == "flow_control":
            grant = response.flow_control
            self._credits += grant.credits
            if grant.max_batch_items:
                self._max_items = grant.max_batch_items
            if grant.max_batch_bytes:
                self._max_bytes = grant.max_batch_bytes
            return []
        if which != "result":
            raise VerificationError("empty SubmitStream response", reason="MALFORMED_RESPONSE")
        result = response.result
        batch = self._outstanding.pop(result.sequence, None)
        if batch is None or result.request_id != batch.request_id:
            raise VerificationError(
                f"the gateway answered batch {result.sequence}, which is not awaiting an answer",
                reason="UNEXPECTED_RESULT",
            )
        outcome = result.WhichOneof("outcome")
        if outcome == "receipt":
            self._done[batch.number] = self._core.verify_receipt(result.receipt, batch.expected)
            self._acked_records += batch.count
            self._acked_batches += 1
            if self._fixed is None:
                self._target = min(self._target * 2, MAX_BATCH_ITEMS)
            if self._progress is not None:
                self._progress(
                    SubmitProgress(
                        records_sent=self._sent_records,
                        records_acknowledged=self._acked_records,
                        batches_sent=self._sent_batches,
                        batches_acknowledged=self._acked_batches,
                    )
                )
        elif outcome == "rejection":
            rejection = result.rejection
            if rejection.retryable and batch.attempts + 1 < _MAX_BATCH_ATTEMPTS:
                if rejection.HasField("retry_after"):
                    delay = rejection.retry_after.ToTimedelta().total_seconds()
                else:
                    delay = min(_MAX_PUSHBACK_WAIT, 0.1 * 2**batch.attempts)
                batch.attempts += 1
                batch.not_before = time.monotonic() + min(max(delay, 0.0), _MAX_PUSHBACK_WAIT)
                self._delayed.append(batch)
            else:
                self._done[batch.number] = None
                if self._failure is None:
                    self._failure = _rejection_error(batch, rejection)
        else:
            raise VerificationError("batch result without outcome", reason="MALFORMED_RESPONSE")
        due: list[Receipt] = []
        while self._next_due in self._done:
            receipt = self._done.pop(self._next_due)
            self._next_due += 1
            if receipt is not None:
                due.append(receipt)
        return due


def _rejection_error(
    batch: _Batch, rejection: exchange_service_pb2.BatchRejection
) -> CreditlinkError:
    """The error for a batch refused on the stream, naming records by their input position."""
    violations: list[FieldViolation] = []
    for item in rejection.items:
        where = f"records[{batch.first_record + item.index}]"
        violations.append(FieldViolation(where, f"{item.reason}: {item.message}"))
        violations.extend(
            FieldViolation(f"{where}.{v.field}", v.description) for v in item.violations
        )
    last = batch.first_record + batch.count - 1
    message = f"batch of records {batch.first_record}..{last} was refused: {rejection.message}"
    cls = _rejection_class(rejection.reason, rejection.code)
    if issubclass(cls, InvalidArgument):
        return cls(message, reason=rejection.reason, field_violations=tuple(violations))
    return cls(message, reason=rejection.reason)


# --------------------------------------------------------------------------------------------
# Subscribe
# --------------------------------------------------------------------------------------------


class SubscriptionState:
    """The sans-I/O state of one subscription: the cursor, across reconnects.

    ``cursor`` is the next leaf to ask for: every leaf before it was delivered or skipped.
    A resumed stream starts there; an entry before it (a stream overlapping the last one) is
    dropped, so nothing is delivered twice, and the gateway's progress messages move it past
    entries not delivered to this subscriber (other kinds, or not readable by it).
    """

    def __init__(
        self, core: ClientCore, *, kinds: Iterable[str] | str, cursor: int, follow: bool
    ) -> None:
        wanted = normalize_kinds(kinds)
        if isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0:
            raise ValueError("cursor must be a non-negative integer")
        self._core = core
        self.kinds: tuple[str, ...] = wanted
        self.follow = follow
        self._cursor = cursor
        #: The latest verified checkpoint the gateway sent with a progress message.
        self.checkpoint: Checkpoint | None = None
        # Verified entries of the last page, not handed out yet.
        self._pending: collections.deque[Entry] = collections.deque()

    @property
    def cursor(self) -> int:
        """The next leaf index to ask for."""
        return self._cursor

    def request(self) -> exchange_service_pb2.SubscribeRequest:
        """The request that (re)starts the stream at the cursor (asking for pages of entries
        while catching up: one message per entry costs more than verifying it)."""
        return exchange_service_pb2.SubscribeRequest(
            cursor=self._cursor,
            kinds=self.kinds,
            stop_at_head=not self.follow,
            max_entries_per_response=_SUBSCRIBE_PAGE,
        )

    def next_entry(self) -> Entry | None:
        """The next verified entry of the last page not handed out yet (it counts as delivered:
        the cursor moves past it), or ``None``. Transports take these before reading on, so a
        progress message never moves the cursor past an entry not yet handed out."""
        if not self._pending:
            return None
        entry = self._pending.popleft()
        self._cursor = entry.leaf_index + 1
        return entry

    def _verified(self, pb: log_pb2.LogEntry) -> Entry | None:
        if pb.leaf_index < self._cursor:
            return None  # delivered before the stream was resumed
        entry = self._core.verify_entry(pb)
        if self.kinds and entry.kind not in self.kinds:
            raise VerificationError(
                f"the gateway sent a {entry.kind!r} entry to a subscription of {self.kinds}",
                reason="UNEXPECTED_KIND",
            )
        return entry

    def on_response(self, response: exchange_service_pb2.SubscribeResponse) -> Entry | None:
        """Take one response; the verified entry to deliver, or ``None`` (progress, a repeat).

        A page is verified whole before its first entry is delivered, and must run in
        increasing leaf order; its other entries wait in :meth:`next_entry`.
        """
        which = response.WhichOneof("event")
        if which == "entry":
            entry = self._verified(response.entry)
            if entry is not None:
                self._cursor = entry.leaf_index + 1
            return entry
        if which == "entries":
            if self._pending:
                raise RuntimeError("the previous page was not handed out (call next_entry)")
            last = -1
            for pb in response.entries.entries:
                if pb.leaf_index <= last:
                    raise VerificationError(
                        "a page of entries is not in increasing leaf order",
                        reason="MALFORMED_RESPONSE",
                    )
                last = pb.leaf_index
                entry = self._verified(pb)
                if entry is not None:
                    self._pending.append(entry)
            return self.next_entry()
        if which == "progress":
            progress = response.progress
            checkpoint = self._core.verify_checkpoint(progress.checkpoint)
            if self.checkpoint is not None and checkpoint.size < self.checkpoint.size:
                raise InvalidCheckpoint(
                    f"the gateway's log went from {self.checkpoint.size} to {checkpoint.size} "
                    "entries",
                    reason="LOG_SHRANK",
                )
            if progress.next_cursor > checkpoint.size:
                raise VerificationError(
                    f"progress to {progress.next_cursor} is beyond the checkpoint's "
                    f"{checkpoint.size} entries",
                    reason="CURSOR_BEYOND_LOG",
                )
            self.checkpoint = checkpoint
            self._cursor = max(self._cursor, progress.next_cursor)
            return None
        raise VerificationError("empty Subscribe response", reason="MALFORMED_RESPONSE")


class Backoff:
    """Reconnection delays: exponential from ``retry.initial`` to ``retry.maximum``, with full
    jitter (so clients cut off together do not come back together)."""

    def __init__(self, retry: Retry) -> None:
        self._retry = retry
        self._failures = 0

    @property
    def failures(self) -> int:
        """Consecutive failures since the last :meth:`reset`."""
        return self._failures

    @property
    def exhausted(self) -> bool:
        """Whether the policy's ``max_attempts`` consecutive failures have happened."""
        limit = self._retry.max_attempts
        return limit is not None and self._failures >= limit

    def next_delay(self) -> float:
        """Count a failure; the delay before the next attempt."""
        ceiling = min(
            self._retry.maximum, self._retry.initial * self._retry.multiplier**self._failures
        )
        self._failures += 1
        return random.uniform(self._retry.initial / 2, ceiling)  # noqa: S311 - jitter, not crypto

    def reset(self) -> None:
        """A success: start again from the initial delay."""
        self._failures = 0


def resolve(method: str, timeout: OptionalTimeout, retry: OptionalRetry) -> MethodDefaults:
    """The effective deadline and retry of a call (``DEFAULT`` takes the method's)."""
    defaults = METHOD_DEFAULTS[method]
    if timeout is not DEFAULT and timeout is not None and not timeout > 0:
        raise ValueError("timeout must be positive (or None for no deadline)")
    return MethodDefaults(
        timeout=defaults.timeout if isinstance(timeout, _Default) else timeout,
        retry=defaults.retry if isinstance(retry, _Default) else retry,
    )


def channel_options(overrides: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    """The channel options: the defaults with ``overrides`` applied key by key."""
    merged: dict[str, Any] = dict(DEFAULT_CHANNEL_OPTIONS)
    merged.update(overrides or {})
    return list(merged.items())
