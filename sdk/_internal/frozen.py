"""Building frozen dataclasses on hot paths.

A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__``,
which costs about a microsecond and a half for eight or nine fields; a subscription builds
such a result for every entry it verifies. For a frozen dataclass without ``__slots__`` or
``__post_init__``, filling the instance's ``__dict__`` gives the same object in a fifth of the
time.
"""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["build"]

T = TypeVar("T")


def build(cls: type[T], /, **fields: Any) -> T:
    """An instance of the frozen dataclass ``cls`` holding exactly ``fields``.

    For callers that pass every field, already checked: nothing is validated, and no
    ``__post_init__`` runs (``cls`` must define none).

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Point:
    ...     x: int
    ...     y: int
    >>> build(Point, x=1, y=2) == Point(1, 2)
    True
    """
    # The contract, checked wherever assertions run (the test suite does).
    assert fields.keys() == cls.__dataclass_fields__.keys(), (cls, sorted(fields))  # type: ignore[attr-defined]
    assert not hasattr(cls, "__post_init__"), cls
    instance = object.__new__(cls)
    instance.__dict__.update(fields)
    return instance
