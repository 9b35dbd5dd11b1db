"""Spot-check draws (creditlink.sdk.draw, docs/spec/draw.md): reproducible, tamper-evident, fair.

Seeds are real checkpoints: trees built with ``sdk.tlog``'s ``Frontier``, signed with a
``NoteSigner``, verified through ``SeedLog`` exactly as a verifier holding the trust bundle would.
Nothing of the module under test is mocked; the statistical checks run over fixed seeds, so they
give the same answer on every run.
"""

from __future__ import annotations

import copy
import doctest
import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import protovalidate
import pytest

from creditlink.sdk import draw as draw_module
from creditlink.sdk.draw import (
    ALGORITHM,
    InputsAnchor,
    SeedLog,
    draw_seed,
    inputs_commitment,
    list_digest,
    run_draw,
    selected_count,
    verify_draw,
)
from creditlink.sdk.errors import InvalidArgument, VerificationError
from creditlink.sdk.keys import PrivateKey, Purpose
from creditlink.sdk.tlog import (
    Checkpoint,
    Frontier,
    MemoryNodeStore,
    NoteSigner,
    consistency_proof,
    leaf_hash,
    root_at,
    sign_note,
)
from creditlink.sdk.trust import NodeKind, TrustBundle, TrustBundleBuilder
from creditlink.v1 import common_pb2, supervision_pb2

ORIGIN = "creditlink.example/cn-hub"
LOG_SEED = hashlib.sha256(b"test-draw/hub checkpoint key").digest()
LOG = NoteSigner.from_seed(ORIGIN, LOG_SEED)
OTHER_LOG = NoteSigner.from_seed(ORIGIN, hashlib.sha256(b"test-draw/impostor").digest())
SEED_LOG = SeedLog(origin=ORIGIN, keys=(LOG.verifier,))
COMMITTED = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DRAWN = COMMITTED + timedelta(hours=2)
DRAW_ID = "01JD8Z6Q3V4W5X6Y7Z8A9B0C1D"
AUTHORITY = common_pb2.AuthorityRef(
    name="杭州市市场监督管理局", uscc="11330100002493766D", region_code="330100"
)


# --- a real log ----------------------------------------------------------------------------------


def _tree(size: int) -> MemoryNodeStore:
    store = MemoryNodeStore()
    _, runs = Frontier().extend([leaf_hash(b"test-draw leaf %d" % i) for i in range(size)])
    store.add_runs(runs)
    return store


STORE = _tree(40)


def _note(size: int, signer: NoteSigner = LOG, *, origin: str = ORIGIN) -> str:
    body = Checkpoint(origin=origin, size=size, root_hash=root_at(size, STORE)).to_body()
    return sign_note(body, [signer])


SEED_NOTE = _note(37)


# --- inputs --------------------------------------------------------------------------------------


def _uscc(region: str, i: int) -> str:
    # Matches the contract's USCC pattern; the draw treats ids as opaque bytes.
    return f"91{region}MA{i:07d}Y"


def _refs(region: str, n: int) -> list[common_pb2.SubjectRef]:
    return [
        common_pb2.SubjectRef(
            uscc=_uscc(region, i), kind=common_pb2.SUBJECT_KIND_LEGAL_PERSON, display_name=f"#{i}"
        )
        for i in range(n)
    ]


def _tier(tier: str, ratio: str) -> supervision_pb2.SupervisionTier:
    return supervision_pb2.SupervisionTier(
        scheme="cxp-basic", tier=tier, spot_check_ratio=ratio, rounds_per_year=1
    )


STRATA = [
    (_tier("A", "0.02"), _refs("330100", 150)),
    (_tier("B", "0.05"), _refs("330200", 80)),
    (_tier("C", "0.2"), _refs("330300", 30)),
    (_tier("D", "0.5"), _refs("330400", 7)),
]
POOL = [f"insp-{i:03d}" for i in range(25)]


def _candidates(
    strata: Sequence[tuple[supervision_pb2.SupervisionTier, Sequence[common_pb2.SubjectRef]]],
) -> dict[str, list[common_pb2.SubjectRef | str]]:
    return {tier.tier: list(refs) for tier, refs in strata}


def _run(**changes: object) -> supervision_pb2.SpotCheckDraw:
    args: dict[str, object] = {
        "draw_id": DRAW_ID,
        "task_name": "2026年度食品经营者双随机抽查",
        "authority": AUTHORITY,
        "region_code": "330100",
        "sector": "market-regulation",
        "strata": STRATA,
        "inspector_pool": POOL,
        "inspectors_per_subject": 2,
        "inputs_committed_at": COMMITTED,
        "seed_note": SEED_NOTE,
        "seed_log": SEED_LOG,
        "inputs_anchor": None,
        "drawn_at": DRAWN,
    }
    args.update(changes)
    return run_draw(**args)  # type: ignore[arg-type]


DRAW = _run()


def _verify(
    draw: supervision_pb2.SpotCheckDraw,
    candidates: dict[str, list[common_pb2.SubjectRef | str]] | None = None,
    pool: Sequence[str] = POOL,
    *,
    anchor: InputsAnchor | None = None,
    seed_log: SeedLog = SEED_LOG,
) -> None:
    verify_draw(
        draw,
        _candidates(STRATA) if candidates is None else candidates,
        pool,
        seed_log=seed_log,
        inputs_anchor=anchor,
    )


def _picks(draw: supervision_pb2.SpotCheckDraw) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(s.tier, s.subject.uscc, tuple(s.inspector_ids)) for s in draw.selections]


# --- documentation -------------------------------------------------------------------------------


def test_doctests() -> None:
    result = doctest.testmod(draw_module, report=True)
    assert result.attempted > 0
    assert result.failed == 0


# --- reproducibility -----------------------------------------------------------------------------


def test_draw_fills_the_contract() -> None:
    """The draw is a complete SpotCheckDraw that passes the contract's protovalidate rules."""
    protovalidate.validate(DRAW)
    assert DRAW.algorithm == ALGORITHM
    assert [s.selected_count for s in DRAW.strata] == [3, 4, 6, 4]  # ceil: 3, 4, 6, 3.5 → 4
    assert [s.population_size for s in DRAW.strata] == [150, 80, 30, 7]
    assert len(DRAW.selections) == 17
    assert DRAW.seed_checkpoint.note == SEED_NOTE
    assert DRAW.seed_checkpoint.size == 37
    assert DRAW.seed_checkpoint.root_hash == root_at(37, STORE)
    assert DRAW.inspector_pool_sha256 == list_digest(POOL)
    for selection in DRAW.selections:
        assert len(set(selection.inspector_ids)) == 2  # without replacement per subject
        assert selection.subject.display_name  # the candidate's SubjectRef, whole


def test_same_inputs_same_draw() -> None:
    again = _run(
        strata=[(t, list(reversed(refs))) for t, refs in STRATA],  # order of input irrelevant
        inspector_pool=list(reversed(POOL)),
    )
    assert again.SerializeToString(deterministic=True) == DRAW.SerializeToString(deterministic=True)


def test_verify_accepts_the_draw() -> None:
    _verify(DRAW)
    # Candidates as bare ids, in any order, the pool shuffled: still the same committed lists.
    bare: dict[str, list[common_pb2.SubjectRef | str]] = {
        tier.tier: [r.uscc for r in reversed(refs)] for tier, refs in STRATA
    }
    _verify(DRAW, bare, POOL[::-1])


CHANGES: dict[str, Callable[[], supervision_pb2.SpotCheckDraw]] = {
    "one candidate replaced": lambda: _run(
        strata=[
            STRATA[0],
            (STRATA[1][0], [*STRATA[1][1][:17], _refs("330299", 1)[0], *STRATA[1][1][18:]]),
            *STRATA[2:],
        ]
    ),
    "one candidate removed": lambda: _run(strata=[(STRATA[0][0], STRATA[0][1][1:]), *STRATA[1:]]),
    "one inspector replaced": lambda: _run(inspector_pool=[*POOL[:-1], "insp-999"]),
    "next checkpoint as seed": lambda: _run(seed_note=_note(38)),
    "another draw id": lambda: _run(draw_id="01JD8Z6Q3V4W5X6Y7Z8A9B0C1E"),
    "committed a second later": lambda: _run(inputs_committed_at=COMMITTED + timedelta(seconds=1)),
    "ratio written differently": lambda: _run(
        strata=[(_tier("A", "0.020"), STRATA[0][1]), *STRATA[1:]]
    ),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_any_change_of_the_inputs_or_seed_changes_the_draw(change: str) -> None:
    changed = CHANGES[change]()
    assert inputs_commitment(changed) != inputs_commitment(DRAW) or (
        changed.seed_checkpoint.note != DRAW.seed_checkpoint.note
    )
    # Every stratum is redrawn (its stream depends on the seed), not just the changed one.
    assert _picks(changed) != _picks(DRAW)
    for stratum in ("A", "B", "C"):
        assert [p for p in _picks(changed) if p[0] == stratum] != [
            p for p in _picks(DRAW) if p[0] == stratum
        ], stratum


def test_descriptive_fields_do_not_enter_the_seed() -> None:
    other = _run(task_name="another name", sector="food", drawn_at=DRAWN + timedelta(days=1))
    assert _picks(other) == _picks(DRAW)


def test_cosignatures_do_not_change_the_seed() -> None:
    witness = NoteSigner.from_seed("witness.example/w1", hashlib.sha256(b"w1").digest())
    body = Checkpoint(origin=ORIGIN, size=37, root_hash=root_at(37, STORE)).to_body()
    cosigned = _run(seed_note=sign_note(body, [LOG, witness]))
    assert _picks(cosigned) == _picks(DRAW)


# --- tampering -----------------------------------------------------------------------------------


def _tampered(
    mutate: Callable[[supervision_pb2.SpotCheckDraw], None],
) -> supervision_pb2.SpotCheckDraw:
    draw = copy.deepcopy(DRAW)
    mutate(draw)
    return draw


def _swap_subject(d: supervision_pb2.SpotCheckDraw) -> None:
    chosen = {s.subject.uscc for s in d.selections}
    outsider = next(r for r in STRATA[2][1] if r.uscc not in chosen)
    target = next(s for s in d.selections if s.tier == "C")
    target.subject.CopyFrom(outsider)


def _swap_order(d: supervision_pb2.SpotCheckDraw) -> None:
    first, second = copy.deepcopy(d.selections[0]), copy.deepcopy(d.selections[1])
    d.selections[0].CopyFrom(second)
    d.selections[1].CopyFrom(first)


def _other_inspector(d: supervision_pb2.SpotCheckDraw) -> None:
    used = set(d.selections[0].inspector_ids)
    d.selections[0].inspector_ids[0] = next(p for p in POOL if p not in used)


def _reseed(d: supervision_pb2.SpotCheckDraw) -> None:
    # A genuine, validly signed checkpoint of the right log — just not the one drawn with.
    d.seed_checkpoint.note = _note(38)
    d.seed_checkpoint.size = 38
    d.seed_checkpoint.root_hash = root_at(38, STORE)


TAMPERING: dict[str, tuple[Callable[[supervision_pb2.SpotCheckDraw], None], str]] = {
    "subject swapped for a non-selected candidate": (_swap_subject, "DRAW_MISMATCH"),
    "two selections reordered": (_swap_order, "DRAW_MISMATCH"),
    "inspector replaced": (_other_inspector, "DRAW_MISMATCH"),
    "inspectors reordered": (lambda d: d.selections[0].inspector_ids.reverse(), "DRAW_MISMATCH"),
    "selection removed": (lambda d: d.selections.pop(), "DRAW_MISMATCH"),
    "selection added": (lambda d: d.selections.append(d.selections[0]), "DRAW_MISMATCH"),
    "tier of a selection changed": (
        lambda d: setattr(d.selections[-1], "tier", "C"),
        "DRAW_MISMATCH",
    ),
    "subject kind changed": (
        lambda d: setattr(
            d.selections[0].subject, "kind", common_pb2.SUBJECT_KIND_INDIVIDUAL_BUSINESS
        ),
        "DRAW_MISMATCH",
    ),
    "another valid checkpoint as seed": (_reseed, "DRAW_MISMATCH"),
    "seed signed by another key": (
        lambda d: setattr(d.seed_checkpoint, "note", _note(37, OTHER_LOG)),
        "SEED_CHECKPOINT_INVALID",
    ),
    "seed from another log": (
        lambda d: setattr(
            d.seed_checkpoint,
            "note",
            _note(
                37, NoteSigner.from_seed("other.example/log", LOG_SEED), origin="other.example/log"
            ),
        ),
        "SEED_CHECKPOINT_INVALID",
    ),
    "unsigned size edited": (
        lambda d: setattr(d.seed_checkpoint, "size", 36),
        "SEED_CHECKPOINT_MISMATCH",
    ),
    "selected count edited": (
        lambda d: setattr(d.strata[0], "selected_count", 2),
        "SELECTED_COUNT_MISMATCH",
    ),
    "population digest edited": (
        lambda d: setattr(d.strata[1], "population_sha256", bytes(32)),
        "POPULATION_DIGEST_MISMATCH",
    ),
    "pool digest edited": (
        lambda d: setattr(d, "inspector_pool_sha256", list_digest(POOL[1:])),
        "POOL_DIGEST_MISMATCH",
    ),
    "ratio edited": (
        lambda d: setattr(d.strata[3].tier, "spot_check_ratio", "0.6"),
        "SELECTED_COUNT_MISMATCH",
    ),
    "ratio respelled": (
        lambda d: setattr(d.strata[3].tier, "spot_check_ratio", "0.50"),
        "DRAW_MISMATCH",  # same count, different commitment, so a different seed
    ),
    "algorithm": (lambda d: setattr(d, "algorithm", "cxp-draw-v2"), "UNSUPPORTED_ALGORITHM"),
    "drawn before the inputs were committed": (
        lambda d: d.drawn_at.FromDatetime(COMMITTED - timedelta(seconds=1)),
        "DRAW_BEFORE_INPUTS",
    ),
    "commitment time moved": (
        lambda d: d.inputs_committed_at.FromDatetime(COMMITTED - timedelta(days=1)),
        "DRAW_MISMATCH",
    ),
}


@pytest.mark.parametrize("name", sorted(TAMPERING))
def test_verify_catches_tampering(name: str) -> None:
    mutate, reason = TAMPERING[name]
    with pytest.raises(InvalidArgument) as info:
        _verify(_tampered(mutate))
    assert info.value.reason == reason
    assert isinstance(info.value, VerificationError)  # a verification failure, not bad input


def test_verify_catches_other_candidates_or_pool() -> None:
    candidates = _candidates(STRATA)
    candidates["B"] = candidates["B"][:-1]
    with pytest.raises(VerificationError) as info:
        _verify(DRAW, candidates)
    assert info.value.reason == "POPULATION_DIGEST_MISMATCH"

    candidates = _candidates(STRATA)
    candidates["B"] = [*candidates["B"][:-1], _uscc("330299", 5)]
    with pytest.raises(VerificationError) as info:
        _verify(DRAW, candidates)
    assert info.value.reason == "POPULATION_DIGEST_MISMATCH"

    with pytest.raises(VerificationError) as info:
        _verify(DRAW, pool=[*POOL, "insp-extra"])
    assert info.value.reason == "POOL_DIGEST_MISMATCH"

    with pytest.raises(InvalidArgument) as info:
        _verify(DRAW, {**_candidates(STRATA), "E": []})
    assert info.value.reason == "UNKNOWN_TIER"


def test_verify_with_keys_that_did_not_sign_the_seed() -> None:
    with pytest.raises(VerificationError) as info:
        _verify(DRAW, seed_log=SeedLog(origin=ORIGIN, keys=(OTHER_LOG.verifier,)))
    assert info.value.reason == "SEED_CHECKPOINT_INVALID"


# --- seed after the inputs -----------------------------------------------------------------------


def test_anchor_orders_the_seed_after_the_inputs() -> None:
    commitment = inputs_commitment(DRAW)
    proof = consistency_proof(30, 37, STORE)
    _verify(DRAW, anchor=InputsAnchor(note=_note(30)))
    _verify(DRAW, anchor=InputsAnchor(note=_note(36), commitment=commitment))
    _verify(DRAW, anchor=InputsAnchor(note=_note(30), consistency_proof=tuple(proof)))
    # The conducting node checks the same before it publishes.
    assert _picks(_run(inputs_anchor=InputsAnchor(note=_note(36)))) == _picks(DRAW)


@pytest.mark.parametrize(
    ("anchor", "reason"),
    [
        (lambda: InputsAnchor(note=_note(37)), "SEED_NOT_AFTER_INPUTS"),
        (lambda: InputsAnchor(note=_note(40)), "SEED_NOT_AFTER_INPUTS"),
        (lambda: InputsAnchor(note=_note(30, OTHER_LOG)), "INPUTS_ANCHOR_INVALID"),
        (
            # A proof for another pair of sizes: the seed tree is not shown to extend the anchor.
            lambda: InputsAnchor(
                note=_note(30), consistency_proof=tuple(consistency_proof(31, 37, STORE))
            ),
            "SEED_NOT_AFTER_INPUTS",
        ),
        (
            lambda: InputsAnchor(note=_note(30), commitment=hashlib.sha256(b"other").digest()),
            "INPUTS_COMMITMENT_MISMATCH",
        ),
    ],
)
def test_anchor_failures(anchor: Callable[[], InputsAnchor], reason: str) -> None:
    with pytest.raises(VerificationError) as info:
        _verify(DRAW, anchor=anchor())
    assert info.value.reason == reason
    with pytest.raises(VerificationError) as info:
        _run(inputs_anchor=anchor())
    assert info.value.reason == reason


def test_run_refuses_a_seed_it_cannot_verify() -> None:
    for note in (_note(37, OTHER_LOG), SEED_NOTE.replace("\n37\n", "\n38\n")):
        with pytest.raises(VerificationError) as info:
            _run(seed_note=note)
        assert info.value.reason == "SEED_CHECKPOINT_INVALID"
    with pytest.raises(VerificationError) as info:
        _run(drawn_at=COMMITTED - timedelta(minutes=1))
    assert info.value.reason == "DRAW_BEFORE_INPUTS"


def test_seed_log_from_the_trust_bundle() -> None:
    """The seed log's keys come from the trust bundle, as a verifier gets them."""
    root = PrivateKey.from_seed(hashlib.sha256(b"test-draw/root").digest())
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    builder = TrustBundleBuilder(
        federation_id="cn-credit",
        version=1,
        issued_at=t0,
        expires_at=t0 + timedelta(days=365),
        root_threshold=1,
    )
    builder.add_root_key(root.public_key, not_before=t0, not_after=t0 + timedelta(days=3650))
    builder.add_node(
        "cn-hub",
        region_code="100000",
        kind=NodeKind.HUB,
        tls_spki_sha256=[hashlib.sha256(b"tls").digest()],
        log_origin=ORIGIN,
    )
    builder.add_key(
        "cn-hub",
        PrivateKey.from_seed(LOG_SEED).public_key,  # the key NoteSigner LOG signs with
        Purpose.CHECKPOINT,
        not_before=t0,
        not_after=t0 + timedelta(days=365),
        note_name=ORIGIN,
    )
    trust = TrustBundle.from_envelope(
        builder.sign([root]), trusted_roots=[root.public_key], threshold=1, now=t0
    )
    seed_log = SeedLog.from_trust_bundle(trust, "cn-hub", at=DRAWN)
    assert seed_log.origin == ORIGIN
    assert seed_log.keys == (LOG.verifier,)
    _verify(DRAW, seed_log=seed_log)
    with pytest.raises(InvalidArgument) as info:
        SeedLog.from_trust_bundle(trust, "cn-hub", at=t0 + timedelta(days=400))  # key expired
    assert info.value.reason == "NO_SEED_LOG"


# --- counts and edge cases -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratio", "size", "expected"),
    [
        ("0", 0, 0),
        ("0", 1000, 0),
        ("0.0", 1000, 0),
        ("1", 0, 0),
        ("1", 13, 13),
        ("1.000", 13, 13),
        ("0.5", 0, 0),
        ("0.5", 1, 1),
        ("0.5", 7, 4),
        ("0.07", 100, 7),  # binary floating point: 7.000000000000001 → 8
        ("0.29", 100, 29),  # 28.999999999999996 in floating point, 29 exactly
        ("0.333", 3, 1),
        ("0.334", 3, 2),
        ("0.0000001", 1, 1),
        ("0.02", 50, 1),
        ("0.02", 51, 2),
    ],
)
def test_selected_count_rounds_up_exactly(ratio: str, size: int, expected: int) -> None:
    assert selected_count(ratio, size) == expected


@pytest.mark.parametrize(
    "ratio", ["", "1.5", "1.01", ".5", "0.", "0.5e0", "3%", "-0", " 0.5", "0,5", "1/2"]
)
def test_selected_count_refuses_malformed_ratios(ratio: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        selected_count(ratio, 10)
    assert info.value.reason == "INVALID_RATIO"


def test_empty_and_zero_strata() -> None:
    draw = _run(
        strata=[
            (_tier("A", "0"), _refs("330100", 40)),
            (_tier("B", "0.3"), []),
            (_tier("C", "1"), _refs("330300", 5)),
        ]
    )
    assert [s.selected_count for s in draw.strata] == [0, 0, 5]
    assert draw.strata[1].population_sha256 == hashlib.sha256(b"").digest()
    # Ratio 1: everyone, as a permutation.
    assert sorted(s.subject.uscc for s in draw.selections) == [_uscc("330300", i) for i in range(5)]
    verify_draw(
        draw,
        {"A": list(_refs("330100", 40)), "C": list(_refs("330300", 5))},  # B left out: empty
        POOL,
        seed_log=SEED_LOG,
        inputs_anchor=None,
    )


def test_inspector_edge_cases() -> None:
    none = _run(inspector_pool=[], inspectors_per_subject=0)
    assert all(not s.inspector_ids for s in none.selections)
    every = _run(inspector_pool=POOL[:3], inspectors_per_subject=3)
    assert all(sorted(s.inspector_ids) == POOL[:3] for s in every.selections)
    with pytest.raises(InvalidArgument) as info:
        _run(inspector_pool=POOL[:1], inspectors_per_subject=2)
    assert info.value.reason == "POOL_TOO_SMALL"
    # Nobody drawn: a small pool is no problem.
    _run(
        strata=[(_tier("A", "0"), _refs("330100", 5))], inspector_pool=[], inspectors_per_subject=2
    )


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"inspector_pool": ["a", "b", "a"]}, "DUPLICATE_INSPECTOR"),
        ({"inspector_pool": ["a", "b\nc", "d"]}, "INVALID_ID"),
        ({"inspector_pool": ["a", "x" * 65]}, "INVALID_ID"),
        ({"inspector_pool": ["a", ""]}, "INVALID_ID"),
        (
            {"strata": [(_tier("A", "0.5"), [*_refs("330100", 3), _refs("330100", 1)[0]])]},
            "DUPLICATE_CANDIDATE",
        ),
        (
            {
                "strata": [
                    (_tier("A", "0.5"), _refs("330100", 3)),
                    (_tier("B", "0.5"), _refs("330100", 2)),
                ]
            },
            "DUPLICATE_CANDIDATE",
        ),
        ({"strata": [(_tier("A", "0.5"), [common_pb2.SubjectRef()])]}, "INVALID_ID"),
        ({"strata": [(_tier("A", "0.5"), []), (_tier("A", "0.2"), [])]}, "INVALID_DRAW"),
        ({"strata": []}, "INVALID_DRAW"),
        ({"strata": [(_tier("A", "half"), [])]}, "INVALID_RATIO"),
        ({"strata": [(_tier("A", "0.5"), [])] * 65}, "INVALID_DRAW"),
        ({"draw_id": "not-an-id"}, "INVALID_DRAW"),
        ({"inspectors_per_subject": 17}, "INVALID_DRAW"),
        ({"inspectors_per_subject": -1}, "INVALID_DRAW"),
        ({"inputs_committed_at": datetime(2026, 3, 1, 9, 0)}, "INVALID_DRAW"),  # noqa: DTZ001
    ],
)
def test_malformed_inputs_are_refused(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        _run(**changes)
    assert info.value.reason == reason
    assert not isinstance(info.value, VerificationError)


def test_list_digest_is_the_canonical_form() -> None:
    ids = ["pn1:abcdefghijklmnopqrstuv", "pn1:Zbcdefghijklmnopqrstuv", "pn1:_bcdefghijklmnopqrstuv"]
    # Bytewise: 'Z' (0x5a) < '_' (0x5f) < 'a' (0x61); a case-insensitive sort would differ.
    canonical = (
        b"pn1:Zbcdefghijklmnopqrstuv\npn1:_bcdefghijklmnopqrstuv\npn1:abcdefghijklmnopqrstuv\n"
    )
    assert list_digest(ids) == hashlib.sha256(canonical).digest()
    assert (
        list_digest(["检查员-2", "检查员-1"])
        == hashlib.sha256("检查员-1\n检查员-2\n".encode()).digest()
    )


# --- fairness ------------------------------------------------------------------------------------


def _chi_square(counts: Sequence[int], expected: float) -> float:
    return sum((c - expected) ** 2 / expected for c in counts)


# Upper 0.1 % points of the chi-square distribution (degrees of freedom → value).
CHI2_999 = {9: 27.877, 11: 31.264}


def test_subjects_are_drawn_uniformly() -> None:
    """Over many seeds every candidate is drawn equally often, at every position of the draw."""
    candidates = _refs("330500", 10)
    strata = [(_tier("C", "0.3"), candidates)]  # 3 of 10
    trials = 1500
    chosen: Counter[str] = Counter()
    first: Counter[str] = Counter()
    for t in range(trials):
        # The seed varies as it does in practice: a new tree head (and draw id) each time.
        seed_note = sign_note(
            Checkpoint(
                origin=ORIGIN, size=1000 + t, root_hash=hashlib.sha256(b"%d" % t).digest()
            ).to_body(),
            [LOG],
        )
        draw = _run(
            strata=strata, seed_note=seed_note, inspector_pool=POOL[:12], inspectors_per_subject=1
        )
        picks = [s.subject.uscc for s in draw.selections]
        assert len(set(picks)) == 3
        chosen.update(picks)
        first[picks[0]] += 1
    ids = [c.uscc for c in candidates]
    assert _chi_square([chosen[i] for i in ids], trials * 3 / 10) < CHI2_999[9]
    assert _chi_square([first[i] for i in ids], trials / 10) < CHI2_999[9]


def test_inspectors_are_drawn_uniformly() -> None:
    pool = POOL[:12]
    draw = _run(
        strata=[(_tier("D", "1"), _refs("330600", 600))],
        inspector_pool=pool,
        inspectors_per_subject=2,
    )
    counts = Counter(i for s in draw.selections for i in s.inspector_ids)
    assert _chi_square([counts[i] for i in pool], 600 * 2 / 12) < CHI2_999[11]


def _spec_below(seed: bytes, label: bytes, n: int, calls: int) -> tuple[list[int], int]:
    """uniform(n) straight from draw.md CXP-DRAW-006, counting the words it consumed."""
    out, used, block = [], 0, 0
    words: list[int] = []
    for _ in range(calls):
        while True:
            if not words:
                digest = hashlib.sha256(
                    b"CXP-DRAW-V1/stream\x00" + seed + label + block.to_bytes(8, "big")
                ).digest()
                words = [int.from_bytes(digest[i : i + 8], "big") for i in range(0, 32, 8)]
                block += 1
            x = words.pop(0)
            used += 1
            if x < 2**64 - 2**64 % n:
                out.append(x % n)
                break
    return out, used


@pytest.mark.parametrize("n", [1, 2, 3, 10, 2**32 + 1, 2**63 + 1, 2**64 - 1])
def test_rejection_sampling_follows_the_spec(n: int) -> None:
    """The stream rejects the biased top words; for n = 2**63 + 1 about half of them."""
    seed = draw_seed(Checkpoint(origin=ORIGIN, size=1, root_hash=bytes(32)), DRAW_ID, bytes(32))
    stream = draw_module._Stream(seed, b"\x01" + bytes(8))
    got = [stream.below(n) for _ in range(400)]
    expected, used = _spec_below(seed, b"\x01" + bytes(8), n, 400)
    assert got == expected
    assert all(0 <= x < n for x in got)
    if n == 2**63 + 1:
        assert used > 600  # ~800 expected: rejection really happens
    if n in (1, 2):
        assert used == 400  # 2**64 is a multiple: nothing to reject
