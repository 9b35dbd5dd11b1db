"""Comprehensive evaluation and supervision tiers (gateway/domain/evaluation.py).

Records are real ``CreditRecord`` messages; outputs are checked against the contract with
protovalidate, and the scheme's numbers are read from the scheme itself where a test is about a
rule rather than a number.
"""

from __future__ import annotations

import doctest
import hashlib
import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import protovalidate
import pytest

from creditlink.gateway.domain import evaluation as evaluation_module
from creditlink.gateway.domain.evaluation import (
    CXP_BASIC_2026_1,
    MAX_FACTORS,
    Scheme,
    evaluate,
    scheme_for,
    supervision_tier,
)
from creditlink.sdk.draw import SeedLog, run_draw, verify_draw
from creditlink.sdk.errors import InvalidArgument
from creditlink.sdk.tlog import Checkpoint, NoteSigner, sign_note
from creditlink.v1 import common_pb2, evaluation_pb2, record_pb2

SUBJECT = common_pb2.SubjectRef(
    uscc="91330106MA2B0000XY", kind=common_pb2.SUBJECT_KIND_LEGAL_PERSON, display_name="某某公司"
)
AUTHORITY = common_pb2.AuthorityRef(
    name="杭州市市场监督管理局", uscc="11330100002493766D", region_code="330100"
)
EVALUATOR = common_pb2.AuthorityRef(
    name="浙江省信用中心", uscc="11330000002482162L", region_code="330000"
)
AS_OF = date(2026, 6, 30)
EVALUATED_AT = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
EVALUATION_ID = "01JE5Q0000000000000000000A"

P = record_pb2
PENALTY = P.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY
MINOR, GENERAL, SERIOUS = P.SEVERITY_MINOR, P.SEVERITY_GENERAL, P.SEVERITY_SERIOUS
_counter = iter(range(1, 10**6))


def _date(d: date) -> common_pb2.Date:
    return common_pb2.Date(year=d.year, month=d.month, day=d.day)


def _id(n: int) -> str:
    # A ULID-shaped id (Crockford base32 digits only), unique per n.
    return f"01JE{n:022d}"


def record(
    category: int = PENALTY,
    severity: int = GENERAL,
    *,
    decided: date = date(2026, 1, 10),
    start: date | None = None,
    end: date | None = date(2027, 1, 10),
    status: int = P.RECORD_STATUS_ACTIVE,
    record_id: str | None = None,
    revision: int = 1,
    subject: common_pb2.SubjectRef = SUBJECT,
) -> record_pb2.CreditRecord:
    r = record_pb2.CreditRecord(
        record_id=record_id or _id(next(_counter)),
        revision=revision,
        previous_revision_message_id="" if revision == 1 else "m-previous",
        category=category,  # type: ignore[arg-type]
        catalog_edition="national-2024",
        subject=subject,
        authority=AUTHORITY,
        source_unit=AUTHORITY,
        decision_date=_date(decided),
        severity=severity,  # type: ignore[arg-type]
        publication_start=_date(start or decided + timedelta(days=5)),
        ruleset_id="ndrc-2026-repair",
        status=status,  # type: ignore[arg-type]
        region_code="330100",
    )
    if end is not None:
        r.publication_end.CopyFrom(_date(end))
    if category == PENALTY:
        r.document_number = f"杭市监罚〔2026〕{next(_counter)}号"
        r.penalty.content = "罚款"
    else:
        r.general.title = "record"
    return r


def run(
    records: Sequence[record_pb2.CreditRecord],
    *,
    as_of: date = AS_OF,
    message_ids: dict[str, str] | None = None,
    scheme: Scheme = CXP_BASIC_2026_1,
) -> evaluation_pb2.Evaluation:
    result = evaluate(
        SUBJECT,
        records,
        as_of=as_of,
        evaluation_id=EVALUATION_ID,
        evaluator=EVALUATOR,
        evaluated_at=EVALUATED_AT,
        message_ids=message_ids,
        scheme=scheme,
    )
    protovalidate.validate(result)  # every result satisfies the contract
    # The score is exactly the sum of the contributions: nothing is hidden.
    assert sum(int(f.contribution) for f in result.factors if f.contribution) == int(result.score)
    return result


def codes(result: evaluation_pb2.Evaluation) -> list[str]:
    return [f.code for f in result.factors]


def test_doctests() -> None:
    result = doctest.testmod(evaluation_module, report=True)
    assert result.attempted > 0
    assert result.failed == 0


def test_no_records_is_grade_a() -> None:
    result = run([])
    assert (result.scheme, result.model_version, result.grade, result.score) == (
        "cxp-basic",
        "2026.1",
        "A",
        "100",
    )
    assert codes(result) == ["base-score"]
    assert result.subject == SUBJECT
    assert result.evaluator == EVALUATOR
    assert result.valid_from == _date(AS_OF)
    assert result.data_as_of.ToDatetime(tzinfo=UTC) == datetime(2026, 6, 30, 15, 59, 59, tzinfo=UTC)
    assert not result.HasField("valid_until")


@pytest.mark.parametrize(
    ("severity", "points", "score", "grade"),
    [(MINOR, -3, 97, "A"), (GENERAL, -10, 90, "B"), (SERIOUS, -30, 70, "C")],
)
def test_one_penalty_by_severity(severity: int, points: int, score: int, grade: str) -> None:
    penalty = record(PENALTY, severity)
    result = run([penalty], message_ids={penalty.record_id: "msg-7f3a"})
    assert (result.score, result.grade) == (str(score), grade)
    factor = result.factors[1]
    name = {MINOR: "minor", GENERAL: "general", SERIOUS: "serious"}[severity]
    assert factor.code == f"administrative-penalty-{name}"
    assert factor.value == penalty.record_id
    assert (factor.weight, factor.contribution) == (str(points), str(points))
    assert penalty.record_id in factor.description
    assert "message msg-7f3a" in factor.description
    assert penalty.document_number in factor.description
    assert "decided 2026-01-10, published from 2026-01-15 to 2027-01-10" in factor.description


def test_penalties_add_up_to_lower_grades() -> None:
    assert (run([record()] * 1).grade, run([record(), record()]).grade) == ("B", "B")
    three = run([record(), record(), record()])
    assert (three.score, three.grade) == ("70", "C")
    four = run([record() for _ in range(4)])
    assert (four.score, four.grade) == ("60", "C")
    five = run([record() for _ in range(5)])
    assert (five.score, five.grade) == ("50", "D")


def test_category_cap_keeps_the_most_severe_points() -> None:
    serious = [record(severity=SERIOUS, decided=date(2026, 2, d)) for d in (1, 2)]
    general = record(severity=GENERAL, decided=date(2026, 1, 1))  # older, but less severe
    result = run([general, *serious])
    assert result.score == "40"  # 100 - 60, the penalty cap; the general one adds nothing
    by_record = {f.value: f for f in result.factors}
    assert [by_record[r.record_id].contribution for r in serious] == ["-30", "-30"]
    assert by_record[general.record_id].contribution == "0"
    assert by_record[general.record_id].weight == "-10"
    assert "after the category cap" in by_record[general.record_id].description
    # Most severe first, then oldest.
    assert [f.value for f in result.factors[1:]] == [
        serious[0].record_id,
        serious[1].record_id,
        general.record_id,
    ]


def test_partial_cap() -> None:
    result = run([record(severity=SERIOUS), record(severity=SERIOUS), record(severity=MINOR)])
    # -30 -30 reach the cap of 60 exactly; the minor one is cut to 0.
    assert [f.contribution for f in result.factors[1:]] == ["-30", "-30", "0"]
    cut = run([record(severity=SERIOUS), record(), record(), record(), record(severity=MINOR)])
    assert [f.contribution for f in cut.factors[1:]] == ["-30", "-10", "-10", "-10", "0"]
    # Caps are per category: court enforcement has its own.
    enforcement = P.RECORD_CATEGORY_JUDICIAL_ENFORCEMENT
    serious = [record(severity=SERIOUS), record(severity=SERIOUS), record(enforcement, SERIOUS)]
    both = run([*serious, record(enforcement)])
    assert [f.contribution for f in both.factors[1:]] == ["-30", "-30", "-30", "-10"]
    assert (both.score, both.grade) == ("0", "D")


def test_serious_record_caps_the_grade() -> None:
    ruling = record(P.RECORD_CATEGORY_JUDICIAL_RULING, SERIOUS)
    result = run([ruling])
    assert result.score == "80"  # B by score …
    assert result.grade == "C"  # … but a serious record keeps the subject out of A and B
    ceiling = result.factors[-1]
    assert (ceiling.code, ceiling.value, ceiling.contribution) == ("grade-ceiling", "C", "")
    assert ruling.record_id in ceiling.description
    assert "score grade B" in ceiling.description


def test_serious_untrustworthy_list_is_grade_d() -> None:
    listed = record(P.RECORD_CATEGORY_SERIOUS_UNTRUSTWORTHY_LIST, SERIOUS)
    result = run([listed, record(P.RECORD_CATEGORY_HONOUR, P.SEVERITY_NOT_UNTRUSTWORTHY)])
    assert (result.score, result.grade) == ("62", "D")
    assert result.factors[-1].code == "grade-ceiling"
    assert result.factors[-1].value == "D"


def test_no_ceiling_factor_when_the_score_is_already_lower() -> None:
    result = run([record(severity=SERIOUS), record(severity=SERIOUS)])
    assert (result.score, result.grade) == ("40", "D")
    assert "grade-ceiling" not in codes(result)


@pytest.mark.parametrize(
    ("start", "end", "counted"),
    [
        (date(2025, 1, 5), date(2026, 1, 5), False),  # publication period over
        (date(2025, 7, 1), date(2026, 6, 29), False),  # ended the day before
        (date(2025, 7, 1), date(2026, 6, 30), True),  # the last day is inclusive
        (date(2026, 6, 30), date(2027, 6, 30), True),  # first day of publication
        (date(2026, 7, 1), date(2027, 7, 1), False),  # not published yet on the date
        (date(2026, 1, 1), None, True),  # published without end
    ],
)
def test_publication_period(start: date, end: date | None, counted: bool) -> None:
    result = run([record(decided=start, start=start, end=end)])
    assert result.score == ("90" if counted else "100")
    assert (len(result.factors) == 2) is counted


@pytest.mark.parametrize(
    "status",
    [
        P.RECORD_STATUS_REPAIRED,
        P.RECORD_STATUS_REVOKED,
        P.RECORD_STATUS_CORRECTED,
        P.RECORD_STATUS_EXPIRED,
    ],
)
def test_repaired_revoked_and_expired_records_do_not_count(status: int) -> None:
    result = run([record(severity=SERIOUS, status=status), record(severity=MINOR)])
    assert (result.score, result.grade) == ("97", "A")  # only the active minor one counts


def test_only_the_latest_revision_counts() -> None:
    first = record(severity=SERIOUS, record_id=_id(900))
    corrected = record(severity=MINOR, record_id=_id(900), revision=2)
    assert run([corrected, first]).score == "97"
    assert run([first, corrected]).score == "97"
    with pytest.raises(InvalidArgument) as info:
        run([first, record(severity=MINOR, record_id=_id(900))])
    assert info.value.reason == "DUPLICATE_RECORD"


def test_bonuses_offset_deductions_up_to_their_cap() -> None:
    honours = [record(P.RECORD_CATEGORY_HONOUR, P.SEVERITY_NOT_UNTRUSTWORTHY) for _ in range(3)]
    rewarded = run([record(), *honours])
    assert rewarded.score == "94"  # 100 - 10 + 2 + 2 (+ 0: bonus cap 4)
    assert [f.contribution for f in rewarded.factors if f.code == "honour-bonus"] == ["2", "2", "0"]
    # Bonuses never lift a score above 100: the bounds factor says so.
    perfect = run(honours)
    assert (perfect.score, perfect.factors[-1].code, perfect.factors[-1].contribution) == (
        "100",
        "score-bounds",
        "-4",
    )


def test_records_without_points_are_not_factors() -> None:
    licence = record(P.RECORD_CATEGORY_ADMINISTRATIVE_LICENSING, P.SEVERITY_NOT_UNTRUSTWORTHY)
    licence.ClearField("penalty")
    result = run([licence, record(P.RECORD_CATEGORY_REGISTRATION, P.SEVERITY_NOT_UNTRUSTWORTHY)])
    assert codes(result) == ["base-score"]


def test_other_categories_use_the_default_row() -> None:
    coercion = record(P.RECORD_CATEGORY_ADMINISTRATIVE_COERCION, GENERAL)
    result = run([coercion])
    assert result.factors[1].code == "administrative-coercion-general"
    assert result.factors[1].weight == str(CXP_BASIC_2026_1.default_points[GENERAL])


def test_score_floor() -> None:
    many = [record(P.RECORD_CATEGORY_ADMINISTRATIVE_COERCION, SERIOUS) for _ in range(6)]
    result = run(many)  # -120 with no cap on that category
    assert (result.score, result.grade) == ("0", "D")
    assert (result.factors[-1].code, result.factors[-1].contribution) == ("score-bounds", "20")


def test_factor_list_is_bounded() -> None:
    minors = [record(P.RECORD_CATEGORY_ADMINISTRATIVE_COERCION, MINOR) for _ in range(300)]
    result = run(minors)
    assert len(result.factors) <= MAX_FACTORS
    more = next(f for f in result.factors if f.code == "more-records")
    assert int(more.value) == 300 - (MAX_FACTORS - 4)
    assert result.score == "0"


def test_deterministic_and_order_independent() -> None:
    rng = random.Random(20260630)  # fixed: the same cases on every run
    categories = [
        PENALTY,
        P.RECORD_CATEGORY_JUDICIAL_ENFORCEMENT,
        P.RECORD_CATEGORY_JUDICIAL_RULING,
        P.RECORD_CATEGORY_ABNORMAL_OPERATION,
        P.RECORD_CATEGORY_SERIOUS_UNTRUSTWORTHY_LIST,
        P.RECORD_CATEGORY_CREDIT_COMMITMENT,
        P.RECORD_CATEGORY_HONOUR,
        P.RECORD_CATEGORY_ADMINISTRATIVE_COERCION,
    ]
    for _ in range(150):
        records = []
        for _ in range(rng.randrange(0, 12)):
            category = rng.choice(categories)
            severity = (
                P.SEVERITY_NOT_UNTRUSTWORTHY
                if category == P.RECORD_CATEGORY_HONOUR
                else rng.choice([MINOR, GENERAL, SERIOUS])
            )
            decided = date(2025, 1, 1) + timedelta(days=rng.randrange(0, 700))
            status = rng.choice([P.RECORD_STATUS_ACTIVE] * 4 + [P.RECORD_STATUS_REPAIRED])
            records.append(record(category, severity, decided=decided, status=status))
        first = run(records).SerializeToString(deterministic=True)
        rng.shuffle(records)
        assert run(records).SerializeToString(deterministic=True) == first
        result = run(records)
        score = int(result.score)
        assert 0 <= score <= 100
        # The grade is the score's, or lower because of a ceiling the factors name.
        score_rank = CXP_BASIC_2026_1.rank(CXP_BASIC_2026_1.grade_for(score))
        rank = CXP_BASIC_2026_1.rank(result.grade)
        assert rank >= score_rank
        assert (rank > score_rank) == ("grade-ceiling" in codes(result))


def test_input_errors() -> None:
    other = common_pb2.SubjectRef(
        uscc="91330106MA2B0001XY", kind=common_pb2.SUBJECT_KIND_LEGAL_PERSON
    )
    cases = [
        ([record(subject=other)], "SUBJECT_MISMATCH"),
        ([record(severity=P.SEVERITY_UNSPECIFIED)], "INVALID_RECORD"),
    ]
    bad_date = record()
    bad_date.publication_start.day = 30
    bad_date.publication_start.month = 2
    cases.append(([bad_date], "INVALID_DATE"))
    for records, reason in cases:
        with pytest.raises(InvalidArgument) as info:
            run(records)
        assert info.value.reason == reason
    with pytest.raises(InvalidArgument):
        evaluate(
            SUBJECT,
            [],
            as_of=AS_OF,
            evaluation_id="not-an-id",
            evaluator=EVALUATOR,
            evaluated_at=EVALUATED_AT,
        )
    with pytest.raises(InvalidArgument):
        evaluate(
            SUBJECT,
            [],
            as_of=AS_OF,
            evaluation_id=EVALUATION_ID,
            evaluator=EVALUATOR,
            evaluated_at=datetime(2026, 7, 1),  # noqa: DTZ001 - naive on purpose
        )


# --- schemes and tiers -------------------------------------------------------------------------


def test_scheme_registry() -> None:
    assert scheme_for("cxp-basic", "2026.1") is CXP_BASIC_2026_1
    assert CXP_BASIC_2026_1.scheme_id == "cxp-basic-2026.1"
    with pytest.raises(InvalidArgument) as info:
        scheme_for("cxp-basic", "2025.9")
    assert info.value.reason == "UNKNOWN_SCHEME"


def test_a_new_version_is_new_data() -> None:
    """Changing a number is a new Scheme value; the old version still evaluates as before."""
    stricter = replace(
        CXP_BASIC_2026_1,
        version="2027.1",
        points={**CXP_BASIC_2026_1.points, (PENALTY, GENERAL): -15},
    )
    records = [record()]
    assert (run(records, scheme=stricter).score, run(records, scheme=stricter).model_version) == (
        "85",
        "2027.1",
    )
    assert run(records).score == "90"


@pytest.mark.parametrize(
    "changes",
    [
        {"scheme": "CXP Basic"},
        {"grades": (("A", 95), ("B", 80))},
        {"grades": (("A", 80), ("B", 95), ("C", 60), ("D", 0))},
        {"points": {(PENALTY, GENERAL): 5}},
        {"caps": {PENALTY: 0}},
        {"tiers": {"A": CXP_BASIC_2026_1.tiers["A"]}},
    ],
)
def test_malformed_schemes_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        replace(CXP_BASIC_2026_1, **changes)  # type: ignore[arg-type]


def test_tiers_by_grade() -> None:
    tiers = [supervision_tier(g) for g in "ABCD"]
    for tier in tiers:
        protovalidate.validate(tier)
        assert tier.scheme == CXP_BASIC_2026_1.scheme  # keyed on Evaluation.scheme
    ratios = [float(t.spot_check_ratio) for t in tiers]
    assert ratios == sorted(ratios)  # A least, D most inspected
    assert ratios[0] < ratios[-1]
    rounds = [t.rounds_per_year for t in tiers]
    assert rounds == sorted(rounds)
    assert "无事不扰" in tiers[0].description
    with pytest.raises(InvalidArgument) as info:
        supervision_tier("E")
    assert info.value.reason == "UNKNOWN_GRADE"


def test_grades_feed_a_draw() -> None:
    """Evaluations sort subjects into tiers; the tiers' ratios drive a verifiable draw."""
    log = NoteSigner.from_seed("creditlink.example/cn-hub", hashlib.sha256(b"eval-draw").digest())
    seed_log = SeedLog(origin="creditlink.example/cn-hub", keys=(log.verifier,))
    by_grade: dict[str, list[common_pb2.SubjectRef]] = {g: [] for g in "ABCD"}
    for i in range(40):
        subject = common_pb2.SubjectRef(
            uscc=f"91330106MA{i:07d}Y", kind=common_pb2.SUBJECT_KIND_LEGAL_PERSON
        )
        severities = [GENERAL] * (i % 6)  # 0 … 5 general penalties: grades A to D
        records = [record(severity=s, subject=subject) for s in severities]
        grade = evaluate(
            subject,
            records,
            as_of=AS_OF,
            evaluation_id=EVALUATION_ID,
            evaluator=EVALUATOR,
            evaluated_at=EVALUATED_AT,
        ).grade
        by_grade[grade].append(subject)
    strata = [(supervision_tier(g), subjects) for g, subjects in by_grade.items()]
    note = sign_note(
        Checkpoint(origin="creditlink.example/cn-hub", size=9, root_hash=bytes(32)).to_body(), [log]
    )
    committed = datetime(2026, 7, 2, tzinfo=UTC)
    draw = run_draw(
        draw_id="01JE5Q0000000000000000000B",
        task_name="2026 H2",
        authority=AUTHORITY,
        region_code="330100",
        strata=strata,
        inspector_pool=["i1", "i2", "i3", "i4"],
        inspectors_per_subject=2,
        inputs_committed_at=committed,
        seed_note=note,
        seed_log=seed_log,
        inputs_anchor=None,
        drawn_at=committed + timedelta(hours=1),
    )
    assert [s.population_size for s in draw.strata] == [7, 14, 13, 6]
    assert [s.selected_count for s in draw.strata] == [1, 1, 3, 3]  # 0.02, 0.05, 0.2, 0.5, ceil
    verify_draw(
        draw,
        {g: list(s) for g, s in by_grade.items()},
        ["i4", "i3", "i2", "i1"],
        seed_log=seed_log,
        inputs_anchor=None,
    )
