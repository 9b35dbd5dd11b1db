"""Load the Wycheproof-style test vector files shipped in ``creditlink/conformance/vectors``.

The format is specified in docs/spec/vectors.md: a file header ``{algorithm, schema,
numberOfTests, notes, testGroups}``, groups carrying shared inputs and the requirement ids they
cover, and tests ``{tcId, comment, flags, result, ...}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["VectorCase", "iter_cases", "load_vectors", "vector_files"]


@dataclass(frozen=True, slots=True)
class VectorCase:
    """One test of a vector file together with the group it belongs to."""

    file: str
    group: dict[str, Any]
    test: dict[str, Any]

    @property
    def tc_id(self) -> int:
        """The test's ``tcId`` (unique within its file)."""
        tc_id: int = self.test["tcId"]
        return tc_id

    @property
    def result(self) -> str:
        """``valid``, ``invalid`` or ``acceptable``."""
        result: str = self.test["result"]
        return result


def vector_files() -> list[str]:
    """Names of every vector file shipped with the package, sorted."""
    folder = resources.files("creditlink.conformance").joinpath("vectors")
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".json"))


def load_vectors(name: str) -> dict[str, Any]:
    """Parse one vector file by name, e.g. ``"dsse_pae.json"``."""
    text = resources.files("creditlink.conformance").joinpath("vectors", name).read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def iter_cases(name: str) -> Iterator[VectorCase]:
    """Yield every test of the file ``name`` with its group."""
    document = load_vectors(name)
    for group in document["testGroups"]:
        for test in group["tests"]:
            yield VectorCase(name, group, test)
