"""Credit report number (CXP v1).

The number printed on a public credit information report, by which anyone can ask the issuing
node to verify the report online (the national report standard leaves the format open, so CXP
defines it). 27 characters, all digits or upper-case ASCII letters:

======  ==================================================================================
pos     meaning
======  ==================================================================================
1–2     ``CR``
3–8     region code of the issuing node (GB/T 2260, province-level prefix or ``100000``,
        see :mod:`creditlink.sdk.ids.region`)
9–16    issue date, ``YYYYMMDD``
17–26   serial: 10 characters ``0``–``9``, ``A``–``Z``, chosen by the issuing node
27      check character: ISO 7064 MOD 37,36 over positions 1–26
======  ==================================================================================

MOD 37,36 is ISO 7064's hybrid system for the 36 characters ``0-9A-Z``; it detects every
single substituted character and all but a few exchanges of two adjacent characters (72 of the
45,360 combinations of running state and character pair go unnoticed). The display form
(:func:`format`) separates the parts with hyphens, ``CR-110000-20250301-00000000A1-9``;
:func:`compact` removes them again. :func:`generate` builds a number from its parts.

References:

- ISO/IEC 7064:2003, MOD 37,36
- CXP v1 specification (``docs/spec/cxp-v1.md``), CXP-ID-007

>>> import datetime
>>> number = generate('110000', datetime.date(2025, 3, 1), '00000000A1')
>>> number
'CR1100002025030100000000A19'
>>> format(number)
'CR-110000-20250301-00000000A1-9'
>>> validate('CR-110000-20250301-00000000A1-9')
'CR1100002025030100000000A19'
>>> validate('CR1100002025030100000000A1C')  # doctest: +NORMALIZE_WHITESPACE
Traceback (most recent call last):
    ...
creditlink.sdk.ids.exceptions.InvalidChecksum: check character at position 27 is 'C',
expected '9' [INVALID_REPORT_NO]
>>> is_valid('CR1100002025023000000000A19')
False
"""

from __future__ import annotations

import datetime
import re
import string
from typing import Final

from creditlink.sdk.ids import _util, region
from creditlink.sdk.ids.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidIdentifier,
    InvalidLength,
)

__all__ = ["PREFIX", "calc_check_digit", "compact", "format", "generate", "is_valid", "validate"]

REASON = "INVALID_REPORT_NO"
_KIND = "report number"

PREFIX = "CR"
_LENGTH = 27
_SERIAL_LENGTH = 10
_ALPHABET = string.digits + string.ascii_uppercase
_VALUES = {ch: value for value, ch in enumerate(_ALPHABET)}
_MODULUS = len(_ALPHABET)  # 36; the hybrid system computes modulo 36 and 37


def compact(number: str) -> str:
    """Return ``number`` without spaces or hyphens, with ASCII letters upper-cased."""
    return _util.clean(number, kind=_KIND, reason=REASON)


def calc_check_digit(number: str) -> str:
    """Return the ISO 7064 MOD 37,36 check character for ``number`` (characters ``0-9A-Z``).

    Any length is accepted, so that the function also serves for test vectors; a report
    number's check covers its first 26 characters. Raises
    :class:`~creditlink.sdk.ids.exceptions.InvalidFormat` (reason ``INVALID_REPORT_NO``) for a
    character outside ``0-9A-Z``.

    >>> calc_check_digit('A12425GABC1234002')
    'M'
    """
    text = _util.require_str(number, kind=_KIND, reason=REASON)
    _check_chars(text, 0, len(text))
    return _check_char(text)


def _check_char(text: str) -> str:
    """ISO 7064 MOD 37,36 over characters already known to be ``0-9A-Z``."""
    # The running state P(j) of each character (see _step), looked up: two
    # subscripts per character instead of three modulo operations.
    product = _MODULUS
    for ch in text:
        product = _STEP[ch][product]
    return _ALPHABET[(1 - product) % _MODULUS]


def _step(product: int, value: int) -> int:
    # Hybrid system: P(1) = M; S(j) = (P(j) + a(j)) mod M, written M when 0;
    # P(j+1) = 2 * S(j) mod (M + 1). The check c makes (P(n+1) + c) mod M == 1.
    return (((product + value) % _MODULUS or _MODULUS) * 2) % (_MODULUS + 1)


#: P(j+1) by character and P(j): ``_STEP[ch][p]``. P stays in 1..36 (2S mod 37 is never 0).
_STEP: Final = {
    ch: tuple(_step(p, value) for p in range(_MODULUS + 1)) for ch, value in _VALUES.items()
}


def validate(number: str) -> str:
    """Check a credit report number and return its compact form.

    Raises a subclass of :class:`~creditlink.sdk.ids.exceptions.InvalidIdentifier` with reason
    ``INVALID_REPORT_NO``.
    """
    if isinstance(number, str) and _SHAPE.fullmatch(number) and _parts_hold(number):
        return number  # already compact and valid: the common case
    # Step by step, to name the first problem (or to compact the input first).
    code = compact(number)
    if len(code) != _LENGTH:
        raise InvalidLength(
            f"report number must have {_LENGTH} characters, found {len(code)}", reason=REASON
        )
    if not code.startswith(PREFIX):
        wrong = 0 if code[0] != PREFIX[0] else 1
        raise InvalidFormat(
            f"character at position {wrong + 1} is {code[wrong]!r}, expected {PREFIX[wrong]!r} "
            f"(report numbers start with {PREFIX!r})",
            reason=REASON,
            position=wrong + 1,
        )
    bad = _util.first_outside(code, _util.DIGITS, 2, 16)
    if bad is not None:
        raise InvalidFormat(
            f"character at position {bad + 1} is {code[bad]!r}, expected a digit "
            "(positions 3-16 are the region code and the issue date)",
            reason=REASON,
            position=bad + 1,
        )
    _check_chars(code, 16, _LENGTH)
    if not region.is_valid(code[2:8]):
        raise InvalidComponent(
            f"region code {code[2:8]!r} at positions 3-8 does not start with a province-level "
            f"division of GB/T 2260 and is not {region.NATIONAL}",
            reason=REASON,
            position=3,
        )
    try:
        datetime.date(int(code[8:12]), int(code[12:14]), int(code[14:16]))
    except ValueError:
        raise InvalidComponent(
            f"issue date {code[8:16]!r} at positions 9-16 is not a calendar date",
            reason=REASON,
            position=9,
        ) from None
    expected = calc_check_digit(code[:26])
    if code[26] != expected:
        raise InvalidChecksum(
            f"check character at position 27 is {code[26]!r}, expected {expected!r}",
            reason=REASON,
            position=27,
            expected=expected,
        )
    return code


def is_valid(number: object) -> bool:
    """Return whether ``number`` is a valid credit report number; never raises."""
    if not isinstance(number, str):
        return False
    try:
        validate(number)
    except InvalidIdentifier:
        return False
    return True


def format(number: str) -> str:
    """Return the display form, ``CR-<region>-<date>-<serial>-<check>``."""
    code = compact(number)
    return "-".join((code[:2], code[2:8], code[8:16], code[16:26], code[26:]))


def generate(region_code: str, issued: datetime.date, serial: str) -> str:
    """Return the compact report number for ``region_code``, ``issued`` and ``serial``.

    ``serial`` is 10 characters ``0-9A-Z`` (lower-case letters are upper-cased); making it
    unique per node and day is the issuing node's job. Raises a subclass of
    :class:`~creditlink.sdk.ids.exceptions.InvalidIdentifier` with reason
    ``INVALID_REPORT_NO`` when a part is not acceptable.
    """
    try:
        region_part = region.validate(region_code)
    except InvalidIdentifier as exc:
        # Re-raised under this module's reason: the caller is building a report number.
        raise InvalidComponent(
            f"region code for positions 3-8 is not acceptable: {exc.args[0]}",
            reason=REASON,
            position=3,
        ) from exc
    serial = compact(serial)
    if len(serial) != _SERIAL_LENGTH:
        raise InvalidLength(
            f"report number serial must have {_SERIAL_LENGTH} characters, found {len(serial)}",
            reason=REASON,
        )
    # strftime("%Y") does not zero-pad years before 1000 on every platform.
    date_part = f"{issued.year:04d}{issued.month:02d}{issued.day:02d}"
    body = f"{PREFIX}{region_part}{date_part}{serial}"
    # Validating the result applies the same rules and messages as to a received number.
    return validate(body + calc_check_digit(body))


#: A compact report number's shape: prefix, region and date digits, serial and check.
_SHAPE: Final = re.compile(r"CR[0-9]{14}[0-9A-Z]{11}")


def _parts_hold(code: str) -> bool:
    """The region, the date and the check character of a number of the right shape."""
    if not region.is_valid(code[2:8]):
        return False
    try:
        datetime.date(int(code[8:12]), int(code[12:14]), int(code[14:16]))
    except ValueError:
        return False
    return _check_char(code[:26]) == code[26]


def _check_chars(text: str, start: int, stop: int) -> None:
    bad = _util.first_outside(text, _VALUES.keys(), start, stop)
    if bad is not None:
        raise InvalidFormat(
            f"character at position {bad + 1} is {text[bad]!r}, expected a digit or an "
            "upper-case letter",
            reason=REASON,
            position=bad + 1,
        )
