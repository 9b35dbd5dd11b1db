"""Intake: from sealed bytes off the wire to a :class:`~creditlink.gateway.ledger.Submission`.

Every submitted message passes the same numbered steps (DESIGN.md "The exchange, end to end",
step 5), each failing with its own reason and storing nothing:

0. the node's trust bundle must not have expired (``TRUST_BUNDLE_EXPIRED``, freeze protection:
   a bundle nobody renewed stops being used rather than being trusted forever);
1. open the seal with this node's sealing keys (``SEAL_OPEN_FAILED``, uniform by design);
2. the sender named by the seal must be the authenticated peer, unless the peer is a gateway
   that relays for others (``SENDER_MISMATCH``);
3. verify the signature(s) with the keys the trust bundle lists for the sender and payload kind
   *now* (``UNKNOWN_SENDER``, ``KIND_NOT_PERMITTED``, ``INVALID_SIGNATURE``, batch reasons;
   ``KEY_OUTSIDE_VALIDITY`` / ``KEY_REVOKED`` when the signature is by a key the bundle lists
   for the sender but not for now);
4. only then parse each statement strictly; its body must be the kind the payload type names
   (CXP-API-006), its header must name the signer and this node among its recipients, and the
   seal's recipients (CXP-API-007) (``PAYLOAD_KIND_MISMATCH``, ``SENDER_MISMATCH``,
   ``WRONG_RECIPIENT``);
5. the statement must be fresh (``STALE_MESSAGE``): replays are refused by message id in the
   ledger, and the window bounds how long ids must be remembered;
6. contract constraints (protovalidate; ``CONSTRAINT_VIOLATION`` with field violations) and
   identifiers (``INVALID_USCC``) — codes that fail are rejected, never corrected;
7. permissions: the sender must be allowed to publish this kind within the statement's scope
   (region, sector or authority; ``PERMISSION_DENIED_SCOPE``), name-list entries need the
   determining permission too, and a report must be signed by its issuer holding
   ISSUE_REPORTS for its scope (``SENDER_MISMATCH``, ``UNKNOWN_ISSUER``,
   ``ISSUER_NOT_AUTHORIZED``).

A batch is all or nothing: one failing item rejects the batch, naming every failing item.

Forwarding (CXP-API-008 to CXP-API-011, docs/outbox.md). When the caller passes the request's
``request_id``, the submission also names the next hops it must be forwarded to
(:func:`next_hops`): every other recipient named both in the signed headers and in the seal,
reached directly when the trust bundle lists an endpoint for it, through the configured
``upstream`` otherwise. Relays are never opaque: an upstream that carries a message must be one
of its recipients (it opens, verifies, logs and receipts it like any recipient), and a message
that needs a relay which is not a recipient is refused (``UNROUTABLE_RECIPIENT``) before
anything is stored. The exact sealed bytes received are what is forwarded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from creditlink.gateway.constraints import check_constraints
from creditlink.gateway.domain.handlers.reports import issuer_denial
from creditlink.gateway.ledger import BatchInfo, Forward, LedgerEntry, Submission
from creditlink.gateway.scopes import subject_and_scopes
from creditlink.sdk import envelope as dsse
from creditlink.sdk._internal.strict import parse_strict
from creditlink.sdk.batch import SignedBatch, verify_batch
from creditlink.sdk.errors import (
    CreditlinkError,
    FailedPrecondition,
    InvalidArgument,
    InvalidEnvelope,
    InvalidKey,
    InvalidTrustBundle,
    PermissionDenied,
    ReplayRejected,
)
from creditlink.sdk.keys import KeyRecord, KeySet, PublicKey, Purpose, SealingPrivateKey
from creditlink.sdk.seal import (
    ENVELOPE_CONTENT_TYPE,
    SIGNED_BATCH_CONTENT_TYPE,
    OpenedEnvelope,
    SealedEnvelope,
    open_sealed,
)
from creditlink.sdk.trust import Action, NodeKind, TrustBundle
from creditlink.v1 import statement_pb2, trust_pb2

__all__ = ["Intake", "ItemFailure", "RejectedBatch", "kind_of", "next_hops"]

_PREFIX, _SUFFIX = "application/vnd.creditlink.", ".v1+protobuf"
#: Kinds a node may address to the whole federation with an empty recipient list.
BROADCAST_KINDS = frozenset({"measure-list", "name-list-entry", "name-list-transition"})
#: Nodes that relay statements signed by others (forwarding, CXP-API-007 still applies).
_RELAY_KINDS = frozenset({NodeKind.HUB, NodeKind.REGIONAL})
#: Permission decisions remembered per trust bundle (Intake._denial).
_MAX_DECISIONS = 4096


def kind_of(payload_type: str) -> str:
    """The ``<kind>`` of ``application/vnd.creditlink.<kind>.v1+protobuf``."""
    if not (payload_type.startswith(_PREFIX) and payload_type.endswith(_SUFFIX)):
        raise InvalidArgument(
            f"payload type {payload_type!r} is not a CXP v1 type", reason="UNKNOWN_PAYLOAD_TYPE"
        )
    return payload_type[len(_PREFIX) : -len(_SUFFIX)]


def next_hops(
    *,
    node_id: str,
    peer: str,
    sender: str,
    addressed: Sequence[str],
    trust: TrustBundle,
    upstream: str | None,
) -> list[str]:
    """The nodes ``node_id`` forwards a message it accepted to (CXP-API-008 to 010), in order.

    ``addressed`` are the recipients named both in the signed header(s) and in the seal;
    ``peer`` delivered the message and ``sender`` signed it. Every other recipient is reached
    directly when the trust bundle lists an endpoint for it, else through ``upstream``, which
    must itself be a recipient (no opaque relay). A message that arrived through a relay
    (``peer`` is not the sender) is forwarded only to the recipients the previous hop could not
    reach directly, i.e. those without an endpoint, so each recipient gets it once. A node
    without an upstream (the hub) is the last hop toward a recipient that lists no endpoint:
    that recipient, a client, reads the message from this node's log. Raises
    ``FailedPrecondition`` (``UNROUTABLE_RECIPIENT``) when a recipient is not a member or its
    next hop would be an upstream that is not a recipient.
    """
    relayed = peer != sender
    named = set(addressed)
    hops: list[str] = []
    for recipient in dict.fromkeys(addressed):
        if recipient in (node_id, peer, sender):
            continue
        try:
            reachable = bool(trust.node(recipient).endpoints)
        except KeyError:
            raise FailedPrecondition(
                f"recipient {recipient!r} is not a member of the federation",
                reason="UNROUTABLE_RECIPIENT",
            ) from None
        if reachable and relayed:
            continue  # the previous hop delivered it directly
        if not reachable and upstream is None:
            continue  # the last hop: the recipient (a client) reads it from this log
        hop = recipient if reachable else upstream
        if hop is None or hop not in named or hop in (node_id, peer):
            raise FailedPrecondition(
                f"recipient {recipient!r} lists no endpoint and the upstream {upstream!r} it "
                "must go through is not a recipient (seal to it and name it in the statement)",
                reason="UNROUTABLE_RECIPIENT",
            )
        if hop not in hops:
            hops.append(hop)
    return hops


def _body_kind(statement: statement_pb2.Statement) -> str:
    case = statement.WhichOneof("body")
    return (case or "").replace("_", "-")


@dataclass(frozen=True, slots=True)
class ItemFailure:
    """Why one item of a batch was refused."""

    index: int
    message_id: str
    error: CreditlinkError


class RejectedBatch(InvalidArgument):
    """A batch refused as a whole because some of its items failed; each is named."""

    default_reason = "BATCH_REJECTED"

    def __init__(self, message: str, *, failures: Sequence[ItemFailure]) -> None:
        super().__init__(message)
        self.failures: tuple[ItemFailure, ...] = tuple(failures)


@dataclass(frozen=True, slots=True)
class _Checked:
    statement: statement_pb2.Statement
    kind: str
    subject_key: str | None


class Intake:
    """Turns sealed submissions into ledger submissions, or raises with a reason."""

    def __init__(
        self,
        *,
        node_id: str,
        trust: Callable[[], TrustBundle],
        sealing_keys: KeySet | Sequence[SealingPrivateKey],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        replay_window: timedelta = timedelta(hours=24),
        max_clock_skew: timedelta = timedelta(minutes=5),
        upstream: str | None = None,
    ) -> None:
        self._node_id = node_id
        self._upstream = upstream
        self._trust = trust
        self._sealing_keys = sealing_keys
        self._clock = clock
        self._window = replay_window
        self._skew = max_clock_skew
        self._decisions: dict[tuple[str, str, tuple[str, ...]], str | None] = {}
        self._decided_under: TrustBundle | None = None

    # --- entry points -------------------------------------------------------------------------

    def single(self, sealed: bytes, *, peer: str, request_id: str | None = None) -> Submission:
        """A sealed DSSE envelope carrying one statement.

        With ``request_id``, the submission names where to forward it (module docstring).
        """
        now, trust = self._trusted_now()
        opened = self._open(sealed, peer=peer, content_type=ENVELOPE_CONTENT_TYPE)
        signed = dsse.Envelope.from_bytes(opened.plaintext)
        kind = kind_of(signed.payload_type)
        keys = self._keys(trust, opened.sender_node_id, kind, now)
        try:
            payload = dsse.verify(signed, keys=keys, expected_type=signed.payload_type)
        except InvalidEnvelope as exc:
            _explain_key(exc, trust, opened.sender_node_id, signed, now)
            raise
        checked = self._check(payload, kind, opened, trust, now)
        message_id = checked.statement.header.message_id
        digest = hashlib.sha256(payload).digest()
        forward = self._forwards(
            sealed, request_id, peer, opened, trust, [checked.statement.header.recipient_node_ids]
        )
        return Submission(
            message_id=message_id,
            request_digest=hashlib.sha256(opened.plaintext).digest(),
            sender_node_id=opened.sender_node_id,
            payload_type=signed.payload_type,
            payload_digest=digest,
            entries=[
                LedgerEntry(
                    message_id=message_id,
                    kind=kind,
                    sender_node_id=opened.sender_node_id,
                    payload_type=signed.payload_type,
                    payload=payload,
                    envelope=opened.plaintext,
                    subject_key=checked.subject_key,
                )
            ],
            forward=forward,
        )

    def verified_statement(
        self, sealed: bytes, *, peer: str, kind: str
    ) -> tuple[OpenedEnvelope, dsse.Envelope, statement_pb2.Statement]:
        """Steps 0-4 for one sealed, signed statement of ``kind`` that is not to be logged as
        sent: a service that acts on it itself (a report order) applies its own rules after.

        Returns the opened seal, the signed envelope and the strictly parsed statement, whose
        body is ``kind`` (``WRONG_KIND``, ``PAYLOAD_KIND_MISMATCH``) and whose header names
        the signer (``SENDER_MISMATCH``). Contract constraints, freshness, recipients and
        permissions (steps 5-7) are the caller's.
        """
        now, trust = self._trusted_now()
        opened = self._open(sealed, peer=peer, content_type=ENVELOPE_CONTENT_TYPE)
        signed = dsse.Envelope.from_bytes(opened.plaintext)
        if signed.payload_type != dsse.payload_type_for(kind):
            raise InvalidArgument(
                f"this call takes {kind!r} statements, not {signed.payload_type!r}",
                reason="WRONG_KIND",
            )
        keys = self._keys(trust, opened.sender_node_id, kind, now)
        try:
            payload = dsse.verify(signed, keys=keys, expected_type=signed.payload_type)
        except InvalidEnvelope as exc:
            _explain_key(exc, trust, opened.sender_node_id, signed, now)
            raise
        statement = parse_strict(statement_pb2.Statement, payload)
        if _body_kind(statement) != kind:
            raise InvalidArgument(
                f"payload type names {kind!r} but the statement carries "
                f"{_body_kind(statement) or 'nothing'!r}",
                reason="PAYLOAD_KIND_MISMATCH",
            )
        if statement.header.sender_node_id != opened.sender_node_id:
            raise PermissionDenied(
                f"statement names sender {statement.header.sender_node_id!r}, signed by "
                f"{opened.sender_node_id!r}",
                reason="SENDER_MISMATCH",
            )
        return opened, signed, statement

    def batch(self, sealed: bytes, *, peer: str, request_id: str | None = None) -> Submission:
        """A sealed signed batch; every item must pass, or the batch is refused as a whole.

        With ``request_id``, the submission names where to forward it (module docstring).
        """
        now, trust = self._trusted_now()
        opened = self._open(sealed, peer=peer, content_type=SIGNED_BATCH_CONTENT_TYPE)
        signed = SignedBatch.from_bytes(opened.plaintext)
        sender = opened.sender_node_id
        types = {item.payload_type for item in signed.items}
        for payload_type in types:
            self._keys(trust, sender, kind_of(payload_type), now)  # permission per item kind
        head_keys = self._keys(trust, sender, "batch-head", now)
        try:
            verified = verify_batch(
                signed, keys=head_keys, expected_types=types, expected_signer=sender
            )
        except InvalidEnvelope as exc:
            _explain_key(exc, trust, sender, signed.head, now)
            raise
        entries: list[LedgerEntry] = []
        failures: list[ItemFailure] = []
        headers: list[Sequence[str]] = []
        for index, item in enumerate(verified.items):
            try:
                checked = self._check(item.payload, kind_of(item.payload_type), opened, trust, now)
            except CreditlinkError as exc:
                failures.append(ItemFailure(index, "", exc))
                continue
            headers.append(checked.statement.header.recipient_node_ids)
            entries.append(
                LedgerEntry(
                    message_id=checked.statement.header.message_id,
                    kind=checked.kind,
                    sender_node_id=sender,
                    payload_type=item.payload_type,
                    payload=item.payload,
                    envelope=None,
                    subject_key=checked.subject_key,
                    leaf_hash=verified.leaf_hashes[index],
                )
            )
        if failures:
            raise RejectedBatch(
                f"{len(failures)} of {len(verified.items)} items were refused", failures=failures
            )
        payload_type = next(iter(types)) if len(types) == 1 else ""
        forward = self._forwards(sealed, request_id, peer, opened, trust, headers)
        return Submission(
            message_id=verified.batch_id,
            request_digest=hashlib.sha256(opened.plaintext).digest(),
            sender_node_id=sender,
            payload_type=payload_type,
            payload_digest=verified.root,
            entries=entries,
            batch=BatchInfo(batch_id=verified.batch_id, head_envelope=signed.head.to_bytes()),
            forward=forward,
        )

    def _forwards(
        self,
        sealed: bytes,
        request_id: str | None,
        peer: str,
        opened: OpenedEnvelope,
        trust: TrustBundle,
        headers: Sequence[Sequence[str]],
    ) -> list[Forward]:
        """The forwards of an accepted message: the sealed bytes as received, per next hop."""
        if request_id is None:
            return []
        # Recipients every signed header names (a broadcast header names none and restricts
        # nothing) and the seal names too: only they can open and must read the message.
        named = [set(h) for h in headers if h]
        if not named:
            return []
        common = set.intersection(*named)
        addressed = [r for r in opened.recipients if r in common]
        hops = next_hops(
            node_id=self._node_id,
            peer=peer,
            sender=opened.sender_node_id,
            addressed=addressed,
            trust=trust,
            upstream=self._upstream,
        )
        return [Forward(destination=h, request_id=request_id, sealed=sealed) for h in hops]

    # --- steps ----------------------------------------------------------------------------------

    def _trusted_now(self) -> tuple[datetime, TrustBundle]:
        # Step 0. The bundle expiring is the node's state, not the message's fault: refused as
        # FAILED_PRECONDITION, keeping the bundle's own reason.
        now = self._clock()
        trust = self._trust()
        try:
            trust.check_not_expired(now)
        except InvalidTrustBundle as exc:
            raise FailedPrecondition(exc.message, reason=exc.reason) from None
        return now, trust

    def _open(self, sealed: bytes, *, peer: str, content_type: str) -> OpenedEnvelope:
        # Step 1. SealError is uniform on purpose; it is already an InvalidArgument.
        opened = open_sealed(
            SealedEnvelope.from_bytes(sealed), node_id=self._node_id, keys=self._sealing_keys
        )
        if opened.content_type != content_type:
            raise InvalidArgument(
                f"sealed content is {opened.content_type!r}, this call takes {content_type!r}",
                reason="WRONG_CONTENT_TYPE",
            )
        # Step 2. A relay (hub, regional gateway) may carry what others signed.
        if opened.sender_node_id != peer:
            try:
                relay = self._trust().node(peer)
            except KeyError:
                relay = None
            if relay is None or relay.kind not in _RELAY_KINDS:
                raise PermissionDenied(
                    f"peer {peer!r} submitted a message sealed by {opened.sender_node_id!r}",
                    reason="SENDER_MISMATCH",
                )
        return opened

    def _keys(self, trust: TrustBundle, sender: str, kind: str, now: datetime) -> list[PublicKey]:
        # Step 3 (key lookup): the bundle fixes which keys may sign this kind for this node now.
        try:
            trust.node(sender)
        except KeyError:
            raise PermissionDenied(
                f"{sender!r} is not a member of the federation", reason="UNKNOWN_SENDER"
            ) from None
        keys = trust.signing_keys(sender, kind=kind, at=now)
        if not keys:
            raise PermissionDenied(
                f"{sender!r} has no key that may sign {kind!r} now", reason="KIND_NOT_PERMITTED"
            )
        return keys

    def _check(
        self,
        payload: bytes,
        kind: str,
        opened: OpenedEnvelope,
        trust: TrustBundle,
        now: datetime,
    ) -> _Checked:
        # Step 4: the payload verified; only now is it parsed (strictly).
        statement = parse_strict(statement_pb2.Statement, payload)
        if _body_kind(statement) != kind:
            raise InvalidArgument(
                f"payload type names {kind!r} but the statement carries "
                f"{_body_kind(statement) or 'nothing'!r}",
                reason="PAYLOAD_KIND_MISMATCH",
            )
        header = statement.header
        if header.sender_node_id != opened.sender_node_id:
            raise PermissionDenied(
                f"statement names sender {header.sender_node_id!r}, signed by "
                f"{opened.sender_node_id!r}",
                reason="SENDER_MISMATCH",
            )
        recipients = set(header.recipient_node_ids)
        if recipients:
            if self._node_id not in recipients:
                raise InvalidArgument(
                    "the statement is not addressed to this node", reason="WRONG_RECIPIENT"
                )
            # Both lists must agree: a recipient named only in the seal was not meant by the
            # signer (surreptitious forwarding), and one named only in the signed header could
            # never open the message, so accepting it would drop that delivery silently.
            if set(opened.recipients) != recipients:
                raise InvalidArgument(
                    "the seal and the signed statement name different recipients",
                    reason="WRONG_RECIPIENT",
                )
        elif kind not in BROADCAST_KINDS:
            raise InvalidArgument(
                f"{kind!r} statements must name their recipients", reason="WRONG_RECIPIENT"
            )
        # Step 5: freshness bounds the replay-protection memory.
        created = header.created_at.ToDatetime(tzinfo=UTC)
        if not now - self._window <= created <= now + self._skew:
            raise ReplayRejected(
                f"statement created at {created.isoformat()} is outside the accepted window",
                reason="STALE_MESSAGE",
            )
        # Step 6: contract constraints, then identifiers.
        check_constraints(statement, what="statement")
        body = getattr(statement, statement.WhichOneof("body") or "")
        subject_key, scopes = subject_and_scopes(body, kind)
        # Step 7: permissions, deny by default.
        sender = opened.sender_node_id
        sender_info = trust.node(sender)
        if sender_info.sector:
            scopes.append(f"sector:{sender_info.sector}")
        denial = self._denial(trust, sender, kind, tuple(scopes))
        if denial is not None:
            raise PermissionDenied(denial, reason="PERMISSION_DENIED_SCOPE")
        if kind == "report":
            # A report is recognized only if its issuer signed it and may issue for its scope
            # (CXP-REPORT-016): refuse here what every verifier would refuse.
            if statement.report.issuer_node_id != sender:
                raise PermissionDenied(
                    f"report names issuer {statement.report.issuer_node_id!r}, signed by "
                    f"{sender!r}",
                    reason="SENDER_MISMATCH",
                )
            refusal = issuer_denial(trust, statement.report)
            if refusal is not None:
                raise refusal
        return _Checked(statement, kind, subject_key)

    def _denial(
        self, trust: TrustBundle, sender: str, kind: str, scopes: tuple[str, ...]
    ) -> str | None:
        """Why ``sender`` may not publish ``kind`` within ``scopes`` under ``trust``, or None.

        Decisions are remembered per trust bundle: the records of a batch mostly share sender,
        kind, region and authority, and the bundle's answer cannot change until it is replaced
        (a new bundle object starts a new memory).
        """
        if trust is not self._decided_under:
            self._decisions.clear()
            self._decided_under = trust
        try:
            return self._decisions[sender, kind, scopes]
        except KeyError:
            pass
        denial: str | None = None
        if not any(trust.permits(sender, Action.PUBLISH, kind, s) for s in scopes):
            denial = (
                f"{sender!r} may not publish {kind!r} within {', '.join(scopes) or 'any scope'}"
            )
        elif kind == "name-list-entry" and not any(
            trust.permits(sender, Action.DETERMINE, kind, s) for s in scopes
        ):
            denial = f"{sender!r} is not a determining authority within {', '.join(scopes)}"
        if len(self._decisions) >= _MAX_DECISIONS:
            self._decisions.clear()  # bounded memory; a cleared cache only costs recomputation
        self._decisions[sender, kind, scopes] = denial
        return denial


def _explain_key(
    exc: InvalidEnvelope, trust: TrustBundle, sender: str, signed: dsse.Envelope, now: datetime
) -> None:
    """Name the cause when a signature failed only because its key is not valid now.

    Runs after verification with the keys valid now has failed, so it grants nothing: if one
    of the sender's other SIGN keys in the bundle (expired, not yet valid or revoked) verifies
    the signature, the refusal says so instead of a bare ``INVALID_SIGNATURE``.
    """
    if exc.reason != "INVALID_SIGNATURE":
        return
    for record in _all_sign_keys(trust, sender):
        revoked = trust.revoked_at(record.key_id)
        if record.is_valid_at(now) and (revoked is None or now < revoked):
            continue  # usable now: verification already tried it
        assert isinstance(record.public_key, PublicKey)
        try:
            dsse.verify(signed, keys=[record.public_key], expected_type=signed.payload_type)
        except InvalidEnvelope:
            continue
        if revoked is not None and revoked <= now:
            raise InvalidKey(
                f"signed with key {record.key_id} of {sender!r}, revoked at {revoked.isoformat()}",
                reason="KEY_REVOKED",
            ) from exc
        raise InvalidKey(
            f"signed with key {record.key_id} of {sender!r}, valid only from "
            f"{record.not_before.isoformat()} to {record.not_after.isoformat()}",
            reason="KEY_OUTSIDE_VALIDITY",
        ) from exc


def _all_sign_keys(trust: TrustBundle, node_id: str) -> list[KeyRecord]:
    # The bundle's lookups return only keys valid at an instant; the verified payload lists
    # every key. Read only on the failure path.
    bundle = parse_strict(trust_pb2.TrustBundle, trust.to_envelope().payload)
    records: list[KeyRecord] = []
    for node in bundle.nodes:
        if node.node_id == node_id:
            for pb in node.keys:
                if pb.purpose == Purpose.SIGN.value:
                    records.append(KeyRecord.from_proto(pb))
    return records
