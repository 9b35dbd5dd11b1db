"""Run every spot-check draw vector (scripts/vectors/draw.py, ``draw.json``) against the SDK.

The generator implements draw.md on its own (canonical lists, commitment, seed, counter stream,
rejection sampling, Fisher-Yates) over hand-assembled signed notes; here each case goes through
``run_draw`` and, for the valid ones, ``verify_draw``, as another vendor's harness would.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from creditlink.conformance.loader import iter_cases, load_vectors
from creditlink.sdk.draw import InputsAnchor, SeedLog, inputs_commitment, run_draw, verify_draw
from creditlink.sdk.errors import InvalidArgument
from creditlink.sdk.tlog import NoteVerifier
from creditlink.v1 import common_pb2, supervision_pb2

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.vectors import draw as gen  # noqa: E402

CASES = list(iter_cases("draw.json"))


def _ref(subject_id: str) -> common_pb2.SubjectRef:
    if subject_id.startswith("pn"):
        return common_pb2.SubjectRef(
            person_token=subject_id, kind=common_pb2.SUBJECT_KIND_NATURAL_PERSON
        )
    return common_pb2.SubjectRef(uscc=subject_id, kind=common_pb2.SUBJECT_KIND_LEGAL_PERSON)


def _run(
    group: dict[str, Any], test: dict[str, Any]
) -> tuple[supervision_pb2.SpotCheckDraw, SeedLog]:
    seed_log = SeedLog(origin=group["origin"], keys=(NoteVerifier.from_vkey(group["verifierKey"]),))
    committed = datetime.fromisoformat(test["inputsCommittedAt"].replace("Z", "+00:00"))
    anchor = InputsAnchor(note=test["anchorNote"]) if "anchorNote" in test else None
    draw = run_draw(
        draw_id=test["drawId"],
        task_name="conformance",
        authority=common_pb2.AuthorityRef(name="conformance"),
        region_code="330000",
        strata=[
            (
                supervision_pb2.SupervisionTier(
                    scheme=s["scheme"], tier=s["tier"], spot_check_ratio=s["ratio"]
                ),
                [_ref(c) for c in s["candidates"]],
            )
            for s in test["strata"]
        ],
        inspector_pool=test["inspectorPool"],
        inspectors_per_subject=test["inspectorsPerSubject"],
        inputs_committed_at=committed,
        seed_note=test["seedNote"],
        seed_log=seed_log,
        inputs_anchor=anchor,
        drawn_at=committed + timedelta(hours=1),
    )
    return draw, seed_log


def test_shipped_file_is_the_generator_output() -> None:
    assert load_vectors("draw.json") == gen.draw()


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.tc_id}-{'-'.join(c.test['flags'])}")
def test_vector(case: Any) -> None:
    group, test = case.group, case.test
    if test["result"] == "invalid":
        with pytest.raises(InvalidArgument) as info:
            _run(group, test)
        assert info.value.reason == test["reason"]
        return
    draw, seed_log = _run(group, test)
    assert [
        {
            "populationSize": s.population_size,
            "populationSha256Hex": s.population_sha256.hex(),
            "selectedCount": s.selected_count,
        }
        for s in draw.strata
    ] == test["strataResults"]
    assert draw.inspector_pool_sha256.hex() == test["inspectorPoolSha256Hex"]
    assert inputs_commitment(draw).hex() == test["inputsCommitmentHex"]
    assert [
        {
            "tier": s.tier,
            "subject": getattr(s.subject, s.subject.WhichOneof("id") or "uscc"),
            "inspectorIds": list(s.inspector_ids),
        }
        for s in draw.selections
    ] == test["selections"]
    # Anyone holding the lists re-runs it, bare ids are enough.
    verify_draw(
        draw,
        {s["tier"]: list(s["candidates"]) for s in test["strata"]},
        test["inspectorPool"],
        seed_log=seed_log,
        inputs_anchor=InputsAnchor(note=test["anchorNote"]) if "anchorNote" in test else None,
    )


def test_worked_example_of_the_spec() -> None:
    """docs/spec/draw.md §7 quotes the values of test 1; they are what the SDK computes."""
    page = (ROOT / "docs" / "spec" / "draw.md").read_text(encoding="utf-8")
    worked = next(c for c in CASES if "WorkedExample" in c.test["flags"])
    for value in (
        worked.test["inputsCommitmentHex"],
        worked.test["seedHex"],
        worked.test["strataResults"][0]["populationSha256Hex"],
        worked.test["inspectorPoolSha256Hex"],
        worked.group["verifierKey"],
    ):
        assert value in page
    assert worked.test["seedNote"].split("\n\n")[1].strip() in page
