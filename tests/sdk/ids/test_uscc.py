"""Unified Social Credit Code: the codes of credit-domain facts §2, and generated codes."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditlink.sdk.errors import CreditlinkError
from creditlink.sdk.ids import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidIdentifier,
    InvalidLength,
    is_valid_uscc,
    uscc,
    validate_uscc,
)

# Independent of the module under test: straight from the formulas in GB 32100 / GB 11714.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
LATIN = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def ref_check(first17: str) -> str:
    total = sum(ALPHABET.index(ch) * pow(3, i, 31) for i, ch in enumerate(first17))
    return ALPHABET[(31 - total % 31) % 31]


def ref_org_check(body: str) -> str:
    total = sum(LATIN.index(ch) * w for ch, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    r = 11 - total % 11
    return {10: "X", 11: "0"}.get(r, str(r))


VALID = [
    "91110000600037341L",
    "121200004013590816",
    "91310115MA1K3BTP2B",
    "9144030071526726XG",
    "91620105L015101280",
    "92340602MA2PBMEM24",
    "91110108551385082Q",
    "91110000101623741K",
    "911101066976941872",
    "91350100M000100Y43",
    "91320105780688132K",
    "91230500MA1B3N1N2M",
    "53100000500019795A",
    "Y1110000600037341Y",  # synthetic: authority Y
]


@pytest.mark.parametrize("code", VALID)
def test_valid_codes_from_domain_facts(code: str) -> None:
    """CXP-ID-001: every valid code of the domain facts validates."""
    assert validate_uscc(code) == code
    assert is_valid_uscc(code)
    assert uscc.calc_check_digit(code[:17]) == code[17] == ref_check(code[:17])
    assert uscc.calc_org_check_digit(code[8:16]) == code[16] == ref_org_check(code[8:16])


def test_worked_example_sums() -> None:
    # credit-domain facts §2: outer sum 538 -> 'L', inner body sum 109 -> '1'.
    code = "91110000600037341L"
    outer = sum(ALPHABET.index(ch) * pow(3, i, 31) for i, ch in enumerate(code[:17]))
    inner = sum(
        LATIN.index(ch) * w for ch, w in zip(code[8:16], (3, 7, 9, 10, 5, 8, 4, 2), strict=True)
    )
    assert (outer, inner) == (538, 109)
    assert uscc.calc_check_digit(code[:17]) == "L"
    assert uscc.calc_org_check_digit(code[8:16]) == "1"


@pytest.mark.parametrize(
    ("code", "expected_check"),
    [
        ("91110000600037341N", "L"),
        ("91110108551385082R", "Q"),
        ("911100006000373410", "L"),
    ],
)
def test_wrong_check_character(code: str, expected_check: str) -> None:
    """CXP-ID-001, CXP-ID-003: a wrong check character is rejected, naming the expected one."""
    with pytest.raises(InvalidChecksum) as info:
        validate_uscc(code)
    exc = info.value
    assert exc.reason == "INVALID_USCC"
    assert exc.position == 18
    assert exc.expected == expected_check
    assert exc.args[0] == (
        f"check character at position 18 is {code[17]!r}, expected {expected_check!r}"
    )
    assert not is_valid_uscc(code)


def test_letter_o_is_not_in_the_alphabet() -> None:
    with pytest.raises(InvalidFormat) as info:
        validate_uscc("9111000O600037341L")
    exc = info.value
    assert (exc.reason, exc.position, exc.expected) == ("INVALID_USCC", 8, None)
    assert "position 8 is 'O'" in exc.args[0]


@pytest.mark.parametrize(
    ("code", "length"), [("91110000600037341", 17), ("91110000600037341LL", 19)]
)
def test_wrong_length(code: str, length: int) -> None:
    with pytest.raises(InvalidLength) as info:
        validate_uscc(code)
    assert info.value.reason == "INVALID_USCC"
    assert info.value.position is None
    assert info.value.args[0] == f"USCC must have 18 characters, found {length}"


def test_inner_organization_code_check_is_enforced() -> None:
    """CXP-ID-001: the inner GB 11714 check is verified too."""
    # Position 17 changed from '1' to '2' and position 18 recomputed: python-stdnum accepts it.
    code = "91110000600037342P"
    assert ref_check(code[:17]) == "P"
    with pytest.raises(InvalidChecksum) as info:
        validate_uscc(code)
    exc = info.value
    assert (exc.position, exc.expected) == (17, "1")
    assert exc.args[0] == "organization code check character at position 17 is '2', expected '1'"


@pytest.mark.parametrize("code", ["A1110000600037341K", "N21100006000373414", "Y1110000600037341Y"])
def test_authorities_a_n_y_are_accepted(code: str) -> None:
    """CXP-ID-002: registration authorities A, N and Y are accepted."""
    assert validate_uscc(code) == code


@pytest.mark.parametrize("code", ["01110000600037341X", "B1110000600037341J"])
def test_unknown_registration_authority(code: str) -> None:
    with pytest.raises(InvalidComponent) as info:
        validate_uscc(code)
    assert (info.value.reason, info.value.position) == ("INVALID_USCC", 1)
    assert f"position 1 is {code[0]!r}" in info.value.args[0]


def test_region_must_be_digits() -> None:
    with pytest.raises(InvalidFormat) as info:
        validate_uscc("91A100006000373411")
    assert info.value.position == 3


def test_unknown_region_and_category_are_warnings_not_errors() -> None:
    unknown_region = "91990000600037341B"  # no province 99
    assert validate_uscc(unknown_region) == unknown_region
    assert uscc.check(unknown_region) == [
        "region code '990000' at positions 3-8 does not start with a province-level division "
        "of GB/T 2260 and is not 100000"
    ]
    odd_region = "91110001600037341" + ref_check("91110001600037341")
    assert uscc.check(odd_region) == [
        "region code '110001' at positions 3-8: county part '01' under prefecture part '00'"
    ]
    unknown_category = "971100006000373412"  # authority 9 lists categories 1-3 only
    assert validate_uscc(unknown_category) == unknown_category
    assert uscc.check(unknown_category) == [
        "organization category '7' is not listed for registration authority '9'"
    ]
    assert uscc.check("91110000600037341L") == []


def test_compact_normalises_but_never_fixes() -> None:
    """CXP-ID-003: normalization removes spaces/hyphens and upper-cases; nothing is corrected."""
    assert uscc.compact(" 9111-0000 6000 3734 1l ") == "91110000600037341L"
    # 'O' is not turned into '0', nor a wrong check character into the right one.
    assert uscc.compact("9111000O600037341L") == "9111000O600037341L"
    assert uscc.compact("91110000600037341N") == "91110000600037341N"
    assert uscc.format("9111 0000 6000 3734 1L") == "91110000600037341L"


def test_full_width_characters_are_rejected_not_normalised() -> None:
    full_width = "９１１１００００６０００３７３４１Ｌ"
    with pytest.raises(InvalidFormat) as info:
        validate_uscc(full_width)
    assert info.value.position == 1


def test_calc_functions_reject_bad_input() -> None:
    with pytest.raises(InvalidLength):
        uscc.calc_check_digit("9111000060003734")
    with pytest.raises(InvalidFormat) as info:
        uscc.calc_check_digit("9111000O600037341")
    assert info.value.position == 8
    with pytest.raises(InvalidLength) as length:
        uscc.calc_org_check_digit("6000373")
    assert length.value.reason == "INVALID_ORG_CODE"


def test_exception_hierarchy_and_pickling() -> None:
    with pytest.raises(InvalidChecksum) as info:
        validate_uscc("91110000600037341N")
    exc = info.value
    assert isinstance(exc, InvalidIdentifier)
    assert isinstance(exc, ValueError)
    assert isinstance(exc, CreditlinkError)
    assert str(exc) == "check character at position 18 is 'N', expected 'L' [INVALID_USCC]"
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is InvalidChecksum
    assert (copy.args, copy.reason, copy.position, copy.expected) == (
        exc.args,
        "INVALID_USCC",
        18,
        "L",
    )


# ---- generated codes -------------------------------------------------------------------------

_alphabet_char = st.sampled_from(ALPHABET)


@st.composite
def valid_codes(draw: st.DrawFn) -> str:
    authority = draw(st.sampled_from("123456789ANY"))
    category = draw(_alphabet_char)
    region = draw(st.text("0123456789", min_size=6, max_size=6))
    body = draw(st.text(ALPHABET, min_size=8, max_size=8))
    first17 = authority + category + region + body + ref_org_check(body)
    return first17 + ref_check(first17)


@given(valid_codes())
def test_generated_codes_validate(code: str) -> None:
    assert validate_uscc(code) == code
    assert validate_uscc(code.lower()) == code


@settings(max_examples=50)
@given(valid_codes())
def test_every_single_substitution_is_detected(code: str) -> None:
    # The outer check alone catches every substitution: 31 is prime, no weight is 0 mod 31 and
    # two characters differ by less than 31, so the weighted sum changes modulo 31. That holds
    # for every position, so no position needs an exception here.
    for index in range(18):
        for ch in ALPHABET:
            if ch == code[index]:
                continue
            mutated = code[:index] + ch + code[index + 1 :]
            assert uscc.calc_check_digit(mutated[:17]) != mutated[17]
            assert not is_valid_uscc(mutated)


@settings(max_examples=50)
@given(valid_codes())
def test_every_transposition_within_positions_1_to_17_is_detected(code: str) -> None:
    # The 17 weights 3^(i-1) mod 31 are distinct (3 has order 30 modulo 31), so exchanging two
    # different characters changes the sum by (w_i - w_j)(a - b), never 0 mod 31. Exchanges
    # with the check character itself are not covered by this argument and not asserted.
    for i in range(17):
        for j in range(i + 1, 17):
            if code[i] == code[j]:
                continue
            chars = list(code)
            chars[i], chars[j] = chars[j], chars[i]
            mutated = "".join(chars)
            assert uscc.calc_check_digit(mutated[:17]) != mutated[17]
            assert not is_valid_uscc(mutated)


def _outcome(code: str) -> object:
    try:
        return validate_uscc(code)
    except InvalidIdentifier as exc:
        return (type(exc), exc.position)


@settings(max_examples=600)
@given(
    st.one_of(
        st.text(alphabet=ALPHABET + "IOSVZ ab-", min_size=16, max_size=19),
        st.builds(
            lambda head, tail: head + tail,
            st.sampled_from(VALID),
            st.text(alphabet=ALPHABET, max_size=1),
        ),
        st.builds(
            lambda code, i, ch: code[:i] + ch + code[i + 1 :],
            st.sampled_from(VALID),
            st.integers(0, 17),
            st.sampled_from(ALPHABET),
        ),
    )
)
def test_the_fast_path_answers_as_the_step_by_step_checks(code: str) -> None:
    """A compact, valid code is accepted in one regular-expression match and two sums; the
    same code with surrounding spaces takes the step-by-step path: same answer, always."""
    assert _outcome(code) == _outcome(f" {code} ")
    assert (_outcome(code) == code) == (
        len(code) == 18
        and all(ch in ALPHABET for ch in code)
        and code[0] in "123456789ANY"
        and code[2:8].isdigit()
        and ref_check(code[:17]) == code[17]
        and ref_org_check(code[8:16]) == code[16]
    )
