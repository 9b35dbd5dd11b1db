"""The Chinese working-day calendar that credit deadlines are counted on.

Deadlines of the credit services count **working days**: Monday to Friday, minus the public
holidays, plus the weekend days the State Council turns into working days (调休) to bridge a
holiday. Each year's schedule is published by the State Council General Office around
November of the year before. The ``chinesecalendar`` package carries the published schedules,
but only up to the year of its release (1.11: 2004–2026) and raises for any later date, while a
decision taken in December 2026 already has its deadline in 2027 (credit-domain.md §5). So a
:class:`WorkingDayCalendar` looks a year up in this order:

1. the **operator table**: schedules the operator supplies (see "Holiday table file" below);
   a year listed there replaces the package's data for that year;
2. the ``chinesecalendar`` package;
3. **weekends only**: Saturday and Sunday are the only non-working days. A deadline or count
   that examined such a day is **provisional** (``provisional=True`` with a ``reason``); it is
   never an error, because a deadline must always be computable.

Counting convention
-------------------
The day of the decision (receipt, filing) does not count; counting starts the day after.
"Within N working days of the decision" means the deadline is the N-th working day after the
decision date, and the act is on time if it happens on or before that day. This follows the
Civil Code's rule for periods counted in days (art. 201: the start day is not counted)
[believed: the rule is the general one of Chinese law, not restated in the credit texts].

Worked example, on the 2026 Spring Festival schedule (holidays Sun 15 – Mon 23 February;
Saturdays 14 and 28 February are adjusted working days). A penalty decided on Thursday
12 February 2026 is due for publication within 7 working days::

    Fri 13 (1)  Sat 14 (2, adjusted)  Sun 15 – Mon 23 holiday  Tue 24 (3)  Wed 25 (4)
    Thu 26 (5)  Fri 27 (6)  Sat 28 (7, adjusted)   → deadline Saturday 28 February 2026

>>> import datetime as dt
>>> cal = WorkingDayCalendar()
>>> cal.add_working_days(dt.date(2026, 2, 12), 7)
Deadline(date=datetime.date(2026, 2, 28), provisional=False, reason=None)
>>> cal.working_days_between(dt.date(2026, 2, 12), dt.date(2026, 2, 28)).days
7
>>> cal.is_working_day(dt.date(2026, 2, 14)), cal.is_working_day(dt.date(2026, 2, 16))
(True, False)

``working_days_between(a, b)`` counts the working days ``d`` with ``a < d <= b`` (the same
convention: ``a`` does not count, ``b`` does), so ``working_days_between(d,
add_working_days(d, n).date)`` is ``n``. It is negative when ``b`` is before ``a``.

A deadline that reaches into a year nobody has a schedule for is provisional. 2099 stands for
such a year here; with chinesecalendar 1.11 and no operator table, 2027 is one too, so a
decision of Thursday 24 December 2026 gets the provisional deadline Monday 4 January 2027:

>>> late = cal.add_working_days(dt.date(2099, 12, 24), 7)
>>> late.date, late.provisional
(datetime.date(2100, 1, 4), True)
>>> print(late.reason)  # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
no holiday schedule for 2099, 2100 (chinesecalendar ... covers 2004–...; no operator table entry):
only weekends counted as non-working days

With the operator's 2027 schedule (illustrative data here, not the official schedule) it is
exact:

>>> cal = WorkingDayCalendar.from_mapping(
...     {"2027": {"holidays": ["2027-01-01", "2027-01-02", "2027-01-03"]}}
... )
>>> cal.add_working_days(dt.date(2026, 12, 24), 7)
Deadline(date=datetime.date(2027, 1, 5), provisional=False, reason=None)
>>> cal.source(2026), cal.source(2027), cal.source(2028)
(<CalendarSource.PACKAGE: 'chinesecalendar'>, <CalendarSource.OPERATOR: 'operator'>, \
<CalendarSource.WEEKENDS_ONLY: 'weekends only'>)

Holiday table file
------------------
A TOML (``.toml``) or JSON (``.json``) file with one table per year, keyed by the year::

    # The State Council General Office's notice on the 2027 holiday schedule.
    [2027]
    source = "国办发明电〔2026〕N号"          # optional: where the dates come from
    holidays = [2027-01-01, 2027-01-02]    # every day off, weekend days inside a holiday too
    workdays = [2027-02-20]                # adjusted working days (Saturday or Sunday only)

``holidays`` is required and not empty; ``workdays`` is optional. Dates are TOML local dates
or ``"YYYY-MM-DD"`` strings (the only form JSON has). The file is rejected
(:class:`InvalidHolidayTable`, naming the place) for an unknown key, a value that is not a date,
a date outside its year, a date listed twice or both as a holiday and as a working day, and a
working day that is not a Saturday or Sunday (a weekday is a working day anyway, so listing one
is a mistake). :meth:`WorkingDayCalendar.to_toml` writes the operator table back in this
format.

Dates only: every function refuses a :class:`~datetime.datetime`, because which day an instant
falls on depends on the time zone, and the caller must decide that (China Standard Time for
decisions of Chinese authorities).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import chinese_calendar
import tomli_w

__all__ = [
    "CalendarSource",
    "Count",
    "Deadline",
    "HolidaySchedule",
    "InvalidHolidayTable",
    "WorkingDayCalendar",
]

_ONE_DAY = dt.timedelta(days=1)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_YEAR_KEY = re.compile(r"\d{4}")
_SCHEDULE_KEYS = frozenset({"holidays", "workdays", "source"})


def _require_date(value: object) -> None:
    # datetime is a subclass of date: without this check an instant would silently be
    # reduced to its (time-zone dependent) day.
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise TypeError(f"expected a datetime.date, got {type(value).__name__}")


class InvalidHolidayTable(ValueError):
    """An operator holiday table (or one :class:`HolidaySchedule`) breaks a rule of the format.

    Attributes:
        message: what is wrong.
        where: the place of the fault, e.g. ``"2027.workdays[1]"``, prefixed with the file
            path when the table was read from a file.
    """

    def __init__(self, message: str, *, where: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.message = message
        self.where = where


class CalendarSource(StrEnum):
    """Where a year's working days come from."""

    OPERATOR = "operator"
    """The operator-supplied holiday table."""
    PACKAGE = "chinesecalendar"
    """The ``chinesecalendar`` package."""
    WEEKENDS_ONLY = "weekends only"
    """Nobody has the year's schedule: only Saturdays and Sundays are non-working days."""


@dataclass(frozen=True, slots=True)
class Deadline:
    """The last day on which an act is on time.

    Attributes:
        date: the deadline; the act is on time on or before this day.
        provisional: whether counting examined a day of a year without a holiday schedule,
            where only weekends were treated as non-working; the date may move once the year's
            schedule is known (recompute it then).
        reason: why the deadline is provisional, for people; ``None`` when it is exact.
    """

    date: dt.date
    provisional: bool = False
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.provisional != (self.reason is not None):
            raise ValueError("a provisional deadline needs a reason, and only it has one")


@dataclass(frozen=True, slots=True)
class Count:
    """A number of working days, provisional like a :class:`Deadline`.

    Attributes:
        days: the number of working days (negative when counted backwards).
        provisional: whether a counted day fell in a year without a holiday schedule.
        reason: why the count is provisional; ``None`` when it is exact.
    """

    days: int
    provisional: bool = False
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.provisional != (self.reason is not None):
            raise ValueError("a provisional count needs a reason, and only it has one")


@dataclass(frozen=True, slots=True)
class HolidaySchedule:
    """One year's holidays and adjusted working days, as the State Council publishes them.

    Attributes:
        year: the calendar year.
        holidays: every day off in the year's holiday periods (weekend days inside a period
            included: listing them is harmless and matches the published notice).
        workdays: Saturdays and Sundays that are working days (调休).
        source: where the dates come from (the notice's number), for the operator's records.

    Raises:
        InvalidHolidayTable: a date outside ``year``, a date both a holiday and a working day,
            a working day on Monday–Friday, or no holidays at all.
    """

    year: int
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date] = frozenset()
    source: str = ""

    def __post_init__(self) -> None:
        where = str(self.year)
        if not self.holidays:
            # Every year has at least New Year's Day: an empty list is a mistake in the file.
            raise InvalidHolidayTable("no holidays listed", where=f"{where}.holidays")
        for name, days in (("holidays", self.holidays), ("workdays", self.workdays)):
            for day in sorted(days):
                _require_date(day)
                if day.year != self.year:
                    raise InvalidHolidayTable(
                        f"{day.isoformat()} is not in {self.year}", where=f"{where}.{name}"
                    )
        for day in sorted(self.holidays & self.workdays):
            raise InvalidHolidayTable(
                f"{day.isoformat()} is listed both as a holiday and as a working day",
                where=where,
            )
        for day in sorted(self.workdays):
            if day.weekday() < 5:
                raise InvalidHolidayTable(
                    f"{day.isoformat()} is a {day:%A}: an adjusted working day is a Saturday or"
                    " a Sunday",
                    where=f"{where}.workdays",
                )

    def is_working_day(self, day: dt.date) -> bool:
        """Return whether ``day`` (a day of :attr:`year`) is a working day."""
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays


def _package_schedules() -> dict[int, HolidaySchedule]:
    """The schedules ``chinesecalendar`` carries, one per year it knows.

    Read from its public ``holidays`` and ``workdays`` tables rather than through
    ``is_workday``, which raises outside its range: the calendar decides what happens there.
    """
    holidays: dict[int, set[dt.date]] = {}
    workdays: dict[int, set[dt.date]] = {}
    for day in chinese_calendar.holidays:
        holidays.setdefault(day.year, set()).add(day)
    for day in chinese_calendar.workdays:
        workdays.setdefault(day.year, set()).add(day)
    return {
        year: HolidaySchedule(
            year,
            frozenset(days),
            frozenset(workdays.get(year, ())),
            source=f"chinesecalendar {chinese_calendar.__version__}",
        )
        for year, days in holidays.items()
    }


_PACKAGE = _package_schedules()
_PACKAGE_RANGE = f"{min(_PACKAGE)}–{max(_PACKAGE)}"


@dataclass(frozen=True, slots=True)
class WorkingDayCalendar:
    """The Chinese working-day calendar: operator table, then ``chinesecalendar``, then weekends.

    ``WorkingDayCalendar()`` uses the package alone. Build one with an operator table from a
    file (:meth:`from_file`), from the same structure already parsed (:meth:`from_mapping`,
    e.g. a section of the gateway configuration) or from :class:`HolidaySchedule` values.

    Attributes:
        operator_schedules: the operator's schedules, sorted by year, at most one per year.
    """

    operator_schedules: tuple[HolidaySchedule, ...] = ()
    _by_year: Mapping[int, HolidaySchedule] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        schedules = tuple(sorted(self.operator_schedules, key=lambda s: s.year))
        by_year: dict[int, HolidaySchedule] = dict(_PACKAGE)
        seen: set[int] = set()
        for schedule in schedules:
            if schedule.year in seen:
                raise InvalidHolidayTable("the year is listed twice", where=str(schedule.year))
            seen.add(schedule.year)
            by_year[schedule.year] = schedule
        object.__setattr__(self, "operator_schedules", schedules)
        object.__setattr__(self, "_by_year", by_year)

    def adopt(self, other: WorkingDayCalendar) -> None:
        """Count with ``other``'s operator schedules from now on: an operator's holiday table
        reloaded while the gateway serves (``SIGHUP``). The one change a calendar allows, so
        that the handlers and services holding it need not be rebuilt; what was computed
        before (deadlines logged with their statements) stays as it was. One reference is
        swapped, so a computation sees the old table or the new one, never a mix."""
        object.__setattr__(self, "_by_year", other._by_year)
        object.__setattr__(self, "operator_schedules", other.operator_schedules)

    @classmethod
    def from_mapping(cls, table: Mapping[str, object] | Mapping[int, object]) -> WorkingDayCalendar:
        """Build a calendar from a parsed holiday table: ``{year: {"holidays": [...], ...}}``.

        Years may be ``int`` or four-digit ``str`` keys; dates :class:`~datetime.date` values
        or ``"YYYY-MM-DD"`` strings. See the module docstring for the format.

        Raises:
            InvalidHolidayTable: the table breaks a rule of the format.
        """
        return cls(tuple(_parse_schedule(key, body) for key, body in table.items()))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> WorkingDayCalendar:
        """Build a calendar from a holiday table file (``.toml`` or ``.json``).

        Raises:
            InvalidHolidayTable: the file cannot be parsed or breaks a rule of the format;
                ``where`` starts with the path.
            OSError: the file cannot be read.
        """
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        try:
            table: object
            if path.suffix == ".toml":
                table = tomllib.loads(text)
            elif path.suffix == ".json":
                table = json.loads(text)
            else:
                raise InvalidHolidayTable("unknown format: use a .toml or .json file", where="")
            if not isinstance(table, dict):
                raise InvalidHolidayTable("the top level is not a table of years", where="")
            return cls.from_mapping(table)
        except InvalidHolidayTable as exc:
            where = f"{path}:{exc.where}" if exc.where else str(path)
            raise InvalidHolidayTable(exc.message, where=where) from None
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise InvalidHolidayTable(f"cannot parse: {exc}", where=str(path)) from exc

    def to_toml(self) -> str:
        """Return the operator table in the file format (TOML), which :meth:`from_file` reads.

        The package's years are not written: the file holds only what the operator supplied.
        """
        document = {
            str(s.year): {
                **({"source": s.source} if s.source else {}),
                "holidays": sorted(s.holidays),
                "workdays": sorted(s.workdays),
            }
            for s in self.operator_schedules
        }
        header = "# Holiday table: see creditlink.gateway.domain.calendar for the format.\n"
        return header + tomli_w.dumps(document)

    def source(self, year: int) -> CalendarSource:
        """Return where the working days of ``year`` come from."""
        schedule = self._by_year.get(year)
        if schedule is None:
            return CalendarSource.WEEKENDS_ONLY
        if year in _PACKAGE and schedule is _PACKAGE[year]:
            return CalendarSource.PACKAGE
        return CalendarSource.OPERATOR

    def knows(self, year: int) -> bool:
        """Return whether the calendar has a holiday schedule for ``year``."""
        return year in self._by_year

    def is_working_day(self, day: dt.date) -> bool:
        """Return whether ``day`` is a working day.

        For a year without a schedule this is the weekend-only guess (check :meth:`knows`);
        the counting methods report that as ``provisional``.
        """
        _require_date(day)
        return self._examine(day, set())

    def add_working_days(self, start: dt.date, n: int) -> Deadline:
        """Return the ``n``-th working day after ``start`` (``start`` itself does not count).

        ``n == 0`` returns ``start`` unchanged, working day or not.

        Raises:
            ValueError: ``n`` is negative.
            TypeError: ``start`` is a ``datetime`` or not a date.
        """
        _require_date(start)
        if n < 0:
            raise ValueError(f"cannot count {n} working days forward")
        day = start
        unknown: set[int] = set()
        while n:
            day += _ONE_DAY
            if self._examine(day, unknown):
                n -= 1
        return Deadline(day, *self._provisional(unknown))

    def working_days_between(self, a: dt.date, b: dt.date) -> Count:
        """Return the number of working days ``d`` with ``a < d <= b``; negative if ``b < a``.

        The count is additive: ``between(a, b) + between(b, c) == between(a, c)``.
        """
        _require_date(a)
        _require_date(b)
        if b < a:
            forward = self.working_days_between(b, a)
            return Count(-forward.days, forward.provisional, forward.reason)
        days = 0
        unknown: set[int] = set()
        day = a
        while day < b:
            day += _ONE_DAY
            days += self._examine(day, unknown)
        return Count(days, *self._provisional(unknown))

    def roll_forward(self, day: dt.date) -> Deadline:
        """Return the first working day on or after ``day``.

        For periods counted in calendar days: when the last day of such a period is a day off,
        the period ends on the next working day (Civil Code art. 203) [believed].
        """
        _require_date(day)
        unknown: set[int] = set()
        while True:
            if self._examine(day, unknown):
                return Deadline(day, *self._provisional(unknown))
            day += _ONE_DAY

    def _examine(self, day: dt.date, unknown: set[int]) -> bool:
        """Return whether ``day`` is a working day; note its year in ``unknown`` if unscheduled."""
        schedule = self._by_year.get(day.year)
        if schedule is None:
            unknown.add(day.year)
            return day.weekday() < 5
        return schedule.is_working_day(day)

    @staticmethod
    def _provisional(unknown: set[int]) -> tuple[bool, str | None]:
        if not unknown:
            return False, None
        years = ", ".join(str(year) for year in sorted(unknown))
        return True, (
            f"no holiday schedule for {years} (chinesecalendar {chinese_calendar.__version__}"
            f" covers {_PACKAGE_RANGE}; no operator table entry): only weekends counted as"
            " non-working days"
        )


def _parse_schedule(key: object, body: object) -> HolidaySchedule:
    if isinstance(key, int) and not isinstance(key, bool):
        year = key
    elif isinstance(key, str) and _YEAR_KEY.fullmatch(key):
        year = int(key)
    else:
        raise InvalidHolidayTable(f"{key!r} is not a year", where=str(key))
    where = str(year)
    if not isinstance(body, Mapping):
        raise InvalidHolidayTable("expected a table with holidays and workdays", where=where)
    for name in body:
        if name not in _SCHEDULE_KEYS:
            raise InvalidHolidayTable(
                f"unknown key {name!r} (expected holidays, workdays, source)", where=where
            )
    if "holidays" not in body:
        raise InvalidHolidayTable("holidays is missing", where=where)
    source = body.get("source", "")
    if not isinstance(source, str):
        raise InvalidHolidayTable("source is not a string", where=f"{where}.source")
    return HolidaySchedule(
        year,
        _parse_dates(body["holidays"], where=f"{where}.holidays"),
        _parse_dates(body.get("workdays", []), where=f"{where}.workdays"),
        source=source,
    )


def _parse_dates(values: object, *, where: str) -> frozenset[dt.date]:
    if not isinstance(values, list):
        raise InvalidHolidayTable("expected a list of dates", where=where)
    days: set[dt.date] = set()
    for index, value in enumerate(values):
        day = _parse_date(value, where=f"{where}[{index}]")
        if day in days:
            # A repeated date is most often a typo for another one: refuse rather than guess.
            raise InvalidHolidayTable(f"{day.isoformat()} is listed twice", where=where)
        days.add(day)
    return frozenset(days)


def _parse_date(value: object, *, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        raise InvalidHolidayTable(f"{value!s} has a time of day: give a date", where=where)
    if isinstance(value, dt.date):
        return value
    # fromisoformat alone would also take "20270101" and week dates: insist on YYYY-MM-DD.
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidHolidayTable(f"{value!r} is not a date (YYYY-MM-DD)", where=where)
