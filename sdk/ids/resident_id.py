"""Resident identity number (公民身份号码, GB 11643-1999).

The 18-character number on the PRC resident identity card, and the identifier of natural
persons (legal representatives, individual businesses) in CXP records:

======  ==================================================================================
pos     meaning
======  ==================================================================================
1–6     administrative division code (GB/T 2260) where the number was first issued
7–14    date of birth, ``YYYYMMDD``
15–17   sequence number; position 17 is odd for men and even for women
18      check character, ``0``–``9`` or ``X``: ISO 7064 MOD 11-2 over positions 1–17
======  ==================================================================================

The check uses weights ``2^(18-i) mod 11`` for positions ``i`` = 1…17 (7, 9, 10, 5, 8, 4, 2,
1, 6, 3, 7, 9, 10, 5, 8, 4, 2) and is ``(12 - sum % 11) % 11``, with 10 written ``X``.
:func:`compact` upper-cases a lower-case ``x``; nothing else is changed.

What :func:`validate` checks: the length (the 15-digit first-generation numbers are rejected:
they carry no check character and must be converted to 18 digits before they are accepted),
that positions 1–17 are digits, that positions 1–2 are a province-level division of GB/T 2260
or ``83`` (residence permits of Taiwan residents use ``830000``), that the birth date is a real
calendar date in or after 1900 and, when the caller passes ``today``, not after it, and the
check character. The county part of the region is not looked up (see
:mod:`creditlink.sdk.ids.region`), and the module never reads the clock.

A resident identity number is personal information: it never travels between nodes in the
clear and never goes to logs. Error messages therefore name positions and single characters
but never repeat the number or its birth date, and :func:`mask` gives the form to log.

References:

- GB 11643-1999 《公民身份号码》 (Citizen identification number)
- ISO/IEC 7064:2003, MOD 11-2
- CXP v1 specification (``docs/spec/cxp-v1.md``), CXP-ID-005
- CXP credit-domain facts, §2 (``shared/domain/credit-domain.md``)

>>> validate('11010519491231002X')
'11010519491231002X'
>>> validate('110105 19491231 002x')
'11010519491231002X'
>>> calc_check_digit('11010119900307123')
'3'
>>> mask('110101199003071233')
'110101********1233'
>>> validate('110101199003071234')  # doctest: +NORMALIZE_WHITESPACE
Traceback (most recent call last):
    ...
creditlink.sdk.ids.exceptions.InvalidChecksum: check character at position 18 is '4',
expected '3' [INVALID_RESIDENT_ID]
>>> validate('110101900307123')  # doctest: +NORMALIZE_WHITESPACE
Traceback (most recent call last):
    ...
creditlink.sdk.ids.exceptions.InvalidLength: resident identity number has 15 digits:
first-generation 15-digit numbers must be converted to the 18-digit form (GB 11643-1999)
first [INVALID_RESIDENT_ID]
>>> is_valid('110101199002300012')
False
"""

from __future__ import annotations

import datetime

from creditlink.sdk.ids import _util, region
from creditlink.sdk.ids.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidIdentifier,
    InvalidLength,
)

__all__ = ["calc_check_digit", "compact", "format", "is_valid", "mask", "validate"]

REASON = "INVALID_RESIDENT_ID"
_KIND = "resident identity number"

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"  # indexed by sum % 11: (12 - r) % 11, with 10 -> X
_MIN_YEAR = 1900
# Residence permits for Taiwan residents use 830000, which is not a GB/T 2260 province.
_PROVINCES = frozenset(region.PROVINCES) | {"83"}


def compact(number: str) -> str:
    """Return ``number`` without spaces or hyphens, with a lower-case ``x`` upper-cased."""
    return _util.clean(number, kind=_KIND, reason=REASON)


def calc_check_digit(number: str) -> str:
    """Return the check character for the first 17 digits of a resident identity number.

    Raises :class:`~creditlink.sdk.ids.exceptions.InvalidLength` or
    :class:`~creditlink.sdk.ids.exceptions.InvalidFormat` (reason ``INVALID_RESIDENT_ID``)
    unless ``number`` is exactly 17 ASCII digits.

    >>> calc_check_digit('11010519491231002')
    'X'
    """
    head = _util.require_str(number, kind=_KIND, reason=REASON)
    if len(head) != 17:
        raise InvalidLength(
            f"resident identity number without its check character must have 17 digits, "
            f"found {len(head)} characters",
            reason=REASON,
        )
    _check_digits(head, 17)
    total = sum(int(ch) * w for ch, w in zip(head, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def validate(number: str, *, today: datetime.date | None = None) -> str:
    """Check a resident identity number and return its compact form.

    ``today``, when given, also rejects a birth date after it; the clock is never read here
    so that results do not depend on when (or in which time zone) the check runs. Raises a
    subclass of :class:`~creditlink.sdk.ids.exceptions.InvalidIdentifier` with reason
    ``INVALID_RESIDENT_ID``; messages never contain the number or its birth date.
    """
    code = compact(number)
    if len(code) == 15 and _util.first_outside(code, _util.DIGITS) is None:
        raise InvalidLength(
            "resident identity number has 15 digits: first-generation 15-digit numbers must "
            "be converted to the 18-digit form (GB 11643-1999) first",
            reason=REASON,
        )
    if len(code) != 18:
        raise InvalidLength(
            f"resident identity number must have 18 characters, found {len(code)}",
            reason=REASON,
        )
    _check_digits(code, 17)
    if code[:2] not in _PROVINCES:
        raise InvalidComponent(
            "region code at positions 1-6 does not start with a province-level division",
            reason=REASON,
            position=1,
        )
    _check_birth_date(code, today)
    expected = calc_check_digit(code[:17])
    if code[17] != expected:
        raise InvalidChecksum(
            f"check character at position 18 is {code[17]!r}, expected {expected!r}",
            reason=REASON,
            position=18,
            expected=expected,
        )
    return code


def is_valid(number: object, *, today: datetime.date | None = None) -> bool:
    """Return whether ``number`` is a valid resident identity number; never raises."""
    if not isinstance(number, str):
        return False
    try:
        validate(number, today=today)
    except InvalidIdentifier:
        return False
    return True


def format(number: str) -> str:
    """Return the display form, which is the compact form.

    Use :func:`mask` for anything a person other than the data subject may see, logs
    included.
    """
    return compact(number)


def mask(number: str) -> str:
    """Return ``number`` with all but its first 6 and last 4 characters replaced by ``*``.

    Does not validate: a number that fails validation is masked too. Input that is not 18
    characters long after compacting is masked completely, since its parts cannot be told
    apart.

    >>> mask('11010519491231002x')
    '110105********002X'
    >>> mask('1101051949')
    '**********'
    """
    code = compact(number)
    if len(code) != 18:
        return "*" * len(code)
    return f"{code[:6]}{'*' * 8}{code[14:]}"


def _check_digits(code: str, stop: int) -> None:
    bad = _util.first_outside(code, _util.DIGITS, 0, stop)
    if bad is not None:
        raise InvalidFormat(
            f"character at position {bad + 1} is {code[bad]!r}, expected a digit",
            reason=REASON,
            position=bad + 1,
        )


def _check_birth_date(code: str, today: datetime.date | None) -> None:
    year, month, day = int(code[6:10]), int(code[10:12]), int(code[12:14])
    if year < _MIN_YEAR:
        raise InvalidComponent(
            f"birth year at positions 7-10 is before {_MIN_YEAR}", reason=REASON, position=7
        )
    if not 1 <= month <= 12:
        raise InvalidComponent(
            "birth month at positions 11-12 is not 01-12", reason=REASON, position=11
        )
    try:
        born = datetime.date(year, month, day)
    except ValueError:
        raise InvalidComponent(
            "birth day at positions 13-14 does not exist in that month",
            reason=REASON,
            position=13,
        ) from None
    if today is not None and born > today:
        raise InvalidComponent(
            "birth date at positions 7-14 is after the given date", reason=REASON, position=7
        )
