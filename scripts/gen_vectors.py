"""Write the conformance data: every vector file and the requirement registry.

    python scripts/gen_vectors.py          # rewrite conformance/vectors/*.json, requirements.json
    python scripts/gen_vectors.py --check  # exit 1 if any committed file differs

One generator function per file lives in ``scripts/vectors/<area>.py``; each returns the
Wycheproof-style document (docs/spec/vectors.md). Generation is deterministic (fixed seeds,
deterministic signatures, a fixed HPKE ephemeral key), so CI can regenerate and compare.
The requirement registry ``conformance/requirements.json`` is extracted from ``docs/spec/*.md``
so that the specification stays the one place a requirement is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "conformance" / "vectors"
sys.path.insert(0, str(ROOT))

from creditlink.conformance.requirements import REQUIREMENT_ID, parse_spec  # noqa: E402
from scripts.vectors import batch, draw, dsse, hpke, tlog, trust  # noqa: E402

SPEC = ROOT / "docs" / "spec"
REGISTRY = ROOT / "conformance" / "requirements.json"

GENERATORS: dict[str, Callable[[], dict[str, Any]]] = {
    "dsse_pae.json": dsse.dsse_pae,
    "dsse_ed25519.json": dsse.dsse_ed25519,
    "dsse_ecdsa_p256.json": dsse.dsse_ecdsa_p256,
    "batch_signature.json": batch.batch_signature,
    "hpke_seal.json": hpke.hpke_seal,
    "trust_bundle.json": trust.trust_bundle,
    "merkle_inclusion.json": tlog.merkle_inclusion,
    "merkle_consistency.json": tlog.merkle_consistency,
    "checkpoint.json": tlog.checkpoint,
    "draw.json": draw.draw,
}


def render(document: dict[str, Any]) -> str:
    """Serialise one vector document exactly as committed."""
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def _check_document(name: str, document: dict[str, Any]) -> None:
    tests = [t for group in document["testGroups"] for t in group["tests"]]
    ids = [t["tcId"] for t in tests]
    if len(ids) != len(set(ids)):
        raise SystemExit(f"{name}: tcId values are not unique")
    if document["numberOfTests"] != len(tests):
        raise SystemExit(f"{name}: numberOfTests is {document['numberOfTests']}, not {len(tests)}")
    for test in tests:
        if test["result"] not in {"valid", "invalid", "acceptable"}:
            raise SystemExit(f"{name}: tcId {test['tcId']} has result {test['result']!r}")


def requirement_registry() -> dict[str, Any]:
    """Collect every requirement of docs/spec, refusing duplicate identifiers."""
    items: dict[str, dict[str, str]] = {}
    for path in sorted(SPEC.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        for req in parse_spec(text, source=str(path.relative_to(ROOT))):
            if req.id in items:
                raise SystemExit(f"{req.id} is defined twice ({items[req.id]['source']}, {path})")
            items[req.id] = {
                "id": req.id,
                "level": req.level,
                "statement": req.statement,
                "source": req.source,
            }
    ordered = [items[key] for key in sorted(items)]
    return {"requirements": ordered}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail on drift, write nothing")
    args = parser.parse_args()

    registry = requirement_registry()
    known = {item["id"] for item in registry["requirements"]}
    outputs: list[tuple[Path, str]] = [(REGISTRY, render(registry))]
    for name, generate in GENERATORS.items():
        document = generate()
        _check_document(name, document)
        cited = set(REQUIREMENT_ID.findall(json.dumps(document)))
        if cited - known:
            raise SystemExit(f"{name} cites unknown requirements: {sorted(cited - known)}")
        outputs.append((OUT / name, render(document)))

    drift: list[str] = []
    for path, text in outputs:
        name = str(path.relative_to(ROOT))
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                drift.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {name}")
    if drift:
        print("conformance data differs from its sources; run scripts/gen_vectors.py:")
        for name in drift:
            print(f"  {name}")
        return 1
    if args.check:
        print(f"{len(outputs)} conformance files match their sources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
