"""Comprehensive credit evaluation: a transparent, versioned, rule-based scheme, and its tiers.

The 2019 opinions (item (6)) ask for a comprehensive evaluation of every market subject and
(item (7)) for supervision graded by it: subjects with good credit are left undisturbed, those
with poor credit are inspected more often. This module computes such an evaluation from a
subject's credit records, as a pure function: the same records, date and scheme give the same
:class:`~creditlink.v1.evaluation_pb2.Evaluation`, byte for byte, and every point of the score
is explained by a factor naming the record it comes from. The rules are data (a :class:`Scheme`),
versioned by ``(scheme, model_version)``; a new version is a new ``Scheme`` value, and old
evaluations stay reproducible under the version they name (:func:`scheme_for`).

Which records count, on the evaluation date ``as_of`` (a calendar date in China Standard Time):

* only the current revision of each record (the highest ``revision`` of a ``record_id``);
* only status ``ACTIVE``: ``REPAIRED`` (credit repair ended its publication), ``REVOKED``,
  ``CORRECTED`` and ``EXPIRED`` records never count;
* only records in their publication period: ``publication_start <= as_of`` and, when set,
  ``as_of <= publication_end`` (the last day of publication is inclusive). A record whose period
  is over counts for nothing even while its status still says ``ACTIVE``.

The status is taken as the caller reports it; to evaluate a past date, pass the records as they
stood on that date (a repair approved later would otherwise already show).

How the score is made: start from the base score; each counted record adds the points of its
(category, severity) cell (a deduction for untrustworthy conduct, a small bonus for honours and
administrative rewards); the deductions of one category stop at the category's cap, applied to
the records in factor order (the most severe first, then the oldest); bonuses stop at the bonus
cap; the sum is clamped to [0, 100]. The grade is the highest whose threshold the score reaches,
lowered to the ceiling of any counted record that has one (a serious record keeps a subject out
of A and B whatever its score). The score is exactly the sum of the factors' contributions.

The scheme in force, ``cxp-basic`` version ``2026.1`` (a sample configuration: local schemes
under GB/T 45255-2025 set their own numbers):

>>> print(CXP_BASIC_2026_1.describe())
cxp-basic 2026.1: base 100; score = base + contributions, clamped to [0, 100]
deductions                    minor general serious     cap
  administrative-penalty         -3     -10     -30     -60
  judicial-enforcement           -3     -10     -30     -60
  judicial-ruling                -2      -6     -20     -40
  abnormal-operation             -2      -8     -20     -30
  serious-untrustworthy-list      -     -15     -40       -
  credit-commitment              -2      -6     -15     -30
  any other category             -2      -6     -20       -
bonuses (not untrustworthy), at most +4 in all
  administrative-reward          +2
  honour                         +2
grades: A >= 95, B >= 80, C >= 60, D below
ceilings: any serious record -> C; serious-untrustworthy-list -> D
tiers                         ratio  rounds
  A                            0.02       1  left undisturbed
  B                            0.05       1  lower frequency
  C                             0.2       2  focus
  D                             0.5       4  strict

A subject with nothing on record is graded A:

>>> from datetime import UTC, date, datetime
>>> from creditlink.v1 import common_pb2
>>> subject = common_pb2.SubjectRef(
...     uscc="91330100MA27XXXX1A", kind=common_pb2.SUBJECT_KIND_LEGAL_PERSON)
>>> result = evaluate(subject, [], as_of=date(2026, 6, 30),
...     evaluation_id="01JE0000000000000000000000", evaluated_at=datetime(2026, 7, 1, tzinfo=UTC),
...     evaluator=common_pb2.AuthorityRef(name="Zhejiang Credit Center"))
>>> result.scheme, result.model_version, result.grade, result.score
('cxp-basic', '2026.1', 'A', '100')
>>> tier = supervision_tier("A")
>>> tier.tier, tier.spot_check_ratio, tier.rounds_per_year
('A', '0.02', 1)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from types import MappingProxyType
from typing import Final, TypeAlias

from google.protobuf.timestamp_pb2 import Timestamp

from creditlink.sdk.errors import InvalidArgument
from creditlink.v1 import common_pb2, evaluation_pb2, record_pb2, supervision_pb2

__all__ = [
    "CXP_BASIC_2026_1",
    "MAX_FACTORS",
    "SCHEMES",
    "Ceiling",
    "Scheme",
    "TierRule",
    "evaluate",
    "scheme_for",
    "supervision_tier",
]

Category: TypeAlias = record_pb2.RecordCategory.ValueType
Severity: TypeAlias = record_pb2.Severity.ValueType

#: Most factors in one evaluation (``Evaluation.factors``, evaluation.proto).
MAX_FACTORS: Final = 256

_CST: Final = timezone(timedelta(hours=8), "CST")
_MINOR: Final = record_pb2.SEVERITY_MINOR
_GENERAL: Final = record_pb2.SEVERITY_GENERAL
_SERIOUS: Final = record_pb2.SEVERITY_SERIOUS
_NOT_UNTRUSTWORTHY: Final = record_pb2.SEVERITY_NOT_UNTRUSTWORTHY
_UNTRUSTWORTHY: Final = (_MINOR, _GENERAL, _SERIOUS)
_SEVERITY_NAMES: Final = {
    _NOT_UNTRUSTWORTHY: "not-untrustworthy",
    _MINOR: "minor",
    _GENERAL: "general",
    _SERIOUS: "serious",
}
_ID_PATTERN: Final = re.compile(
    r"[0-9A-HJKMNP-TV-Z]{26}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


def _slug(category: Category) -> str:
    """``RECORD_CATEGORY_ADMINISTRATIVE_PENALTY`` → ``administrative-penalty``."""
    name = record_pb2.RecordCategory.Name(category)
    return name.removeprefix("RECORD_CATEGORY_").lower().replace("_", "-")


# --- the rules as data -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Ceiling:
    """A counted record matching ``category`` (any when ``None``) and ``severity`` (any when
    ``None``) limits the grade to at most ``grade``."""

    grade: str
    category: Category | None = None
    severity: Severity | None = None

    def matches(self, record: record_pb2.CreditRecord) -> bool:
        """Whether ``record`` falls under this ceiling."""
        return (self.category is None or record.category == self.category) and (
            self.severity is None or record.severity == self.severity
        )

    def label(self) -> str:
        """``any serious record``, ``serious-untrustworthy-list``, …"""
        what = _slug(self.category) if self.category is not None else "any"
        if self.severity is not None:
            what += f" {_SEVERITY_NAMES[self.severity]}"
        return what + (" record" if self.category is None else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class TierRule:
    """How subjects of one grade are supervised: the tier's ratio and rounds (supervision.proto)."""

    description: str
    spot_check_ratio: str
    rounds_per_year: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Scheme:
    """One version of an evaluation scheme: every number the evaluation uses.

    ``points`` maps (category, severity) to the points a counted record adds (negative for
    deductions); an untrustworthy record of a category without a cell gets
    ``default_points[severity]``; a record of severity ``NOT_UNTRUSTWORTHY`` gets ``bonus`` of its
    category, or nothing. ``caps`` bound the total deduction of a category (a positive number of
    points). ``grades`` are (grade, minimum score) from best to worst, the last one's minimum 0.
    """

    scheme: str
    version: str
    base_score: int
    points: Mapping[tuple[Category, Severity], int]
    default_points: Mapping[Severity, int]
    caps: Mapping[Category, int]
    bonus: Mapping[Category, int]
    bonus_cap: int
    grades: tuple[tuple[str, int], ...]
    ceilings: tuple[Ceiling, ...]
    tiers: Mapping[str, TierRule]
    # Categories listed first in describe(), in this order (the others follow by enum value).
    display_order: tuple[Category, ...] = ()

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", self.scheme) or len(self.scheme) > 64:
            raise ValueError("scheme must be lower-case kebab-case (Evaluation.scheme)")
        if not self.grades or self.grades[-1][1] != 0:
            raise ValueError("the last grade must have minimum score 0")
        minima = [m for _, m in self.grades]
        if minima != sorted(minima, reverse=True) or len(set(minima)) != len(minima):
            raise ValueError("grade minima must strictly decrease")
        grades = {g for g, _ in self.grades}
        if set(self.tiers) != grades or any(c.grade not in grades for c in self.ceilings):
            raise ValueError("tiers and ceilings must name the scheme's grades")
        if any(p > 0 for p in [*self.points.values(), *self.default_points.values()]):
            raise ValueError("points for untrustworthy records are deductions (<= 0)")
        if any(c <= 0 for c in self.caps.values()) or self.bonus_cap < 0:
            raise ValueError("caps are positive numbers of points")

    @property
    def scheme_id(self) -> str:
        """``<scheme>-<version>``, e.g. ``cxp-basic-2026.1``."""
        return f"{self.scheme}-{self.version}"

    def points_for(self, category: Category, severity: Severity) -> int:
        """The points one counted record of ``category`` and ``severity`` adds (before caps)."""
        if severity == _NOT_UNTRUSTWORTHY:
            return self.bonus.get(category, 0)
        return self.points.get((category, severity), self.default_points.get(severity, 0))

    def grade_for(self, score: int) -> str:
        """The best grade whose minimum ``score`` reaches."""
        return next(grade for grade, minimum in self.grades if score >= minimum)

    def rank(self, grade: str) -> int:
        """0 for the best grade, 1 for the next, …"""
        return [g for g, _ in self.grades].index(grade)

    def describe(self) -> str:
        """The rules as a text table (the module docstring shows it; a doctest keeps it true)."""
        cats = {c for c, _ in self.points} | set(self.caps)
        ordered = [c for c in self.display_order if c in cats]
        ordered += sorted(cats - set(ordered))

        def cell(value: int | None) -> str:
            return "-" if value is None else str(value)

        lines = [
            f"{self.scheme} {self.version}: base {self.base_score}; "
            "score = base + contributions, clamped to [0, 100]",
            f"{'deductions':<28}{'minor':>7}{'general':>8}{'serious':>8}{'cap':>8}",
        ]
        for c in ordered:
            row = [self.points.get((c, s)) for s in _UNTRUSTWORTHY]
            cap = -self.caps[c] if c in self.caps else None
            lines.append(
                f"  {_slug(c):<26}{cell(row[0]):>7}{cell(row[1]):>8}{cell(row[2]):>8}{cell(cap):>8}"
            )
        row_default = [self.default_points.get(s) for s in _UNTRUSTWORTHY]
        lines.append(
            f"  {'any other category':<26}{cell(row_default[0]):>7}{cell(row_default[1]):>8}"
            f"{cell(row_default[2]):>8}{'-':>8}"
        )
        lines.append(f"bonuses (not untrustworthy), at most +{self.bonus_cap} in all")
        for c, p in sorted(self.bonus.items()):
            lines.append(f"  {_slug(c):<26}{f'+{p}':>7}")
        lines.append(
            "grades: "
            + ", ".join(f"{g} >= {m}" for g, m in self.grades[:-1])
            + f", {self.grades[-1][0]} below"
        )
        lines.append("ceilings: " + "; ".join(f"{c.label()} -> {c.grade}" for c in self.ceilings))
        lines.append(f"{'tiers':<28}{'ratio':>7}{'rounds':>8}")
        for g, t in self.tiers.items():
            head = t.description.split(":")[0]
            lines.append(f"  {g:<26}{t.spot_check_ratio:>7}{t.rounds_per_year:>8}  {head}")
        return "\n".join(lines)


_C = record_pb2
CXP_BASIC_2026_1: Final = Scheme(
    scheme="cxp-basic",
    version="2026.1",
    base_score=100,
    points=MappingProxyType(
        {
            # Administrative penalties and court enforcement are the core of untrustworthiness
            # information and weigh most.
            (_C.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY, _MINOR): -3,
            (_C.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY, _GENERAL): -10,
            (_C.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY, _SERIOUS): -30,
            (_C.RECORD_CATEGORY_JUDICIAL_ENFORCEMENT, _MINOR): -3,
            (_C.RECORD_CATEGORY_JUDICIAL_ENFORCEMENT, _GENERAL): -10,
            (_C.RECORD_CATEGORY_JUDICIAL_ENFORCEMENT, _SERIOUS): -30,
            (_C.RECORD_CATEGORY_JUDICIAL_RULING, _MINOR): -2,
            (_C.RECORD_CATEGORY_JUDICIAL_RULING, _GENERAL): -6,
            (_C.RECORD_CATEGORY_JUDICIAL_RULING, _SERIOUS): -20,
            (_C.RECORD_CATEGORY_ABNORMAL_OPERATION, _MINOR): -2,
            (_C.RECORD_CATEGORY_ABNORMAL_OPERATION, _GENERAL): -8,
            (_C.RECORD_CATEGORY_ABNORMAL_OPERATION, _SERIOUS): -20,
            # A list entry documents conduct already judged serious; a general cell is kept for
            # lists such as the focus-attention list that are not of the serious kind.
            (_C.RECORD_CATEGORY_SERIOUS_UNTRUSTWORTHY_LIST, _GENERAL): -15,
            (_C.RECORD_CATEGORY_SERIOUS_UNTRUSTWORTHY_LIST, _SERIOUS): -40,
            # An unfulfilled credit commitment becomes an untrustworthiness record (item 6).
            (_C.RECORD_CATEGORY_CREDIT_COMMITMENT, _MINOR): -2,
            (_C.RECORD_CATEGORY_CREDIT_COMMITMENT, _GENERAL): -6,
            (_C.RECORD_CATEGORY_CREDIT_COMMITMENT, _SERIOUS): -15,
        }
    ),
    default_points=MappingProxyType({_MINOR: -2, _GENERAL: -6, _SERIOUS: -20}),
    # Caps keep one kind of record from sinking the score alone (many minor penalties for one
    # recurring matter); the serious list has no cap, it grades D by its ceiling anyway.
    caps=MappingProxyType(
        {
            _C.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY: 60,
            _C.RECORD_CATEGORY_JUDICIAL_ENFORCEMENT: 60,
            _C.RECORD_CATEGORY_JUDICIAL_RULING: 40,
            _C.RECORD_CATEGORY_ABNORMAL_OPERATION: 30,
            _C.RECORD_CATEGORY_CREDIT_COMMITMENT: 30,
        }
    ),
    bonus=MappingProxyType(
        {_C.RECORD_CATEGORY_ADMINISTRATIVE_REWARD: 2, _C.RECORD_CATEGORY_HONOUR: 2}
    ),
    bonus_cap=4,
    grades=(("A", 95), ("B", 80), ("C", 60), ("D", 0)),
    ceilings=(
        Ceiling(grade="C", severity=_SERIOUS),
        Ceiling(grade="D", category=_C.RECORD_CATEGORY_SERIOUS_UNTRUSTWORTHY_LIST),
    ),
    tiers=MappingProxyType(
        {
            "A": TierRule(
                description="left undisturbed: 无事不扰, only the basic random draw",
                spot_check_ratio="0.02",
                rounds_per_year=1,
            ),
            "B": TierRule(
                description="lower frequency: inspected at the ordinary rate or less",
                spot_check_ratio="0.05",
                rounds_per_year=1,
            ),
            "C": TierRule(
                description="focus: 重点关注, higher ratio and frequency",
                spot_check_ratio="0.2",
                rounds_per_year=2,
            ),
            "D": TierRule(
                description="strict: 严格监管, inspected at a high ratio and often",
                spot_check_ratio="0.5",
                rounds_per_year=4,
            ),
        }
    ),
    display_order=(
        _C.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY,
        _C.RECORD_CATEGORY_JUDICIAL_ENFORCEMENT,
        _C.RECORD_CATEGORY_JUDICIAL_RULING,
        _C.RECORD_CATEGORY_ABNORMAL_OPERATION,
        _C.RECORD_CATEGORY_SERIOUS_UNTRUSTWORTHY_LIST,
        _C.RECORD_CATEGORY_CREDIT_COMMITMENT,
    ),
)

#: Every scheme version this code can evaluate, by (scheme, model_version).
SCHEMES: Final[Mapping[tuple[str, str], Scheme]] = MappingProxyType(
    {(CXP_BASIC_2026_1.scheme, CXP_BASIC_2026_1.version): CXP_BASIC_2026_1}
)


def scheme_for(scheme: str, version: str) -> Scheme:
    """The scheme version an evaluation names, to recompute it; ``InvalidArgument`` if unknown."""
    found = SCHEMES.get((scheme, version))
    if found is None:
        raise InvalidArgument(
            f"unknown evaluation scheme {scheme!r} version {version!r}", reason="UNKNOWN_SCHEME"
        )
    return found


def supervision_tier(
    grade: str, *, scheme: Scheme = CXP_BASIC_2026_1
) -> supervision_pb2.SupervisionTier:
    """The supervision tier (ratio, rounds) for subjects of ``grade`` under ``scheme``."""
    rule = scheme.tiers.get(grade)
    if rule is None:
        raise InvalidArgument(
            f"{grade!r} is not a grade of {scheme.scheme_id}", reason="UNKNOWN_GRADE"
        )
    return supervision_pb2.SupervisionTier(
        scheme=scheme.scheme,
        tier=grade,
        description=rule.description,
        spot_check_ratio=rule.spot_check_ratio,
        rounds_per_year=rule.rounds_per_year,
    )


# --- evaluation ----------------------------------------------------------------------------------


def _date(value: common_pb2.Date, what: str) -> date:
    try:
        return date(value.year, value.month, value.day)
    except ValueError:
        raise InvalidArgument(
            f"{what} {value.year}-{value.month}-{value.day} is not a date", reason="INVALID_DATE"
        ) from None


def _subject_key(ref: common_pb2.SubjectRef) -> tuple[str, str]:
    which = ref.WhichOneof("id") or ""
    return which, str(getattr(ref, which)) if which else ""


def _current(
    subject: common_pb2.SubjectRef, records: Iterable[record_pb2.CreditRecord]
) -> list[record_pb2.CreditRecord]:
    """The latest revision of each record, all of them about ``subject``."""
    want = _subject_key(subject)
    latest: dict[str, record_pb2.CreditRecord] = {}
    for record in records:
        if _subject_key(record.subject) != want:
            raise InvalidArgument(
                f"record {record.record_id} is about another subject", reason="SUBJECT_MISMATCH"
            )
        if record.severity not in _SEVERITY_NAMES:
            raise InvalidArgument(
                f"record {record.record_id} has no severity", reason="INVALID_RECORD"
            )
        prior = latest.get(record.record_id)
        if prior is not None and prior.revision == record.revision:
            raise InvalidArgument(
                f"record {record.record_id} revision {record.revision} is given twice",
                reason="DUPLICATE_RECORD",
            )
        if prior is None or record.revision > prior.revision:
            latest[record.record_id] = record
    return list(latest.values())


def _counts(record: record_pb2.CreditRecord, as_of: date) -> bool:
    """Whether the record is in force and published on ``as_of`` (the module docstring)."""
    if record.status != record_pb2.RECORD_STATUS_ACTIVE:
        return False  # repaired, revoked, corrected and expired records never count
    if _date(record.publication_start, "publication_start") > as_of:
        return False  # not published yet on the evaluation date
    return not (
        record.HasField("publication_end")
        and _date(record.publication_end, "publication_end") < as_of
    )


@dataclass(slots=True)
class _Item:
    record: record_pb2.CreditRecord
    weight: int
    contribution: int = 0
    capped: bool = False


def _describe(item: _Item, message_ids: Mapping[str, str]) -> str:
    r = item.record
    parts = [f"record {r.record_id}"]
    if r.record_id in message_ids:
        parts.append(f"message {message_ids[r.record_id]}")
    what = f"{_slug(r.category).replace('-', ' ')}, {_SEVERITY_NAMES[r.severity]}"
    if r.document_number:
        what += f", document {r.document_number}"
    d = _date(r.decision_date, "decision_date")
    start = _date(r.publication_start, "publication_start")
    period = f"decided {d.isoformat()}, published from {start.isoformat()}"
    if r.HasField("publication_end"):
        period += f" to {_date(r.publication_end, 'publication_end').isoformat()}"
    text = f"{'; '.join(parts)}: {what}; {period}; {item.weight:+d} points"
    if item.capped:
        text += f", {item.contribution:+d} after the category cap"
    return text[:2048]


def _factor(
    code: str, name: str, value: str, contribution: int | None, description: str, weight: str = ""
) -> evaluation_pb2.EvaluationFactor:
    return evaluation_pb2.EvaluationFactor(
        code=code,
        name=name,
        value=value,
        weight=weight,
        contribution="" if contribution is None else str(contribution),
        description=description,
    )


def _timestamp(when: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(when.astimezone(UTC))
    return ts


def evaluate(
    subject: common_pb2.SubjectRef,
    records: Iterable[record_pb2.CreditRecord],
    *,
    as_of: date,
    evaluation_id: str,
    evaluator: common_pb2.AuthorityRef,
    evaluated_at: datetime,
    scheme: Scheme = CXP_BASIC_2026_1,
    message_ids: Mapping[str, str] | None = None,
) -> evaluation_pb2.Evaluation:
    """Evaluate ``subject`` on ``as_of`` from its ``records`` under ``scheme``.

    ``records`` are the subject's credit records (every revision the caller holds; the latest of
    each counts). ``message_ids`` optionally maps a record id to the message id of the statement
    carrying its current revision, so that each factor points at a logged, verifiable statement.
    ``evaluation_id`` and ``evaluated_at`` are the caller's (no clock, no random id here), so the
    result is deterministic. The evaluation is valid from ``as_of``; its data cut-off
    (``data_as_of``) is the end of that day, China Standard Time.

    Factors, in order: ``base-score``; one per counted record with points (most severe first,
    then by decision date and record id; code ``<category>-<severity>`` or ``<category>-bonus``,
    ``value`` the record id, ``weight`` the table's points, ``contribution`` the points after
    caps); ``more-records`` when the records exceed what ``Evaluation.factors`` can hold;
    ``score-bounds`` when the sum is clamped; ``grade-ceiling`` when a ceiling lowers the grade.
    The contributions add up to the score.

    Raises :class:`~creditlink.sdk.errors.InvalidArgument` for a record about another subject
    (``SUBJECT_MISMATCH``), a revision given twice (``DUPLICATE_RECORD``), a record without
    severity (``INVALID_RECORD``), an impossible date (``INVALID_DATE``) or a malformed
    argument (``INVALID_ARGUMENT``).
    """
    if not _ID_PATTERN.fullmatch(evaluation_id):
        raise InvalidArgument("evaluation_id is not a ULID or a lower-case UUID")
    if evaluated_at.tzinfo is None or evaluated_at.utcoffset() is None:
        raise InvalidArgument("evaluated_at must be timezone-aware")
    if subject.WhichOneof("id") is None:
        raise InvalidArgument("the subject has neither a USCC nor a person token")
    ids = dict(message_ids or {})

    # 1. Which records count on the evaluation date.
    counted = [r for r in _current(subject, records) if _counts(r, as_of)]

    # 2. Points per record, in factor order: deductions (most severe first), then bonuses.
    items = [_Item(r, scheme.points_for(r.category, r.severity)) for r in counted]
    items = [i for i in items if i.weight != 0]
    items.sort(
        key=lambda i: (
            i.weight,
            _date(i.record.decision_date, "decision_date"),
            i.record.record_id,
        )
    )

    # 3. Caps, consumed in that order: earlier (more severe, older) records keep their points.
    used: dict[Category, int] = {}
    bonus_left = scheme.bonus_cap
    for item in items:
        if item.weight < 0:
            cap = scheme.caps.get(item.record.category)
            if cap is None:
                item.contribution = item.weight
            else:
                spent = used.get(item.record.category, 0)
                item.contribution = -min(-item.weight, cap - spent)
                used[item.record.category] = spent - item.contribution
        else:
            item.contribution = min(item.weight, bonus_left)
            bonus_left -= item.contribution
        item.capped = item.contribution != item.weight

    # 4. Score and grade.
    raw = scheme.base_score + sum(i.contribution for i in items)
    score = max(0, min(100, raw))
    grade = scheme.grade_for(score)
    ceiling_hits = [
        (c, [r.record_id for r in sorted(counted, key=lambda r: r.record_id) if c.matches(r)])
        for c in scheme.ceilings
    ]
    ceiling_hits = [(c, hit) for c, hit in ceiling_hits if hit]
    lowest = max(ceiling_hits, key=lambda ch: scheme.rank(ch[0].grade), default=None)
    limited = lowest is not None and scheme.rank(lowest[0].grade) > scheme.rank(grade)

    # 5. The factors that explain it.
    factors = [
        _factor(
            "base-score",
            "Base score",
            str(scheme.base_score),
            scheme.base_score,
            f"every subject starts from {scheme.base_score} under {scheme.scheme_id}",
        )
    ]
    room = MAX_FACTORS - 4  # base, more-records, score-bounds and grade-ceiling
    for item in items[:room]:
        r = item.record
        kind = "bonus" if item.weight > 0 else _SEVERITY_NAMES[r.severity]
        factors.append(
            _factor(
                f"{_slug(r.category)}-{kind}",
                f"{_slug(r.category).replace('-', ' ').capitalize()}, {kind}",
                r.record_id,
                item.contribution,
                _describe(item, ids),
                weight=str(item.weight),
            )
        )
    rest = items[room:]
    if rest:
        factors.append(
            _factor(
                "more-records",
                "Further records",
                str(len(rest)),
                sum(i.contribution for i in rest),
                f"{len(rest)} further counted records, the least weighty ones, whose "
                "contributions are summed here: Evaluation.factors holds 256 factors at most",
            )
        )
    if raw != score:
        factors.append(
            _factor(
                "score-bounds",
                "Score bounds",
                str(raw),
                score - raw,
                f"the sum {raw} is clamped to the range 0 to 100",
            )
        )
    if limited and lowest is not None:
        ceiling, hit = lowest
        factors.append(
            _factor(
                "grade-ceiling",
                "Grade ceiling",
                ceiling.grade,
                None,
                f"{ceiling.label()} limits the grade to {ceiling.grade} (score grade {grade}): "
                + ", ".join(hit)[:1900],
            )
        )
        grade = ceiling.grade

    end_of_day = datetime.combine(as_of, time(23, 59, 59), tzinfo=_CST)
    return evaluation_pb2.Evaluation(
        evaluation_id=evaluation_id,
        subject=subject,
        scheme=scheme.scheme,
        grade=grade,
        score=str(score),
        factors=factors,
        model_version=scheme.version,
        evaluator=evaluator,
        evaluated_at=_timestamp(evaluated_at),
        data_as_of=_timestamp(end_of_day),
        valid_from=common_pb2.Date(year=as_of.year, month=as_of.month, day=as_of.day),
    )
