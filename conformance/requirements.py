"""The requirement registry: every normative statement of docs/spec with its identifier.

The registry ships as ``requirements.json`` beside this module. It is generated from the
specification's Markdown by ``scripts/gen_vectors.py`` (CI fails if it drifts), so the spec stays
the one place a requirement is written. Vector files and tests cite these identifiers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["REQUIREMENT_ID", "Requirement", "parse_spec", "requirements"]

#: Shape of a requirement identifier, e.g. ``CXP-ENV-003``.
REQUIREMENT_ID = re.compile(r"\bCXP-[A-Z]+-[0-9]{3}\b")

# A requirement is a Markdown bullet that opens with the bold identifier; its statement is that
# line and every indented line after it (continuations, nested lists, tables), blank lines
# between them included, until the next line that starts at column 0.
_BULLET = re.compile(r"^\s*[-*]\s+\*\*(CXP-[A-Z]+-[0-9]{3})\*\*\s*(.*)$")
_LEVELS = ("MUST NOT", "SHOULD NOT", "MUST", "SHOULD", "MAY")


@dataclass(frozen=True, slots=True)
class Requirement:
    """One normative statement."""

    id: str
    level: str
    statement: str
    source: str


def parse_spec(text: str, *, source: str) -> list[Requirement]:
    """Extract the requirements from one specification file's Markdown ``text``."""
    found: list[Requirement] = []
    current_id: str | None = None
    lines: list[str] = []

    def close() -> None:
        if current_id is not None:
            statement = " ".join(" ".join(lines).split())
            # A bullet without an RFC 2119 keyword defines a term other requirements rely on.
            level = next((lv for lv in _LEVELS if lv in statement), "DEFINITION")
            found.append(Requirement(current_id, level, statement, source))

    for line in text.splitlines():
        match = _BULLET.match(line)
        if match:
            close()
            current_id, lines = match.group(1), [match.group(2)]
        elif current_id is None or not line.strip():
            continue  # blank lines inside a bullet are fine: indentation decides below
        elif line.startswith((" ", "\t")):
            lines.append(line.strip())  # indented: continuation, nested list or table
        else:
            close()
            current_id, lines = None, []
    close()
    return found


@cache
def requirements() -> dict[str, Requirement]:
    """Every requirement of CXP v1, by identifier."""
    data = json.loads(
        resources.files("creditlink.conformance").joinpath("requirements.json").read_text("utf-8")
    )
    return {item["id"]: Requirement(**item) for item in data["requirements"]}
