"""Unified Social Credit Code (统一社会信用代码, USCC, GB 32100-2015).

The 18-character identifier of every legal person and other organization in China, and the
key of CXP credit records. Characters come from a 31-character alphabet, each worth its index:
``0123456789ABCDEFGHJKLMNPQRTUWXY`` (no ``I``, ``O``, ``S``, ``V`` or ``Z``).

====  =====================================================================================
pos   meaning
====  =====================================================================================
1     registration authority: ``1``–``9``, ``A``, ``N`` or ``Y`` (:data:`AUTHORITIES`)
2     organization category within the authority (:data:`CATEGORIES`, information only)
3–8   administrative division code of the registering authority (GB/T 2260, digits)
9–17  organization code (GB 11714): 8 characters and its own check character (``0``–``9``,
      ``X``), see :mod:`creditlink.sdk.ids.org_code`
18    check character over positions 1–17
====  =====================================================================================

Position 18: with weights ``3^(i-1) mod 31`` for positions ``i`` = 1…17 (1, 3, 9, 27, 19,
26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28) the check is
``ALPHABET[(31 - sum % 31) % 31]``. Because 31 is prime and no weight is 0 modulo 31, any
single substituted character changes the sum modulo 31 and is detected; because the 17
weights are distinct, so is any exchange of two different characters among positions 1–17.

What :func:`validate` checks, in this order: the length; that every character is in the
alphabet; the registration authority; that positions 3–8 are digits; the check character at
position 18; the organization code's check character at position 17. It does **not** reject
an organization category it does not know (the list is information, and registration
authorities add categories) nor a region code it cannot place, not even one with an unknown
province prefix (old records keep codes that GB/T 2260 no longer lists): :func:`check` reports
both as warnings.

Unlike python-stdnum's ``stdnum.cn.uscc``, authorities ``A``, ``N`` and ``Y`` are accepted and
the inner organization code check is enforced. :func:`compact` only removes separators and
upper-cases: a code that fails is never "repaired" (no ``O`` → ``0``) but quarantined with
reason ``INVALID_USCC``.

References:

- GB 32100-2015 《法人和其他组织统一社会信用代码编码规则》 (Coding rule of the unified social
  credit identifier for legal entities and other organizations)
- GB 11714-1997 《全国组织机构代码编制规则》, GB/T 2260 《中华人民共和国行政区划代码》
- CXP v1 specification (``docs/spec/cxp-v1.md``), CXP-ID-001 to CXP-ID-003
- CXP credit-domain facts, §2 (``shared/domain/credit-domain.md``): the worked example and
  the test codes used below

>>> validate('91110000600037341L')
'91110000600037341L'
>>> validate('9111 0000 6000 3734 1l')
'91110000600037341L'
>>> validate('Y1110000600037341Y')
'Y1110000600037341Y'
>>> calc_check_digit('91110000600037341')
'L'
>>> calc_org_check_digit('60003734')
'1'
>>> validate('91110000600037341N')  # doctest: +NORMALIZE_WHITESPACE
Traceback (most recent call last):
    ...
creditlink.sdk.ids.exceptions.InvalidChecksum: check character at position 18 is 'N',
expected 'L' [INVALID_USCC]
>>> validate('9111000O600037341L')  # doctest: +NORMALIZE_WHITESPACE
Traceback (most recent call last):
    ...
creditlink.sdk.ids.exceptions.InvalidFormat: character at position 8 is 'O', which is not in
the USCC alphabet (I, O, S, V and Z are never used) [INVALID_USCC]
>>> validate('91110000600037341')  # doctest: +NORMALIZE_WHITESPACE
Traceback (most recent call last):
    ...
creditlink.sdk.ids.exceptions.InvalidLength: USCC must have 18 characters, found 17
[INVALID_USCC]
>>> is_valid('911100006000373410')
False
>>> is_valid(None)
False
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from creditlink.sdk.ids import _util, org_code, region
from creditlink.sdk.ids.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidIdentifier,
    InvalidLength,
)

__all__ = [
    "ALPHABET",
    "AUTHORITIES",
    "CATEGORIES",
    "calc_check_digit",
    "calc_org_check_digit",
    "check",
    "compact",
    "format",
    "is_valid",
    "validate",
]

REASON = "INVALID_USCC"
_KIND = "USCC"

#: The USCC alphabet; a character's value is its index.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUES = {ch: value for value, ch in enumerate(ALPHABET)}
_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))

#: Registration authorities (position 1), GB 32100-2015 and later additions.
AUTHORITIES: Mapping[str, str] = MappingProxyType(
    {
        "1": "机构编制 (institutional establishment)",
        "2": "外交 (foreign affairs)",
        "3": "司法行政 (justice administration)",
        "4": "文化 (culture)",
        "5": "民政 (civil affairs)",
        "6": "旅游 (tourism)",
        "7": "宗教 (religious affairs)",
        "8": "工会 (trade unions)",
        "9": "工商 (market regulation, formerly industry and commerce)",
        "A": "中央军委改革和编制办公室 (Central Military Commission reform and establishment)",
        "N": "农业 (agriculture and rural affairs)",
        "Y": "其他 (other)",
    }
)

#: Organization categories (position 2) per authority, as published with the coding rule.
#: Information only: :func:`validate` accepts any alphabet character here and :func:`check`
#: warns about a category not listed.
CATEGORIES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "1": {
            "1": "机关 (government organ)",
            "2": "事业单位 (public institution)",
            "3": "中央编办直接管理机构编制的群众团体 (mass organization)",
            "9": "其他 (other)",
        },
        "2": {"1": "外国常住新闻机构 (resident foreign news agency)", "9": "其他 (other)"},
        "3": {
            "1": "律师执业机构 (law firm)",
            "2": "公证处 (notary office)",
            "3": "基层法律服务所 (grassroots legal service office)",
            "4": "司法鉴定机构 (forensic expertise institution)",
            "5": "仲裁委员会 (arbitration commission)",
            "9": "其他 (other)",
        },
        "4": {"1": "外国在华文化中心 (foreign cultural centre)", "9": "其他 (other)"},
        "5": {
            "1": "社会团体 (social organization)",
            "2": "民办非企业单位 (private non-enterprise unit)",
            "3": "基金会 (foundation)",
            "9": "其他 (other)",
        },
        "6": {
            "1": "外国旅游部门常驻代表机构 (foreign tourism office)",
            "2": "港澳台地区旅游部门常驻内地(大陆)代表机构 (HK/Macao/Taiwan tourism office)",
            "9": "其他 (other)",
        },
        "7": {
            "1": "宗教活动场所 (place of religious activity)",
            "2": "宗教院校 (religious school)",
            "9": "其他 (other)",
        },
        "8": {"1": "基层工会 (grassroots trade union)", "9": "其他 (other)"},
        "9": {
            "1": "企业 (enterprise)",
            "2": "个体工商户 (individual business)",
            "3": "农民专业合作社 (farmers' cooperative)",
        },
        "A": {"1": "军队事业单位 (military public institution)", "9": "其他 (other)"},
        "N": {
            "1": "组级集体经济组织 (group-level collective economic organization)",
            "2": "村级集体经济组织 (village-level collective economic organization)",
            "3": "乡镇级集体经济组织 (township-level collective economic organization)",
            "9": "其他 (other)",
        },
        "Y": {"1": "不再具体划分 (not subdivided)"},
    }
)


def compact(number: str) -> str:
    """Return ``number`` without spaces or hyphens, with ASCII letters upper-cased.

    Nothing else changes: look-alike characters are not substituted and the check characters
    are left as they are.
    """
    return _util.clean(number, kind=_KIND, reason=REASON)


def calc_check_digit(number: str) -> str:
    """Return the check character (position 18) for the first 17 characters of a USCC.

    Raises :class:`~creditlink.sdk.ids.exceptions.InvalidLength` or
    :class:`~creditlink.sdk.ids.exceptions.InvalidFormat` (reason ``INVALID_USCC``) unless
    ``number`` is exactly 17 characters of the USCC alphabet.

    >>> calc_check_digit('91310115MA1K3BTP2')
    'B'
    """
    head = _util.require_str(number, kind=_KIND, reason=REASON)
    if len(head) != 17:
        raise InvalidLength(
            f"USCC without its check character must have 17 characters, found {len(head)}",
            reason=REASON,
        )
    _check_alphabet(head)
    total = sum(_VALUES[ch] * w for ch, w in zip(head, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def calc_org_check_digit(number: str) -> str:
    """Return the organization code check character (position 17) for positions 9–16.

    The one implementation is :func:`creditlink.sdk.ids.org_code.calc_check_digit`; errors
    carry its reason, ``INVALID_ORG_CODE``.

    >>> calc_org_check_digit('MA1K3BTP')
    '2'
    """
    return org_code.calc_check_digit(number)


def validate(number: str) -> str:
    """Check a USCC and return its compact form.

    Raises a subclass of :class:`~creditlink.sdk.ids.exceptions.InvalidIdentifier` with reason
    ``INVALID_USCC``; the checks and their order are in the module docstring.
    """
    if isinstance(number, str) and _SHAPE.fullmatch(number) and _checks_hold(number):
        return number  # already compact and valid: the common case, in C-level passes
    # Step by step, to name the first problem (or to compact the input first).
    code = compact(number)
    if len(code) != 18:
        raise InvalidLength(f"USCC must have 18 characters, found {len(code)}", reason=REASON)
    _check_alphabet(code)
    if code[0] not in AUTHORITIES:
        raise InvalidComponent(
            f"registration authority at position 1 is {code[0]!r}, expected one of 1-9, A, N, Y",
            reason=REASON,
            position=1,
        )
    bad = _util.first_outside(code, _util.DIGITS, 2, 8)
    if bad is not None:
        raise InvalidFormat(
            f"character at position {bad + 1} is {code[bad]!r}, expected a digit "
            "(positions 3-8 are the region code)",
            reason=REASON,
            position=bad + 1,
        )
    # The outer check covers all 17 characters, so it goes first: when both checks fail, the
    # mistake is as likely outside the organization code as inside it.
    expected = calc_check_digit(code[:17])
    if code[17] != expected:
        raise InvalidChecksum(
            f"check character at position 18 is {code[17]!r}, expected {expected!r}",
            reason=REASON,
            position=18,
            expected=expected,
        )
    expected = org_code.calc_check_digit(code[8:16])
    if code[16] != expected:
        raise InvalidChecksum(
            f"organization code check character at position 17 is {code[16]!r}, "
            f"expected {expected!r}",
            reason=REASON,
            position=17,
            expected=expected,
        )
    return code


def is_valid(number: object) -> bool:
    """Return whether ``number`` is a valid USCC; never raises."""
    if not isinstance(number, str):
        return False
    try:
        validate(number)
    except InvalidIdentifier:
        return False
    return True


def format(number: str) -> str:
    """Return the display form, which is the compact form (USCCs are printed unseparated)."""
    return compact(number)


def check(number: str) -> list[str]:
    """Validate ``number`` and return warnings about it (empty if none).

    Warnings cover what :func:`validate` deliberately accepts: an organization category not
    listed for the authority, and a region code (positions 3–8) that is not a GB/T 2260
    province-level prefix or that :func:`creditlink.sdk.ids.region.check` finds odd. Raises
    like :func:`validate` when the code is invalid.

    >>> check('91110000600037341L')
    []
    >>> check('971100006000373412')
    ["organization category '7' is not listed for registration authority '9'"]
    """
    code = validate(number)
    warnings: list[str] = []
    if code[1] not in CATEGORIES[code[0]]:
        warnings.append(
            f"organization category {code[1]!r} is not listed for registration authority "
            f"{code[0]!r}"
        )
    region_code = code[2:8]
    if region.is_valid(region_code):
        warnings.extend(
            f"region code {region_code!r} at positions 3-8: {w}" for w in region.check(region_code)
        )
    else:
        warnings.append(
            f"region code {region_code!r} at positions 3-8 does not start with a province-level "
            f"division of GB/T 2260 and is not {region.NATIONAL}"
        )
    return warnings


#: A compact USCC's shape: authority, then the alphabet with digits at positions 3-8.
_SHAPE: Final = re.compile(r"[1-9ANY][0-9A-HJ-NP-RTUW-Y][0-9]{6}[0-9A-HJ-NP-RTUW-Y]{10}")


def _checks_hold(code: str) -> bool:
    """Both check characters of a code of the right shape (:data:`_SHAPE`)."""
    total = sum(map(operator.mul, map(_VALUES.__getitem__, code[:17]), _WEIGHTS))
    return (
        ALPHABET[(31 - total % 31) % 31] == code[17]
        and org_code._check_char(code[8:16]) == code[16]
    )


def _check_alphabet(text: str) -> None:
    bad = _util.first_outside(text, _VALUES.keys())
    if bad is not None:
        raise InvalidFormat(
            f"character at position {bad + 1} is {text[bad]!r}, which is not in the USCC "
            "alphabet (I, O, S, V and Z are never used)",
            reason=REASON,
            position=bad + 1,
        )
