"""Vectors for spot-check draws (docs/spec/draw.md): ``draw.json``.

A second reading of the specification, independent of ``creditlink.sdk.draw``: the canonical
lists, the inputs commitment, the seed, the SHA-256 counter stream, rejection sampling and the
partial Fisher-Yates shuffle are written out again below with hashlib, and the seed checkpoints
are signed notes assembled by the helpers of ``scripts/vectors/tlog.py`` (themselves independent
of ``sdk/tlog``). ``tests/sdk/test_vectors_draw.py`` runs every case against the SDK.

Test fields: the inputs ``drawId``, ``inputsCommittedAt``, ``strata`` (``scheme``, ``tier``,
``ratio``, ``candidates``), ``inspectorPool``, ``inspectorsPerSubject``, ``seedNote`` and, where
an ordering is claimed, ``anchorNote``; the group's ``verifierKey`` and ``origin`` name the seed
log. Valid cases give every intermediate value (``strataResults``,
``inspectorPoolSha256Hex``, ``inputsCommitmentHex``, ``seedHex``) and the ``selections``;
invalid cases give the ``reason``.

Not shipped: this module is only imported by ``scripts/gen_vectors.py`` and the tests.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from typing import Any

from scripts.vectors.tlog import _body, _document, _NoteKey, _signed, _Tests

__all__ = ["draw", "worked_example_values"]

REQUIREMENTS = [
    "CXP-DRAW-001",
    "CXP-DRAW-002",
    "CXP-DRAW-003",
    "CXP-DRAW-004",
    "CXP-DRAW-005",
    "CXP-DRAW-006",
    "CXP-DRAW-007",
    "CXP-DRAW-008",
    "CXP-DRAW-009",
    "CXP-DRAW-012",
]

SEED_ORIGIN = "hub.cxp-vectors.example/log"
SEED_KEY = _NoteKey(SEED_ORIGIN, "draw seed log")
OTHER_KEY = _NoteKey(SEED_ORIGIN, "not the seed log's key")
OTHER_ORIGIN_KEY = _NoteKey("zj.cxp-vectors.example/log", "another log")

NOTES = {
    "HappyPath": "A well-formed draw: the implementation must reproduce every output exactly.",
    "WorkedExample": "The worked example of docs/spec/draw.md.",
    "SeveralStrata": "Several tiers with different ratios; each stratum has its own stream.",
    "ZeroRatio": "Ratio 0: nobody is drawn from the stratum.",
    "FullRatio": "Ratio 1 (written 1.00): every candidate is drawn, in shuffled order.",
    "EmptyStratum": "A tier without candidates: nothing is drawn and its digest is SHA-256('').",
    "ExactRounding": "ratio × size is computed exactly: 0.07 × 100 is 7 (binary floating point "
    "gives 7.000000000000001 and rounds up to 8).",
    "RoundUp": "A fractional ratio × size is rounded up.",
    "NoInspectors": "Zero inspectors per subject and an empty pool.",
    "BytewiseOrder": "Ids that sort differently bytewise and under a locale or case-insensitive "
    "order ('Z' < '_' < 'a').",
    "UnsortedInput": "Candidates and pool given out of order: the canonical order is sorted.",
    "Uuid": "A draw id in the UUID form.",
    "AnchorBefore": "An anchor checkpoint with a smaller tree: the seed is later.",
    "SeedWrongKey": "The seed note is signed by a key other than the seed log's.",
    "SeedWrongOrigin": "The seed note is another log's checkpoint.",
    "SeedTampered": "The seed note's text was changed after signing.",
    "SeedNotAfterAnchor": "The seed tree is not larger than the anchor tree.",
    "DuplicateCandidate": "One candidate is listed twice in a stratum.",
    "CandidateInTwoStrata": "One candidate is listed in two strata.",
    "DuplicateInspector": "One inspector is listed twice in the pool.",
    "PoolTooSmall": "More inspectors per subject than the pool holds.",
    "BadRatio": "A ratio that is not a decimal in [0, 1] written as the contract allows.",
    "IdWithNewline": "An id containing LF would split the canonical list.",
    "DuplicateTier": "Two strata of one tier.",
    "BadDrawId": "A draw id that is neither a ULID nor a lower-case UUID.",
    "TooManyInspectors": "More than 16 inspectors per subject.",
}

# --------------------------------------------------------------------------------------------
# The algorithm, written from docs/spec/draw.md
# --------------------------------------------------------------------------------------------

U64 = 2**64


def _lp(text: str) -> bytes:
    data = text.encode("utf-8")
    return len(data).to_bytes(4, "big") + data


def _canonical(ids: list[str]) -> list[str]:
    return sorted(ids, key=lambda s: s.encode("utf-8"))


def _list_sha256(ids: list[str]) -> bytes:
    return hashlib.sha256(b"".join(i.encode("utf-8") + b"\n" for i in _canonical(ids))).digest()


def _count(ratio: str, size: int) -> int:
    numerator, denominator = Decimal(ratio).as_integer_ratio()
    return -((-numerator * size) // denominator)


def _commitment(inputs: dict[str, Any]) -> bytes:
    # RFC 3339 in UTC with whole seconds (vectors.md §2.5): nanos are 0.
    committed = datetime.fromisoformat(inputs["inputsCommittedAt"].replace("Z", "+00:00"))
    seconds = int(committed.timestamp())
    data = b"CXP-DRAW-V1/inputs\x00" + _lp(inputs["drawId"])
    data += seconds.to_bytes(8, "big", signed=True) + (0).to_bytes(4, "big")
    data += len(inputs["strata"]).to_bytes(4, "big")
    for s in inputs["strata"]:
        data += _lp(s["scheme"]) + _lp(s["tier"]) + _lp(s["ratio"])
        data += len(s["candidates"]).to_bytes(8, "big") + _list_sha256(s["candidates"])
    data += len(inputs["inspectorPool"]).to_bytes(8, "big") + _list_sha256(inputs["inspectorPool"])
    data += inputs["inspectorsPerSubject"].to_bytes(4, "big")
    return hashlib.sha256(data).digest()


def _seed(origin: str, size: int, root: bytes, draw_id: str, commitment: bytes) -> bytes:
    data = b"CXP-DRAW-V1/seed\x00" + _lp(origin) + size.to_bytes(8, "big") + root
    return hashlib.sha256(data + _lp(draw_id) + commitment).digest()


def _words(seed: bytes, label: bytes) -> Any:
    block = 0
    while True:
        digest = hashlib.sha256(b"CXP-DRAW-V1/stream\x00" + seed + label + block.to_bytes(8, "big"))
        out = digest.digest()
        for i in range(0, 32, 8):
            yield int.from_bytes(out[i : i + 8], "big")
        block += 1


def _choose(items: list[str], k: int, words: Any) -> list[str]:
    order = _canonical(items)
    for i in range(k):
        n = len(order) - i
        bound = U64 - U64 % n
        x = next(words)
        while x >= bound:
            x = next(words)
        j = i + x % n
        order[i], order[j] = order[j], order[i]
    return order[:k]


def _run(inputs: dict[str, Any], origin: str, size: int, root: bytes) -> dict[str, Any]:
    commitment = _commitment(inputs)
    seed = _seed(origin, size, root, inputs["drawId"], commitment)
    selections: list[dict[str, Any]] = []
    results = []
    for index, s in enumerate(inputs["strata"]):
        count = _count(s["ratio"], len(s["candidates"]))
        results.append(
            {
                "populationSize": len(s["candidates"]),
                "populationSha256Hex": _list_sha256(s["candidates"]).hex(),
                "selectedCount": count,
            }
        )
        picked = _choose(s["candidates"], count, _words(seed, b"\x01" + index.to_bytes(8, "big")))
        for subject in picked:
            label = b"\x02" + len(selections).to_bytes(8, "big")
            inspectors = _choose(
                inputs["inspectorPool"], inputs["inspectorsPerSubject"], _words(seed, label)
            )
            selections.append({"tier": s["tier"], "subject": subject, "inspectorIds": inspectors})
    return {
        "strataResults": results,
        "inspectorPoolSha256Hex": _list_sha256(inputs["inspectorPool"]).hex(),
        "inputsCommitmentHex": commitment.hex(),
        "seedHex": seed.hex(),
        "selections": selections,
    }


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------

ROOT = hashlib.sha256(b"cxp draw vectors root").digest()
ANCHOR_ROOT = hashlib.sha256(b"cxp draw vectors anchor root").digest()


def _note(
    size: int, root: bytes = ROOT, key: _NoteKey = SEED_KEY, origin: str = SEED_ORIGIN
) -> str:
    body = _body(origin, size, root)
    return _signed(body, key.line(body))


def _uscc_like(prefix: str, n: int) -> list[str]:
    # Opaque to the draw: only their bytes matter, so no check characters are computed.
    return [f"91{prefix}MA{i:08d}" for i in range(n)]


WORKED = {
    "drawId": "01JD0000000000000000000000",
    "inputsCommittedAt": "2026-03-01T00:00:00Z",
    "strata": [
        {
            "scheme": "cxp-basic",
            "tier": "C",
            "ratio": "0.5",
            "candidates": ["91330100MA27XXXX1A", "91330100MA27XXXX2B", "91330100MA27XXXX3C"],
        }
    ],
    "inspectorPool": ["insp-1", "insp-2", "insp-3"],
    "inspectorsPerSubject": 2,
}
# The worked example of docs/spec/draw.md is this case, seeded by a checkpoint of size 5.
WORKED_SIZE = 5


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = {k: v for k, v in base.items()}
    out.update(changes)
    return out


def _stratum(tier: str, ratio: str, candidates: list[str]) -> dict[str, Any]:
    return {"scheme": "cxp-basic", "tier": tier, "ratio": ratio, "candidates": candidates}


def draw() -> dict[str, Any]:
    """Draw computations: happy paths with every intermediate value, and refused inputs."""
    t = _Tests()
    pool = [f"insp-{i:02d}" for i in range(12)]
    several = {
        "drawId": "01JD1111111111111111111111",
        "inputsCommittedAt": "2026-04-01T08:00:00Z",
        "strata": [
            _stratum("A", "0.02", _uscc_like("330100", 120)),
            _stratum("B", "0.05", _uscc_like("330200", 60)),
            _stratum("C", "0.15", _uscc_like("330300", 20)),
            _stratum("D", "0.4", _uscc_like("330400", 7)),
        ],
        "inspectorPool": pool,
        "inspectorsPerSubject": 2,
    }

    def valid(
        comment: str,
        flags: list[str],
        inputs: dict[str, Any],
        *,
        size: int = 70,
        anchor: int | None = None,
    ) -> dict[str, Any]:
        fields = dict(inputs, seedNote=_note(size))
        if anchor is not None:
            fields["anchorNote"] = _note(anchor, ANCHOR_ROOT)
        return t.case(comment, flags, "valid", **fields, **_run(inputs, SEED_ORIGIN, size, ROOT))

    def invalid(
        comment: str,
        flags: list[str],
        inputs: dict[str, Any],
        reason: str,
        *,
        note: str | None = None,
        anchor: str | None = None,
    ) -> dict[str, Any]:
        fields = dict(inputs, seedNote=note or _note(70))
        if anchor is not None:
            fields["anchorNote"] = anchor
        return t.case(comment, flags, "invalid", **fields, reason=reason)

    tests = [
        valid("worked example", ["HappyPath", "WorkedExample"], WORKED, size=WORKED_SIZE),
        valid("four tiers A to D", ["HappyPath", "SeveralStrata", "RoundUp"], several),
        valid(
            "ratio 0 and an empty tier beside a drawn one",
            ["HappyPath", "ZeroRatio", "EmptyStratum"],
            _with(
                several,
                strata=[
                    _stratum("A", "0", _uscc_like("330100", 30)),
                    _stratum("B", "0.05", []),
                    _stratum("C", "0.3", _uscc_like("330300", 10)),
                ],
            ),
        ),
        valid(
            "ratio 1.00 draws everyone",
            ["HappyPath", "FullRatio"],
            _with(several, strata=[_stratum("D", "1.00", _uscc_like("330400", 9))]),
        ),
        valid(
            "0.07 of 100 is 7",
            ["HappyPath", "ExactRounding"],
            _with(several, strata=[_stratum("B", "0.07", _uscc_like("330200", 100))]),
        ),
        valid(
            "0.001 of 1 rounds up to 1",
            ["HappyPath", "RoundUp"],
            _with(several, strata=[_stratum("A", "0.001", _uscc_like("330100", 1))]),
        ),
        valid(
            "no inspectors drawn, empty pool",
            ["HappyPath", "NoInspectors"],
            _with(several, inspectorPool=[], inspectorsPerSubject=0),
        ),
        valid(
            "person tokens and ids that sort bytewise",
            ["HappyPath", "BytewiseOrder", "Uuid"],
            _with(
                several,
                drawId="0190a6f2-7c1e-7b3a-9c4d-1e2f3a4b5c6d",
                strata=[
                    _stratum(
                        "C",
                        "0.5",
                        [
                            "pn1:abcdefghijklmnopqrstuv",
                            "pn1:Zbcdefghijklmnopqrstuv",
                            "pn1:_bcdefghijklmnopqrstuv",
                            "pn1:-bcdefghijklmnopqrstuv",
                            "pn1:0bcdefghijklmnopqrstuv",
                            "pn1:Abcdefghijklmnopqrstuv",
                        ],
                    )
                ],
                inspectorPool=["insp-b", "Insp-B", "insp_a", "insp-a", "\u68c0\u67e5\u5458-1"],
                inspectorsPerSubject=3,
            ),
        ),
        valid(
            "candidates and pool out of order",
            ["HappyPath", "UnsortedInput"],
            _with(
                several,
                strata=[
                    _stratum("C", "0.15", list(reversed(_uscc_like("330300", 20)))),
                    _stratum("D", "0.4", _uscc_like("330400", 7)[3:] + _uscc_like("330400", 3)),
                ],
                inspectorPool=list(reversed(pool)),
            ),
        ),
        valid("anchor at a smaller tree", ["HappyPath", "AnchorBefore"], WORKED, anchor=69),
        invalid(
            "seed signed by another key",
            ["SeedWrongKey"],
            WORKED,
            "SEED_CHECKPOINT_INVALID",
            note=_note(70, key=OTHER_KEY),
        ),
        invalid(
            "seed from another log",
            ["SeedWrongOrigin"],
            WORKED,
            "SEED_CHECKPOINT_INVALID",
            note=_note(70, key=OTHER_ORIGIN_KEY, origin="zj.cxp-vectors.example/log"),
        ),
        invalid(
            "seed note with a changed size",
            ["SeedTampered"],
            WORKED,
            "SEED_CHECKPOINT_INVALID",
            note=_note(70).replace("\n70\n", "\n71\n", 1),
        ),
        invalid(
            "seed tree equal to the anchor tree",
            ["SeedNotAfterAnchor"],
            WORKED,
            "SEED_NOT_AFTER_INPUTS",
            anchor=_note(70),
        ),
        invalid(
            "seed tree smaller than the anchor tree",
            ["SeedNotAfterAnchor"],
            WORKED,
            "SEED_NOT_AFTER_INPUTS",
            anchor=_note(71, ANCHOR_ROOT),
        ),
        invalid(
            "candidate twice in one tier",
            ["DuplicateCandidate"],
            _with(several, strata=[_stratum("C", "0.5", ["91A", "91B", "91A"])]),
            "DUPLICATE_CANDIDATE",
        ),
        invalid(
            "candidate in two tiers",
            ["CandidateInTwoStrata"],
            _with(
                several,
                strata=[_stratum("A", "0.5", ["91A", "91B"]), _stratum("B", "0.5", ["91C", "91A"])],
            ),
            "DUPLICATE_CANDIDATE",
        ),
        invalid(
            "inspector twice in the pool",
            ["DuplicateInspector"],
            _with(several, inspectorPool=["insp-1", "insp-2", "insp-1"]),
            "DUPLICATE_INSPECTOR",
        ),
        invalid(
            "3 inspectors per subject from a pool of 2",
            ["PoolTooSmall"],
            _with(several, inspectorPool=["insp-1", "insp-2"], inspectorsPerSubject=3),
            "POOL_TOO_SMALL",
        ),
    ]
    for ratio in ["1.5", ".5", "0.5e0", "3%", "0,5", "-0", "1.01", ""]:
        tests.append(
            invalid(
                f"ratio {ratio!r}",
                ["BadRatio"],
                _with(several, strata=[_stratum("C", ratio, ["91A", "91B"])]),
                "INVALID_RATIO",
            )
        )
    tests += [
        invalid(
            "candidate id with LF",
            ["IdWithNewline"],
            _with(several, strata=[_stratum("C", "0.5", ["91A\n91B", "91C"])]),
            "INVALID_ID",
        ),
        invalid(
            "two strata of tier C",
            ["DuplicateTier"],
            _with(several, strata=[_stratum("C", "0.5", ["91A"]), _stratum("C", "0.5", ["91B"])]),
            "INVALID_DRAW",
        ),
        invalid(
            "draw id in lower-case ULID",
            ["BadDrawId"],
            _with(several, drawId="01jd1111111111111111111111"),
            "INVALID_DRAW",
        ),
        invalid(
            "17 inspectors per subject",
            ["TooManyInspectors"],
            _with(several, inspectorPool=[f"i{i}" for i in range(20)], inspectorsPerSubject=17),
            "INVALID_DRAW",
        ),
    ]
    description = (
        "Run a cxp-draw-v1 draw (draw.md §3 to §5) over the inputs drawId, inputsCommittedAt, "
        "strata, inspectorPool and inspectorsPerSubject, seeded by seedNote, a checkpoint of "
        "the log origin verified with verifierKey; where anchorNote is present the seed must be "
        "later than that checkpoint of the same log (CXP-DRAW-008). A valid case must reproduce "
        "strataResults, inspectorPoolSha256Hex, inputsCommitmentHex, seedHex and selections "
        "exactly; an invalid case must be refused, with reason when the implementation reports "
        "CXP reason codes."
    )
    groups = [
        {
            "type": "DrawRun",
            "requirements": REQUIREMENTS,
            "description": description,
            "verifierKey": SEED_KEY.vkey,
            "origin": SEED_ORIGIN,
            "tests": tests,
        }
    ]
    return _document("CXP-DRAW-V1", "draw_schema.json", NOTES, groups)


def worked_example_values() -> dict[str, Any]:
    """The worked example's intermediate values, for docs/spec/draw.md (not a vector field)."""
    return _run(WORKED, SEED_ORIGIN, WORKED_SIZE, ROOT)
