"""Resident identity numbers (GB 11643-1999)."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditlink.sdk.ids import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidIdentifier,
    InvalidLength,
    is_valid_resident_id,
    region,
    resident_id,
    validate_resident_id,
)

# Independent of the module under test: ISO 7064 MOD 11-2, weights 2^(18-i) mod 11.
WEIGHTS = [pow(2, 18 - i, 11) for i in range(1, 18)]


def ref_check(first17: str) -> str:
    r = (12 - sum(int(ch) * w for ch, w in zip(first17, WEIGHTS, strict=True)) % 11) % 11
    return "X" if r == 10 else str(r)


def test_weights_match_the_published_list() -> None:
    assert WEIGHTS == [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


# Check characters computed with ref_check, not with the module.
VALID = [
    "11010519491231002X",  # the example of GB 11643-1999
    "110101199003071233",  # region 110101, born 1990-03-07, sequence 123
    "440304198512310011",
    "110101200002294561",  # 29 February of a leap year
    "83000019800101123X",  # residence permit of a Taiwan resident
]


@pytest.mark.parametrize("number", VALID)
def test_valid_numbers(number: str) -> None:
    """CXP-ID-005: 17 digits plus an ISO 7064 MOD 11-2 check character."""
    assert ref_check(number[:17]) == number[17]
    assert resident_id.calc_check_digit(number[:17]) == number[17]
    assert validate_resident_id(number) == number
    assert is_valid_resident_id(number)


def test_lower_case_x_is_accepted_and_compacted() -> None:
    assert validate_resident_id("11010519491231002x") == "11010519491231002X"
    assert resident_id.compact("110105 19491231 002x") == "11010519491231002X"
    assert resident_id.format("110105-19491231-002x") == "11010519491231002X"


def test_wrong_check_character() -> None:
    with pytest.raises(InvalidChecksum) as info:
        validate_resident_id("110101199003071234")
    exc = info.value
    assert (exc.reason, exc.position, exc.expected) == ("INVALID_RESIDENT_ID", 18, "3")
    assert exc.args[0] == "check character at position 18 is '4', expected '3'"


@pytest.mark.parametrize(
    ("number", "position", "what"),
    [
        ("110101199002301236", 13, "birth day"),  # 1990-02-30, check character correct
        ("110101199013071237", 11, "birth month"),
        ("110101189912311231", 7, "birth year"),
        ("110101190002291234", 13, "birth day"),  # 1900 was not a leap year
    ],
)
def test_impossible_birth_dates(number: str, position: int, what: str) -> None:
    with pytest.raises(InvalidComponent) as info:
        validate_resident_id(number)
    exc = info.value
    assert (exc.reason, exc.position) == ("INVALID_RESIDENT_ID", position)
    assert exc.args[0].startswith(what)
    # Personal data: neither the number nor its birth date appears in the message.
    assert number not in str(exc)
    assert number[6:14] not in str(exc)


def test_birth_date_after_today_only_when_today_is_given() -> None:
    number = "110101209912311237"  # born 2099-12-31
    assert validate_resident_id(number) == number
    with pytest.raises(InvalidComponent) as info:
        validate_resident_id(number, today=datetime.date(2025, 6, 1))
    assert info.value.position == 7
    assert not resident_id.is_valid(number, today=datetime.date(2025, 6, 1))
    assert resident_id.is_valid(number, today=datetime.date(2100, 1, 1))


def test_fifteen_digit_first_generation_number_is_rejected() -> None:
    with pytest.raises(InvalidLength) as info:
        validate_resident_id("110101900307123")
    exc = info.value
    assert exc.reason == "INVALID_RESIDENT_ID"
    assert "15-digit" in exc.args[0]
    assert "converted" in exc.args[0]
    assert "110101900307123" not in str(exc)


@pytest.mark.parametrize("number", ["11010119900307123", "1101011990030712333", ""])
def test_other_lengths(number: str) -> None:
    with pytest.raises(InvalidLength) as info:
        validate_resident_id(number)
    assert info.value.args[0] == (
        f"resident identity number must have 18 characters, found {len(number)}"
    )


def test_non_digit_in_the_first_17_positions() -> None:
    with pytest.raises(InvalidFormat) as info:
        validate_resident_id("1101A1199003071233")
    assert (info.value.position, info.value.args[0]) == (
        5,
        "character at position 5 is 'A', expected a digit",
    )


def test_unknown_province() -> None:
    with pytest.raises(InvalidComponent) as info:
        validate_resident_id("000101199003071238")  # check character correct
    assert info.value.position == 1


def test_mask_shows_only_region_and_last_four() -> None:
    """CXP-ID-005: identity numbers appear in logs only masked."""
    assert resident_id.mask("110101199003071233") == "110101********1233"
    assert resident_id.mask("11010519491231002x") == "110105********002X"
    # Something that is not 18 characters cannot be split safely: mask everything.
    assert resident_id.mask("110101900307123") == "*" * 15
    assert resident_id.mask("") == ""


# ---- generated numbers -----------------------------------------------------------------------

provinces = st.sampled_from(sorted(region.PROVINCES))


@st.composite
def valid_numbers(draw: st.DrawFn) -> str:
    born = draw(st.dates(datetime.date(1900, 1, 1), datetime.date(2099, 12, 31)))
    head = (
        draw(provinces)
        + draw(st.text("0123456789", min_size=4, max_size=4))
        + born.strftime("%Y%m%d")
        + draw(st.text("0123456789", min_size=3, max_size=3))
    )
    return head + ref_check(head)


@given(valid_numbers())
def test_generated_numbers_validate(number: str) -> None:
    assert validate_resident_id(number) == number


@settings(max_examples=50)
@given(valid_numbers())
def test_every_single_substitution_is_detected(number: str) -> None:
    # MOD 11-2: 11 is prime, no weight is 0 mod 11 and digits differ by less than 11.
    for index in range(18):
        for ch in "0123456789X" if index == 17 else "0123456789":
            if ch == number[index]:
                continue
            mutated = number[:index] + ch + number[index + 1 :]
            with pytest.raises(InvalidIdentifier):
                validate_resident_id(mutated)
