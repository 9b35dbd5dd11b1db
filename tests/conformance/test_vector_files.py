"""The shipped vector files follow their format (docs/spec/vectors.md, area VEC).

Every file is loaded through ``creditlink.conformance.loader`` as an implementation would,
validated against the JSON Schema it names (``conformance/vectors/schemas``) and checked for the
rules a schema cannot express: ``numberOfTests``, unique ``tcId``s, flags explained in ``notes``,
requirement ids present in the registry. Mutated documents prove that the schemas and the checks
reject what they should.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from collections import Counter
from collections.abc import Callable
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from creditlink.conformance.loader import iter_cases, load_vectors, vector_files
from creditlink.conformance.requirements import requirements

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.gen_vectors import GENERATORS  # noqa: E402

FILES = vector_files()
Document = dict[str, Any]


def _schemas() -> Traversable:
    return resources.files("creditlink.conformance").joinpath("vectors", "schemas")


@cache
def _validator(schema_name: str) -> Draft202012Validator:
    schema = json.loads(_schemas().joinpath(schema_name).read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _schema_errors(document: Document, schema_name: str) -> list[str]:
    errors = _validator(schema_name).iter_errors(document)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors]


def _tests(document: Document) -> list[dict[str, Any]]:
    return [test for group in document["testGroups"] for test in group["tests"]]


def _format_problems(document: Document) -> list[str]:
    """The CXP-VEC rules a schema cannot express; an empty list means the document is fine."""
    problems: list[str] = []
    tests = _tests(document)
    if document["numberOfTests"] != len(tests):
        problems.append(f"numberOfTests {document['numberOfTests']} != {len(tests)} tests")
    duplicates = sorted(i for i, n in Counter(t["tcId"] for t in tests).items() if n > 1)
    if duplicates:
        problems.append(f"duplicate tcIds {duplicates}")
    unexplained = sorted({f for t in tests for f in t["flags"]} - set(document["notes"]))
    if unexplained:
        problems.append(f"flags without a note {unexplained}")
    cited = {r for group in document["testGroups"] for r in group["requirements"]}
    unknown = sorted(cited - requirements().keys())
    if unknown:
        problems.append(f"requirements not in the registry {unknown}")
    if not _schemas().joinpath(document["schema"]).is_file():
        problems.append(f"schema {document['schema']} does not exist")
    return problems


# --------------------------------------------------------------------------------------------
# The shipped files
# --------------------------------------------------------------------------------------------


def test_shipped_files_are_the_generator_table() -> None:
    """CXP-VEC-014: exactly the files scripts/gen_vectors.py generates are shipped."""
    assert set(FILES) == set(GENERATORS)


def test_every_schema_belongs_to_a_file() -> None:
    """CXP-VEC-003: one schema per file, named after it, no stray schemas."""
    shipped = {p.name for p in _schemas().iterdir() if p.name.endswith(".json")}
    assert shipped == {name.removesuffix(".json") + "_schema.json" for name in FILES}


@pytest.mark.parametrize("name", FILES)
def test_schema_is_a_valid_draft_2020_12_schema(name: str) -> None:
    """CXP-VEC-003: the schema a file names exists, is valid and has that name as its $id."""
    schema_name = load_vectors(name)["schema"]
    assert schema_name == name.removesuffix(".json") + "_schema.json"
    schema = json.loads(_schemas().joinpath(schema_name).read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == schema_name
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("name", FILES)
def test_file_validates_against_its_schema(name: str) -> None:
    """CXP-VEC-001, CXP-VEC-003, CXP-VEC-006: the file matches its schema."""
    document = load_vectors(name)
    assert _schema_errors(document, document["schema"]) == []


@pytest.mark.parametrize("name", FILES)
def test_file_follows_the_format_rules(name: str) -> None:
    """CXP-VEC-001, -002, -004, -005: count, unique tcIds, notes, registered requirements."""
    document = load_vectors(name)
    assert _format_problems(document) == []
    cases = list(iter_cases(name))
    assert document["numberOfTests"] == len(cases)
    assert len({case.tc_id for case in cases}) == len(cases)
    registry = requirements()
    for case in cases:
        assert case.file == name
        assert case.result in {"valid", "invalid", "acceptable"}
        assert set(case.test["flags"]) <= set(document["notes"]), case.tc_id
        assert set(case.group["requirements"]) <= registry.keys(), case.tc_id


def test_vec_requirements_are_registered() -> None:
    """docs/spec/vectors.md defines CXP-VEC-001 … consecutively, all in the registry."""
    vec = sorted(r for r in requirements() if r.startswith("CXP-VEC-"))
    assert vec == [f"CXP-VEC-{i:03d}" for i in range(1, len(vec) + 1)]
    assert len(vec) >= 20
    for rid in vec:
        req = requirements()[rid]
        assert req.source == "docs/spec/vectors.md"
        assert req.level in {"MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY"}, rid


def test_vector_page_describes_every_file_and_field() -> None:
    """docs/spec/vectors.md names every shipped file and every member the files use."""
    page = (ROOT / "docs" / "spec" / "vectors.md").read_text(encoding="utf-8")
    for name in FILES:
        assert f"`{name}`" in page, name
        document = load_vectors(name)
        members = set(document)
        for group in document["testGroups"]:
            members |= set(group)
            for test in group["tests"]:
                members |= set(test)
        missing = sorted(m for m in members if f"`{m}`" not in page)
        assert not missing, (name, missing)


# --------------------------------------------------------------------------------------------
# Mutated documents: the schemas and the checks reject them
# --------------------------------------------------------------------------------------------


def _first_test(document: Document) -> dict[str, Any]:
    return document["testGroups"][0]["tests"][0]


def _set(path: Callable[[Document], dict[str, Any]], key: str, value: Any) -> Callable:
    def mutate(document: Document) -> None:
        path(document)[key] = value

    return mutate


def _hex_slots(node: Any, key: str = "") -> list[tuple[Any, Any]]:
    """(container, key) of every non-empty hex string in ``node`` (CXP-VEC-006 members)."""
    slots: list[tuple[Any, Any]] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k.endswith("Hex") and isinstance(v, str) and v:
                slots.append((node, k))
            slots += _hex_slots(v, k)
    elif isinstance(node, list) and key in {"proof", "auditPath"}:
        slots += [(node, i) for i, v in enumerate(node) if v]
    elif isinstance(node, list):
        for item in node:
            slots += _hex_slots(item, key)
    return slots


def _damage_hex(document: Document) -> None:
    container, key = _hex_slots(document["testGroups"])[0]
    value = container[key]
    container[key] = value.upper() if re.search("[a-f]", value) else value + "0"


SCHEMA_MUTATIONS: dict[str, Callable[[Document], None]] = {
    "unknown header member": _set(lambda d: d, "generatedBy", "someone"),
    "unknown group member": _set(lambda d: d["testGroups"][0], "extra", 1),
    "unknown test member": _set(_first_test, "expectedError", "x"),
    "unknown result": _set(_first_test, "result", "maybe"),
    "tcId 0": _set(_first_test, "tcId", 0),
    "tcId as a string": _set(_first_test, "tcId", "1"),
    "flags not a list": _set(_first_test, "flags", "HappyPath"),
    "malformed requirement id": _set(lambda d: d["testGroups"][0], "requirements", ["CXP-x-1"]),
    "wrong schema name": _set(lambda d: d, "schema", "other_schema.json"),
    "test member removed": lambda d: _first_test(d).pop("comment"),
}


@pytest.mark.parametrize("mutation", sorted(SCHEMA_MUTATIONS))
@pytest.mark.parametrize("name", FILES)
def test_schema_rejects_mutation(name: str, mutation: str) -> None:
    """CXP-VEC-003, CXP-VEC-013: a member the format does not define (and other damage) fails."""
    document = copy.deepcopy(load_vectors(name))
    schema_name = document["schema"]
    SCHEMA_MUTATIONS[mutation](document)
    assert _schema_errors(document, schema_name), mutation


@pytest.mark.parametrize("name", [n for n in FILES if _hex_slots(load_vectors(n)["testGroups"])])
def test_schema_rejects_non_canonical_hex(name: str) -> None:
    """CXP-VEC-006: upper-case or odd-length hex fails the schema."""
    document = copy.deepcopy(load_vectors(name))
    _damage_hex(document)
    assert _schema_errors(document, document["schema"])


def _find(document: Document, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    return next(t for t in _tests(document) if predicate(t))


def test_schema_conditions_tie_outputs_to_results() -> None:
    """Expected outputs belong to their results (valid: output; invalid: reason)."""
    dsse = copy.deepcopy(load_vectors("dsse_ed25519.json"))
    _find(dsse, lambda t: t["result"] == "valid")["reason"] = "INVALID_SIGNATURE"
    assert _schema_errors(dsse, dsse["schema"])

    trust = copy.deepcopy(load_vectors("trust_bundle.json"))
    update = next(g for g in trust["testGroups"] if g["type"] == "TrustBundleUpdate")
    test = update["tests"][0]
    test["chain"] = [test.pop("candidate")]
    assert _schema_errors(trust, trust["schema"])

    batch = copy.deepcopy(load_vectors("batch_signature.json"))
    _find(batch, lambda t: t["result"] == "valid")["failures"] = {"verifyBatch": "ROOT_MISMATCH"}
    assert _schema_errors(batch, batch["schema"])

    checkpoint = copy.deepcopy(load_vectors("checkpoint.json"))
    _find(checkpoint, lambda t: t["result"] == "invalid")["size"] = 1
    assert _schema_errors(checkpoint, checkpoint["schema"])


FORMAT_MUTATIONS: dict[str, tuple[Callable[[Document], None], str]] = {
    "numberOfTests off by one": (
        lambda d: d.__setitem__("numberOfTests", d["numberOfTests"] + 1),
        "numberOfTests",
    ),
    "duplicate tcId": (
        lambda d: _tests(d)[-1].__setitem__("tcId", _tests(d)[0]["tcId"]),
        "duplicate tcIds",
    ),
    "flag without a note": (
        lambda d: _first_test(d)["flags"].append("NoSuchFlag"),
        "flags without a note",
    ),
    "unregistered requirement": (
        lambda d: d["testGroups"][0]["requirements"].append("CXP-VEC-999"),
        "not in the registry",
    ),
    "missing schema file": (
        lambda d: d.__setitem__("schema", "missing_schema.json"),
        "does not exist",
    ),
}


@pytest.mark.parametrize("mutation", sorted(FORMAT_MUTATIONS))
def test_format_checks_reject_mutation(mutation: str) -> None:
    """The checks beyond the schema fail on a document that breaks them."""
    mutate, message = FORMAT_MUTATIONS[mutation]
    document = copy.deepcopy(load_vectors("dsse_pae.json"))
    assert _format_problems(document) == []
    mutate(document)
    problems = _format_problems(document)
    assert any(message in p for p in problems), problems
