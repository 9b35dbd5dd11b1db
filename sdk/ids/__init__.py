"""Identifiers used by CXP: validation, normalization and display.

One module per identifier, in the manner of python-stdnum; each has ``compact`` (normalize
only), ``validate`` (return the compact form or raise an :class:`InvalidIdentifier`
subclass), ``is_valid`` (a boolean that never raises) and ``format`` (the display form):

- :mod:`~creditlink.sdk.ids.uscc`: Unified Social Credit Code (GB 32100-2015)
- :mod:`~creditlink.sdk.ids.org_code`: organization code (GB 11714-1997)
- :mod:`~creditlink.sdk.ids.region`: administrative division code (GB/T 2260)
- :mod:`~creditlink.sdk.ids.resident_id`: resident identity number (GB 11643-1999)
- :mod:`~creditlink.sdk.ids.node_id`: CXP node id
- :mod:`~creditlink.sdk.ids.report_no`: CXP credit report number

The flat names (``validate_uscc``, ``is_valid_uscc``, …) are the ones the specification
(``docs/spec/cxp-v1.md`` §3) and the issues use. A code that fails is never corrected: it is
rejected, or quarantined with the exception's ``reason``.

>>> validate_uscc('91110000600037341L')
'91110000600037341L'
>>> is_valid_uscc('91110000600037341N')
False
>>> try:
...     validate_uscc('91110000600037341N')
... except InvalidIdentifier as exc:
...     print(exc.reason, exc.position, exc.expected)
INVALID_USCC 18 L
>>> sorted(module.__name__.rsplit('.', 1)[1] for module in identifier_modules())
['node_id', 'org_code', 'region', 'report_no', 'resident_id', 'uscc']
"""

from __future__ import annotations

from typing import Protocol

from creditlink.sdk.ids import node_id, org_code, region, report_no, resident_id, uscc
from creditlink.sdk.ids.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidIdentifier,
    InvalidLength,
)

__all__ = [
    "IdentifierModule",
    "InvalidChecksum",
    "InvalidComponent",
    "InvalidFormat",
    "InvalidIdentifier",
    "InvalidLength",
    "identifier_modules",
    "is_valid_node_id",
    "is_valid_org_code",
    "is_valid_region_code",
    "is_valid_report_no",
    "is_valid_resident_id",
    "is_valid_uscc",
    "node_id",
    "org_code",
    "region",
    "report_no",
    "resident_id",
    "uscc",
    "validate_node_id",
    "validate_org_code",
    "validate_region_code",
    "validate_report_no",
    "validate_resident_id",
    "validate_uscc",
]


class IdentifierModule(Protocol):
    """The interface every identifier module provides (modules satisfy it structurally)."""

    __name__: str

    def compact(self, number: str) -> str:
        """Return the normalized form: separators removed, letters upper-cased if the
        identifier is case-insensitive; never change a check character."""
        ...

    def validate(self, number: str) -> str:
        """Return the compact form, or raise an :class:`InvalidIdentifier` subclass (also
        for a value that is not a ``str``)."""
        ...

    def is_valid(self, number: object) -> bool:
        """Return whether ``number`` validates; never raises, whatever its type."""
        ...

    def format(self, number: str) -> str:
        """Return the display form."""
        ...


validate_uscc = uscc.validate
is_valid_uscc = uscc.is_valid
validate_org_code = org_code.validate
is_valid_org_code = org_code.is_valid
validate_region_code = region.validate
is_valid_region_code = region.is_valid
validate_resident_id = resident_id.validate
is_valid_resident_id = resident_id.is_valid
validate_node_id = node_id.validate
is_valid_node_id = node_id.is_valid
validate_report_no = report_no.validate
is_valid_report_no = report_no.is_valid


def identifier_modules() -> list[IdentifierModule]:
    """Return every identifier module, so that one test can run over all of them.

    The list is written out (rather than discovered with :mod:`pkgutil`) so that the type
    checker verifies each module against :class:`IdentifierModule`; a test checks that no
    public module of the package is missing from it.
    """
    return [uscc, org_code, region, resident_id, node_id, report_no]
