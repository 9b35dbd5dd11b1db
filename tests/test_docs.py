"""Documentation examples run: the README's Python snippets and the SDK's package docstring."""

from __future__ import annotations

import doctest
from pathlib import Path

import creditlink.sdk

ROOT = Path(__file__).resolve().parent.parent


def test_readme_examples() -> None:
    result = doctest.testfile(str(ROOT / "README.md"), module_relative=False, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


def test_sdk_package_docstring() -> None:
    result = doctest.testmod(creditlink.sdk, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
