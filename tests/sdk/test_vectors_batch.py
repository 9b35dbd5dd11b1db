"""Run every batch-signature vector (scripts/vectors/batch.py) against the SDK.

The generator computes roots, paths and expected outcomes from RFC 9162's definitions on its
own; each case here goes through the public SDK API: ``verify_batch`` over the whole batch and
``verify_batched`` over the extracted item.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from creditlink.sdk.batch import (
    BATCH_HEAD_TYPE,
    BatchedEnvelope,
    BatchItem,
    SignedBatch,
    extract,
    verify_batch,
    verify_batched,
)
from creditlink.sdk.envelope import Envelope
from creditlink.sdk.errors import VerificationError
from creditlink.sdk.keys import Algorithm, PublicKey
from creditlink.sdk.tlog.merkle import leaf_hash, root_from_leaf_hashes

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.vectors import batch as gen  # noqa: E402
from scripts.vectors.dsse import pae_reference  # noqa: E402

DOC = gen.batch_signature()
GROUP = DOC["testGroups"][0]
KEY = PublicKey.from_pem(GROUP["publicKeyPem"].encode(), Algorithm.ED25519)


def _item(obj: dict[str, str]) -> BatchItem:
    return BatchItem(bytes.fromhex(obj["payloadHex"]), obj["payloadType"])


def _checks(test: dict[str, Any]) -> dict[str, Callable[[], object]]:
    head = Envelope.from_json(json.dumps(test["headEnvelope"]))
    signer = GROUP["signerNodeId"]
    return {
        "verifyBatch": lambda: verify_batch(
            SignedBatch(head=head, items=[_item(i) for i in test["items"]]),
            keys=[KEY],
            expected_types=test["expectedTypes"],
            threshold=1,
            expected_signer=signer,
        ),
        "verifyBatched": lambda: verify_batched(
            BatchedEnvelope(
                item=_item(test["item"]),
                head=head,
                index=test["index"],
                audit_path=[bytes.fromhex(h) for h in test["auditPath"]],
            ),
            keys=[KEY],
            expected_type=test["expectedType"],
            threshold=1,
            expected_signer=signer,
        ),
    }


@pytest.mark.parametrize(
    "test", GROUP["tests"], ids=lambda t: f"{t['tcId']}-{'-'.join(t['flags'])}"
)
def test_batch_vector(test: dict[str, Any]) -> None:
    """CXP-BATCH-001..007: each check passes or fails with the reason the vector names."""
    assert (test["result"] == "valid") == (not test["failures"])
    for name, check in _checks(test).items():
        reason = test["failures"].get(name)
        if reason is None:
            check()
        else:
            with pytest.raises(VerificationError) as err:
                check()
            assert err.value.reason == reason, name


def test_valid_vectors_match_sdk_signing_side() -> None:
    """CXP-BATCH-001: the SDK's root and extracted paths equal the generator's."""
    for test in GROUP["tests"]:
        if test["failures"]:
            continue
        items = [_item(i) for i in test["items"]]
        head = Envelope.from_json(test["headEnvelope"])
        assert head.payload_type == BATCH_HEAD_TYPE
        batch = SignedBatch(head=head, items=items)
        one = extract(batch, test["index"])
        assert [h.hex() for h in one.audit_path] == test["auditPath"]
        root = verify_batch(batch, keys=[KEY], expected_types=test["expectedTypes"]).root
        assert root == root_from_leaf_hashes(
            [leaf_hash(pae_reference(i.payload_type.encode(), i.payload)) for i in items]
        )


def test_reference_merkle_reading_is_self_consistent() -> None:
    """The generator's RFC 9162 reading: every PATH verifies with the §2.1.3.2 algorithm."""
    for n in range(1, 34):
        leaves = [bytes([i]) for i in range(n)]
        root = gen.ref_root(leaves)
        for m in range(n):
            path = gen.ref_path(m, leaves)
            assert gen.ref_inclusion_ok(leaves[m], m, n, path, root)
            assert not gen.ref_inclusion_ok(leaves[m], m, n + 1, path, bytes(32))


def test_document_is_deterministic_and_complete() -> None:
    """Regeneration is identical; the mutations the issue lists are all present."""
    assert json.dumps(gen.batch_signature()) == json.dumps(DOC)
    tests = GROUP["tests"]
    assert [t["tcId"] for t in tests] == list(range(1, len(tests) + 1))
    assert DOC["numberOfTests"] == len(tests)
    flags = {f for t in tests for f in t["flags"]}
    assert flags <= set(DOC["notes"])
    assert {
        "WrongIndex",
        "ModifiedAuditPath",
        "TruncatedAuditPath",
        "ItemTampered",
        "CountMismatch",
        "HeadSignatureBitFlip",
        "ItemTypeTampered",
        "SignerMismatch",
        "HeadFieldConstraint",
    } <= flags
    assert GROUP["signerNodeId"] == "zj-330000"
    reasons = {r for t in tests for r in t["failures"].values()}
    assert {"SIGNER_MISMATCH", "MALFORMED_BATCH"} <= reasons
    path = ROOT / "conformance" / "vectors" / "batch_signature.json"
    if path.exists():
        assert json.loads(path.read_text(encoding="utf-8")) == DOC
