"""Versioned rulesets: selection by date, publication windows, repair, deadlines on 2026 dates."""

from __future__ import annotations

import calendar as std_calendar
import dataclasses
import datetime as dt
import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditlink.gateway.domain import rulesets
from creditlink.gateway.domain.calendar import Deadline, WorkingDayCalendar
from creditlink.gateway.domain.rulesets import (
    PUBLICATION_DEADLINE,
    RULESETS,
    DayUnit,
    Eligibility,
    Ineligible,
    NoPublicationPeriod,
    NoRulesetInForce,
    PeriodStart,
    PublicationPeriod,
    PublicationWindow,
    RepairCondition,
    Ruleset,
    Sector,
    TimeLimit,
    add_months,
    check_rulesets,
    objection_deadline,
    publication_deadline,
    publication_window,
    repair_decision_deadline,
    repair_eligibility,
    repair_feedback_deadline,
    ruleset_for,
)
from creditlink.v1.record_pb2 import (
    SEVERITY_GENERAL,
    SEVERITY_MINOR,
    SEVERITY_NOT_UNTRUSTWORTHY,
    SEVERITY_SERIOUS,
    SEVERITY_UNSPECIFIED,
)
from tests.gateway.domain.test_calendar import TABLE_2027

D = dt.date
PACKAGE = WorkingDayCalendar()
WITH_2027 = WorkingDayCalendar.from_mapping(TABLE_2027)
BY_ID = {r.id: r for r in RULESETS}

needs_unknown_2027 = pytest.mark.skipif(
    PACKAGE.knows(2027), reason="the installed chinesecalendar knows 2027"
)

OBLIGATIONS = RepairCondition.OBLIGATIONS_PERFORMED
CORRECTED = RepairCondition.CORRECTED
COMMITMENT = RepairCondition.COMMITMENT
PUBLIC = RepairCondition.PUBLIC_COMMITMENT
ALL_CONDITIONS = frozenset(RepairCondition)


def test_doctests() -> None:
    result = doctest.testmod(rulesets, report=True)
    assert result.attempted > 0
    assert result.failed == 0


# --- the table and its selection -----------------------------------------------------------


def test_the_table() -> None:
    assert [(r.id, r.in_force) for r in RULESETS] == [
        ("cn-ndrc-2019-527", D(2019, 5, 1)),
        ("cn-ndrc-order-58", D(2023, 5, 1)),
        ("cn-gov-2025-22", D(2025, 6, 22)),
        ("cn-ndrc-2026", D(2026, 4, 1)),
    ]
    assert BY_ID["cn-ndrc-2026"].period_start is PeriodStart.DOCUMENT_DATE
    assert BY_ID["cn-ndrc-2019-527"].period_start is PeriodStart.DECISION_DATE
    for ruleset in RULESETS:
        assert ruleset.objection == TimeLimit(20, DayUnit.CALENDAR_DAYS)
    assert (PUBLICATION_DEADLINE.days, PUBLICATION_DEADLINE.unit) == (7, DayUnit.WORKING_DAYS)


@pytest.mark.parametrize("index", range(len(RULESETS)), ids=[r.id for r in RULESETS])
def test_selection_on_the_boundary(index: int) -> None:
    ruleset = RULESETS[index]
    day_before = ruleset.in_force - dt.timedelta(days=1)
    assert ruleset_for(ruleset.in_force) is ruleset
    if index == 0:
        with pytest.raises(NoRulesetInForce, match="2019-05-01"):
            ruleset_for(day_before)
    else:
        assert ruleset_for(day_before) is RULESETS[index - 1]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2019, 5, 1), "cn-ndrc-2019-527"),
        (D(2023, 4, 30), "cn-ndrc-2019-527"),
        (D(2023, 5, 1), "cn-ndrc-order-58"),
        (D(2025, 6, 21), "cn-ndrc-order-58"),
        (D(2025, 6, 22), "cn-gov-2025-22"),
        (D(2026, 3, 31), "cn-gov-2025-22"),
        (D(2026, 4, 1), "cn-ndrc-2026"),
        (D(2030, 1, 1), "cn-ndrc-2026"),
    ],
)
def test_selection_by_date(day: dt.date, expected: str) -> None:
    assert ruleset_for(day).id == expected


def test_selection_from_another_table() -> None:
    assert ruleset_for(D(2026, 6, 1), RULESETS[:2]).id == "cn-ndrc-order-58"
    with pytest.raises(ValueError, match="empty"):
        ruleset_for(D(2026, 6, 1), ())
    with pytest.raises(TypeError):
        ruleset_for(dt.datetime(2026, 6, 1, tzinfo=dt.UTC))


def test_check_rulesets() -> None:
    check_rulesets(RULESETS)
    first, second = RULESETS[0], RULESETS[1]
    with pytest.raises(ValueError, match="repeat"):
        check_rulesets([first, dataclasses.replace(second, id=first.id)])
    with pytest.raises(ValueError, match="not in force after"):
        check_rulesets([second, first])
    with pytest.raises(ValueError, match="not in force after"):
        check_rulesets([first, dataclasses.replace(second, in_force=first.in_force)])


def test_a_new_ruleset_is_data() -> None:
    # What "Adding a ruleset" describes: one more entry, no code.
    newer = dataclasses.replace(
        RULESETS[-1],
        id="cn-test-2028",
        in_force=D(2028, 1, 1),
        serious=PublicationPeriod(6, 24),
    )
    table = (*RULESETS, newer)
    check_rulesets(table)
    assert ruleset_for(D(2027, 12, 31), table).id == "cn-ndrc-2026"
    chosen = ruleset_for(D(2028, 1, 1), table)
    assert publication_window(SEVERITY_SERIOUS, D(2028, 1, 1), chosen) == (
        D(2028, 7, 1),
        D(2030, 1, 1),
    )


def test_ruleset_validation() -> None:
    with pytest.raises(ValueError, match="lower-case"):
        dataclasses.replace(RULESETS[0], id="CN 2019")
    with pytest.raises(ValueError, match="no repair conditions"):
        dataclasses.replace(RULESETS[0], repair_conditions=frozenset())
    with pytest.raises(ValueError, match="positive"):
        TimeLimit(0, DayUnit.WORKING_DAYS)
    for minimum, maximum in [(4, 3), (0, 0), (-1, 3)]:
        with pytest.raises(ValueError, match="invalid publication period"):
            PublicationPeriod(minimum, maximum)


# --- months --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (D(2026, 1, 15), 3, D(2026, 4, 15)),
        (D(2026, 1, 31), 1, D(2026, 2, 28)),
        (D(2028, 1, 31), 1, D(2028, 2, 29)),
        (D(2025, 11, 30), 3, D(2026, 2, 28)),
        (D(2026, 8, 31), 6, D(2027, 2, 28)),
        (D(2024, 2, 29), 12, D(2025, 2, 28)),
        (D(2024, 2, 29), 48, D(2028, 2, 29)),
        (D(2026, 10, 31), 2, D(2026, 12, 31)),
        (D(2026, 12, 31), 1, D(2027, 1, 31)),
        (D(2026, 12, 15), 36, D(2029, 12, 15)),
        (D(2026, 3, 31), -1, D(2026, 2, 28)),
        (D(2026, 1, 31), -2, D(2025, 11, 30)),
        (D(2026, 5, 6), 0, D(2026, 5, 6)),
    ],
)
def test_add_months(day: dt.date, months: int, expected: dt.date) -> None:
    assert add_months(day, months) == expected


month_dates = st.dates(min_value=D(1900, 1, 1), max_value=D(2100, 12, 31))
month_counts = st.integers(min_value=-1200, max_value=1200)


@given(month_dates, month_counts)
def test_add_months_properties(day: dt.date, months: int) -> None:
    result = add_months(day, months)
    assert (result.year * 12 + result.month) - (day.year * 12 + day.month) == months
    assert result.day == min(day.day, std_calendar.monthrange(result.year, result.month)[1])


@given(month_dates, month_dates, month_counts)
def test_add_months_is_monotonic(first: dt.date, second: dt.date, months: int) -> None:
    early, late = sorted((first, second))
    assert add_months(early, months) <= add_months(late, months)


def test_add_months_refuses_datetimes() -> None:
    with pytest.raises(TypeError):
        add_months(dt.datetime(2026, 1, 31, tzinfo=dt.UTC), 1)


# --- publication windows -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ruleset_id", "decision", "severity", "minimum_end", "maximum_end"),
    [
        ("cn-ndrc-2019-527", D(2020, 2, 29), SEVERITY_GENERAL, D(2020, 5, 29), D(2021, 2, 28)),
        ("cn-ndrc-2019-527", D(2020, 2, 29), SEVERITY_SERIOUS, D(2020, 8, 29), D(2023, 2, 28)),
        ("cn-ndrc-order-58", D(2024, 8, 31), SEVERITY_MINOR, D(2024, 11, 30), D(2027, 8, 31)),
        ("cn-ndrc-order-58", D(2024, 8, 31), SEVERITY_GENERAL, D(2024, 11, 30), D(2027, 8, 31)),
        ("cn-ndrc-order-58", D(2024, 8, 31), SEVERITY_SERIOUS, D(2024, 11, 30), D(2027, 8, 31)),
        ("cn-gov-2025-22", D(2025, 11, 30), SEVERITY_MINOR, D(2025, 11, 30), D(2026, 2, 28)),
        ("cn-gov-2025-22", D(2025, 11, 30), SEVERITY_GENERAL, D(2026, 2, 28), D(2026, 11, 30)),
        ("cn-gov-2025-22", D(2025, 11, 30), SEVERITY_SERIOUS, D(2026, 11, 30), D(2028, 11, 30)),
        ("cn-ndrc-2026", D(2026, 5, 31), SEVERITY_MINOR, D(2026, 5, 31), D(2026, 8, 31)),
        ("cn-ndrc-2026", D(2026, 5, 31), SEVERITY_GENERAL, D(2026, 8, 31), D(2027, 5, 31)),
        ("cn-ndrc-2026", D(2026, 5, 31), SEVERITY_SERIOUS, D(2027, 5, 31), D(2029, 5, 31)),
        ("cn-ndrc-2026", D(2026, 12, 31), SEVERITY_GENERAL, D(2027, 3, 31), D(2027, 12, 31)),
    ],
)
def test_publication_window(
    ruleset_id: str,
    decision: dt.date,
    severity: int,
    minimum_end: dt.date,
    maximum_end: dt.date,
) -> None:
    ruleset = BY_ID[ruleset_id]
    assert ruleset_for(decision) is ruleset
    window = publication_window(severity, decision, ruleset)  # type: ignore[arg-type]
    assert window == PublicationWindow(minimum_end, maximum_end)
    low, high = window  # unpacks as the pair (min_end, max_end)
    assert (low, high) == (minimum_end, maximum_end)


def test_window_of_a_severity_the_ruleset_does_not_grade() -> None:
    with pytest.raises(NoPublicationPeriod, match="SEVERITY_MINOR"):
        publication_window(SEVERITY_MINOR, D(2020, 1, 2), BY_ID["cn-ndrc-2019-527"])


@pytest.mark.parametrize("severity", [SEVERITY_UNSPECIFIED, SEVERITY_NOT_UNTRUSTWORTHY, 99])
def test_window_of_conduct_that_is_not_untrustworthy(severity: int) -> None:
    with pytest.raises(ValueError, match="no publication period"):
        publication_window(severity, D(2026, 5, 6), RULESETS[-1])  # type: ignore[arg-type]


def test_sector_minimum_of_order_58() -> None:
    ruleset = BY_ID["cn-ndrc-order-58"]
    for sector in Sector:
        assert publication_window(SEVERITY_GENERAL, D(2024, 1, 10), ruleset, sector=sector) == (
            D(2025, 1, 10),
            D(2027, 1, 10),
        )
    # Later rulesets have no sector rule: their serious minimum is a year anyway.
    assert publication_window(
        SEVERITY_GENERAL, D(2026, 5, 6), RULESETS[-1], sector=Sector.FIRE_SAFETY
    ) == (D(2026, 8, 6), D(2027, 5, 6))


def test_periods_from_the_document_date() -> None:
    decided, documented = D(2026, 6, 15), D(2026, 6, 20)
    assert publication_window(
        SEVERITY_GENERAL, decided, BY_ID["cn-ndrc-2026"], document_date=documented
    ) == (D(2026, 9, 20), D(2027, 6, 20))
    # A ruleset counting from the decision ignores the document date.
    assert publication_window(
        SEVERITY_GENERAL, decided, BY_ID["cn-gov-2025-22"], document_date=documented
    ) == (D(2026, 9, 15), D(2027, 6, 15))
    # Without a document date, the decision date stands in.
    assert publication_window(SEVERITY_GENERAL, decided, BY_ID["cn-ndrc-2026"]) == (
        D(2026, 9, 15),
        D(2027, 6, 15),
    )


rulesets_st = st.sampled_from(RULESETS)
severities = st.sampled_from([SEVERITY_MINOR, SEVERITY_GENERAL, SEVERITY_SERIOUS])
offsets = st.integers(min_value=0, max_value=5 * 366)
all_days = st.integers(min_value=-30, max_value=5 * 366)


@given(rulesets_st, severities, offsets, all_days)
def test_window_and_eligibility_agree(
    ruleset: Ruleset, severity: int, offset: int, day: int
) -> None:
    decision = ruleset.in_force + dt.timedelta(days=offset)
    on = decision + dt.timedelta(days=day)
    try:
        window = publication_window(severity, decision, ruleset)  # type: ignore[arg-type]
    except NoPublicationPeriod:
        return
    assert decision <= window.minimum_end <= window.maximum_end
    result = repair_eligibility(
        severity,  # type: ignore[arg-type]
        decision,
        on,
        met=ALL_CONDITIONS,
        ruleset=ruleset,
    )
    assert result.earliest >= decision
    assert result.earliest <= window.maximum_end
    assert result.eligible == (result.earliest <= on <= window.maximum_end)


# --- repair eligibility --------------------------------------------------------------------


def test_repair_before_and_after_the_minimum() -> None:
    decision = D(2025, 11, 30)  # general, GO 2025 No. 22: minimum ends 2026-02-28
    met = {OBLIGATIONS, COMMITMENT}

    def on(day: dt.date) -> Eligibility:
        return repair_eligibility(SEVERITY_GENERAL, decision, day, met=met)

    assert on(D(2026, 2, 28)) == Eligibility(
        False, (Ineligible.MINIMUM_PERIOD_NOT_PASSED,), D(2026, 3, 1), "cn-gov-2025-22"
    )
    assert on(D(2026, 3, 1)) == Eligibility(True, (), D(2026, 3, 1), "cn-gov-2025-22")
    assert on(D(2026, 11, 30)).eligible  # last day of publication
    assert on(D(2026, 12, 1)).reasons == (Ineligible.PUBLICATION_ENDED,)


def test_repair_reasons_name_every_missing_condition() -> None:
    result = repair_eligibility(SEVERITY_GENERAL, D(2025, 11, 30), D(2026, 1, 5))
    assert result.reasons == (
        Ineligible.MINIMUM_PERIOD_NOT_PASSED,
        Ineligible.OBLIGATIONS_NOT_PERFORMED,
        Ineligible.NO_COMMITMENT,
    )
    assert result.reasons[0] == "MINIMUM_PERIOD_NOT_PASSED"  # stable string codes


def test_repair_under_the_2026_measures_needs_a_public_commitment() -> None:
    decision = D(2026, 6, 15)
    private = repair_eligibility(
        SEVERITY_GENERAL, decision, D(2026, 9, 16), met={CORRECTED, OBLIGATIONS, COMMITMENT}
    )
    assert private.reasons == (Ineligible.NO_PUBLIC_COMMITMENT,)
    assert private.ruleset_id == "cn-ndrc-2026"
    public = repair_eligibility(
        SEVERITY_GENERAL, decision, D(2026, 9, 16), met={CORRECTED, OBLIGATIONS, PUBLIC}
    )
    assert public.eligible
    uncorrected = repair_eligibility(
        SEVERITY_GENERAL, decision, D(2026, 9, 16), met={OBLIGATIONS, PUBLIC}
    )
    assert uncorrected.reasons == (Ineligible.NOT_CORRECTED,)
    # Counted from the decision document when it is dated later.
    later = repair_eligibility(
        SEVERITY_GENERAL,
        decision,
        D(2026, 9, 16),
        met={CORRECTED, OBLIGATIONS, PUBLIC},
        document_date=D(2026, 6, 20),
    )
    assert (later.eligible, later.earliest) == (False, D(2026, 9, 21))


def test_a_public_commitment_is_a_commitment() -> None:
    result = repair_eligibility(
        SEVERITY_GENERAL, D(2025, 11, 30), D(2026, 3, 1), met={OBLIGATIONS, PUBLIC}
    )
    assert result.eligible


def test_serious_repair_under_the_2019_notice() -> None:
    decision = D(2020, 2, 29)  # minimum ends 2020-08-29
    basic = repair_eligibility(
        SEVERITY_SERIOUS, decision, D(2020, 9, 1), met={OBLIGATIONS, COMMITMENT}
    )
    assert basic.reasons == (Ineligible.NO_TRAINING, Ineligible.NO_CREDIT_REPORT)
    assert basic.earliest == D(2020, 8, 30)
    full = repair_eligibility(
        SEVERITY_SERIOUS,
        decision,
        D(2020, 9, 1),
        met={OBLIGATIONS, COMMITMENT, RepairCondition.TRAINING, RepairCondition.CREDIT_REPORT},
    )
    assert full.eligible
    # General conduct needs neither.
    general = repair_eligibility(
        SEVERITY_GENERAL, decision, D(2020, 6, 1), met={OBLIGATIONS, COMMITMENT}
    )
    assert general.eligible


def test_minor_conduct_has_no_minimum() -> None:
    decision = D(2025, 7, 1)
    met = {OBLIGATIONS, COMMITMENT}
    result = repair_eligibility(SEVERITY_MINOR, decision, decision, met=met)
    assert (result.eligible, result.earliest) == (True, decision)
    ended = repair_eligibility(SEVERITY_MINOR, decision, D(2025, 10, 2), met=met)
    assert ended.reasons == (Ineligible.PUBLICATION_ENDED,)


def test_sector_minimum_in_eligibility() -> None:
    result = repair_eligibility(
        SEVERITY_SERIOUS,
        D(2024, 1, 10),
        D(2024, 6, 1),
        met={CORRECTED, OBLIGATIONS, COMMITMENT},
        sector=Sector.WORK_SAFETY,
    )
    assert result.reasons == (Ineligible.MINIMUM_PERIOD_NOT_PASSED,)
    assert result.earliest == D(2025, 1, 11)


def test_ruleset_defaults_to_the_decision_date() -> None:
    decision, on = D(2026, 3, 31), D(2027, 4, 1)
    default = repair_eligibility(SEVERITY_SERIOUS, decision, on, met={OBLIGATIONS, COMMITMENT})
    assert default.ruleset_id == "cn-gov-2025-22"
    assert default.eligible
    chosen = repair_eligibility(
        SEVERITY_SERIOUS, decision, on, met={OBLIGATIONS, COMMITMENT}, ruleset=ruleset_for(on)
    )
    assert chosen.ruleset_id == "cn-ndrc-2026"
    assert chosen.reasons == (Ineligible.NOT_CORRECTED, Ineligible.NO_PUBLIC_COMMITMENT)


def test_repair_of_a_decision_before_every_ruleset() -> None:
    with pytest.raises(NoRulesetInForce):
        repair_eligibility(SEVERITY_GENERAL, D(2018, 6, 1), D(2019, 1, 1))


def test_eligibility_invariant() -> None:
    with pytest.raises(ValueError, match="reasons"):
        Eligibility(True, (Ineligible.NO_COMMITMENT,), D(2026, 1, 1), "x")
    with pytest.raises(ValueError, match="reasons"):
        Eligibility(False, (), D(2026, 1, 1), "x")


# --- deadlines in days ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "deadline"),
    [
        (D(2026, 2, 12), D(2026, 2, 28)),  # over the Spring Festival, ends on an adjusted Saturday
        (D(2026, 2, 13), D(2026, 3, 2)),
        (D(2026, 2, 16), D(2026, 3, 3)),  # decided during the holiday
        (D(2026, 9, 23), D(2026, 10, 10)),  # Mid-Autumn and National Day
        (D(2026, 9, 30), D(2026, 10, 15)),
        (D(2026, 12, 18), D(2026, 12, 29)),
    ],
)
def test_publication_deadline_2026(decision: dt.date, deadline: dt.date) -> None:
    assert publication_deadline(decision, PACKAGE) == Deadline(deadline)


@needs_unknown_2027
def test_publication_deadline_into_2027_without_a_table() -> None:
    deadline = publication_deadline(D(2026, 12, 24), PACKAGE)
    assert (deadline.date, deadline.provisional) == (D(2027, 1, 4), True)


def test_publication_deadline_into_2027_with_a_table() -> None:
    assert publication_deadline(D(2026, 12, 24), WITH_2027) == Deadline(D(2027, 1, 5))
    assert publication_deadline(D(2026, 12, 31), WITH_2027) == Deadline(D(2027, 1, 12))


def test_repair_time_limits() -> None:
    received = D(2026, 9, 30)
    ruleset = ruleset_for(received)
    assert repair_decision_deadline(received, PACKAGE, ruleset) == Deadline(D(2026, 10, 10))
    assert repair_feedback_deadline(received, PACKAGE, ruleset) == Deadline(D(2026, 10, 20))
    spring = D(2026, 2, 13)
    assert repair_decision_deadline(spring, PACKAGE, ruleset_for(spring)) == Deadline(
        D(2026, 2, 25)
    )
    assert repair_feedback_deadline(spring, PACKAGE, ruleset_for(spring)) == Deadline(D(2026, 3, 5))


@pytest.mark.parametrize("ruleset_id", ["cn-ndrc-2019-527", "cn-ndrc-order-58"])
def test_rulesets_without_repair_time_limits(ruleset_id: str) -> None:
    ruleset = BY_ID[ruleset_id]
    assert repair_decision_deadline(D(2024, 1, 2), PACKAGE, ruleset) is None
    assert repair_feedback_deadline(D(2024, 1, 2), PACKAGE, ruleset) is None


@needs_unknown_2027
def test_repair_decision_into_2027_without_a_table() -> None:
    # Friday 1 January 2027 counts as a working day until the schedule is known.
    deadline = repair_decision_deadline(D(2026, 12, 29), PACKAGE, RULESETS[-1])
    assert deadline is not None
    assert (deadline.date, deadline.provisional) == (D(2027, 1, 1), True)


def test_repair_decision_into_2027_with_a_table() -> None:
    assert repair_decision_deadline(D(2026, 12, 29), WITH_2027, RULESETS[-1]) == Deadline(
        D(2027, 1, 4)
    )


@pytest.mark.parametrize(
    ("filed", "deadline"),
    [
        (D(2026, 9, 17), D(2026, 10, 8)),  # the 20th day is 7 October, a holiday
        (D(2026, 9, 20), D(2026, 10, 10)),  # the 20th day is an adjusted working Saturday
        (D(2026, 2, 1), D(2026, 2, 24)),  # the 20th day is in the Spring Festival
        (D(2026, 5, 6), D(2026, 5, 26)),
        (D(2026, 5, 10), D(2026, 6, 1)),  # an ordinary Saturday
    ],
)
def test_objection_deadline_2026(filed: dt.date, deadline: dt.date) -> None:
    assert objection_deadline(filed, PACKAGE, ruleset_for(filed)) == Deadline(deadline)


@needs_unknown_2027
def test_objection_deadline_into_2027_without_a_table() -> None:
    deadline = objection_deadline(D(2026, 12, 12), PACKAGE, RULESETS[-1])
    assert (deadline.date, deadline.provisional) == (D(2027, 1, 1), True)


def test_objection_deadline_into_2027_with_a_table() -> None:
    assert objection_deadline(D(2026, 12, 12), WITH_2027, RULESETS[-1]) == Deadline(D(2027, 1, 4))
