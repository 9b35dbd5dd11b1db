"""Reproducible "double random, one public" spot-check draws (algorithm ``cxp-draw-v1``).

"Double random, one public" (双随机、一公开) inspections draw the subjects to inspect and the
inspectors who go at random, then publish the result. This module makes such a draw
*re-runnable by anyone*: all randomness comes from SHA-256 over a signed checkpoint of a
transparency log the conducting authority does not control, so a published
:class:`~creditlink.v1.supervision_pb2.SpotCheckDraw` plus the candidate lists and the inspector
pool it commits to are enough to recompute it bit for bit. The normative description, with
requirement ids ``CXP-DRAW-*`` and a worked example, is ``docs/spec/draw.md``; vectors are in
``conformance/vectors/draw.json``.

* :func:`run_draw` verifies the seed checkpoint and computes a draw (the conducting node).
* :func:`verify_draw` re-runs a published draw and raises on the first difference (anyone).
* :func:`list_digest`, :func:`selected_count`, :func:`inputs_commitment` and :func:`draw_seed`
  are the building blocks, public so that the inputs can be committed (logged) before the seed
  exists and so that other implementations can test each step.

The algorithm, byte for byte (``u32``/``u64``/``i64`` are big-endian, ``str(x)`` is
``u32(len(utf8(x))) || utf8(x)``)::

    list digest   D(ids)  = SHA-256(concatenation of utf8(id) || LF for the ids sorted bytewise)
    commitment    C       = SHA-256("CXP-DRAW-V1/inputs" || 0x00 || str(draw_id)
                                    || i64(committed.seconds) || u32(committed.nanos)
                                    || u32(#strata)
                                    || for each stratum in draw order:
                                           str(scheme) || str(tier) || str(ratio)
                                           || u64(population_size) || D(population)
                                    || u64(pool_size) || D(pool) || u32(inspectors_per_subject))
    seed          S       = SHA-256("CXP-DRAW-V1/seed" || 0x00 || str(origin) || u64(tree size)
                                    || root hash (32 bytes) || str(draw_id) || C)
    stream(label) blocks  = SHA-256("CXP-DRAW-V1/stream" || 0x00 || S || label || u64(j)),
                            j = 0, 1, 2, ...; read as consecutive u64 words, 4 per block
    uniform(n)            = next word x, redrawn while x >= 2**64 - (2**64 mod n); x mod n
    k of n (k <= n)       = partial Fisher-Yates over the sorted list L:
                            for i in 0 .. k-1: j = i + uniform(n - i); swap L[i], L[j];
                            the result is L[0 .. k-1] in that order
    selected count        = ceil(ratio * population_size), computed exactly
    subjects of stratum s = k of n with label 0x01 || u64(s)            (s counts from 0)
    inspectors of pick m  = inspectors_per_subject of the pool with label 0x02 || u64(m)
                            (m counts the selections of the whole draw from 0, in draw order)

Rejection sampling keeps every index exactly equally likely (``x mod n`` alone would favour
small indexes by up to ``n / 2**64``); one stream per stratum and per selection means that
changing one stratum's population does not move the picks of another stratum.

What the seed proves, and what it cannot
-----------------------------------------

Proven (offline, with the seed log's checkpoint key): the seed checkpoint is a tree head the
log really signed, and — given an :class:`InputsAnchor`, a signed checkpoint of the same log
that the verifier knows was produced at or after the moment the inputs were committed (for
instance the checkpoint in the receipt the hub returned for the statement that logged
:func:`inputs_commitment`) — that the seed tree is strictly larger than the anchor tree, so the
log signed it after the anchor (and with a consistency proof, that it extends the anchor's tree
rather than a fork). The commitment binds the draw id, the candidate lists, the ratios and the
pool, so none of them can be changed after the seed is known without changing the seed.

Not provable from the draw alone: a checkpoint carries no time, so ``inputs_committed_at`` is
the conducting node's claim, and without an anchor nothing orders the seed after it; nor can
an offline verifier tell that the seed is the *first* checkpoint after the anchor (only a
monitor holding the log's checkpoint history can), so a conductor could wait for several tree
heads and keep the one it likes. A conductor able to append entries to the seed log could also
try to steer its root. These limits are why the seed log is one the conductor does not control
(normally the hub's), why the commitment is logged before the seed, and why a draw is itself
logged: repeated commitments or draws for one task are visible to everyone.

>>> from datetime import UTC, datetime
>>> from creditlink.sdk.tlog import Checkpoint, NoteSigner, sign_note
>>> from creditlink.v1 import common_pb2, supervision_pb2
>>> log = NoteSigner.from_seed("hub.example/log", bytes(32))
>>> note = sign_note(Checkpoint(origin="hub.example/log", size=5, root_hash=bytes(32)).to_body(),
...                  [log])
>>> tier = supervision_pb2.SupervisionTier(scheme="cxp-basic", tier="C", spot_check_ratio="0.5")
>>> kind = common_pb2.SUBJECT_KIND_LEGAL_PERSON
>>> companies = [common_pb2.SubjectRef(uscc=u, kind=kind)
...              for u in ("91330100MA27XXXX1A", "91330100MA27XXXX2B", "91330100MA27XXXX3C")]
>>> seed_log = SeedLog(origin="hub.example/log", keys=(log.verifier,))
>>> draw = run_draw(
...     draw_id="01JD0000000000000000000000", task_name="2026 food safety", region_code="330100",
...     authority=common_pb2.AuthorityRef(name="Hangzhou AMR"), strata=[(tier, companies)],
...     inspector_pool=["insp-1", "insp-2", "insp-3"], inspectors_per_subject=2,
...     inputs_committed_at=datetime(2026, 3, 1, tzinfo=UTC), seed_note=note, seed_log=seed_log,
...     inputs_anchor=None, drawn_at=datetime(2026, 3, 2, tzinfo=UTC))
>>> [s.selected_count for s in draw.strata]   # ceil(0.5 * 3)
[2]
>>> [(s.subject.uscc, list(s.inspector_ids)) for s in draw.selections]
[('91330100MA27XXXX2B', ['insp-2', 'insp-3']), ('91330100MA27XXXX3C', ['insp-3', 'insp-1'])]
>>> verify_draw(draw, {"C": companies}, ["insp-3", "insp-1", "insp-2"], seed_log=seed_log,
...             inputs_anchor=None)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from itertools import pairwise
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf.timestamp_pb2 import Timestamp

from creditlink.sdk.errors import (
    InvalidArgument,
    InvalidCheckpoint,
    InvalidProof,
    VerificationError,
)
from creditlink.sdk.tlog import Checkpoint, NoteVerifier, verify_checkpoint, verify_consistency
from creditlink.sdk.trust import TrustBundle
from creditlink.v1 import common_pb2, log_pb2, supervision_pb2

__all__ = [
    "ALGORITHM",
    "MAX_INSPECTORS_PER_SUBJECT",
    "MAX_POPULATION",
    "MAX_SELECTIONS",
    "MAX_STRATA",
    "InputsAnchor",
    "SeedLog",
    "draw_seed",
    "inputs_commitment",
    "list_digest",
    "run_draw",
    "selected_count",
    "verify_draw",
]

#: The algorithm this module implements (``SpotCheckDraw.algorithm``).
ALGORITHM: Final = "cxp-draw-v1"
#: Most strata in one draw (``SpotCheckDraw.strata``, supervision.proto).
MAX_STRATA: Final = 64
#: Most inspectors drawn per subject (``SpotCheckDraw.inspectors_per_subject``).
MAX_INSPECTORS_PER_SUBJECT: Final = 16
#: Most subjects drawn in one draw (``SpotCheckDraw.selections``).
MAX_SELECTIONS: Final = 1_000_000
#: Most candidates in one stratum or in the inspector pool. Bounds the memory and time a
#: verifier spends on a draw it is handed (a province has some 10 million market subjects).
MAX_POPULATION: Final = 50_000_000

_DS_INPUTS: Final = b"CXP-DRAW-V1/inputs\x00"
_DS_SEED: Final = b"CXP-DRAW-V1/seed\x00"
_DS_STREAM: Final = b"CXP-DRAW-V1/stream\x00"
_LABEL_SUBJECTS: Final = b"\x01"
_LABEL_INSPECTORS: Final = b"\x02"
_TWO_64: Final = 1 << 64
_WORDS_PER_BLOCK: Final = 4

# Patterns of the contract (supervision.proto, common.proto); checked here because the SDK runs
# no protovalidate and these values enter the seed.
_DRAW_ID: Final = re.compile(
    r"[0-9A-HJKMNP-TV-Z]{26}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
_RATIO: Final = re.compile(r"0(\.[0-9]+)?|1(\.0+)?")
_SCHEME: Final = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
# A list entry must not contain LF (it would split into two entries of the canonical list) nor
# any other control character, so every implementation reads the same list.
_CONTROL: Final = re.compile("[\x00-\x1f\x7f]")
_MAX_INSPECTOR_ID: Final = 64
_MAX_SUBJECT_ID: Final = 256


# --- errors ------------------------------------------------------------------------------------


def _bad_input(message: str, reason: str) -> InvalidArgument:
    """A caller error: malformed inputs, nothing to verify yet."""
    return InvalidArgument(message, reason=reason)


def _mismatch(message: str, reason: str) -> VerificationError:
    """A verification failure: the draw does not follow from its inputs and seed."""
    return VerificationError(message, reason=reason)


# --- canonical inputs --------------------------------------------------------------------------


def _str(value: str) -> bytes:
    raw = value.encode("utf-8")
    return len(raw).to_bytes(4, "big") + raw


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def _canonical(ids: Sequence[str], *, what: str, max_len: int) -> list[str]:
    """The ids sorted bytewise (by UTF-8), each checked; duplicates are refused."""
    if len(ids) > MAX_POPULATION:
        raise _bad_input(f"{what} has more than {MAX_POPULATION} entries", "LIMIT_EXCEEDED")
    for value in ids:
        if not isinstance(value, str) or not value or len(value) > max_len:
            raise _bad_input(
                f"{what} holds an id that is not 1 to {max_len} characters", "INVALID_ID"
            )
        if _CONTROL.search(value):
            raise _bad_input(f"{what} holds an id with a control character", "INVALID_ID")
    ordered = sorted(ids, key=lambda s: s.encode("utf-8"))
    for a, b in pairwise(ordered):
        if a == b:
            raise _bad_input(
                f"{what} lists {a!r} twice",
                "DUPLICATE_INSPECTOR" if what == "inspector pool" else "DUPLICATE_CANDIDATE",
            )
    return ordered


def list_digest(ids: Sequence[str]) -> bytes:
    """SHA-256 of a candidate list or inspector pool in canonical form (CXP-DRAW-002).

    The canonical form is each id's UTF-8 bytes followed by LF, the ids sorted bytewise; the
    order the caller gives does not matter, duplicates are refused.

    >>> list_digest(["b", "a"]) == hashlib.sha256(b"a\\nb\\n").digest()
    True
    >>> list_digest([]).hex()[:16]  # SHA-256 of no bytes
    'e3b0c44298fc1c14'
    """
    ordered = _canonical(ids, what="list", max_len=_MAX_SUBJECT_ID)
    return hashlib.sha256(b"".join(s.encode("utf-8") + b"\n" for s in ordered)).digest()


def _parse_ratio(ratio: str) -> Fraction:
    if not isinstance(ratio, str) or len(ratio) > 32 or not _RATIO.fullmatch(ratio):
        raise _bad_input(
            f"spot-check ratio {ratio!r} is not a decimal in [0, 1] such as 0.03", "INVALID_RATIO"
        )
    return Fraction(ratio)  # exact: "0.1" is 1/10, never a binary float


def selected_count(ratio: str, population_size: int) -> int:
    """Subjects drawn from a stratum: ``ceil(ratio × population_size)``, exactly (CXP-DRAW-004).

    Rounding up is what supervision.proto fixes: a tier with a non-zero ratio and at least one
    candidate always has at least one subject inspected, and the ratio is a floor on coverage,
    never undershot. The product is computed on exact fractions, so ``0.07 × 100`` is 7, not 8.

    >>> selected_count("0.03", 100), selected_count("0.03", 101), selected_count("0.07", 100)
    (3, 4, 7)
    >>> selected_count("0", 500), selected_count("1", 7), selected_count("0.5", 0)
    (0, 7, 0)
    >>> selected_count("0.001", 1)  # any non-zero ratio inspects someone
    1
    """
    share = _parse_ratio(ratio) * population_size
    return -((-share.numerator) // share.denominator)


def _timestamp_bytes(ts: Timestamp) -> bytes:
    if not 0 <= ts.nanos < 1_000_000_000:
        raise _bad_input("inputs_committed_at has nanos outside [0, 1e9)", "INVALID_DRAW")
    return ts.seconds.to_bytes(8, "big", signed=True) + ts.nanos.to_bytes(4, "big")


def inputs_commitment(draw: supervision_pb2.SpotCheckDraw) -> bytes:
    """The 32-byte commitment to a draw's inputs (CXP-DRAW-003).

    It covers the draw id, ``inputs_committed_at``, every stratum's tier scheme, tier, ratio
    (as written), population size and digest, in draw order, the pool's size and digest and the
    number of inspectors per subject; the result (counts, selections) and descriptive fields are
    not part of it. Log it before the seed checkpoint exists: that is what lets a verifier show
    the inputs were fixed first.
    """
    _check_inputs_shape(draw)
    parts = [
        _DS_INPUTS,
        _str(draw.draw_id),
        _timestamp_bytes(draw.inputs_committed_at),
        len(draw.strata).to_bytes(4, "big"),
    ]
    for stratum in draw.strata:
        parts += [
            _str(stratum.tier.scheme),
            _str(stratum.tier.tier),
            _str(stratum.tier.spot_check_ratio),
            _u64(stratum.population_size),
            bytes(stratum.population_sha256),
        ]
    parts += [
        _u64(draw.inspector_pool_size),
        bytes(draw.inspector_pool_sha256),
        draw.inspectors_per_subject.to_bytes(4, "big"),
    ]
    return hashlib.sha256(b"".join(parts)).digest()


def draw_seed(checkpoint: Checkpoint, draw_id: str, commitment: bytes) -> bytes:
    """The 32-byte seed of a draw from a *verified* checkpoint (CXP-DRAW-005).

    Only the checkpoint's origin, size and root hash enter the seed, not the note text: witness
    cosignatures are added to a note after it is published, and the seed must not depend on
    which copy of the note a verifier holds. Extension lines are left out for the same reason
    (they describe the tree head, they do not identify it).
    """
    if len(commitment) != 32:
        raise ValueError("commitment must be 32 bytes")
    return hashlib.sha256(
        _DS_SEED
        + _str(checkpoint.origin)
        + _u64(checkpoint.size)
        + checkpoint.root_hash
        + _str(draw_id)
        + commitment
    ).digest()


# --- the deterministic random stream -------------------------------------------------------------


class _Stream:
    """Counter-mode SHA-256 over (seed, label): an endless, reproducible stream of u64 words."""

    __slots__ = ("_block", "_counter", "_prefix", "_words")

    def __init__(self, seed: bytes, label: bytes) -> None:
        self._prefix = _DS_STREAM + seed + label
        self._counter = 0
        self._block = b""
        self._words = 0

    def _word(self) -> int:
        if self._words == 0:
            self._block = hashlib.sha256(self._prefix + _u64(self._counter)).digest()
            self._counter += 1
            self._words = _WORDS_PER_BLOCK
        offset = (_WORDS_PER_BLOCK - self._words) * 8
        self._words -= 1
        return int.from_bytes(self._block[offset : offset + 8], "big")

    def below(self, n: int) -> int:
        """A uniform integer in ``[0, n)``, by rejection (no modulo bias)."""
        # The largest multiple of n not above 2**64: words at or past it would make the low
        # residues more likely, so they are drawn again (probability < n / 2**64 per word).
        limit = _TWO_64 - (_TWO_64 % n)
        while True:
            x = self._word()
            if x < limit:
                return x % n


def _sample(items: list[str], k: int, stream: _Stream) -> list[str]:
    """``k`` distinct items, uniformly, in draw order (partial Fisher-Yates on a copy)."""
    pool = list(items)
    n = len(pool)
    for i in range(k):
        j = i + stream.below(n - i)
        pool[i], pool[j] = pool[j], pool[i]
    return pool[:k]


def _label(tag: bytes, index: int) -> bytes:
    return tag + _u64(index)


# --- seed checkpoint ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SeedLog:
    """The log whose checkpoints seed draws: its origin and the keys that sign its checkpoints.

    Take the keys from the trust bundle (:meth:`from_trust_bundle`), never from the draw. A
    witness threshold can be required so that a seed is a tree head others have also seen.
    """

    origin: str
    keys: tuple[NoteVerifier, ...]
    witnesses: tuple[NoteVerifier, ...] = ()
    witness_threshold: int = 0

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a seed log needs at least one checkpoint key")
        if not self.origin:
            raise ValueError("a seed log needs its origin")

    @classmethod
    def from_trust_bundle(cls, trust: TrustBundle, node_id: str, *, at: datetime) -> SeedLog:
        """The log of ``node_id`` (normally the hub) with its checkpoint keys valid at ``at``.

        ``at`` is when the seed checkpoint was used, normally the draw's ``drawn_at``: a key
        rotated out since then still verifies old draws, a key not yet valid does not.
        """
        node = trust.node(node_id)
        keys = []
        for record in trust.checkpoint_keys(node_id, at=at):
            # The bundle fixes CHECKPOINT keys to Ed25519 with a note name; anything else is
            # skipped rather than trusted.
            key = serialization.load_der_public_key(record.public_key.public_bytes)
            if isinstance(key, Ed25519PublicKey) and record.note_name:
                keys.append(NoteVerifier(name=record.note_name, public_key=key))
        if not node.log_origin or not keys:
            raise _bad_input(f"node {node_id!r} keeps no log with a valid key", "NO_SEED_LOG")
        return cls(origin=node.log_origin, keys=tuple(keys))

    def open(self, note: str | bytes) -> Checkpoint:
        """Verify a checkpoint note of this log and return it; raise ``InvalidCheckpoint``."""
        failure: InvalidCheckpoint | None = None
        for key in self.keys:
            try:
                return verify_checkpoint(
                    note,
                    verifier=key,
                    origin=self.origin,
                    witnesses=self.witnesses,
                    witness_threshold=self.witness_threshold,
                )
            except InvalidCheckpoint as exc:
                failure = exc
        assert failure is not None  # keys is never empty
        raise failure


@dataclass(frozen=True, slots=True, kw_only=True)
class InputsAnchor:
    """Evidence that the seed came after the inputs were committed (see the module docstring).

    ``note`` is a signed checkpoint of the seed log that the verifier knows was produced at or
    after the commitment of the inputs, e.g. the checkpoint of the receipt for the statement that
    logged :func:`inputs_commitment`. The seed tree must be strictly larger. With
    ``consistency_proof`` (RFC 9162, from the anchor's size to the seed's) the seed tree must
    also extend the anchor's. With ``commitment`` (the 32 bytes read from that logged
    statement) the draw's inputs must be exactly the committed ones.
    """

    note: str | bytes
    consistency_proof: tuple[bytes, ...] | None = None
    commitment: bytes | None = None


def _open_seed(note: str, seed_log: SeedLog) -> Checkpoint:
    try:
        return seed_log.open(note)
    except InvalidCheckpoint as exc:
        raise _mismatch(
            f"the seed checkpoint does not verify under the seed log's keys: {exc.message}",
            "SEED_CHECKPOINT_INVALID",
        ) from exc


def _check_after_inputs(
    seed: Checkpoint, anchor: InputsAnchor | None, seed_log: SeedLog, commitment: bytes
) -> None:
    """CXP-DRAW-008: the seed tree is later than a tree that postdates the commitment."""
    if anchor is None:
        return
    try:
        anchor_cp = seed_log.open(anchor.note)
    except InvalidCheckpoint as exc:
        raise _mismatch(
            f"the inputs anchor does not verify under the seed log's keys: {exc.message}",
            "INPUTS_ANCHOR_INVALID",
        ) from exc
    if seed.size <= anchor_cp.size:
        raise _mismatch(
            f"the seed tree (size {seed.size}) is not later than the tree at the commitment "
            f"of the inputs (size {anchor_cp.size})",
            "SEED_NOT_AFTER_INPUTS",
        )
    if anchor.consistency_proof is not None:
        try:
            verify_consistency(
                size1=anchor_cp.size,
                size2=seed.size,
                root1=anchor_cp.root_hash,
                root2=seed.root_hash,
                proof=anchor.consistency_proof,
            )
        except InvalidProof as exc:
            raise _mismatch(
                "the seed tree does not extend the anchor's tree", "SEED_NOT_AFTER_INPUTS"
            ) from exc
    if anchor.commitment is not None and anchor.commitment != commitment:
        raise _mismatch(
            "the draw's inputs are not the committed ones", "INPUTS_COMMITMENT_MISMATCH"
        )


# --- shape checks ---------------------------------------------------------------------------------


def _check_header(
    draw_id: str, tiers: Sequence[supervision_pb2.SupervisionTier], inspectors_per_subject: int
) -> None:
    """The parts of the contract the algorithm relies on (the rest is protovalidate's job)."""
    if not isinstance(draw_id, str) or not _DRAW_ID.fullmatch(draw_id):
        raise _bad_input("draw_id is not a ULID or a lower-case UUID", "INVALID_DRAW")
    if not 1 <= len(tiers) <= MAX_STRATA:
        raise _bad_input(f"a draw has 1 to {MAX_STRATA} strata", "INVALID_DRAW")
    if not 0 <= inspectors_per_subject <= MAX_INSPECTORS_PER_SUBJECT:
        raise _bad_input(
            f"0 to {MAX_INSPECTORS_PER_SUBJECT} inspectors per subject", "INVALID_DRAW"
        )
    seen: set[str] = set()
    for tier in tiers:
        if not _SCHEME.fullmatch(tier.scheme) or len(tier.scheme) > 64:
            raise _bad_input(f"tier scheme {tier.scheme!r} is not kebab-case", "INVALID_DRAW")
        if not 1 <= len(tier.tier) <= 32:
            raise _bad_input("a tier is 1 to 32 characters", "INVALID_DRAW")
        if tier.tier in seen:
            # Candidates are matched to strata by tier: two strata of one tier are ambiguous.
            raise _bad_input(f"tier {tier.tier!r} appears in two strata", "INVALID_DRAW")
        seen.add(tier.tier)
    for tier in tiers:
        _parse_ratio(tier.spot_check_ratio)


def _check_inputs_shape(draw: supervision_pb2.SpotCheckDraw) -> None:
    """A received draw's inputs are well formed (``INVALID_DRAW``, ``INVALID_RATIO``)."""
    _check_header(draw.draw_id, [s.tier for s in draw.strata], draw.inspectors_per_subject)
    if not draw.HasField("inputs_committed_at"):
        raise _bad_input("inputs_committed_at is required", "INVALID_DRAW")
    if any(len(s.population_sha256) != 32 for s in draw.strata):
        raise _bad_input("population_sha256 must be 32 bytes", "INVALID_DRAW")
    if len(draw.inspector_pool_sha256) != 32:
        raise _bad_input("inspector_pool_sha256 must be 32 bytes", "INVALID_DRAW")


def _subject_id(ref: common_pb2.SubjectRef) -> str:
    which = ref.WhichOneof("id")
    value = getattr(ref, which) if which else ""
    if not value:
        raise _bad_input("a candidate has neither a USCC nor a person token", "INVALID_ID")
    return str(value)


def _index_subjects(
    strata: Sequence[tuple[str, Sequence[common_pb2.SubjectRef | str]]],
) -> tuple[list[list[str]], dict[str, common_pb2.SubjectRef | str]]:
    """Canonical id lists per stratum, and each id's candidate; an id in two strata is refused."""
    lists: list[list[str]] = []
    by_id: dict[str, common_pb2.SubjectRef | str] = {}
    for tier, candidates in strata:
        ids = [c if isinstance(c, str) else _subject_id(c) for c in candidates]
        ordered = _canonical(ids, what=f"the candidates of tier {tier!r}", max_len=_MAX_SUBJECT_ID)
        for candidate, subject_id in zip(candidates, ids, strict=True):
            if subject_id in by_id:
                # A subject has one grade at a time: in two tiers it would get two chances.
                raise _bad_input(
                    f"{subject_id!r} is a candidate of two tiers", "DUPLICATE_CANDIDATE"
                )
            by_id[subject_id] = candidate
        lists.append(ordered)
    return lists, by_id


def _check_totals(draw: supervision_pb2.SpotCheckDraw, pool_size: int) -> list[int]:
    """Per-stratum counts, checked against the selection limit and the pool (CXP-DRAW-009)."""
    counts = [selected_count(s.tier.spot_check_ratio, s.population_size) for s in draw.strata]
    if sum(counts) > MAX_SELECTIONS:
        raise _bad_input(f"a draw selects at most {MAX_SELECTIONS} subjects", "LIMIT_EXCEEDED")
    k = draw.inspectors_per_subject
    if sum(counts) and k > pool_size:
        # Inspectors are drawn without replacement per subject: k of fewer than k is impossible.
        raise _bad_input(
            f"{k} inspectors per subject but only {pool_size} in the pool", "POOL_TOO_SMALL"
        )
    return counts


def _compute(
    draw: supervision_pb2.SpotCheckDraw,
    subject_lists: list[list[str]],
    pool: list[str],
    seed: bytes,
) -> list[tuple[str, str, list[str]]]:
    """The selections (tier, subject id, inspector ids) a draw's inputs and seed determine."""
    counts = _check_totals(draw, len(pool))
    k = draw.inspectors_per_subject
    out: list[tuple[str, str, list[str]]] = []
    for s, (stratum, ids, count) in enumerate(zip(draw.strata, subject_lists, counts, strict=True)):
        for subject_id in _sample(ids, count, _Stream(seed, _label(_LABEL_SUBJECTS, s))):
            stream = _Stream(seed, _label(_LABEL_INSPECTORS, len(out)))
            out.append((stratum.tier.tier, subject_id, _sample(pool, k, stream)))
    return out


def _aware(when: datetime, name: str) -> Timestamp:
    if not isinstance(when, datetime) or when.tzinfo is None or when.utcoffset() is None:
        raise _bad_input(f"{name} must be a timezone-aware datetime", "INVALID_DRAW")
    ts = Timestamp()
    ts.FromDatetime(when.astimezone(UTC))
    return ts


# --- run and verify -------------------------------------------------------------------------------


def run_draw(
    *,
    draw_id: str,
    task_name: str,
    authority: common_pb2.AuthorityRef,
    region_code: str,
    sector: str = "",
    strata: Sequence[tuple[supervision_pb2.SupervisionTier, Sequence[common_pb2.SubjectRef]]],
    inspector_pool: Sequence[str],
    inspectors_per_subject: int,
    inputs_committed_at: datetime,
    seed_note: str,
    seed_log: SeedLog,
    inputs_anchor: InputsAnchor | None,
    drawn_at: datetime,
) -> supervision_pb2.SpotCheckDraw:
    """Run a ``cxp-draw-v1`` draw and return the complete :class:`SpotCheckDraw` to sign and log.

    ``strata`` pairs each tier (with its ratio) with its candidates, in the order the draw lists
    them; ``inspector_pool`` holds pseudonymous inspector ids. ``seed_note`` is the signed
    checkpoint note of ``seed_log``: it is verified before anything is read from it, and
    ``inputs_anchor`` (required, ``None`` only when the caller has no evidence of when the inputs
    were committed) is checked as :func:`verify_draw` checks it, so a conducting node cannot
    publish a draw its own verifier would refuse.

    Raises :class:`~creditlink.sdk.errors.InvalidArgument` for malformed inputs (reasons
    ``INVALID_DRAW``, ``INVALID_RATIO``, ``INVALID_ID``, ``DUPLICATE_CANDIDATE``,
    ``DUPLICATE_INSPECTOR``, ``POOL_TOO_SMALL``, ``LIMIT_EXCEEDED``) and
    :class:`~creditlink.sdk.errors.VerificationError` for a seed that does not qualify
    (``SEED_CHECKPOINT_INVALID``, ``INPUTS_ANCHOR_INVALID``, ``SEED_NOT_AFTER_INPUTS``,
    ``INPUTS_COMMITMENT_MISMATCH``, ``DRAW_BEFORE_INPUTS``).
    """
    # 1. The header: draw id, tiers and ratios, inspectors per subject, times.
    if not isinstance(inspectors_per_subject, int) or isinstance(inspectors_per_subject, bool):
        raise _bad_input("inspectors_per_subject must be an int", "INVALID_DRAW")
    _check_header(draw_id, [tier for tier, _ in strata], inspectors_per_subject)
    draw = supervision_pb2.SpotCheckDraw(
        draw_id=draw_id,
        task_name=task_name,
        authority=authority,
        region_code=region_code,
        sector=sector,
        algorithm=ALGORITHM,
        inputs_committed_at=_aware(inputs_committed_at, "inputs_committed_at"),
        inspectors_per_subject=inspectors_per_subject,
        drawn_at=_aware(drawn_at, "drawn_at"),
    )
    if drawn_at < inputs_committed_at:
        raise _mismatch("the draw is run before its inputs are committed", "DRAW_BEFORE_INPUTS")

    # 2. Canonical inputs: sorted, checked, digested; the strata in the caller's order.
    subject_lists, by_id = _index_subjects([(t.tier, c) for t, c in strata])
    pool = _canonical(inspector_pool, what="inspector pool", max_len=_MAX_INSPECTOR_ID)
    for (tier, _), ids in zip(strata, subject_lists, strict=True):
        draw.strata.add(
            tier=tier,
            population_size=len(ids),
            population_sha256=_digest_sorted(ids),
            selected_count=selected_count(tier.spot_check_ratio, len(ids)),
        )
    draw.inspector_pool_size = len(pool)
    draw.inspector_pool_sha256 = _digest_sorted(pool)
    _check_totals(draw, len(pool))
    commitment = inputs_commitment(draw)

    # 3. The seed: only a verified checkpoint is read, and it must postdate the inputs.
    checkpoint = _open_seed(seed_note, seed_log)
    _check_after_inputs(checkpoint, inputs_anchor, seed_log, commitment)
    draw.seed_checkpoint.CopyFrom(
        log_pb2.SignedCheckpoint(
            note=seed_note,
            origin=checkpoint.origin,
            size=checkpoint.size,
            root_hash=checkpoint.root_hash,
        )
    )

    # 4. The selections.
    seed = draw_seed(checkpoint, draw.draw_id, commitment)
    for tier_name, subject_id, inspectors in _compute(draw, subject_lists, pool, seed):
        candidate = by_id[subject_id]
        assert not isinstance(candidate, str)  # run_draw takes SubjectRefs only
        draw.selections.add(subject=candidate, tier=tier_name, inspector_ids=inspectors)
    return draw


def _digest_sorted(ordered: Sequence[str]) -> bytes:
    return hashlib.sha256(b"".join(s.encode("utf-8") + b"\n" for s in ordered)).digest()


def verify_draw(
    draw: supervision_pb2.SpotCheckDraw,
    candidates: Mapping[str, Sequence[common_pb2.SubjectRef | str]],
    inspector_pool: Sequence[str],
    *,
    seed_log: SeedLog,
    inputs_anchor: InputsAnchor | None,
) -> None:
    """Re-run a published draw and raise on the first step that fails; return ``None`` if fair.

    ``candidates`` maps each tier of the draw to its candidate list (``SubjectRef`` or the bare
    USCC / person token; a tier with no candidates may be left out), ``inspector_pool`` is the
    pool the draw committed to, ``seed_log`` the log whose checkpoint seeds it, with keys from
    the trust bundle. ``inputs_anchor`` is keyword-required so that skipping the ordering check
    is a visible decision (pass ``None``; see the module docstring for what is then unproven).

    Steps (docs/spec/draw.md §5, in this order, so the reason is determined):

    1. the algorithm is ``cxp-draw-v1`` (``UNSUPPORTED_ALGORITHM``), the draw is well formed
       (``INVALID_DRAW``) and was run no earlier than its inputs were committed
       (``DRAW_BEFORE_INPUTS``);
    2. the seed note verifies under the seed log's keys and names its origin
       (``SEED_CHECKPOINT_INVALID``); the copies of origin, size and root beside it equal the
       verified values (``SEED_CHECKPOINT_MISMATCH``);
    3. each stratum's candidates have the committed size and digest
       (``POPULATION_DIGEST_MISMATCH``; a tier the draw does not have: ``UNKNOWN_TIER``), and so
       does the pool (``POOL_DIGEST_MISMATCH``);
    4. each stratum's ``selected_count`` is ``ceil(ratio × size)`` (``SELECTED_COUNT_MISMATCH``);
    5. with an anchor: it verifies (``INPUTS_ANCHOR_INVALID``), the seed tree is later and, with
       a proof, consistent (``SEED_NOT_AFTER_INPUTS``), the commitment matches
       (``INPUTS_COMMITMENT_MISMATCH``);
    6. recomputing gives exactly ``selections``: same subjects and kinds, tiers, inspectors, in
       the same order (``DRAW_MISMATCH``).

    Raises :class:`~creditlink.sdk.errors.VerificationError` (an ``InvalidArgument``) with those
    reasons, or ``InvalidArgument`` for malformed candidate lists.
    """
    # 1. Algorithm, shape, times.
    if draw.algorithm != ALGORITHM:
        raise _mismatch(f"unsupported draw algorithm {draw.algorithm!r}", "UNSUPPORTED_ALGORITHM")
    _check_inputs_shape(draw)
    if not draw.HasField("drawn_at") or not draw.HasField("seed_checkpoint"):
        raise _bad_input("drawn_at and seed_checkpoint are required", "INVALID_DRAW")
    if draw.drawn_at.ToNanoseconds() < draw.inputs_committed_at.ToNanoseconds():
        raise _mismatch("the draw was run before its inputs were committed", "DRAW_BEFORE_INPUTS")

    # 2. The seed checkpoint: verified first, then its unsigned copies compared.
    signed = draw.seed_checkpoint
    checkpoint = _open_seed(signed.note, seed_log)
    if (signed.origin, signed.size, bytes(signed.root_hash)) != (
        checkpoint.origin,
        checkpoint.size,
        checkpoint.root_hash,
    ):
        raise _mismatch(
            "seed_checkpoint's origin, size or root differ from its signed note",
            "SEED_CHECKPOINT_MISMATCH",
        )

    # 3. The candidate lists and the pool are the committed ones.
    tiers = [s.tier.tier for s in draw.strata]
    unknown = sorted(set(candidates) - set(tiers))
    if unknown:
        raise _bad_input(
            f"candidates given for tiers the draw does not have: {unknown}", "UNKNOWN_TIER"
        )
    subject_lists, by_id = _index_subjects([(t, candidates.get(t, ())) for t in tiers])
    for stratum, ids in zip(draw.strata, subject_lists, strict=True):
        if (len(ids), _digest_sorted(ids)) != (
            stratum.population_size,
            bytes(stratum.population_sha256),
        ):
            raise _mismatch(
                f"the candidates of tier {stratum.tier.tier!r} are not the committed list",
                "POPULATION_DIGEST_MISMATCH",
            )
    pool = _canonical(inspector_pool, what="inspector pool", max_len=_MAX_INSPECTOR_ID)
    if (len(pool), _digest_sorted(pool)) != (
        draw.inspector_pool_size,
        bytes(draw.inspector_pool_sha256),
    ):
        raise _mismatch("the inspector pool is not the committed pool", "POOL_DIGEST_MISMATCH")

    # 4. The counts follow from the ratios.
    for stratum in draw.strata:
        expected = selected_count(stratum.tier.spot_check_ratio, stratum.population_size)
        if stratum.selected_count != expected:
            raise _mismatch(
                f"tier {stratum.tier.tier!r} selects {stratum.selected_count}, "
                f"not ceil(ratio × size) = {expected}",
                "SELECTED_COUNT_MISMATCH",
            )

    # 5. The seed postdates the inputs, as far as the anchor can show.
    commitment = inputs_commitment(draw)
    _check_after_inputs(checkpoint, inputs_anchor, seed_log, commitment)

    # 6. Recompute and compare everything the draw claims.
    seed = draw_seed(checkpoint, draw.draw_id, commitment)
    expected_selections = _compute(draw, subject_lists, pool, seed)
    if len(expected_selections) != len(draw.selections):
        raise _mismatch(
            f"the draw lists {len(draw.selections)} selections, recomputing gives "
            f"{len(expected_selections)}",
            "DRAW_MISMATCH",
        )
    for m, ((tier, subject_id, inspectors), got) in enumerate(
        zip(expected_selections, draw.selections, strict=True)
    ):
        candidate = by_id[subject_id]
        which = got.subject.WhichOneof("id")
        same_subject = which is not None and getattr(got.subject, which) == subject_id
        # A bare id says nothing about the kind; a SubjectRef candidate fixes it.
        same_kind = isinstance(candidate, str) or got.subject.kind == candidate.kind
        if (
            not (same_subject and same_kind and got.tier == tier)
            or list(got.inspector_ids) != inspectors
        ):
            raise _mismatch(f"selection {m} differs from the recomputed draw", "DRAW_MISMATCH")
