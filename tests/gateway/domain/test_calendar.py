"""The Chinese working-day calendar: real 2026 holidays, the 2027 gap, the operator table."""

from __future__ import annotations

import datetime as dt
import doctest
import json
from pathlib import Path

import chinese_calendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditlink.gateway.domain import calendar
from creditlink.gateway.domain.calendar import (
    CalendarSource,
    Count,
    Deadline,
    HolidaySchedule,
    InvalidHolidayTable,
    WorkingDayCalendar,
)

D = dt.date

# Illustrative operator table for 2027, NOT the State Council's schedule (unpublished when this
# was written): New Year's Day and a Spring Festival week, with one adjusted Sunday.
TABLE_2027: dict[str, object] = {
    "2027": {
        "source": "test data, not the official 2027 schedule",
        "holidays": [
            "2027-01-01",
            "2027-01-02",
            "2027-01-03",
            *(f"2027-02-{day:02d}" for day in range(6, 13)),
        ],
        "workdays": ["2027-02-14"],
    }
}

PACKAGE = WorkingDayCalendar()
WITH_2027 = WorkingDayCalendar.from_mapping(TABLE_2027)

# chinesecalendar adds each year once the State Council publishes it; from then on 2027 is no
# longer a year without a schedule and the 2099/2100 tests below cover the fallback alone.
needs_unknown_2027 = pytest.mark.skipif(
    PACKAGE.knows(2027), reason="the installed chinesecalendar knows 2027"
)


def test_doctests() -> None:
    result = doctest.testmod(calendar, report=True)
    assert result.attempted > 0
    assert result.failed == 0


# --- 2026 on the package's schedule -------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (D(2026, 2, 13), True),  # Friday before the Spring Festival
        (D(2026, 2, 14), True),  # Saturday, adjusted working day
        (D(2026, 2, 15), False),  # first day of the holiday (Sunday)
        (D(2026, 2, 17), False),  # Chinese New Year's Day (Tuesday)
        (D(2026, 2, 21), False),  # Saturday inside the holiday
        (D(2026, 2, 23), False),  # last day of the holiday (Monday)
        (D(2026, 2, 24), True),
        (D(2026, 2, 28), True),  # Saturday, adjusted working day
        (D(2026, 3, 1), False),  # ordinary Sunday
        (D(2026, 9, 20), True),  # Sunday, adjusted working day for National Day
        (D(2026, 9, 25), False),  # Mid-Autumn Festival (Friday)
        (D(2026, 9, 30), True),
        (D(2026, 10, 1), False),
        (D(2026, 10, 7), False),
        (D(2026, 10, 8), True),
        (D(2026, 10, 10), True),  # Saturday, adjusted working day
        (D(2026, 10, 11), False),
        (D(2026, 1, 4), True),  # Sunday, adjusted working day for New Year's Day
    ],
)
def test_is_working_day_2026(day: dt.date, working: bool) -> None:
    assert PACKAGE.is_working_day(day) is working


def test_reads_the_package_schedule_exactly() -> None:
    day = D(2004, 1, 1)
    while day.year <= 2026:
        assert PACKAGE.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("start", "n", "deadline"),
    [
        # The worked example: Thursday before the Spring Festival, 7 working days.
        (D(2026, 2, 12), 7, D(2026, 2, 28)),
        (D(2026, 2, 12), 1, D(2026, 2, 13)),
        (D(2026, 2, 13), 1, D(2026, 2, 14)),  # the adjusted Saturday counts
        (D(2026, 2, 14), 1, D(2026, 2, 24)),  # the holiday does not
        (D(2026, 2, 17), 1, D(2026, 2, 24)),  # decided on a holiday: counting still starts next day
        (D(2026, 2, 27), 1, D(2026, 2, 28)),
        (D(2026, 2, 28), 1, D(2026, 3, 2)),
        # National Day with the Mid-Autumn Festival before it.
        (D(2026, 9, 23), 7, D(2026, 10, 10)),
        (D(2026, 9, 24), 1, D(2026, 9, 28)),
        (D(2026, 9, 30), 1, D(2026, 10, 8)),
        (D(2026, 10, 9), 1, D(2026, 10, 10)),
        (D(2026, 10, 10), 1, D(2026, 10, 12)),
        # Zero days: the start day itself, even a holiday.
        (D(2026, 10, 1), 0, D(2026, 10, 1)),
        # Late December that stays in 2026.
        (D(2026, 12, 24), 5, D(2026, 12, 31)),
    ],
)
def test_add_working_days_2026(start: dt.date, n: int, deadline: dt.date) -> None:
    assert PACKAGE.add_working_days(start, n) == Deadline(deadline)
    assert PACKAGE.working_days_between(start, deadline) == Count(n)


def test_working_days_between_2026() -> None:
    assert PACKAGE.working_days_between(D(2026, 2, 13), D(2026, 2, 24)).days == 2
    assert PACKAGE.working_days_between(D(2026, 9, 30), D(2026, 10, 8)).days == 1
    assert PACKAGE.working_days_between(D(2026, 10, 1), D(2026, 10, 7)).days == 0
    assert PACKAGE.working_days_between(D(2026, 2, 24), D(2026, 2, 13)).days == -2
    assert PACKAGE.working_days_between(D(2026, 5, 6), D(2026, 5, 6)) == Count(0)


def test_roll_forward() -> None:
    assert PACKAGE.roll_forward(D(2026, 10, 8)) == Deadline(D(2026, 10, 8))
    assert PACKAGE.roll_forward(D(2026, 10, 1)) == Deadline(D(2026, 10, 8))
    assert PACKAGE.roll_forward(D(2026, 2, 15)) == Deadline(D(2026, 2, 24))
    assert PACKAGE.roll_forward(D(2026, 2, 28)) == Deadline(D(2026, 2, 28))


# --- into 2027 -----------------------------------------------------------------------------


@needs_unknown_2027
def test_december_2026_deadline_is_provisional_without_a_table() -> None:
    deadline = PACKAGE.add_working_days(D(2026, 12, 24), 7)
    # Friday 1 January 2027 counts as a working day: only weekends are known to be off.
    assert deadline.date == D(2027, 1, 4)
    assert deadline.provisional
    assert deadline.reason is not None
    assert "2027" in deadline.reason
    assert "weekends" in deadline.reason
    assert PACKAGE.source(2027) is CalendarSource.WEEKENDS_ONLY
    assert not PACKAGE.knows(2027)
    assert PACKAGE.is_working_day(D(2027, 1, 1))  # the weekend-only guess
    count = PACKAGE.working_days_between(D(2026, 12, 30), D(2027, 1, 5))
    assert (count.days, count.provisional) == (4, True)
    assert PACKAGE.roll_forward(D(2027, 1, 2)).provisional


def test_december_2026_deadline_is_exact_with_a_table() -> None:
    assert WITH_2027.source(2027) is CalendarSource.OPERATOR
    assert WITH_2027.source(2026) is CalendarSource.PACKAGE
    assert WITH_2027.add_working_days(D(2026, 12, 24), 7) == Deadline(D(2027, 1, 5))
    assert WITH_2027.add_working_days(D(2026, 12, 31), 1) == Deadline(D(2027, 1, 4))
    assert WITH_2027.working_days_between(D(2026, 12, 30), D(2027, 1, 5)) == Count(3)
    # The illustrative Spring Festival week and its adjusted Sunday.
    assert WITH_2027.add_working_days(D(2027, 2, 5), 1) == Deadline(D(2027, 2, 14))
    assert WITH_2027.add_working_days(D(2027, 2, 14), 1) == Deadline(D(2027, 2, 15))


def test_deadline_past_the_operator_table_is_provisional_again() -> None:
    deadline = WITH_2027.add_working_days(D(2027, 12, 30), 3)
    assert deadline.provisional
    assert deadline.reason is not None
    assert "2028" in deadline.reason
    assert "2027" not in deadline.reason.split("(")[0]


def test_years_nobody_knows_fall_back_to_weekends() -> None:
    # Same weekdays as December 2026 / January 2027, and certain to stay unknown.
    deadline = PACKAGE.add_working_days(D(2099, 12, 24), 7)
    assert deadline.date == D(2100, 1, 4)
    assert deadline.provisional
    assert PACKAGE.add_working_days(D(2003, 12, 30), 1).provisional  # before the package too
    assert not PACKAGE.add_working_days(D(2003, 12, 31), 1).provisional  # start not examined
    assert PACKAGE.source(2003) is CalendarSource.WEEKENDS_ONLY


def test_only_days_examined_make_a_deadline_provisional() -> None:
    # Counting stops on Thursday 31 December 2026: no 2027 day was looked at.
    assert not PACKAGE.add_working_days(D(2026, 12, 30), 1).provisional
    assert not PACKAGE.working_days_between(D(2026, 12, 1), D(2026, 12, 31)).provisional


def test_operator_table_replaces_a_package_year() -> None:
    # E.g. to correct the package: here a fictitious extra holiday on Friday 13 March 2026.
    holidays = [d.isoformat() for d in chinese_calendar.holidays if d.year == 2026]
    workdays = [d.isoformat() for d in chinese_calendar.workdays if d.year == 2026]
    cal = WorkingDayCalendar.from_mapping(
        {2026: {"holidays": [*holidays, "2026-03-13"], "workdays": workdays}}
    )
    assert cal.source(2026) is CalendarSource.OPERATOR
    assert not cal.is_working_day(D(2026, 3, 13))
    assert PACKAGE.is_working_day(D(2026, 3, 13))
    assert cal.add_working_days(D(2026, 2, 12), 7) == Deadline(D(2026, 2, 28))


# --- argument checks -----------------------------------------------------------------------


def test_refuses_datetimes() -> None:
    instant = dt.datetime(2026, 2, 12, 23, 30, tzinfo=dt.UTC)
    with pytest.raises(TypeError, match=r"datetime\.date"):
        PACKAGE.is_working_day(instant)
    with pytest.raises(TypeError):
        PACKAGE.add_working_days(instant, 1)
    with pytest.raises(TypeError):
        PACKAGE.working_days_between(D(2026, 1, 1), instant)
    with pytest.raises(TypeError):
        PACKAGE.roll_forward("2026-01-01")  # type: ignore[arg-type]


def test_refuses_negative_counts() -> None:
    with pytest.raises(ValueError, match="-1"):
        PACKAGE.add_working_days(D(2026, 1, 5), -1)


def test_provisional_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="reason"):
        Deadline(D(2026, 1, 5), provisional=True)
    with pytest.raises(ValueError, match="reason"):
        Deadline(D(2026, 1, 5), reason="why?")
    with pytest.raises(ValueError, match="reason"):
        Count(3, provisional=True)


# --- the holiday table file ----------------------------------------------------------------


def test_toml_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "holidays.toml"
    path.write_text(WITH_2027.to_toml(), encoding="utf-8")
    again = WorkingDayCalendar.from_file(path)
    assert again == WITH_2027
    assert again.operator_schedules[0].source == "test data, not the official 2027 schedule"
    assert again.to_toml() == WITH_2027.to_toml()


def test_json_file(tmp_path: Path) -> None:
    path = tmp_path / "holidays.json"
    path.write_text(json.dumps(TABLE_2027), encoding="utf-8")
    assert WorkingDayCalendar.from_file(path) == WITH_2027


def test_toml_with_date_literals_and_several_years(tmp_path: Path) -> None:
    path = tmp_path / "holidays.toml"
    path.write_text(
        "[2027]\nholidays = [2027-01-01]\n\n[2028]\nholidays = [2028-01-01]\n"
        'workdays = ["2028-01-08"]\n',
        encoding="utf-8",
    )
    cal = WorkingDayCalendar.from_file(path)
    assert [s.year for s in cal.operator_schedules] == [2027, 2028]
    assert cal.operator_schedules[1].workdays == frozenset({D(2028, 1, 8)})


def test_empty_table_is_the_package_alone(tmp_path: Path) -> None:
    assert PACKAGE.to_toml().splitlines()[-1].startswith("#")
    path = tmp_path / "holidays.toml"
    path.write_text(PACKAGE.to_toml(), encoding="utf-8")
    assert WorkingDayCalendar.from_file(path) == PACKAGE


def test_constructor_takes_schedules() -> None:
    schedule = HolidaySchedule(2027, frozenset({D(2027, 1, 1)}))
    cal = WorkingDayCalendar((schedule,))
    assert cal.operator_schedules == (schedule,)
    assert not cal.is_working_day(D(2027, 1, 1))
    with pytest.raises(InvalidHolidayTable, match="listed twice") as info:
        WorkingDayCalendar((schedule, schedule))
    assert info.value.where == "2027"


@pytest.mark.parametrize(
    ("table", "where", "message"),
    [
        ({"2027": {"holidays": ["2027-02-30"]}}, "2027.holidays[0]", "not a date"),
        ({"2027": {"holidays": ["20270101"]}}, "2027.holidays[0]", "not a date"),
        ({"2027": {"holidays": ["2027-01-01", 20270102]}}, "2027.holidays[1]", "not a date"),
        ({"2027": {"holidays": [dt.datetime(2027, 1, 1)]}}, "2027.holidays[0]", "time of day"),  # noqa: DTZ001
        (
            {"2027": {"holidays": ["2027-01-01"], "workdays": ["2027-01-01"]}},
            "2027",
            "both as a holiday and as a working day",
        ),
        ({"2027": {"holidays": ["2028-01-01"]}}, "2027.holidays", "is not in 2027"),
        (
            {"2027": {"holidays": ["2027-01-01"], "workdays": ["2026-12-27"]}},
            "2027.workdays",
            "is not in 2027",
        ),
        (
            {"2027": {"holidays": ["2027-01-01"], "workdays": ["2027-01-06"]}},
            "2027.workdays",
            "Wednesday",
        ),
        ({"2027": {"holidays": ["2027-01-01", "2027-01-01"]}}, "2027.holidays", "twice"),
        ({"2027": {"holidays": []}}, "2027.holidays", "no holidays"),
        ({"2027": {"workdays": []}}, "2027", "holidays is missing"),
        ({"2027": {"holidays": ["2027-01-01"], "holiday": []}}, "2027", "unknown key 'holiday'"),
        ({"2027": {"holidays": "2027-01-01"}}, "2027.holidays", "list of dates"),
        ({"2027": {"holidays": ["2027-01-01"], "source": 5}}, "2027.source", "not a string"),
        ({"2027": ["2027-01-01"]}, "2027", "expected a table"),
        ({"27": {"holidays": ["2027-01-01"]}}, "27", "not a year"),
        ({"year": {"holidays": ["2027-01-01"]}}, "year", "not a year"),
    ],
)
def test_table_validation(table: dict[str, object], where: str, message: str) -> None:
    with pytest.raises(InvalidHolidayTable, match=message) as info:
        WorkingDayCalendar.from_mapping(table)
    assert info.value.where == where
    assert str(info.value) == f"{where}: {info.value.message}"


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "holidays.json"
    path.write_text(json.dumps({"2027": {"holidays": ["2027-13-01"]}}), encoding="utf-8")
    with pytest.raises(InvalidHolidayTable, match="not a date") as info:
        WorkingDayCalendar.from_file(path)
    assert info.value.where == f"{path}:2027.holidays[0]"

    toml = tmp_path / "holidays.toml"
    toml.write_text("[2027]\nholidays = [2027-02-30]\n", encoding="utf-8")  # no such day
    with pytest.raises(InvalidHolidayTable, match="cannot parse") as info:
        WorkingDayCalendar.from_file(toml)
    assert info.value.where == str(toml)

    listed = tmp_path / "list.json"
    listed.write_text("[]", encoding="utf-8")
    with pytest.raises(InvalidHolidayTable, match="table of years"):
        WorkingDayCalendar.from_file(listed)

    yaml = tmp_path / "holidays.yaml"
    yaml.write_text("2027: {}", encoding="utf-8")
    with pytest.raises(InvalidHolidayTable, match=r"\.toml or \.json"):
        WorkingDayCalendar.from_file(yaml)

    with pytest.raises(OSError, match="missing"):
        WorkingDayCalendar.from_file(tmp_path / "missing.toml")


# --- properties ----------------------------------------------------------------------------

# From before the package's first year to past its last and past the operator table.
dates = st.dates(min_value=D(2002, 1, 1), max_value=D(2030, 12, 31))
calendars = st.sampled_from([PACKAGE, WITH_2027])
counts = st.integers(min_value=0, max_value=400)


@given(calendars, dates, counts)
def test_counting_back_what_was_added(cal: WorkingDayCalendar, start: dt.date, n: int) -> None:
    deadline = cal.add_working_days(start, n)
    count = cal.working_days_between(start, deadline.date)
    assert count.days == n
    # Both examined the same days, so they agree on being provisional, and why.
    assert (count.provisional, count.reason) == (deadline.provisional, deadline.reason)
    if n:
        assert cal.is_working_day(deadline.date)
        assert deadline.date > start
        # The deadline is the first day that reaches n: the day before it is one short.
        before = cal.working_days_between(start, deadline.date - dt.timedelta(days=1))
        assert before.days == n - 1


@given(calendars, dates, counts, counts)
def test_more_days_never_end_earlier(
    cal: WorkingDayCalendar, start: dt.date, a: int, b: int
) -> None:
    low, high = sorted((a, b))
    assert cal.add_working_days(start, low).date <= cal.add_working_days(start, high).date


@given(calendars, dates, dates, counts)
def test_later_starts_never_end_earlier(
    cal: WorkingDayCalendar, first: dt.date, second: dt.date, n: int
) -> None:
    early, late = sorted((first, second))
    assert cal.add_working_days(early, n).date <= cal.add_working_days(late, n).date


@given(calendars, dates, dates, dates)
def test_between_is_additive_and_antisymmetric(
    cal: WorkingDayCalendar, a: dt.date, b: dt.date, c: dt.date
) -> None:
    ab = cal.working_days_between(a, b).days
    assert ab + cal.working_days_between(b, c).days == cal.working_days_between(a, c).days
    assert cal.working_days_between(b, a).days == -ab


@given(calendars, dates)
def test_roll_forward_lands_on_the_next_working_day(cal: WorkingDayCalendar, day: dt.date) -> None:
    rolled = cal.roll_forward(day).date
    assert cal.is_working_day(rolled)
    while day < rolled:
        assert not cal.is_working_day(day)
        day += dt.timedelta(days=1)
    assert day == rolled


def test_a_reloaded_table_is_adopted_by_whoever_holds_the_calendar(tmp_path: Path) -> None:
    """``adopt`` (the gateway's SIGHUP reload): the same calendar object, the new table."""
    from creditlink.gateway.bootstrap import ensure_dev_node
    from creditlink.gateway.config import GatewayConfig
    from creditlink.gateway.node import GatewayError, GatewayNode

    table = tmp_path / "holidays.toml"
    table.write_text('[2027]\nholidays = ["2027-01-01"]\n', encoding="utf-8")
    dev = ensure_dev_node(tmp_path / "dev")
    node = GatewayNode(
        GatewayConfig(
            node_id=dev.node_id,
            data_dir=tmp_path / "state",
            credentials_dir=dev.node_dir,
            listen="127.0.0.1:0",
            metrics_listen="127.0.0.1:0",
            holiday_table=table,
        ),
        dev.node,
    )
    held = node.calendar  # as the handlers and services hold it
    monday = dt.date(2027, 1, 4)
    assert held.is_working_day(monday)
    table.write_text('[2027]\nholidays = ["2027-01-01", "2027-01-04"]\n', encoding="utf-8")
    assert node.reload_holiday_table() == (2027,)
    assert not held.is_working_day(monday)
    assert held.add_working_days(dt.date(2026, 12, 31), 1).date == dt.date(2027, 1, 5)
    table.write_text('[2027]\nholidays = ["soon"]\n', encoding="utf-8")
    with pytest.raises(GatewayError) as caught:
        node.reload_holiday_table()
    assert caught.value.reason == "HOLIDAY_TABLE_INVALID"
    assert not held.is_working_day(monday)  # the table in use is kept
