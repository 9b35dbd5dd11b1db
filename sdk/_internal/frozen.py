"""Building frozen dataclasses on hot paths.

A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__``,
which costs about a microsecond and a half for eight or nine fields; a subscription builds
such a result for every entry it verifies. For a frozen dataclass without ``__slots__`` or
``__post_init__``, filling the instance's ``__dict__`` gives the same object in well under
half the time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["builder"]

T = TypeVar("T")


def builder(cls: type[T]) -> Callable[..., T]:
    """A constructor of the frozen dataclass ``cls`` taking every field by keyword.

    For callers that pass every field, already checked: nothing is validated. ``cls`` must
    keep its fields in ``__dict__`` (no ``__slots__``) and define no ``__post_init__``.

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Point:
    ...     x: int
    ...     y: int
    >>> new_point = builder(Point)
    >>> new_point(x=1, y=2) == Point(1, 2)
    True
    """
    if hasattr(cls, "__post_init__") or hasattr(cls, "__slots__"):
        raise TypeError(f"{cls.__name__} has a __post_init__ or __slots__")
    names = frozenset(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    new = object.__new__

    def build(**fields: Any) -> T:
        # Every field, and only those: checked wherever assertions run (the test suite does).
        assert fields.keys() == names, (cls, sorted(fields))
        instance = new(cls)
        instance.__dict__.update(fields)
        return instance

    build.__qualname__ = build.__name__ = f"build_{cls.__name__}"
    return build
