"""CXP node ids (docs/spec CXP-ID-006)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditlink.sdk.ids import (
    InvalidFormat,
    InvalidLength,
    is_valid_node_id,
    node_id,
    validate_node_id,
)

SPEC_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@pytest.mark.parametrize("node", ["cn-hub", "zj-330000", "gd-440000", "abc", "a" * 63, "a1-b2-c3"])
def test_valid(node: str) -> None:
    assert validate_node_id(node) == node
    assert is_valid_node_id(node)


def test_surrounding_whitespace_is_stripped_but_case_is_not_folded() -> None:
    assert node_id.compact("  cn-hub\n") == "cn-hub"
    with pytest.raises(InvalidFormat) as info:
        validate_node_id("CN-HUB")
    assert (info.value.reason, info.value.position) == ("INVALID_NODE_ID", 1)
    assert "lower-case" in info.value.args[0]


@pytest.mark.parametrize(
    ("node", "position"),
    [
        ("1cn", 1),
        ("-cn", 1),
        ("cn-", 3),
        ("cn--hub", 3),
        ("cn_hub", 3),
        ("cn.hub", 3),
        ("cn hub", 3),
        ("zj-33000é", 9),
    ],
)
def test_bad_characters(node: str, position: int) -> None:
    with pytest.raises(InvalidFormat) as info:
        validate_node_id(node)
    assert info.value.position == position
    assert f"position {position}" in info.value.args[0]


@pytest.mark.parametrize("node", ["", "cn", "a" * 64])
def test_bad_lengths(node: str) -> None:
    with pytest.raises(InvalidLength):
        validate_node_id(node)


@given(st.text(alphabet="abcz019-_.A \n", max_size=70))
def test_agrees_with_the_pattern_in_the_spec(node: str) -> None:
    # compact strips surrounding whitespace first; fullmatch, since "$" also matches before a
    # trailing newline.
    stripped = node.strip()
    expected = bool(SPEC_PATTERN.fullmatch(stripped)) and 3 <= len(stripped) <= 63
    assert is_valid_node_id(node) == expected
