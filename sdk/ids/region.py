"""Administrative division code (行政区划代码, GB/T 2260).

A 6-digit code: positions 1–2 the province-level division, 3–4 the prefecture level and 5–6
the county level, ``00`` marking "the whole level above" (``330000`` is Zhejiang province,
``330100`` Hangzhou, ``330106`` a district of Hangzhou). ``100000`` is not in GB/T 2260 itself:
GB 32100 (the USCC) uses it for registration at national level, and CXP accepts it as the
national node's region.

What is checked, and what is not:

- :func:`validate` rejects anything that is not 6 ASCII digits, and any code whose first two
  digits are not one of the 34 province-level divisions (``11`` … ``82``); ``100000`` is the
  only code allowed with prefix ``10``.
- Prefecture and county parts are **not** looked up: the list of counties changes every year
  (mergers, renamings, new districts) and an offline table would both reject codes that are
  still in use in old records and accept codes that no longer exist. A code that no longer
  exists is a warning for the data, not a reason to reject it (credit-domain facts §2).
- :func:`check` validates like :func:`validate` and then returns human-readable warnings for
  structures GB/T 2260's coding rules do not produce: a county part under prefecture ``00``,
  a prefecture part outside the assigned ranges (01–70 and 90), and subdivisions of Taiwan,
  Hong Kong and Macao, for which GB/T 2260 lists only ``710000``, ``810000`` and ``820000``.
  These structural rules are as widely described; treat them as advice, not as a standard.

References:

- GB/T 2260-2007 《中华人民共和国行政区划代码》 (Codes for the administrative divisions of the
  People's Republic of China), with the yearly code lists of the Ministry of Civil Affairs
- CXP v1 specification (``docs/spec/cxp-v1.md``), CXP-ID-004
- GB 32100-2015, positions 3–8 of the Unified Social Credit Code

>>> validate('330106')
'330106'
>>> validate('100000')
'100000'
>>> name('330106')
'浙江省'
>>> check('110101')
[]
>>> check('110001')
["county part '01' under prefecture part '00'"]
>>> validate('190000')  # doctest: +NORMALIZE_WHITESPACE
Traceback (most recent call last):
    ...
creditlink.sdk.ids.exceptions.InvalidComponent: province part '19' at positions 1-2 is not a
province-level division of GB/T 2260 [INVALID_REGION_CODE]
>>> is_valid('33010')
False
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from creditlink.sdk.ids import _util
from creditlink.sdk.ids.exceptions import (
    InvalidComponent,
    InvalidFormat,
    InvalidIdentifier,
    InvalidLength,
)

__all__ = ["NATIONAL", "PROVINCES", "check", "compact", "format", "is_valid", "name", "validate"]

REASON = "INVALID_REGION_CODE"
_KIND = "region code"

#: The national-level code used by GB 32100 and by CXP's national node.
NATIONAL = "100000"

#: The 34 province-level divisions of GB/T 2260, by their two-digit prefix.
PROVINCES: Mapping[str, str] = MappingProxyType(
    {
        "11": "北京市",
        "12": "天津市",
        "13": "河北省",
        "14": "山西省",
        "15": "内蒙古自治区",
        "21": "辽宁省",
        "22": "吉林省",
        "23": "黑龙江省",
        "31": "上海市",
        "32": "江苏省",
        "33": "浙江省",
        "34": "安徽省",
        "35": "福建省",
        "36": "江西省",
        "37": "山东省",
        "41": "河南省",
        "42": "湖北省",
        "43": "湖南省",
        "44": "广东省",
        "45": "广西壮族自治区",
        "46": "海南省",
        "50": "重庆市",
        "51": "四川省",
        "52": "贵州省",
        "53": "云南省",
        "54": "西藏自治区",
        "61": "陕西省",
        "62": "甘肃省",
        "63": "青海省",
        "64": "宁夏回族自治区",
        "65": "新疆维吾尔自治区",
        "71": "台湾省",
        "81": "香港特别行政区",
        "82": "澳门特别行政区",
    }
)

_NATIONAL_NAME = "国家级"

# GB/T 2260 lists these divisions without any subdivision.
_UNDIVIDED = frozenset({"71", "81", "82"})


def compact(number: str) -> str:
    """Return ``number`` with surrounding whitespace, spaces and hyphens removed."""
    return _util.clean(number, kind=_KIND, reason=REASON)


def validate(number: str) -> str:
    """Check the format and the province-level part of a region code; return the code.

    Prefecture and county parts are not looked up (see the module docstring); use
    :func:`check` for structural warnings. Raises a subclass of
    :class:`~creditlink.sdk.ids.exceptions.InvalidIdentifier` with reason
    ``INVALID_REGION_CODE``.
    """
    code = compact(number)
    if len(code) != 6:
        raise InvalidLength(f"region code must have 6 digits, found {len(code)}", reason=REASON)
    bad = _util.first_outside(code, _util.DIGITS)
    if bad is not None:
        raise InvalidFormat(
            f"character at position {bad + 1} is {code[bad]!r}, expected a digit",
            reason=REASON,
            position=bad + 1,
        )
    if code == NATIONAL:
        return code
    province = code[:2]
    if province == NATIONAL[:2]:
        raise InvalidComponent(
            f"province part '10' at positions 1-2 is used only by the national-level code "
            f"{NATIONAL}",
            reason=REASON,
            position=1,
        )
    if province not in PROVINCES:
        raise InvalidComponent(
            f"province part {province!r} at positions 1-2 is not a province-level division "
            "of GB/T 2260",
            reason=REASON,
            position=1,
        )
    return code


def is_valid(number: object) -> bool:
    """Return whether ``number`` passes :func:`validate`; never raises."""
    if not isinstance(number, str):
        return False
    if len(number) == 6 and number.isascii() and number.isdigit():
        # Already compact: the province check of validate() alone, without its clean-up (report
        # numbers check their region digits this way on every verification).
        return number == NATIONAL or (number[:2] != NATIONAL[:2] and number[:2] in PROVINCES)
    try:
        validate(number)
    except InvalidIdentifier:
        return False
    return True


def format(number: str) -> str:
    """Return the display form, which is the compact form."""
    return compact(number)


def check(number: str) -> list[str]:
    """Validate ``number`` and return warnings about its structure (empty if none).

    Raises like :func:`validate` when the code is invalid. A warning never means the code is
    wrong for certain: it means the code is not one GB/T 2260's coding rules would produce, so
    the record deserves a look.

    >>> check('117501')
    ["prefecture part '75' is outside the ranges GB/T 2260 assigns (01-70, 90)"]
    >>> check('810100')
    ['GB/T 2260 lists 香港特别行政区 only as 810000, without subdivisions']
    """
    code = validate(number)
    if code == NATIONAL:
        return []
    province, prefecture, county = code[:2], code[2:4], code[4:]
    if province in _UNDIVIDED:
        if prefecture != "00" or county != "00":
            return [
                f"GB/T 2260 lists {PROVINCES[province]} only as {province}0000, without "
                "subdivisions"
            ]
        return []
    warnings: list[str] = []
    if prefecture == "00" and county != "00":
        warnings.append(f"county part {county!r} under prefecture part '00'")
    # 01-20 and 51-70: cities; 21-50: prefectures, autonomous prefectures, leagues;
    # 90: county-level divisions directly under the province.
    if prefecture != "00" and not (1 <= int(prefecture) <= 70 or prefecture == "90"):
        warnings.append(
            f"prefecture part {prefecture!r} is outside the ranges GB/T 2260 assigns (01-70, 90)"
        )
    return warnings


def name(number: str) -> str:
    """Return the name of the province-level division that contains ``number``.

    Only province-level names are built in (see the module docstring); ``100000`` is named
    ``国家级`` (national level). Raises like :func:`validate` when the code is invalid.
    """
    code = validate(number)
    if code == NATIONAL:
        return _NATIONAL_NAME
    return PROVINCES[code[:2]]
