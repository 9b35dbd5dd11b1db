"""Versioned rulesets for publication periods, credit repair and objections, chosen by date.

The rules for how long untrustworthiness information stays published, when its subject may
apply for credit repair and how fast authorities must answer changed several times; the one in
force on the date that applies decides (credit-domain.md §5)::

    ruleset id         in force     minor          general          serious          from
    cn-ndrc-2019-527   2019-05-01   –              3 months – 1 y   6 months – 3 y   decision
    cn-ndrc-order-58   2023-05-01   3 months – 3 years, whatever the severity [1]    decision
    cn-gov-2025-22     2025-06-22   0 – 3 months   3 months – 1 y   1 – 3 years      decision
    cn-ndrc-2026       2026-04-01   0 – 3 months   3 months – 1 y   1 – 3 years      document

    [1] at least 1 year for work safety, fire safety and special equipment [believed]

- ``cn-ndrc-2019-527``: NDRC General Office notice 发改办财金〔2019〕527号 on credit repair of
  administrative penalty information on Credit China; publication ends automatically at the
  maximum.
- ``cn-ndrc-order-58``: NDRC Order No. 58, measures on repairing credit information once the
  untrustworthy conduct is corrected (trial); repair removes a subject from the serious list,
  stops publication of penalty information, or repairs other information.
- ``cn-gov-2025-22``: State Council General Office 国办发〔2025〕22号, plan to improve the credit
  repair system; one channel (Credit China); the platform answers an application within 10
  working days, the authority decides within 3 working days of receiving it.
- ``cn-ndrc-2026``: NDRC credit repair measures; eligible once the minimum period has passed,
  the conduct is corrected, obligations are performed and a public commitment is made.

Choosing a ruleset
------------------
:func:`ruleset_for` returns the ruleset in force on a date (the latest one whose ``in_force``
is on or before it). Which date applies is the caller's decision; this module's defaults are:
publication periods and repair eligibility follow the ruleset in force on the **decision
date** (the period attaches to the record when it is decided), and procedural time limits
(repair decisions, objections) the ruleset in force on the day the application or objection is
**received**. Both are design choices, not quotations of a rule: pass ``ruleset=`` to decide
otherwise.

>>> import datetime as dt
>>> from creditlink.v1.record_pb2 import SEVERITY_GENERAL, SEVERITY_SERIOUS
>>> ruleset_for(dt.date(2026, 3, 31)).id, ruleset_for(dt.date(2026, 4, 1)).id
('cn-gov-2025-22', 'cn-ndrc-2026')
>>> publication_window(SEVERITY_SERIOUS, dt.date(2026, 5, 31), ruleset_for(dt.date(2026, 5, 31)))
PublicationWindow(minimum_end=datetime.date(2027, 5, 31), maximum_end=datetime.date(2029, 5, 31))

Periods in months
-----------------
A period of N months starting on day D ends on the day of the N-th following month that has
D's number, or that month's last day when it has none: 3 months from 30 November 2025 end on
28 February 2026 (:func:`add_months`). That end day is still inside the period: the record is
published on ``maximum_end`` and no longer the day after, and the minimum "has passed" from the
day after ``minimum_end`` (Civil Code arts. 201–202 on periods in months) [believed: the
general rule of Chinese law, which the credit texts do not restate].

>>> add_months(dt.date(2025, 11, 30), 3)
datetime.date(2026, 2, 28)
>>> e = repair_eligibility(
...     SEVERITY_GENERAL,
...     dt.date(2025, 11, 30),
...     on=dt.date(2026, 2, 28),
...     met={RepairCondition.OBLIGATIONS_PERFORMED, RepairCondition.COMMITMENT},
... )
>>> e.eligible, e.reasons, e.earliest
(False, (<Ineligible.MINIMUM_PERIOD_NOT_PASSED: 'MINIMUM_PERIOD_NOT_PASSED'>,), \
datetime.date(2026, 3, 1))

Deadlines in days
-----------------
Time limits in days (:class:`TimeLimit`) are computed on a
:class:`~creditlink.gateway.domain.calendar.WorkingDayCalendar` and come back as a
:class:`~creditlink.gateway.domain.calendar.Deadline`, provisional when the calendar does not
know a year it had to look at. Working days follow the calendar's convention (the start day does
not count; the deadline is the N-th working day after it). A limit in calendar days ends N days
after the start, moved to the next working day when that day is a day off (Civil Code art. 203)
[believed].

>>> from creditlink.gateway.domain.calendar import WorkingDayCalendar
>>> publication_deadline(dt.date(2026, 9, 23), WorkingDayCalendar()).date
datetime.date(2026, 10, 10)

Adding a ruleset
----------------
Rulesets are data: append a :class:`Ruleset` entry to :data:`RULESETS`, in ``in_force`` order,
with a new ``id``. No function changes; :func:`check_rulesets` runs on the table at import
(unique ids, strictly increasing dates) and the tests check the selection on the day before
and the day of each ``in_force`` date. Mark in a comment what is not confirmed against the
official text.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, TypeAlias

from creditlink.gateway.domain.calendar import Deadline, WorkingDayCalendar
from creditlink.v1 import record_pb2

__all__ = [
    "PUBLICATION_DEADLINE",
    "RULESETS",
    "CountsWorkingDays",
    "DayUnit",
    "Eligibility",
    "Ineligible",
    "NoPublicationPeriod",
    "NoRulesetInForce",
    "PeriodStart",
    "PublicationPeriod",
    "PublicationWindow",
    "RepairCondition",
    "Ruleset",
    "Sector",
    "SectorMinimum",
    "Severity",
    "TimeLimit",
    "add_months",
    "check_rulesets",
    "objection_deadline",
    "publication_deadline",
    "publication_window",
    "repair_decision_deadline",
    "repair_eligibility",
    "repair_feedback_deadline",
    "ruleset_for",
]

Severity: TypeAlias = record_pb2.Severity.ValueType
"""A ``creditlink.v1.Severity`` value (``record_pb2.SEVERITY_MINOR`` …)."""

_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class NoRulesetInForce(LookupError):
    """No ruleset of the table was in force on the date asked about."""


class NoPublicationPeriod(LookupError):
    """The ruleset sets no publication period for the severity asked about."""


class PeriodStart(StrEnum):
    """The date a ruleset's publication periods count from."""

    DECISION_DATE = "decision date"
    """The date of the decision (JDRQ)."""
    DOCUMENT_DATE = "document date"
    """The date of the decision document (决定书); normally the same day as the decision."""


class DayUnit(StrEnum):
    """How the days of a :class:`TimeLimit` are counted."""

    WORKING_DAYS = "working days"
    CALENDAR_DAYS = "calendar days"


class Sector(StrEnum):
    """Fields for which a ruleset may set a longer minimum publication period."""

    WORK_SAFETY = "work safety"
    FIRE_SAFETY = "fire safety"
    SPECIAL_EQUIPMENT = "special equipment"


class RepairCondition(StrEnum):
    """What a subject must have done, besides waiting out the minimum period, to be repaired."""

    CORRECTED = "corrected"
    """The untrustworthy conduct is corrected (纠正失信行为)."""
    OBLIGATIONS_PERFORMED = "obligations performed"
    """The legal obligations are performed, e.g. the fine paid, with evidence (履行法定义务)."""
    COMMITMENT = "commitment"
    """A credit commitment is made (信用承诺)."""
    PUBLIC_COMMITMENT = "public commitment"
    """A credit commitment is made and published; it also counts as :attr:`COMMITMENT`."""
    TRAINING = "training"
    """The subject attended credit repair training (信用修复专题培训)."""
    CREDIT_REPORT = "credit report"
    """The subject submitted a credit report (信用报告)."""


class Ineligible(StrEnum):
    """Why a repair application is not (yet) eligible; values are stable reason codes."""

    MINIMUM_PERIOD_NOT_PASSED = "MINIMUM_PERIOD_NOT_PASSED"
    PUBLICATION_ENDED = "PUBLICATION_ENDED"
    """The maximum period has passed: publication ended by itself, there is nothing to repair."""
    NOT_CORRECTED = "NOT_CORRECTED"
    OBLIGATIONS_NOT_PERFORMED = "OBLIGATIONS_NOT_PERFORMED"
    NO_COMMITMENT = "NO_COMMITMENT"
    NO_PUBLIC_COMMITMENT = "NO_PUBLIC_COMMITMENT"
    NO_TRAINING = "NO_TRAINING"
    NO_CREDIT_REPORT = "NO_CREDIT_REPORT"


_MISSING = {
    RepairCondition.CORRECTED: Ineligible.NOT_CORRECTED,
    RepairCondition.OBLIGATIONS_PERFORMED: Ineligible.OBLIGATIONS_NOT_PERFORMED,
    RepairCondition.COMMITMENT: Ineligible.NO_COMMITMENT,
    RepairCondition.PUBLIC_COMMITMENT: Ineligible.NO_PUBLIC_COMMITMENT,
    RepairCondition.TRAINING: Ineligible.NO_TRAINING,
    RepairCondition.CREDIT_REPORT: Ineligible.NO_CREDIT_REPORT,
}


@dataclass(frozen=True, slots=True)
class TimeLimit:
    """A time limit of ``days`` working or calendar days, counted from the day after the start.

    >>> from creditlink.gateway.domain.calendar import WorkingDayCalendar
    >>> TimeLimit(3, DayUnit.WORKING_DAYS).deadline(dt.date(2026, 9, 30), WorkingDayCalendar())
    Deadline(date=datetime.date(2026, 10, 10), provisional=False, reason=None)
    """

    days: int
    unit: DayUnit

    def __post_init__(self) -> None:
        if self.days <= 0:
            raise ValueError(f"a time limit needs a positive number of days, not {self.days}")

    def deadline(self, start: dt.date, calendar: WorkingDayCalendar) -> Deadline:
        """Return the last day of the limit for an act due after ``start``."""
        if self.unit is DayUnit.WORKING_DAYS:
            return calendar.add_working_days(start, self.days)
        # A period in calendar days whose last day is a day off ends on the next working day
        # (Civil Code art. 203) [believed].
        return calendar.roll_forward(start + dt.timedelta(days=self.days))


@dataclass(frozen=True, slots=True)
class PublicationPeriod:
    """Minimum and maximum publication period, in months.

    A minimum of 0 means the information may go unpublished, or be repaired as soon as the
    other conditions are met.
    """

    minimum_months: int
    maximum_months: int

    def __post_init__(self) -> None:
        if not 0 <= self.minimum_months <= self.maximum_months or self.maximum_months == 0:
            raise ValueError(
                f"invalid publication period {self.minimum_months}–{self.maximum_months} months"
            )


@dataclass(frozen=True, slots=True)
class SectorMinimum:
    """A longer minimum publication period for information from some sectors."""

    sectors: frozenset[Sector]
    minimum_months: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Ruleset:
    """The publication, repair and objection rules in force from one date.

    Attributes:
        id: stable identifier, lower-case words joined by ``-`` (e.g. ``"cn-ndrc-2019-527"``);
            records, repair decisions and logs cite it.
        title: the instrument the rules come from.
        in_force: the first day the ruleset applies.
        minor, general, serious: publication period per severity; ``None`` where the ruleset
            sets none.
        sector_minimum: a longer minimum for some sectors, if the ruleset has one.
        period_start: the date publication periods count from.
        repair_conditions: what every repair application needs besides the minimum period.
        serious_repair_conditions: what a repair of serious untrustworthiness needs besides.
        repair_feedback: time for the platform to answer a repair application; ``None`` where
            the ruleset sets no limit.
        repair_decision: time for the authority to decide once it receives the application;
            ``None`` where the ruleset sets no limit.
        objection: time to verify and answer an objection.
    """

    id: str
    title: str
    in_force: dt.date
    minor: PublicationPeriod | None
    general: PublicationPeriod | None
    serious: PublicationPeriod | None
    sector_minimum: SectorMinimum | None = None
    period_start: PeriodStart
    repair_conditions: frozenset[RepairCondition]
    serious_repair_conditions: frozenset[RepairCondition] = frozenset()
    repair_feedback: TimeLimit | None
    repair_decision: TimeLimit | None
    objection: TimeLimit

    def __post_init__(self) -> None:
        if not _ID.fullmatch(self.id):
            raise ValueError(f"ruleset id {self.id!r} is not lower-case words joined by '-'")
        if not self.repair_conditions:
            raise ValueError(f"ruleset {self.id} lists no repair conditions")

    def period(self, severity: Severity, *, sector: Sector | None = None) -> PublicationPeriod:
        """Return the publication period for ``severity`` (and ``sector``, if it has its own).

        Raises:
            ValueError: ``severity`` is not minor, general or serious.
            NoPublicationPeriod: this ruleset sets no period for ``severity``.
        """
        period: PublicationPeriod | None
        if severity == record_pb2.SEVERITY_MINOR:
            period = self.minor
        elif severity == record_pb2.SEVERITY_GENERAL:
            period = self.general
        elif severity == record_pb2.SEVERITY_SERIOUS:
            period = self.serious
        else:
            raise ValueError(
                f"severity {_severity_name(severity)} has no publication period: only minor,"
                " general and serious untrustworthiness have one"
            )
        if period is None:
            raise NoPublicationPeriod(
                f"ruleset {self.id} sets no publication period for {_severity_name(severity)}"
            )
        minimum = self.sector_minimum
        if sector is not None and minimum is not None and sector in minimum.sectors:
            return PublicationPeriod(
                max(period.minimum_months, min(minimum.minimum_months, period.maximum_months)),
                period.maximum_months,
            )
        return period


# The PBoC credit reporting regulation gives 20 days to verify and answer an objection
# (credit-domain.md §5). That they are calendar days, not working days, is [believed]; every
# ruleset uses it until one of the credit texts sets its own limit.
_OBJECTION_20_DAYS = TimeLimit(20, DayUnit.CALENDAR_DAYS)

PUBLICATION_DEADLINE = TimeLimit(7, DayUnit.WORKING_DAYS)
"""Administrative acts are published within 7 working days of the decision (2019 opinions,
item 15; credit-domain.md §1)."""

RULESETS: tuple[Ruleset, ...] = (
    Ruleset(
        id="cn-ndrc-2019-527",
        title=(
            "NDRC General Office notice on improving the credit repair of administrative penalty"
            " information on Credit China and local credit portals (发改办财金〔2019〕527号)"
        ),
        # [believed] The notice was issued in spring 2019; credit-domain.md gives no date and
        # this in-force date is not confirmed against the notice.
        in_force=dt.date(2019, 5, 1),
        # The notice grades penalty information as general or serious only: no minor period.
        minor=None,
        general=PublicationPeriod(3, 12),
        serious=PublicationPeriod(6, 36),
        period_start=PeriodStart.DECISION_DATE,
        # [believed] Evidence that the penalty was performed and a credit repair commitment;
        # for serious conduct also repair training and a credit report (as local portals
        # describe the notice; not confirmed against its text).
        repair_conditions=frozenset(
            {RepairCondition.OBLIGATIONS_PERFORMED, RepairCondition.COMMITMENT}
        ),
        serious_repair_conditions=frozenset(
            {RepairCondition.TRAINING, RepairCondition.CREDIT_REPORT}
        ),
        repair_feedback=None,
        repair_decision=None,
        objection=_OBJECTION_20_DAYS,
    ),
    Ruleset(
        id="cn-ndrc-order-58",
        title=(
            "NDRC Order No. 58: measures for repairing credit information after untrustworthy"
            " conduct is corrected (trial)"
        ),
        in_force=dt.date(2023, 5, 1),
        # Penalty information is published for 3 months at least and 3 years at most; the
        # Order does not grade these periods by severity (credit-domain.md §5).
        minor=PublicationPeriod(3, 36),
        general=PublicationPeriod(3, 36),
        serious=PublicationPeriod(3, 36),
        # [believed] Work safety, fire safety and special equipment: 1 year at least.
        sector_minimum=SectorMinimum(
            frozenset({Sector.WORK_SAFETY, Sector.FIRE_SAFETY, Sector.SPECIAL_EQUIPMENT}), 12
        ),
        # [believed] credit-domain.md does not say where the Order's periods start.
        period_start=PeriodStart.DECISION_DATE,
        # Repair follows correcting the conduct and performing the obligations (art. 3); the
        # commitment letter is [believed].
        repair_conditions=frozenset(
            {
                RepairCondition.CORRECTED,
                RepairCondition.OBLIGATIONS_PERFORMED,
                RepairCondition.COMMITMENT,
            }
        ),
        repair_feedback=None,
        repair_decision=None,
        objection=_OBJECTION_20_DAYS,
    ),
    Ruleset(
        id="cn-gov-2025-22",
        title=(
            "State Council General Office: implementation plan for further improving the credit"
            " repair system (国办发〔2025〕22号)"
        ),
        in_force=dt.date(2025, 6, 22),
        # Minor: may go unpublished, or at most 3 months.
        minor=PublicationPeriod(0, 3),
        general=PublicationPeriod(3, 12),
        serious=PublicationPeriod(12, 36),
        # [believed] credit-domain.md does not say where the plan's periods start.
        period_start=PeriodStart.DECISION_DATE,
        repair_conditions=frozenset(
            {RepairCondition.OBLIGATIONS_PERFORMED, RepairCondition.COMMITMENT}
        ),
        repair_feedback=TimeLimit(10, DayUnit.WORKING_DAYS),
        repair_decision=TimeLimit(3, DayUnit.WORKING_DAYS),
        objection=_OBJECTION_20_DAYS,
    ),
    Ruleset(
        id="cn-ndrc-2026",
        title="NDRC credit repair measures (in force 2026-04-01)",
        in_force=dt.date(2026, 4, 1),
        minor=PublicationPeriod(0, 3),
        general=PublicationPeriod(3, 12),
        serious=PublicationPeriod(12, 36),
        period_start=PeriodStart.DOCUMENT_DATE,
        repair_conditions=frozenset(
            {
                RepairCondition.CORRECTED,
                RepairCondition.OBLIGATIONS_PERFORMED,
                RepairCondition.PUBLIC_COMMITMENT,
            }
        ),
        # [believed] The measures implement GO 2025 No. 22; its limits are carried over, as
        # credit-domain.md gives none of their own.
        repair_feedback=TimeLimit(10, DayUnit.WORKING_DAYS),
        repair_decision=TimeLimit(3, DayUnit.WORKING_DAYS),
        objection=_OBJECTION_20_DAYS,
    ),
)
"""Every ruleset, in ``in_force`` order (see "Adding a ruleset" in the module docstring)."""


def check_rulesets(rulesets: Sequence[Ruleset]) -> None:
    """Check a ruleset table: not empty, unique ids, ``in_force`` strictly increasing.

    Raises:
        ValueError: the table breaks one of these rules.
    """
    if not rulesets:
        raise ValueError("the ruleset table is empty")
    ids = [r.id for r in rulesets]
    if len(set(ids)) != len(ids):
        raise ValueError(f"ruleset ids repeat: {ids}")
    for before, after in itertools.pairwise(rulesets):
        if after.in_force <= before.in_force:
            raise ValueError(
                f"ruleset {after.id} ({after.in_force}) is not in force after"
                f" {before.id} ({before.in_force})"
            )


check_rulesets(RULESETS)


def ruleset_for(on: dt.date, rulesets: Sequence[Ruleset] = RULESETS) -> Ruleset:
    """Return the ruleset in force on ``on``: the last one whose ``in_force`` is not after it.

    Raises:
        NoRulesetInForce: ``on`` is before the first ruleset of the table.
    """
    _require_date(on)
    check_rulesets(rulesets)
    for ruleset in reversed(rulesets):
        if ruleset.in_force <= on:
            return ruleset
    raise NoRulesetInForce(
        f"no ruleset in force on {on.isoformat()}: the first ({rulesets[0].id}) applies from"
        f" {rulesets[0].in_force.isoformat()}"
    )


def add_months(day: dt.date, months: int) -> dt.date:
    """Return the same day ``months`` calendar months later (earlier if negative).

    When the target month has no such day, the result is its last day.

    >>> add_months(dt.date(2026, 1, 31), 1)
    datetime.date(2026, 2, 28)
    >>> add_months(dt.date(2024, 2, 29), 12)
    datetime.date(2025, 2, 28)
    >>> add_months(dt.date(2026, 3, 31), -1)
    datetime.date(2026, 2, 28)
    """
    _require_date(day)
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, _days_in_month(year, month)))


class PublicationWindow(NamedTuple):
    """When publication of a record may end (if repaired) and when it must end.

    Both days are still inside their period: a record is published on ``maximum_end`` and not
    the day after; a repair may take effect from the day after ``minimum_end``.
    """

    minimum_end: dt.date
    maximum_end: dt.date


def publication_window(
    severity: Severity,
    decision_date: dt.date,
    ruleset: Ruleset,
    *,
    document_date: dt.date | None = None,
    sector: Sector | None = None,
) -> PublicationWindow:
    """Return the last days of the minimum and the maximum publication period of a record.

    Periods count from the decision date, or from ``document_date`` when the ruleset counts
    from the decision document and one is given (the document is normally dated the day of the
    decision, so the decision date stands in for it otherwise).

    Raises:
        ValueError: ``severity`` is not minor, general or serious.
        NoPublicationPeriod: ``ruleset`` sets no period for ``severity``.
    """
    period = ruleset.period(severity, sector=sector)
    start = _period_start(decision_date, document_date, ruleset)
    return PublicationWindow(
        add_months(start, period.minimum_months), add_months(start, period.maximum_months)
    )


def publication_deadline(decision_date: dt.date, calendar: WorkingDayCalendar) -> Deadline:
    """Return the last day to publish an administrative act: 7 working days after its decision.

    >>> from creditlink.gateway.domain.calendar import WorkingDayCalendar
    >>> publication_deadline(dt.date(2026, 2, 12), WorkingDayCalendar()).date
    datetime.date(2026, 2, 28)
    """
    return PUBLICATION_DEADLINE.deadline(decision_date, calendar)


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Whether a repair application can be granted on a given day, and why not.

    Attributes:
        eligible: every condition holds on that day.
        reasons: each rule that fails, as a stable reason code; empty when eligible.
        earliest: the first day the minimum publication period has passed (the other
            conditions aside).
        ruleset_id: the ruleset applied.
    """

    eligible: bool
    reasons: tuple[Ineligible, ...]
    earliest: dt.date
    ruleset_id: str

    def __post_init__(self) -> None:
        if self.eligible == bool(self.reasons):
            raise ValueError("an eligible application has no reasons; an ineligible one has")


def repair_eligibility(
    severity: Severity,
    decision_date: dt.date,
    on: dt.date,
    *,
    met: Iterable[RepairCondition] = (),
    ruleset: Ruleset | None = None,
    document_date: dt.date | None = None,
    sector: Sector | None = None,
) -> Eligibility:
    """Return whether a record can be repaired on ``on``, given the conditions ``met``.

    The ruleset is the one in force on the decision date unless ``ruleset`` is given. The
    application is eligible from the day after the minimum period ends, until the maximum ends
    (after that publication has ended by itself), when every condition of the ruleset is met
    (for serious untrustworthiness, also its ``serious_repair_conditions``).

    Raises:
        ValueError: ``severity`` is not minor, general or serious.
        NoPublicationPeriod: the ruleset sets no period for ``severity``.
        NoRulesetInForce: no ruleset was in force on the decision date.
    """
    _require_date(on)
    if ruleset is None:
        ruleset = ruleset_for(decision_date)
    period = ruleset.period(severity, sector=sector)
    window = publication_window(
        severity, decision_date, ruleset, document_date=document_date, sector=sector
    )
    start = _period_start(decision_date, document_date, ruleset)
    # With no minimum there is nothing to wait out: eligible from the start.
    earliest = window.minimum_end + dt.timedelta(days=1) if period.minimum_months else start
    reasons: list[Ineligible] = []
    if on < earliest:
        reasons.append(Ineligible.MINIMUM_PERIOD_NOT_PASSED)
    if on > window.maximum_end:
        reasons.append(Ineligible.PUBLICATION_ENDED)
    done = set(met)
    if RepairCondition.PUBLIC_COMMITMENT in done:
        done.add(RepairCondition.COMMITMENT)
    required = set(ruleset.repair_conditions)
    if severity == record_pb2.SEVERITY_SERIOUS:
        required |= ruleset.serious_repair_conditions
    reasons.extend(_MISSING[c] for c in RepairCondition if c in required - done)
    return Eligibility(not reasons, tuple(reasons), earliest, ruleset.id)


def repair_feedback_deadline(
    received: dt.date, calendar: WorkingDayCalendar, ruleset: Ruleset
) -> Deadline | None:
    """Return the last day for the platform to answer a repair application received that day.

    ``None`` when ``ruleset`` sets no limit. Pass the ruleset in force on ``received``.
    """
    limit = ruleset.repair_feedback
    return None if limit is None else limit.deadline(received, calendar)


def repair_decision_deadline(
    received: dt.date, calendar: WorkingDayCalendar, ruleset: Ruleset
) -> Deadline | None:
    """Return the last day for the authority to decide a repair application it received.

    ``None`` when ``ruleset`` sets no limit. Pass the ruleset in force on ``received``.

    >>> from creditlink.gateway.domain.calendar import WorkingDayCalendar
    >>> repair_decision_deadline(
    ...     dt.date(2026, 2, 13), WorkingDayCalendar(), ruleset_for(dt.date(2026, 2, 13))
    ... ).date
    datetime.date(2026, 2, 25)
    """
    limit = ruleset.repair_decision
    return None if limit is None else limit.deadline(received, calendar)


def objection_deadline(filed: dt.date, calendar: WorkingDayCalendar, ruleset: Ruleset) -> Deadline:
    """Return the last day to verify and answer an objection filed on ``filed``.

    Every ruleset so far gives 20 days, read as calendar days [believed] and moved to the next
    working day when the 20th day is a day off. Pass the ruleset in force on ``filed``.

    >>> from creditlink.gateway.domain.calendar import WorkingDayCalendar
    >>> objection_deadline(
    ...     dt.date(2026, 9, 17), WorkingDayCalendar(), ruleset_for(dt.date(2026, 9, 17))
    ... ).date
    datetime.date(2026, 10, 8)
    """
    return ruleset.objection.deadline(filed, calendar)


def _period_start(
    decision_date: dt.date, document_date: dt.date | None, ruleset: Ruleset
) -> dt.date:
    _require_date(decision_date)
    if ruleset.period_start is PeriodStart.DOCUMENT_DATE and document_date is not None:
        _require_date(document_date)
        return document_date
    return decision_date


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (dt.date(year, month + 1, 1) - dt.timedelta(days=1)).day


def _severity_name(severity: Severity) -> str:
    try:
        return record_pb2.Severity.Name(severity)
    except ValueError:
        return str(severity)


def _require_date(value: object) -> None:
    # datetime is a subclass of date: refuse it rather than reduce an instant to a day.
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise TypeError(f"expected a datetime.date, got {type(value).__name__}")


class CountsWorkingDays:
    """Base of what counts deadlines: a working-day calendar and the rulesets to choose from.

    ``calendar`` is the package's alone by default; the gateway passes the one with the
    operator's holiday table, shared by every handler so that a reload reaches them all.
    """

    def __init__(
        self,
        *,
        calendar: WorkingDayCalendar | None = None,
        rulesets: Sequence[Ruleset] = RULESETS,
    ) -> None:
        """Count deadlines on ``calendar`` from ``rulesets``."""
        self._calendar = calendar or WorkingDayCalendar()
        self._rulesets = rulesets
