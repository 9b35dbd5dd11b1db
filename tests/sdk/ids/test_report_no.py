"""CXP credit report numbers (ISO 7064 MOD 37,36 check)."""

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
    is_valid_report_no,
    report_no,
    validate_report_no,
)

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def ref_check(text: str) -> str:
    # ISO 7064 MOD 37,36 written from the standard's recursion, independent of the module.
    p = 36
    for ch in text:
        s = (p + ALPHABET.index(ch)) % 36 or 36
        p = (2 * s) % 37
    return ALPHABET[(1 - p) % 36]


def test_iso_7064_vector() -> None:
    # The MOD 37,36 example used by python-stdnum's iso7064 module.
    assert report_no.calc_check_digit("A12425GABC1234002") == "M"
    assert ref_check("A12425GABC1234002") == "M"


VALID = [
    "CR1100002025030100000000A19",
    "CR10000020241231ZZZZZZZZZZY",
    "CR33000020250101000000ABCDT",
]


@pytest.mark.parametrize("number", VALID)
def test_valid(number: str) -> None:
    """CXP-ID-007: well-formed report numbers validate."""
    assert ref_check(number[:26]) == number[26]
    assert validate_report_no(number) == number
    assert validate_report_no(report_no.format(number)) == number
    assert is_valid_report_no(number.lower())


def test_format() -> None:
    assert report_no.format("CR1100002025030100000000A19") == "CR-110000-20250301-00000000A1-9"


def test_generate() -> None:
    number = report_no.generate("330000", datetime.date(2025, 1, 1), "000000abcd")
    assert number == "CR33000020250101000000ABCDT"
    with pytest.raises(InvalidComponent):
        report_no.generate("190000", datetime.date(2025, 1, 1), "000000ABCD")
    with pytest.raises(InvalidLength):
        report_no.generate("330000", datetime.date(2025, 1, 1), "ABC")
    with pytest.raises(InvalidFormat) as info:
        report_no.generate("330000", datetime.date(2025, 1, 1), "000000AB_D")
    assert info.value.position == 25


def test_wrong_check() -> None:
    with pytest.raises(InvalidChecksum) as info:
        validate_report_no("CR1100002025030100000000A1C")
    exc = info.value
    assert (exc.reason, exc.position, exc.expected) == ("INVALID_REPORT_NO", 27, "9")


@pytest.mark.parametrize(
    ("number", "error", "position"),
    [
        ("XR1100002025030100000000A19", InvalidFormat, 1),
        ("CX1100002025030100000000A19", InvalidFormat, 2),
        ("CR11000A2025030100000000A19", InvalidFormat, 8),
        ("CR1100002025030100000000_19", InvalidFormat, 25),
        ("CR19000020250101000000ABCDD", InvalidComponent, 3),  # check correct, no province 19
        ("CR11000020250230000000ABCDV", InvalidComponent, 9),  # 30 February, check correct
        ("CR1100002025030100000000A1", InvalidLength, None),
    ],
)
def test_invalid(number: str, error: type[InvalidIdentifier], position: int | None) -> None:
    """CXP-ID-007: a bad check character, region prefix or date is rejected."""
    with pytest.raises(error) as info:
        validate_report_no(number)
    assert (info.value.reason, info.value.position) == ("INVALID_REPORT_NO", position)


@st.composite
def valid_numbers(draw: st.DrawFn) -> str:
    body = (
        "CR"
        + draw(st.sampled_from(["100000", "110000", "330106", "440304", "820000"]))
        + draw(st.dates(datetime.date(2000, 1, 1), datetime.date(2099, 12, 31))).strftime("%Y%m%d")
        + draw(st.text(ALPHABET, min_size=10, max_size=10))
    )
    return body + ref_check(body)


@settings(max_examples=50)
@given(valid_numbers())
def test_every_single_substitution_is_detected(number: str) -> None:
    # Hybrid MOD 37,36: a substitution changes the running state, and a different state stays
    # different through every later step, so the final check never matches.
    assert validate_report_no(number) == number
    for index in range(27):
        for ch in ALPHABET:
            if ch == number[index]:
                continue
            mutated = number[:index] + ch + number[index + 1 :]
            assert not is_valid_report_no(mutated)


def _outcome(number: str) -> object:
    try:
        return report_no.validate(number)
    except InvalidIdentifier as exc:
        return (type(exc), exc.position)


@settings(max_examples=600)
@given(
    st.one_of(
        st.text(alphabet=ALPHABET + "cr -", min_size=26, max_size=28),
        st.builds(lambda s: "CR" + s, st.text(alphabet="0123456789", min_size=25, max_size=25)),
        st.builds(
            lambda n, i, ch: n[:i] + ch + n[i + 1 :],
            st.sampled_from(VALID),
            st.integers(0, 26),
            st.sampled_from(ALPHABET),
        ),
    )
)
def test_the_fast_path_answers_as_the_step_by_step_checks(number: str) -> None:
    """A compact, valid number is accepted by the fast path; with surrounding spaces it takes
    the step-by-step path: same answer, always."""
    assert _outcome(number) == _outcome(f" {number} ")


@settings(max_examples=300)
@given(st.text(alphabet=ALPHABET, min_size=0, max_size=40))
def test_the_check_character_table_follows_the_recursion(text: str) -> None:
    """The looked-up running states give the standard's check character for any text."""
    assert report_no.calc_check_digit(text) == ref_check(text)
