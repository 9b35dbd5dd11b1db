"""Organization code (组织机构代码, GB 11714-1997).

The national organization code that every legal person and other organization received before
the Unified Social Credit Code; it lives on as positions 9–17 of the USCC (see
:mod:`creditlink.sdk.ids.uscc`). It has 9 characters:

- positions 1–8, the body: digits and upper-case Latin letters;
- position 9, the check character: ``0``–``9`` or ``X``.

The check is computed over the body with weights 3, 7, 9, 10, 5, 8, 4, 2; digits count as their
value and letters as ``A`` = 10 … ``Z`` = 35 in plain Latin order (not the USCC alphabet).
With ``r = 11 - sum % 11``, the check is ``r``, except that 10 is written ``X`` and 11 is
written ``0``. On certificates the check character is set off by a hyphen, ``60003734-1``;
:func:`format` produces that form and :func:`compact` removes it.

This module holds the one implementation of the check: the USCC validator calls
:func:`calc_check_digit` for its inner check.

References:

- GB 11714-1997 《全国组织机构代码编制规则》 (Rules of coding for the representation of
  organizations)
- CXP credit-domain facts, §2 (``shared/domain/credit-domain.md``), whose worked example is
  the first one below

>>> validate('60003734-1')
'600037341'
>>> calc_check_digit('60003734')
'1'
>>> format('600037341')
'60003734-1'
>>> validate('60003734-2')  # doctest: +NORMALIZE_WHITESPACE
Traceback (most recent call last):
    ...
creditlink.sdk.ids.exceptions.InvalidChecksum: check character at position 9 is '2',
expected '1' [INVALID_ORG_CODE]
>>> validate('6000373')  # doctest: +NORMALIZE_WHITESPACE
Traceback (most recent call last):
    ...
creditlink.sdk.ids.exceptions.InvalidLength: organization code must have 9 characters,
found 7 [INVALID_ORG_CODE]
>>> is_valid('MA1K3BTP2')
True
"""

from __future__ import annotations

import operator
import string

from creditlink.sdk.ids import _util
from creditlink.sdk.ids.exceptions import (
    InvalidChecksum,
    InvalidFormat,
    InvalidIdentifier,
    InvalidLength,
)

__all__ = ["calc_check_digit", "compact", "format", "is_valid", "validate"]

REASON = "INVALID_ORG_CODE"
_KIND = "organization code"

# Plain Latin order, so values differ from the USCC alphabet for letters after H.
_VALUES = {ch: value for value, ch in enumerate(string.digits + string.ascii_uppercase)}
_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_BODY_CHARS = frozenset(_VALUES)


def compact(number: str) -> str:
    """Return ``number`` without spaces or hyphens, with ASCII letters upper-cased."""
    return _util.clean(number, kind=_KIND, reason=REASON)


def calc_check_digit(number: str) -> str:
    """Return the check character for an 8-character organization code body.

    Raises :class:`~creditlink.sdk.ids.exceptions.InvalidLength` or
    :class:`~creditlink.sdk.ids.exceptions.InvalidFormat` (reason ``INVALID_ORG_CODE``) when
    ``number`` is not 8 digits or upper-case letters.

    >>> calc_check_digit('MA1K3BTP')
    '2'
    """
    body = _util.require_str(number, kind=_KIND, reason=REASON)
    if len(body) != 8:
        raise InvalidLength(
            f"organization code body must have 8 characters, found {len(body)}", reason=REASON
        )
    _check_body(body)
    return _check_char(body)


def _check_char(body: str) -> str:
    """The check character of 8 characters already known to be digits or capitals."""
    remainder = 11 - sum(map(operator.mul, map(_VALUES.__getitem__, body), _WEIGHTS)) % 11
    if remainder == 10:
        return "X"
    if remainder == 11:
        return "0"
    return str(remainder)


def validate(number: str) -> str:
    """Check an organization code and return its compact form (9 characters, no hyphen).

    Raises a subclass of :class:`~creditlink.sdk.ids.exceptions.InvalidIdentifier` with reason
    ``INVALID_ORG_CODE``.
    """
    code = compact(number)
    if len(code) != 9:
        raise InvalidLength(
            f"organization code must have 9 characters, found {len(code)}", reason=REASON
        )
    _check_body(code[:8])
    expected = calc_check_digit(code[:8])
    if code[8] != expected:
        raise InvalidChecksum(
            f"check character at position 9 is {code[8]!r}, expected {expected!r}",
            reason=REASON,
            position=9,
            expected=expected,
        )
    return code


def is_valid(number: object) -> bool:
    """Return whether ``number`` is a valid organization code; never raises."""
    if not isinstance(number, str):
        return False
    try:
        validate(number)
    except InvalidIdentifier:
        return False
    return True


def format(number: str) -> str:
    """Return the display form with the check character set off: ``60003734-1``."""
    code = compact(number)
    return f"{code[:8]}-{code[8:]}"


def _check_body(body: str) -> None:
    bad = _util.first_outside(body, _BODY_CHARS)
    if bad is not None:
        raise InvalidFormat(
            f"character at position {bad + 1} is {body[bad]!r}, expected a digit or an "
            "upper-case letter",
            reason=REASON,
            position=bad + 1,
        )
