"""The examples in the docstrings of creditlink.sdk.ids are tests too."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

import creditlink.sdk.ids
from creditlink.sdk.ids import exceptions, identifier_modules

MODULES: list[ModuleType] = [
    creditlink.sdk.ids,
    exceptions,
    *(module for module in identifier_modules() if isinstance(module, ModuleType)),
]


def test_every_identifier_module_is_a_module() -> None:
    assert len(MODULES) == 2 + len(identifier_modules())


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.__name__)
def test_doctests(module: ModuleType) -> None:
    result = doctest.testmod(module, report=True)
    assert result.attempted > 0, f"{module.__name__} has no doctests"
    assert result.failed == 0
