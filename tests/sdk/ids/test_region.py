"""Administrative division codes (GB/T 2260)."""

from __future__ import annotations

import pytest

from creditlink.sdk.ids import (
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    is_valid_region_code,
    region,
    validate_region_code,
)

PROVINCE_PREFIXES = [
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34",
    "35", "36", "37", "41", "42", "43", "44", "45", "46", "50", "51", "52",
    "53", "54", "61", "62", "63", "64", "65", "71", "81", "82",
]  # fmt: skip


def test_province_table_is_the_34_divisions() -> None:
    assert sorted(region.PROVINCES) == PROVINCE_PREFIXES
    assert len(region.PROVINCES) == 34


@pytest.mark.parametrize("prefix", PROVINCE_PREFIXES)
def test_every_province_level_code_is_valid(prefix: str) -> None:
    assert validate_region_code(prefix + "0000") == prefix + "0000"
    assert region.name(prefix + "0000") == region.PROVINCES[prefix]


@pytest.mark.parametrize("code", ["100000", "110101", "330106", "440304", "659001", "469001"])
def test_valid(code: str) -> None:
    assert validate_region_code(code) == code
    assert is_valid_region_code(code)


def test_national_level() -> None:
    assert region.name("100000") == "国家级"
    assert region.check("100000") == []
    with pytest.raises(InvalidComponent) as info:
        validate_region_code("101000")  # prefix 10 exists only as 100000
    assert (info.value.reason, info.value.position) == ("INVALID_REGION_CODE", 1)


@pytest.mark.parametrize("code", ["000000", "190000", "990101", "720000", "830000"])
def test_unknown_province_is_an_error(code: str) -> None:
    """CXP-ID-004: an unknown provincial-level prefix is rejected."""
    with pytest.raises(InvalidComponent) as info:
        validate_region_code(code)
    assert (info.value.reason, info.value.position) == ("INVALID_REGION_CODE", 1)
    assert f"province part {code[:2]!r}" in info.value.args[0]


def test_unknown_county_is_not_rejected() -> None:
    """CXP-ID-004: an unknown code below the provincial level is not rejected."""
    # No county 99 exists under Hangzhou today; it may exist in old records or tomorrow.
    assert validate_region_code("330199") == "330199"
    assert region.check("330199") == []


def test_format_errors() -> None:
    with pytest.raises(InvalidLength):
        validate_region_code("33010")
    with pytest.raises(InvalidFormat) as info:
        validate_region_code("33O106")
    assert info.value.position == 3


@pytest.mark.parametrize(
    ("code", "warnings"),
    [
        ("110101", []),
        ("330000", []),
        ("469001", []),
        ("110001", ["county part '01' under prefecture part '00'"]),
        ("117501", ["prefecture part '75' is outside the ranges GB/T 2260 assigns (01-70, 90)"]),
        (
            "820100",
            ["GB/T 2260 lists 澳门特别行政区 only as 820000, without subdivisions"],
        ),
    ],
)
def test_check_warnings(code: str, warnings: list[str]) -> None:
    assert region.check(code) == warnings


def test_check_raises_for_invalid_codes() -> None:
    with pytest.raises(InvalidComponent):
        region.check("190000")


@pytest.mark.parametrize("prefix", [f"{n:02d}" for n in range(100)])
def test_the_compact_fast_path_answers_as_the_step_by_step_checks(prefix: str) -> None:
    """A compact code skips validate()'s clean-up; with surrounding spaces it takes the
    step-by-step path: same answer, always."""
    for rest in ("0000", "0100", "9000", "7501"):
        code = prefix + rest
        assert region.is_valid(code) is region.is_valid(f" {code} ")
