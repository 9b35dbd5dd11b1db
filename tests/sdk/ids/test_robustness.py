"""Every identifier module copes with junk: is_valid says False, validate raises InvalidIdentifier.

After python-stdnum's tests/test_robustness.doctest.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditlink.sdk.ids import (
    IdentifierModule,
    InvalidFormat,
    InvalidIdentifier,
    identifier_modules,
)

MODULES = identifier_modules()


def _name(module: IdentifierModule) -> str:
    return module.__name__.rsplit(".", 1)[-1]


NOT_STR: list[object] = [
    None,
    b"91110000600037341L",
    bytearray(b"cn-hub"),
    123,
    91110000600037341,
    1.5,
    True,
    object(),
    ["91110000600037341L"],
    ("cn-hub",),
    {"uscc": "91110000600037341L"},
]

JUNK_STR = [
    "",
    " ",
    "\t\n",
    "-",
    "---",
    "😀",
    "😀" * 18,
    "\x00",
    "\x00" * 18,
    "9111000060003734\x001L",
    "cn-hub\x00",
    "\ud800",  # lone surrogate
    "*&^%$",
    "Q",
    "3",
    "x" * 1_000_000,
    "9" * 100_000,
    "９１１１００００６０００３７３４１Ｌ",  # full-width forms of a valid USCC
    "ﬀ" * 9,  # str.upper() would make this 'FF' * 9
]


@pytest.mark.parametrize("module", MODULES, ids=_name)
@pytest.mark.parametrize("junk", NOT_STR, ids=repr)
def test_not_a_str(module: IdentifierModule, junk: object) -> None:
    assert module.is_valid(junk) is False
    with pytest.raises(InvalidFormat) as info:
        module.validate(junk)  # type: ignore[arg-type]
    assert info.value.args[0].endswith(f"must be a str, got {type(junk).__name__}")
    for function in (module.compact, module.format):
        with pytest.raises(InvalidIdentifier):
            function(junk)  # type: ignore[arg-type]


@pytest.mark.parametrize("module", MODULES, ids=_name)
@pytest.mark.parametrize("junk", JUNK_STR, ids=lambda junk: repr(junk)[:20])
def test_junk_strings(module: IdentifierModule, junk: str) -> None:
    assert module.is_valid(junk) is False
    with pytest.raises(InvalidIdentifier) as info:
        module.validate(junk)
    # Messages go to logs: never the whole input back, however long.
    assert len(str(info.value)) < 200


@pytest.mark.parametrize("module", MODULES, ids=_name)
@given(text=st.text(max_size=40))
def test_arbitrary_text_never_escapes_as_another_exception(
    module: IdentifierModule, text: str
) -> None:
    valid = module.is_valid(text)
    assert isinstance(valid, bool)
    if valid:
        result = module.validate(text)
        # Validating the compact form again is a no-op.
        assert module.validate(result) == result
    else:
        with pytest.raises(InvalidIdentifier) as info:
            module.validate(text)
        assert info.value.reason.startswith("INVALID_")
        assert info.value.position is None or info.value.position >= 1
