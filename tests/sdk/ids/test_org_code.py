"""Organization codes (GB 11714-1997)."""

from __future__ import annotations

import pytest

from creditlink.sdk.ids import (
    InvalidChecksum,
    InvalidFormat,
    InvalidLength,
    is_valid_org_code,
    org_code,
    validate_org_code,
)

# Positions 9-17 of USCCs from credit-domain facts §2.
VALID = ["600037341", "401359081", "MA1K3BTP2", "71526726X", "L01510128", "M000100Y4"]


@pytest.mark.parametrize("code", VALID)
def test_valid(code: str) -> None:
    assert validate_org_code(code) == code
    assert validate_org_code(f"{code[:8]}-{code[8]}") == code
    assert is_valid_org_code(code)


@pytest.mark.parametrize(
    ("body", "check"),
    [
        ("00000000", "0"),  # sum 0: r = 11 - 0 = 11, written '0'
        ("0000000B", "0"),  # B = 11 in Latin order, sum 22: r = 11
        ("00000006", "X"),  # sum 12, 12 % 11 = 1: r = 10, written 'X'
        ("10000000", "8"),  # sum 3: r = 8
    ],
)
def test_check_values_10_and_11(body: str, check: str) -> None:
    assert org_code.calc_check_digit(body) == check
    assert validate_org_code(body + check) == body + check


def test_format_and_compact() -> None:
    assert org_code.format("600037341") == "60003734-1"
    assert org_code.compact(" 60003734-1 ") == "600037341"
    assert org_code.compact("ma1k3btp-2") == "MA1K3BTP2"


def test_wrong_check() -> None:
    with pytest.raises(InvalidChecksum) as info:
        validate_org_code("60003734-2")
    exc = info.value
    assert (exc.reason, exc.position, exc.expected) == ("INVALID_ORG_CODE", 9, "1")


def test_lengths_and_characters() -> None:
    with pytest.raises(InvalidLength):
        validate_org_code("60003734")
    with pytest.raises(InvalidFormat) as info:
        validate_org_code("6000_7341")
    assert info.value.position == 5
