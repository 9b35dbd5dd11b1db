"""CXP node identifier.

The name of a CXP node (a gateway run by a credit platform) in trust bundles, envelopes, log
origins and policies, e.g. ``cn-hub`` for the national hub or ``zj-330000`` for a provincial
node. CXP v1 defines it as:

- 3 to 63 characters, so that it also fits one DNS label;
- lower-case ASCII letters, digits and hyphens, matching
  ``^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$``: it starts with a letter, and a hyphen is always
  followed by a letter or a digit (no leading, trailing or doubled hyphen).

Node ids name who signed something, so they are matched exactly: :func:`compact` only strips
surrounding whitespace and does **not** lower-case; ``CN-HUB`` is rejected rather than taken
for ``cn-hub``. Only hyphens, never dots, separate parts, which keeps a node id usable as a
path segment, a metric label and a DNS label without escaping.

References:

- CXP v1 specification (``docs/spec/cxp-v1.md``), CXP-ID-006
- RFC 1035 §2.3.1 (label syntax) and RFC 1123 §2.1, which the length limit follows

>>> validate('cn-hub')
'cn-hub'
>>> validate(' zj-330000 ')
'zj-330000'
>>> validate('CN-HUB')  # doctest: +NORMALIZE_WHITESPACE
Traceback (most recent call last):
    ...
creditlink.sdk.ids.exceptions.InvalidFormat: character at position 1 is 'C', node ids are
lower-case [INVALID_NODE_ID]
>>> validate('cn--hub')  # doctest: +NORMALIZE_WHITESPACE
Traceback (most recent call last):
    ...
creditlink.sdk.ids.exceptions.InvalidFormat: hyphen at position 3 must be followed by a letter
or a digit [INVALID_NODE_ID]
>>> is_valid('gd')
False
"""

from __future__ import annotations

import string

from creditlink.sdk.ids import _util
from creditlink.sdk.ids.exceptions import InvalidFormat, InvalidIdentifier, InvalidLength

__all__ = ["MAX_LENGTH", "MIN_LENGTH", "compact", "format", "is_valid", "validate"]

REASON = "INVALID_NODE_ID"
_KIND = "node id"

MIN_LENGTH = 3
MAX_LENGTH = 63

_LETTERS = frozenset(string.ascii_lowercase)
_LETTERS_DIGITS = _LETTERS | _util.DIGITS


def compact(number: str) -> str:
    """Return ``number`` with surrounding whitespace removed; nothing else changes."""
    return _util.require_str(number, kind=_KIND, reason=REASON).strip()


def validate(number: str) -> str:
    """Check a node id and return it without surrounding whitespace.

    Raises a subclass of :class:`~creditlink.sdk.ids.exceptions.InvalidIdentifier` with reason
    ``INVALID_NODE_ID``.
    """
    node = compact(number)
    if not MIN_LENGTH <= len(node) <= MAX_LENGTH:
        raise InvalidLength(
            f"node id must have {MIN_LENGTH} to {MAX_LENGTH} characters, found {len(node)}",
            reason=REASON,
        )
    for index, ch in enumerate(node):
        position = index + 1
        if ch in _LETTERS or (index > 0 and ch in _util.DIGITS):
            continue
        if ch == "-" and index > 0:
            if index + 1 < len(node) and node[index + 1] in _LETTERS_DIGITS:
                continue
            raise InvalidFormat(
                f"hyphen at position {position} must be followed by a letter or a digit",
                reason=REASON,
                position=position,
            )
        if ch in string.ascii_uppercase:
            detail = "node ids are lower-case"
        elif index == 0:
            detail = "expected a lower-case letter"
        else:
            detail = "expected a lower-case letter, a digit or a hyphen"
        raise InvalidFormat(
            f"character at position {position} is {ch!r}, {detail}",
            reason=REASON,
            position=position,
        )
    return node


def is_valid(number: object) -> bool:
    """Return whether ``number`` is a valid node id; never raises."""
    if not isinstance(number, str):
        return False
    try:
        validate(number)
    except InvalidIdentifier:
        return False
    return True


def format(number: str) -> str:
    """Return the display form, which is the compact form."""
    return compact(number)
