"""Helpers shared by the identifier modules; not part of the public API."""

from __future__ import annotations

import functools
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
    return text.translate(_table(deletechars, upper=upper))


@functools.cache
def _table(deletechars: str, *, upper: bool) -> dict[int, int | None]:
    """One ``str.translate`` table that drops ``deletechars`` and, if asked, upper-cases ASCII.

    Identifiers are checked on every statement a gateway takes in, so this is one C-level pass
    instead of a generator per character.
    """
    table: dict[int, int | None] = dict(_ASCII_UPPER) if upper else {}
    table.update(dict.fromkeys(map(ord, deletechars)))
    return table


def first_outside(
    text: str,
    allowed: Container[str],
    start: int = 0,
    stop: int | None = None,
) -> int | None:
    """Return the index of the first character of ``text[start:stop]`` not in ``allowed``."""
    end = len(text) if stop is None else stop
    # The common answer (every character allowed) in one C-level pass; the loop only to
    # locate a bad character.
    if all(map(allowed.__contains__, text[start:end])):
        return None
    for index in range(start, end):
        if text[index] not in allowed:
            return index
    return None
