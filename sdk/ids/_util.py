"""Helpers shared by the identifier modules; not part of the public API."""

from __future__ import annotations

import string
from collections.abc import Container

from creditlink.sdk.ids.exceptions import InvalidFormat

DIGITS = frozenset(string.digits)

# Only ASCII letters are upper-cased: str.upper() would turn "ﬀ" into "FF" or "ſ" into "S",
# silently producing an identifier the input never contained.
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)


def require_str(number: object, *, kind: str, reason: str) -> str:
    """Return ``number`` if it is a ``str``; raise :class:`InvalidFormat` otherwise.

    Validators promise an ``InvalidIdentifier`` for any bad input, so ``None``, ``bytes`` or
    ``int`` must not surface as ``TypeError``/``AttributeError`` from deeper code.
    """
    if not isinstance(number, str):
        raise InvalidFormat(
            f"{kind} must be a str, got {type(number).__name__}",
            reason=reason,
        )
    return number


def clean(
    number: object,
    *,
    kind: str,
    reason: str,
    deletechars: str = " -",
    upper: bool = True,
) -> str:
    """Strip surrounding whitespace, drop ``deletechars`` and upper-case ASCII letters.

    Never substitutes look-alike characters (``O`` for ``0`` and the like): a code that does
    not validate must be quarantined as received, not repaired.
    """
    text = require_str(number, kind=kind, reason=reason).strip()
    text = "".join(ch for ch in text if ch not in deletechars)
    return text.translate(_ASCII_UPPER) if upper else text


def first_outside(
    text: str,
    allowed: Container[str],
    start: int = 0,
    stop: int | None = None,
) -> int | None:
    """Return the index of the first character of ``text[start:stop]`` not in ``allowed``."""
    for index in range(start, len(text) if stop is None else stop):
        if text[index] not in allowed:
            return index
    return None
