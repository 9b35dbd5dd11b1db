"""The CXP conformance suite: requirement registry, test vectors, live profiles, reports.

The Wycheproof-style vector files ship as package data in ``creditlink/conformance/vectors/``.
"""

__all__: list[str] = []
