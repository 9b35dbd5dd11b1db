"""Vectors for trust bundles: ``conformance/vectors/trust_bundle.json`` (docs/spec/trust-bundle.md).

Bundles are written here as ``creditlink.v1.TrustBundle`` messages field by field (not through
``TrustBundleBuilder``), so malformed bundles can be signed as easily as good ones and the
reference implementation is checked against a second reading of the contract. Keys are Ed25519
from fixed seeds and Ed25519 signatures are deterministic, so the document is a pure function of
this file.

Each test names the pinned root keys (``trustedRootsPem``, ``threshold``) and the instant
``now``. With ``previousBundle`` null the ``candidate`` is a first bundle verified against the
pinned roots (bootstrap). Otherwise ``previousBundle`` is first bootstrapped with the pinned roots
at ``now`` (it always verifies) and then ``candidate`` is verified as its update, or, in the
``TrustBundleChain`` group, every envelope of ``chain`` in order. ``result`` says whether the
final step succeeds; ``reason`` is the ``InvalidTrustBundle`` reason it must fail with, and
``resultVersion`` the version a valid case ends at.

Not shipped: imported only by ``scripts/gen_vectors.py`` and ``tests/sdk/test_vectors_trust.py``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from creditlink.sdk import envelope
from creditlink.sdk.keys import PrivateKey, PublicKey, SealingPrivateKey, SealingPublicKey
from creditlink.sdk.trust import TRUST_BUNDLE_PAYLOAD_TYPE
from creditlink.v1 import trust_pb2

__all__ = ["trust_bundle"]

_T0 = datetime(2026, 1, 1, tzinfo=UTC)
_FEDERATION = "cn-credit"


def _at(days: float, *, seconds: int = 0) -> datetime:
    return _T0 + timedelta(days=days, seconds=seconds)


def _seed(label: str) -> bytes:
    return hashlib.sha256(b"creditlink/vectors/trust-bundle/" + label.encode()).digest()


def _signer(label: str) -> PrivateKey:
    return PrivateKey.from_seed(_seed(label))


_ROOT_A = _signer("root-a")
_ROOT_B = _signer("root-b")
_ROOT_C = _signer("root-c")
_ROOT_D = _signer("root-d")
_STRAY = _signer("stray")  # signs, but is no root of anything
_HUB_SIGN = _signer("cn-hub/sign")
_HUB_CHECKPOINT = _signer("cn-hub/checkpoint")
_ZJ_SIGN = _signer("zj-330000/sign")
_ZJ_SIGN_OLD = _signer("zj-330000/sign-2025")
_ZJ_CHECKPOINT = _signer("zj-330000/checkpoint")
_TAX_SIGN = _signer("tax-100000/sign")
_HUB_SEAL = SealingPrivateKey.from_x25519_bytes(_seed("cn-hub/seal")).public_key
_ZJ_SEAL = SealingPrivateKey.from_x25519_bytes(_seed("zj-330000/seal")).public_key

_REQ_VERIFY = ["CXP-TRUST-001", "CXP-TRUST-002", "CXP-TRUST-003", "CXP-TRUST-006"]
_REQ_BOOTSTRAP = [*_REQ_VERIFY, "CXP-TRUST-004", "CXP-TRUST-005"]
_REQ_STRUCTURE = ["CXP-TRUST-007", "CXP-TRUST-008", "CXP-TRUST-032"]
_REQ_TIME = ["CXP-TRUST-009", "CXP-TRUST-010"]
_REQ_UPDATE = [
    *_REQ_VERIFY,
    "CXP-TRUST-005",
    "CXP-TRUST-011",
    "CXP-TRUST-012",
    "CXP-TRUST-013",
    "CXP-TRUST-014",
]

_NOTES = {
    "HappyPath": "A well-formed bundle signed as required.",
    "RootRotation": "The candidate changes the root keys; it is signed by the previous version's "
    "threshold of roots and by its own threshold of its own roots.",
    "ExtraSignature": "An additional signature by a key that is no root is ignored.",
    "BelowThreshold": "Fewer distinct root keys signed than the threshold requires.",
    "DuplicateSigner": "One root key signed twice; it counts once towards the threshold.",
    "UnpinnedSigner": "A signature by a key that is not among the trusted roots does not count.",
    "NotSelfSigned": "The bundle is not signed by its own threshold of its own root keys.",
    "RotationNewRootsOnly": "A root rotation signed only by the new roots, not by the previous "
    "version's roots.",
    "ThresholdDowngrade": "The candidate lowers the threshold and is signed by fewer keys than "
    "the previous version requires.",
    "TamperedPayload": "A bit of the payload was flipped after signing.",
    "WrongPayloadType": "The envelope's payload type is not the trust-bundle type.",
    "Rollback": "The candidate's version is lower than the previous version's.",
    "Replay": "The candidate is the previous version itself.",
    "VersionGap": "The candidate skips a version.",
    "FederationMismatch": "The candidate names another federation.",
    "Expired": "now is at or after the bundle's expires_at.",
    "NotYetValid": "issued_at lies more than five minutes after now.",
    "ClockSkew": "issued_at lies in the future, but within the five-minute allowance.",
    "IntermediateExpired": "A bundle in the middle of a chain has expired; only the last counts.",
    "UnknownField": "The signed payload carries a field the schema does not define.",
    "NotProtobuf": "The signed payload is not a TrustBundle encoding at all.",
    "DuplicateNodeId": "Two nodes share a node id.",
    "DuplicateKeyId": "One key appears twice in the bundle.",
    "DuplicateTlsPin": "Two nodes pin the same TLS key.",
    "ThresholdExceedsRoots": "root_threshold is larger than the number of root keys.",
    "ThresholdZero": "root_threshold is 0.",
    "RootKeyPurpose": "A root key record does not have purpose ROOT.",
    "NodeKeyPurpose": "A node key has purpose ROOT.",
    "KeyWindowInverted": "A key's not_after is not later than its not_before.",
    "InvalidNodeId": "A node id breaks the node id syntax.",
    "InvalidRegionCode": "A region code is not a GB/T 2260 code.",
    "InvalidScope": "A permission scope is not one of the defined forms.",
    "SubMicrosecondTime": "A timestamp has a nanosecond part that is not a whole microsecond.",
    "RevokedRootKey": "A revocation names a root key of the same version.",
    "ExpiryBeforeIssue": "expires_at is not later than issued_at.",
    "InvalidEndpoint": "A node endpoint breaks the host:port grammar of CXP-TRUST-032.",
}


# --------------------------------------------------------------------------------------------
# Building bundles field by field
# --------------------------------------------------------------------------------------------


def _ts(when: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


def _record(
    public: PublicKey | SealingPublicKey,
    purpose: trust_pb2.KeyPurpose.ValueType,
    not_before: datetime,
    not_after: datetime,
    note_name: str = "",
) -> trust_pb2.KeyRecord:
    return trust_pb2.KeyRecord(
        key_id=public.key_id,
        algorithm=public.algorithm.value,  # type: ignore[arg-type]
        purpose=purpose,
        public_key=public.public_bytes,
        not_before=_ts(not_before),
        not_after=_ts(not_after),
        note_name=note_name,
    )


def _pin(label: str) -> bytes:
    return hashlib.sha256(b"creditlink/vectors/trust-bundle/tls/" + label.encode()).digest()


def _nodes() -> list[trust_pb2.Node]:
    sign, seal, ckpt = (
        trust_pb2.KEY_PURPOSE_SIGN,
        trust_pb2.KEY_PURPOSE_SEAL,
        trust_pb2.KEY_PURPOSE_CHECKPOINT,
    )
    publish = trust_pb2.PERMISSION_ACTION_PUBLISH
    read = trust_pb2.PERMISSION_ACTION_READ
    hub = trust_pb2.Node(
        node_id="cn-hub",
        display_name="全国信用信息共享平台",
        region_code="100000",
        kind=trust_pb2.NODE_KIND_HUB,
        endpoints=["hub.creditlink.example:443"],
        tls_spki_sha256=[_pin("cn-hub")],
        keys=[
            _record(_HUB_SIGN.public_key, sign, _at(-30), _at(365)),
            _record(_HUB_SEAL, seal, _at(-30), _at(365)),
            _record(
                _HUB_CHECKPOINT.public_key,
                ckpt,
                _at(-30),
                _at(365),
                "creditlink.example/cn-hub",
            ),
        ],
        permissions=[
            trust_pb2.Permission(action=publish, kinds=["*"], scopes=["*"]),
            trust_pb2.Permission(action=read, kinds=["*"], scopes=["*"]),
        ],
        log_origin="creditlink.example/cn-hub",
    )
    zj = trust_pb2.Node(
        node_id="zj-330000",
        display_name="浙江省公共信用信息平台",
        region_code="330000",
        kind=trust_pb2.NODE_KIND_REGIONAL,
        endpoints=["zj.creditlink.example:443", "[2001:db8::33]:8443"],
        tls_spki_sha256=[_pin("zj-330000/a"), _pin("zj-330000/b")],
        keys=[
            _record(_ZJ_SIGN_OLD.public_key, sign, _at(-365), _at(5)),
            _record(_ZJ_SIGN.public_key, sign, _at(-1), _at(365)),
            _record(_ZJ_SEAL, seal, _at(-30), _at(365)),
            _record(
                _ZJ_CHECKPOINT.public_key,
                ckpt,
                _at(-30),
                _at(365),
                "creditlink.example/zj-330000",
            ),
        ],
        permissions=[
            trust_pb2.Permission(
                action=publish, kinds=["record", "name-list-entry"], scopes=["region:330000"]
            ),
            trust_pb2.Permission(action=read, kinds=["name-list-entry"], scopes=["*"]),
        ],
        log_origin="creditlink.example/zj-330000",
    )
    tax = trust_pb2.Node(
        node_id="tax-100000",
        display_name="税务总局信用系统",
        region_code="100000",
        kind=trust_pb2.NODE_KIND_SECTORAL,
        sector="tax",
        tls_spki_sha256=[_pin("tax-100000")],
        keys=[_record(_TAX_SIGN.public_key, sign, _at(-30), _at(365))],
        permissions=[
            trust_pb2.Permission(
                action=trust_pb2.PERMISSION_ACTION_DETERMINE,
                kinds=["name-list-entry"],
                scopes=["sector:tax", "authority:121200004013590816"],
            ),
            trust_pb2.Permission(action=publish, kinds=["name-list-entry"], scopes=["sector:tax"]),
        ],
    )
    return [hub, zj, tax]


def _bundle(
    version: int,
    *,
    roots: Sequence[PrivateKey] = (_ROOT_A, _ROOT_B),
    threshold: int = 2,
    issued: datetime | None = None,
    expires: datetime | None = None,
    federation: str = _FEDERATION,
) -> trust_pb2.TrustBundle:
    issued = _at(version) if issued is None else issued
    return trust_pb2.TrustBundle(
        federation_id=federation,
        version=version,
        issued_at=_ts(issued),
        expires_at=_ts(_at(90) if expires is None else expires),
        root_keys=[
            _record(r.public_key, trust_pb2.KEY_PURPOSE_ROOT, _at(-365), _at(3650)) for r in roots
        ],
        root_threshold=threshold,
        nodes=_nodes(),
        revocations=[
            trust_pb2.Revocation(
                key_id=_ZJ_SIGN_OLD.key_id,
                revoked_at=_ts(_at(-2)),
                reason=trust_pb2.REVOCATION_REASON_SUPERSEDED,
                comment="rotated to the 2026 signing key",
            )
        ],
    )


def _dsse(
    payload: trust_pb2.TrustBundle | bytes,
    signers: Sequence[PrivateKey],
    payload_type: str = TRUST_BUNDLE_PAYLOAD_TYPE,
) -> dict[str, Any]:
    data = payload if isinstance(payload, bytes) else payload.SerializeToString(deterministic=True)
    return envelope.sign(data, payload_type, signers).to_dict()


def _tampered(dsse: dict[str, Any], index: int, bit: int) -> dict[str, Any]:
    payload = bytearray(base64.b64decode(dsse["payload"]))
    payload[index] ^= 1 << bit
    return {**dsse, "payload": base64.b64encode(bytes(payload)).decode("ascii")}


def _twice(dsse: dict[str, Any]) -> dict[str, Any]:
    (signature,) = dsse["signatures"]
    return {**dsse, "signatures": [signature, dict(signature)]}


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pem(keys: Sequence[PrivateKey]) -> list[str]:
    return [k.public_key.to_pem().decode("ascii") for k in keys]


# --------------------------------------------------------------------------------------------
# The document
# --------------------------------------------------------------------------------------------


def _malformed_bundles(version: int) -> list[tuple[str, list[str], trust_pb2.TrustBundle]]:
    """(comment, flags, bundle) for every structural fault, each a single change from valid."""
    out: list[tuple[str, list[str], trust_pb2.TrustBundle]] = []

    def variant(comment: str, flag: str) -> trust_pb2.TrustBundle:
        pb = _bundle(version)
        out.append((comment, [flag], pb))
        return pb

    pb = variant("two nodes named zj-330000", "DuplicateNodeId")
    pb.nodes[2].node_id = "zj-330000"
    pb = variant("the hub's signing key is also listed for zj-330000", "DuplicateKeyId")
    pb.nodes[1].keys.append(pb.nodes[0].keys[0])
    pb = variant("zj-330000 pins the hub's TLS key", "DuplicateTlsPin")
    pb.nodes[1].tls_spki_sha256.append(pb.nodes[0].tls_spki_sha256[0])
    pb = variant("root_threshold 3 with 2 root keys", "ThresholdExceedsRoots")
    pb.root_threshold = 3
    pb = variant("root_threshold 0", "ThresholdZero")
    pb.root_threshold = 0
    pb = variant("second root key has purpose SIGN", "RootKeyPurpose")
    pb.root_keys[1].purpose = trust_pb2.KEY_PURPOSE_SIGN
    pb = variant("a node key has purpose ROOT", "NodeKeyPurpose")
    pb.nodes[1].keys[1].purpose = trust_pb2.KEY_PURPOSE_ROOT
    pb = variant("a key with not_after equal to not_before", "KeyWindowInverted")
    pb.nodes[1].keys[1].not_after.CopyFrom(pb.nodes[1].keys[1].not_before)
    pb = variant("node id with an upper-case letter", "InvalidNodeId")
    pb.nodes[1].node_id = "ZJ-330000"
    pb = variant("region code 190000 (no such province)", "InvalidRegionCode")
    pb.nodes[1].region_code = "190000"
    pb = variant("permission scope 'province:33'", "InvalidScope")
    pb.nodes[1].permissions[0].scopes.append("province:33")
    pb = variant("issued_at with 1 ns", "SubMicrosecondTime")
    pb.issued_at.nanos = 1
    pb = variant("revocation names a root key", "RevokedRootKey")
    pb.revocations[0].key_id = _ROOT_B.key_id
    pb = variant("expires_at equal to issued_at", "ExpiryBeforeIssue")
    pb.expires_at.CopyFrom(pb.issued_at)
    pb = variant("endpoint port with a leading zero", "InvalidEndpoint")
    pb.nodes[1].endpoints.append("zj.creditlink.example:0443")
    pb = variant("endpoint IPv6 address without brackets", "InvalidEndpoint")
    pb.nodes[1].endpoints.append("2001:db8::33:8443")
    pb = variant("endpoint DNS label ending in '-'", "InvalidEndpoint")
    pb.nodes[1].endpoints.append("zj-.creditlink.example:443")
    return out


def trust_bundle() -> dict[str, Any]:
    """The ``trust_bundle.json`` document: bootstrap, update and chain cases."""
    now = _at(10)
    pinned = _pem([_ROOT_A, _ROOT_B])
    groups: list[dict[str, Any]] = []
    tc = 0

    def case(
        comment: str,
        flags: list[str],
        *,
        previous: dict[str, Any] | None = None,
        candidate: dict[str, Any] | None = None,
        chain: list[dict[str, Any]] | None = None,
        reason: str | None = None,
        version: int | None = None,
        threshold: int = 2,
    ) -> dict[str, Any]:
        nonlocal tc
        tc += 1
        test: dict[str, Any] = {
            "tcId": tc,
            "comment": comment,
            "flags": flags,
            "trustedRootsPem": pinned,
            "threshold": threshold,
            "previousBundle": previous,
            "now": _rfc3339(now),
        }
        if chain is None:
            test["candidate"] = candidate
        else:
            test["chain"] = chain
        test["result"] = "invalid" if reason else "valid"
        test["reason"] = reason
        test["resultVersion"] = version
        return test

    def group(kind: str, requirements: list[str], tests: list[dict[str, Any]]) -> None:
        groups.append(
            {
                "type": kind,
                "payloadType": TRUST_BUNDLE_PAYLOAD_TYPE,
                "requirements": requirements,
                "tests": tests,
            }
        )

    ab = [_ROOT_A, _ROOT_B]
    sig, malformed = "TRUST_BUNDLE_SIGNATURE", "TRUST_BUNDLE_MALFORMED"
    v1 = _bundle(1)
    v1_dsse = _dsse(v1, ab)
    unknown_field = v1.SerializeToString(deterministic=True) + bytes([0xF8, 0x06, 0x01])

    # -- bootstrap -----------------------------------------------------------------------
    group(
        "TrustBundleBootstrap",
        [*_REQ_BOOTSTRAP, *_REQ_TIME],
        [
            case(
                "first bundle signed by both pinned roots",
                ["HappyPath"],
                candidate=v1_dsse,
                version=1,
            ),
            case(
                "pinned roots plus an extra signature by a stray key",
                ["ExtraSignature"],
                candidate=_dsse(v1, [_ROOT_A, _STRAY, _ROOT_B]),
                version=1,
            ),
            case(
                "signed by one of the two required roots",
                ["BelowThreshold"],
                candidate=_dsse(v1, [_ROOT_A]),
                reason=sig,
            ),
            case(
                "one root's signature repeated",
                ["DuplicateSigner"],
                candidate=_twice(_dsse(v1, [_ROOT_A])),
                reason=sig,
            ),
            case(
                "signed by one pinned root and one unpinned key",
                ["UnpinnedSigner"],
                candidate=_dsse(v1, [_ROOT_A, _ROOT_C]),
                reason=sig,
            ),
            case(
                "pinned threshold 1 is met, the bundle's own threshold 2 is not",
                ["NotSelfSigned", "BelowThreshold"],
                candidate=_dsse(v1, [_ROOT_A]),
                threshold=1,
                reason=sig,
            ),
            case(
                "signed by the pinned roots, but lists roots C and D",
                ["NotSelfSigned"],
                candidate=_dsse(_bundle(1, roots=[_ROOT_C, _ROOT_D]), ab),
                reason=sig,
            ),
            case(
                "bit flipped in federation_id after signing",
                ["TamperedPayload"],
                candidate=_tampered(v1_dsse, 3, 0),
                reason=sig,
            ),
            case(
                "bit flipped in the last payload byte",
                ["TamperedPayload"],
                candidate=_tampered(v1_dsse, -1, 7),
                reason=sig,
            ),
            case(
                "signed with the record payload type",
                ["WrongPayloadType"],
                candidate=_dsse(v1, ab, "application/vnd.creditlink.record.v1+protobuf"),
                reason=malformed,
            ),
            case(
                "expired five days before now",
                ["Expired"],
                candidate=_dsse(_bundle(1, expires=_at(5)), ab),
                reason="TRUST_BUNDLE_EXPIRED",
            ),
            case(
                "expires exactly at now",
                ["Expired"],
                candidate=_dsse(_bundle(1, expires=now), ab),
                reason="TRUST_BUNDLE_EXPIRED",
            ),
            case(
                "issued five minutes after now",
                ["ClockSkew"],
                candidate=_dsse(_bundle(1, issued=now + timedelta(minutes=5)), ab),
                version=1,
            ),
            case(
                "issued five minutes and one second after now",
                ["NotYetValid"],
                candidate=_dsse(_bundle(1, issued=now + timedelta(minutes=5, seconds=1)), ab),
                reason="TRUST_BUNDLE_NOT_YET_VALID",
            ),
        ],
    )
    group(
        "TrustBundleStructure",
        [*_REQ_VERIFY, *_REQ_STRUCTURE],
        [
            case(
                "signed payload with an unknown field 111",
                ["UnknownField"],
                candidate=_dsse(unknown_field, ab),
                reason=malformed,
            ),
            case(
                "signed payload is not protobuf",
                ["NotProtobuf"],
                candidate=_dsse(b"\xff\xff\xff\xff", ab),
                reason=malformed,
            ),
            *[
                case(comment, flags, candidate=_dsse(pb, ab), reason=malformed)
                for comment, flags, pb in _malformed_bundles(1)
            ],
        ],
    )

    # -- updates from version 2 ----------------------------------------------------------
    v2 = _bundle(2)
    v2_dsse = _dsse(v2, ab)
    v3 = _bundle(3)
    group(
        "TrustBundleUpdate",
        [*_REQ_UPDATE, *_REQ_TIME],
        [
            case(
                "version 3 signed by both roots",
                ["HappyPath"],
                previous=v2_dsse,
                candidate=_dsse(v3, ab),
                version=3,
            ),
            case(
                "rotation to roots B, C signed by A, B, C",
                ["RootRotation"],
                previous=v2_dsse,
                candidate=_dsse(_bundle(3, roots=[_ROOT_B, _ROOT_C]), [_ROOT_A, _ROOT_B, _ROOT_C]),
                version=3,
            ),
            case(
                "rotation to roots C, D signed by A, B, C, D",
                ["RootRotation"],
                previous=v2_dsse,
                candidate=_dsse(
                    _bundle(3, roots=[_ROOT_C, _ROOT_D]), [_ROOT_A, _ROOT_B, _ROOT_C, _ROOT_D]
                ),
                version=3,
            ),
            case(
                "rotation to roots C, D signed only by C, D",
                ["RotationNewRootsOnly"],
                previous=v2_dsse,
                candidate=_dsse(_bundle(3, roots=[_ROOT_C, _ROOT_D]), [_ROOT_C, _ROOT_D]),
                reason=sig,
            ),
            case(
                "rotation to roots B, C signed by B, C (one previous root)",
                ["RotationNewRootsOnly", "BelowThreshold"],
                previous=v2_dsse,
                candidate=_dsse(_bundle(3, roots=[_ROOT_B, _ROOT_C]), [_ROOT_B, _ROOT_C]),
                reason=sig,
            ),
            case(
                "rotation to roots C, D signed only by the previous roots A, B",
                ["NotSelfSigned"],
                previous=v2_dsse,
                candidate=_dsse(_bundle(3, roots=[_ROOT_C, _ROOT_D]), ab),
                reason=sig,
            ),
            case(
                "threshold lowered to 1 and signed by A alone",
                ["ThresholdDowngrade"],
                previous=v2_dsse,
                candidate=_dsse(_bundle(3, threshold=1), [_ROOT_A]),
                reason=sig,
            ),
            case(
                "signed by one of the two required roots",
                ["BelowThreshold"],
                previous=v2_dsse,
                candidate=_dsse(v3, [_ROOT_B]),
                reason=sig,
            ),
            case(
                "one root's signature repeated",
                ["DuplicateSigner"],
                previous=v2_dsse,
                candidate=_twice(_dsse(v3, [_ROOT_B])),
                reason=sig,
            ),
            case(
                "bit flipped in the payload after signing",
                ["TamperedPayload"],
                previous=v2_dsse,
                candidate=_tampered(_dsse(v3, ab), 20, 3),
                reason=sig,
            ),
            case(
                "version 1 after version 2",
                ["Rollback"],
                previous=v2_dsse,
                candidate=v1_dsse,
                reason="TRUST_BUNDLE_ROLLBACK",
            ),
            case(
                "version 2 again",
                ["Replay"],
                previous=v2_dsse,
                candidate=v2_dsse,
                reason="TRUST_BUNDLE_ROLLBACK",
            ),
            case(
                "version 4 after version 2",
                ["VersionGap"],
                previous=v2_dsse,
                candidate=_dsse(_bundle(4), ab),
                reason="TRUST_BUNDLE_VERSION_GAP",
            ),
            case(
                "version 3 of another federation",
                ["FederationMismatch"],
                previous=v2_dsse,
                candidate=_dsse(_bundle(3, federation="other-federation"), ab),
                reason="TRUST_BUNDLE_FEDERATION_MISMATCH",
            ),
            case(
                "version 3 expired two days before now",
                ["Expired"],
                previous=v2_dsse,
                candidate=_dsse(_bundle(3, issued=_at(5), expires=_at(8)), ab),
                reason="TRUST_BUNDLE_EXPIRED",
            ),
            case(
                "version 3 issued one hour after now",
                ["NotYetValid"],
                previous=v2_dsse,
                candidate=_dsse(_bundle(3, issued=now + timedelta(hours=1)), ab),
                reason="TRUST_BUNDLE_NOT_YET_VALID",
            ),
            case(
                "signed with the record payload type",
                ["WrongPayloadType"],
                previous=v2_dsse,
                candidate=_dsse(v3, ab, "application/vnd.creditlink.record.v1+protobuf"),
                reason=malformed,
            ),
            *[
                case(comment, flags, previous=v2_dsse, candidate=_dsse(pb, ab), reason=malformed)
                for comment, flags, pb in _malformed_bundles(3)
                if flags[0] in {"DuplicateNodeId", "ThresholdExceedsRoots"}
            ],
        ],
    )

    # -- chains ---------------------------------------------------------------------------
    v3_expired = _dsse(_bundle(3, issued=_at(3), expires=_at(6)), ab)
    v3_rotated = _dsse(
        _bundle(3, roots=[_ROOT_C, _ROOT_D], issued=_at(3)), [_ROOT_A, _ROOT_B, _ROOT_C, _ROOT_D]
    )
    group(
        "TrustBundleChain",
        [*_REQ_UPDATE, "CXP-TRUST-015", "CXP-TRUST-016"],
        [
            case(
                "versions 3 and 4; version 3 has expired, version 4 has not",
                ["IntermediateExpired"],
                previous=v2_dsse,
                chain=[v3_expired, _dsse(_bundle(4, issued=_at(7)), ab)],
                version=4,
            ),
            case(
                "rotation to C, D in version 3, version 4 signed by C, D",
                ["RootRotation"],
                previous=v2_dsse,
                chain=[v3_rotated, _dsse(_bundle(4, roots=[_ROOT_C, _ROOT_D]), [_ROOT_C, _ROOT_D])],
                version=4,
            ),
            case(
                "rotation to C, D in version 3, version 4 signed by the retired A, B",
                ["RotationNewRootsOnly", "NotSelfSigned"],
                previous=v2_dsse,
                chain=[v3_rotated, _dsse(_bundle(4, roots=[_ROOT_C, _ROOT_D]), ab)],
                reason=sig,
            ),
            case(
                "versions 3 and 5",
                ["VersionGap"],
                previous=v2_dsse,
                chain=[_dsse(v3, ab), _dsse(_bundle(5), ab)],
                reason="TRUST_BUNDLE_VERSION_GAP",
            ),
            case(
                "versions 3 and 4; version 4 has expired",
                ["Expired"],
                previous=v2_dsse,
                chain=[
                    _dsse(_bundle(3, issued=_at(3)), ab),
                    _dsse(_bundle(4, issued=_at(4), expires=_at(9)), ab),
                ],
                reason="TRUST_BUNDLE_EXPIRED",
            ),
        ],
    )

    tests = [t for g in groups for t in g["tests"]]
    used = sorted({flag for t in tests for flag in t["flags"]})
    return {
        "algorithm": "CXP-TRUST-BUNDLE",
        "schema": "trust_bundle_schema.json",
        "numberOfTests": len(tests),
        "notes": {flag: _NOTES[flag] for flag in used},
        "testGroups": groups,
    }
