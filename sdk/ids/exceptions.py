"""Errors raised by the identifier modules of :mod:`creditlink.sdk.ids`.

Every identifier failure is an :class:`InvalidIdentifier`, which is both a
:class:`~creditlink.sdk.errors.CreditlinkError` (so it carries the ``reason`` that quarantine,
metrics and ``ErrorInfo`` use) and a :class:`ValueError` (so code written against
python-stdnum's ``ValidationError(ValueError)`` convention keeps working). The subclasses say
what kind of rule failed:

- :class:`InvalidFormat`: a character that the identifier never allows, or a value that is
  not a ``str`` at all;
- :class:`InvalidLength`: the compact form has the wrong number of characters;
- :class:`InvalidChecksum`: a check character does not match the rest;
- :class:`InvalidComponent`: a well-formed part has a value the identifier does not allow
  (an unknown registration authority, an impossible birth date, …).

``reason`` names the identifier (``INVALID_USCC``, ``INVALID_RESIDENT_ID``, …), not the rule:
a code that fails goes to quarantine under that reason, and the subclass plus ``position`` and
``expected`` tell an operator what to look at. Positions are 1-based and count characters of
the compact form (separators removed).

>>> exc = InvalidChecksum(
...     "check character at position 18 is 'N', expected 'L'",
...     reason="INVALID_USCC",
...     position=18,
...     expected="L",
... )
>>> isinstance(exc, ValueError), exc.reason, exc.position, exc.expected
(True, 'INVALID_USCC', 18, 'L')
>>> str(exc)
"check character at position 18 is 'N', expected 'L' [INVALID_USCC]"
"""

from __future__ import annotations

from creditlink.sdk.errors import CreditlinkError

__all__ = [
    "InvalidChecksum",
    "InvalidComponent",
    "InvalidFormat",
    "InvalidIdentifier",
    "InvalidLength",
]


class InvalidIdentifier(CreditlinkError, ValueError):
    """An identifier failed validation.

    Attributes:
        reason: UPPER_SNAKE code naming the identifier, e.g. ``"INVALID_USCC"``.
        position: 1-based position in the compact form of the first offending character, or
            ``None`` when the failure is not tied to one position (wrong length, not a string).
        expected: for checksum failures, the check character the rest of the identifier
            calls for; ``None`` otherwise.
    """

    default_reason = "INVALID_IDENTIFIER"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        position: int | None = None,
        expected: str | None = None,
    ) -> None:
        super().__init__(message, reason=reason)
        self.position: int | None = position
        self.expected: str | None = expected

    def __reduce__(self) -> tuple[object, ...]:
        # The keyword-only arguments would be lost by BaseException's default pickling, and
        # quarantine queues may hand these errors across process boundaries.
        return (
            _rebuild,
            (type(self), self.args[0], self.reason, self.position, self.expected),
        )


class InvalidFormat(InvalidIdentifier):
    """A character the identifier never allows, or a value that is not a ``str``."""


class InvalidLength(InvalidIdentifier):
    """The compact form has the wrong number of characters."""


class InvalidChecksum(InvalidIdentifier):
    """A check character does not match the characters it protects."""


class InvalidComponent(InvalidIdentifier):
    """A well-formed part of the identifier has a value that is not allowed."""


def _rebuild(
    cls: type[InvalidIdentifier],
    message: str,
    reason: str,
    position: int | None,
    expected: str | None,
) -> InvalidIdentifier:
    return cls(message, reason=reason, position=position, expected=expected)
