"""Run every DSSE vector (scripts/vectors/dsse.py) against the SDK.

The generator is an independent reading of the spec (its own PAE, base64 and JSON, raw
cryptography signatures); here each case goes through the public SDK API exactly as a receiver
would: ``Envelope.from_json`` then ``verify``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from creditlink.sdk._internal.pae import pae
from creditlink.sdk.envelope import Envelope, verify
from creditlink.sdk.errors import InvalidEnvelope
from creditlink.sdk.keys import Algorithm, PublicKey

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.vectors import dsse  # noqa: E402

PAE_DOC = dsse.dsse_pae()
SIG_DOCS = {
    Algorithm.ED25519: dsse.dsse_ed25519(),
    Algorithm.ECDSA_P256_SHA256: dsse.dsse_ecdsa_p256(),
}


def _cases(document: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(group, test) for group in document["testGroups"] for test in group["tests"]]


def _id(case: tuple[dict[str, Any], dict[str, Any]]) -> str:
    return f"{case[1]['tcId']}-{'-'.join(case[1]['flags'])}"


@pytest.mark.parametrize("case", _cases(PAE_DOC), ids=_id)
def test_pae_vector(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """CXP-ENV-001: PAE known answers (and encodings PAE must not produce)."""
    _, test = case
    out = pae(test["payloadType"], bytes.fromhex(test["payloadHex"]))
    if test["result"] == "valid":
        assert out.hex() == test["paeHex"]
    else:
        assert out.hex() != test["paeHex"]


def _sig_cases() -> list[tuple[Algorithm, dict[str, Any], dict[str, Any]]]:
    return [(alg, g, t) for alg, doc in SIG_DOCS.items() for g, t in _cases(doc)]


@pytest.mark.parametrize(
    "case", _sig_cases(), ids=lambda c: f"{c[0].name}-{c[2]['tcId']}-{'-'.join(c[2]['flags'])}"
)
def test_signature_vector(case: tuple[Algorithm, dict[str, Any], dict[str, Any]]) -> None:
    """CXP-ENV-001..010: every envelope vector, through from_json + verify."""
    alg, group, test = case
    pems = group.get("publicKeyPems") or [group["publicKeyPem"]]
    keys = [PublicKey.from_pem(pem.encode(), alg) for pem in pems]
    if "keyIds" in group:
        assert [k.key_id for k in keys] == group["keyIds"]
    else:
        assert keys[0].key_id == group["keyId"]

    def run() -> bytes:
        if "envelopeText" in test:
            # DsseVerifyText: the UTF-8 encoding of the text, unchanged (CXP-VEC-016).
            envelope = Envelope.from_json(test["envelopeText"].encode("utf-8"))
        else:
            # The document goes through JSON text, as it would from a file.
            envelope = Envelope.from_json(json.dumps(test["envelope"]))
        return verify(
            envelope, keys=keys, expected_type=test["payloadType"], threshold=test["threshold"]
        )

    if test["result"] == "valid":
        assert run().hex() == test["payloadHex"]
    elif test["result"] == "invalid":
        with pytest.raises(InvalidEnvelope) as err:
            run()
        assert err.value.reason == test["reason"]
    else:
        # "acceptable": either outcome is conformant; the reference implementation accepts.
        assert test["flags"] == ["HighS"]
        assert run().hex() == test["payloadHex"]


def test_documents_are_deterministic_and_well_formed() -> None:
    """CXP-VEC: regenerating gives identical documents; tcIds are unique; flags documented."""
    for make, doc in [
        (dsse.dsse_pae, PAE_DOC),
        (dsse.dsse_ed25519, SIG_DOCS[Algorithm.ED25519]),
        (dsse.dsse_ecdsa_p256, SIG_DOCS[Algorithm.ECDSA_P256_SHA256]),
    ]:
        assert json.dumps(make()) == json.dumps(doc)
        tests = [t for g in doc["testGroups"] for t in g["tests"]]
        assert [t["tcId"] for t in tests] == list(range(1, len(tests) + 1))
        assert doc["numberOfTests"] == len(tests)
        for test in tests:
            assert set(test["flags"]) <= set(doc["notes"])


def test_text_group_only_in_the_ed25519_file() -> None:
    """DsseVerifyText (envelopeText) is in dsse_ed25519.json only; other groups use objects."""
    for alg, doc in SIG_DOCS.items():
        types = [g["type"] for g in doc["testGroups"]]
        expected = ["DsseVerify", "DsseVerifyThreshold"]
        if alg is Algorithm.ED25519:
            expected.append("DsseVerifyText")
        assert types == expected
        for group in doc["testGroups"]:
            member = "envelopeText" if group["type"] == "DsseVerifyText" else "envelope"
            assert all(member in t for t in group["tests"]), group["type"]


def test_text_cases_decode_as_their_object_twins() -> None:
    """Valid DsseVerifyText cases are the valid DsseVerify envelope, only spelled differently."""
    doc = SIG_DOCS[Algorithm.ED25519]
    good = doc["testGroups"][0]["tests"][0]["envelope"]
    expected = Envelope.from_json(json.dumps(good))
    text_group = doc["testGroups"][2]
    for test in text_group["tests"]:
        if test["result"] == "valid":
            decoded = Envelope.from_json(test["envelopeText"].encode("utf-8"))
            assert decoded.payload == expected.payload
            assert decoded.payload_type == expected.payload_type
            assert [s.sig for s in decoded.signatures] == [s.sig for s in expected.signatures]


def test_vector_flags_required_by_the_issue_are_present() -> None:
    """Every mutation the issue names is covered."""
    wanted = {
        "TamperedPayload",
        "TamperedPayloadType",
        "SignatureBitFlip",
        "AppendedBytes",
        "WrongKey",
        "EmptySignatures",
        "KeyidPointsElsewhere",
        "UrlSafeBase64",
        "DuplicateSignature",
        "TruncatedSignature",
    }
    for alg, doc in SIG_DOCS.items():
        flags = {f for g in doc["testGroups"] for t in g["tests"] for f in t["flags"]}
        assert wanted <= flags, alg
    ecdsa_flags = {
        f
        for g in SIG_DOCS[Algorithm.ECDSA_P256_SHA256]["testGroups"]
        for t in g["tests"]
        for f in t["flags"]
    }
    assert "HighS" in ecdsa_flags
    pae_flags = {f for t in PAE_DOC["testGroups"][0]["tests"] for f in t["flags"]}
    assert {"DsseSpecExample", "EmptyPayload", "Utf8PayloadType", "BinaryPayload"} <= pae_flags


def test_committed_files_match_the_generator() -> None:
    """The committed conformance/vectors files (when present) equal the generator's output."""
    out = ROOT / "conformance" / "vectors"
    for name, doc in [
        ("dsse_pae.json", PAE_DOC),
        ("dsse_ed25519.json", SIG_DOCS[Algorithm.ED25519]),
        ("dsse_ecdsa_p256.json", SIG_DOCS[Algorithm.ECDSA_P256_SHA256]),
    ]:
        path = out / name
        if path.exists():
            assert json.loads(path.read_text(encoding="utf-8")) == doc, name
