"""Tests for the federation trust bundle (docs/spec/trust-bundle.md, CXP-TRUST-*).

Real Ed25519 keys from fixed seeds, real signatures, real protobuf; nothing under test is mocked.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from creditlink.sdk import envelope as envelope_mod
from creditlink.sdk.envelope import Envelope
from creditlink.sdk.errors import InvalidEnvelope, InvalidKey, InvalidTrustBundle
from creditlink.sdk.keys import (
    Algorithm,
    PrivateKey,
    PublicKey,
    Purpose,
    SealingPrivateKey,
)
from creditlink.sdk.trust import (
    MAX_CLOCK_SKEW,
    TRUST_BUNDLE_PAYLOAD_TYPE,
    Action,
    NodeInfo,
    NodeKind,
    RevocationReason,
    TrustBundle,
    TrustBundleBuilder,
    load_trust_bundle,
    read_trust_bundle_envelope,
    save_trust_bundle,
)
from creditlink.v1 import trust_pb2

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
US = timedelta(microseconds=1)
NOW = T0 + DAY


def _key(label: str) -> PrivateKey:
    return PrivateKey.from_seed(hashlib.sha256(b"test-trust/" + label.encode()).digest())


def _seal(label: str) -> SealingPrivateKey:
    return SealingPrivateKey.from_x25519_bytes(hashlib.sha256(b"seal/" + label.encode()).digest())


def _pin(label: str) -> bytes:
    return hashlib.sha256(b"tls/" + label.encode()).digest()


ROOT_A, ROOT_B, ROOT_C, ROOT_D = (_key(f"root-{x}") for x in "abcd")
HUB_SIGN, HUB_CKPT = _key("hub-sign"), _key("hub-ckpt")
ZJ_SIGN_OLD, ZJ_SIGN = _key("zj-sign-old"), _key("zj-sign")
ZJ_SEAL_OLD, ZJ_SEAL_NEW = _seal("zj-old"), _seal("zj-new")
HZ_SIGN, TAX_SIGN = _key("hz-sign"), _key("tax-sign")
ZJ_REVOKED_AT = T0 + 20 * DAY
TAX_AUTHORITY = "121200004013590816"


def make_builder(
    version: int = 1,
    *,
    roots: Sequence[PrivateKey] = (ROOT_A, ROOT_B),
    threshold: int = 2,
    issued: datetime = T0,
    expires: datetime = T0 + 90 * DAY,
    federation: str = "cn-credit",
) -> TrustBundleBuilder:
    """A small federation: hub, Zhejiang (with rotated keys), Hangzhou, the tax sector."""
    b = TrustBundleBuilder(
        federation_id=federation,
        version=version,
        issued_at=issued,
        expires_at=expires,
        root_threshold=threshold,
    )
    for root in roots:
        b.add_root_key(root.public_key, not_before=T0 - 365 * DAY, not_after=T0 + 3650 * DAY)
    b.add_node(
        "cn-hub",
        display_name="全国信用信息共享平台",
        region_code="100000",
        kind=NodeKind.HUB,
        tls_spki_sha256=[_pin("hub")],
        endpoints=["hub.example:443"],
        log_origin="creditlink.example/cn-hub",
    )
    b.add_key("cn-hub", HUB_SIGN.public_key, Purpose.SIGN, not_before=T0, not_after=T0 + 365 * DAY)
    b.add_key(
        "cn-hub",
        HUB_CKPT.public_key,
        Purpose.CHECKPOINT,
        not_before=T0,
        not_after=T0 + 365 * DAY,
        note_name="creditlink.example/cn-hub",
    )
    b.add_permission("cn-hub", Action.PUBLISH, kinds=["*"], scopes=["*"])
    b.add_permission("cn-hub", Action.WITNESS, kinds=["checkpoint"], scopes=["*"])

    b.add_node(
        "zj-330000",
        region_code="330000",
        kind=NodeKind.REGIONAL,
        tls_spki_sha256=[_pin("zj-a"), _pin("zj-b")],
        endpoints=["zj.example:443", "[2001:db8::1]:8443"],
        log_origin="creditlink.example/zj-330000",
    )
    b.add_key(
        "zj-330000",
        ZJ_SIGN_OLD.public_key,
        Purpose.SIGN,
        not_before=T0 - 365 * DAY,
        not_after=T0 + 60 * DAY,
    )
    b.add_key(
        "zj-330000",
        ZJ_SIGN.public_key,
        Purpose.SIGN,
        not_before=T0 + 10 * DAY,
        not_after=T0 + 365 * DAY,
    )
    b.add_key(
        "zj-330000",
        ZJ_SEAL_OLD.public_key,
        Purpose.SEAL,
        not_before=T0 - 30 * DAY,
        not_after=T0 + 60 * DAY,
    )
    b.add_key(
        "zj-330000",
        ZJ_SEAL_NEW.public_key,
        Purpose.SEAL,
        not_before=T0 + 30 * DAY,
        not_after=T0 + 400 * DAY,
    )
    b.add_permission(
        "zj-330000", Action.PUBLISH, kinds=["record", "name-list-entry"], scopes=["region:330000"]
    )
    b.add_permission("zj-330000", Action.READ, kinds=["*"], scopes=["*"])
    b.revoke(ZJ_SIGN_OLD.key_id, revoked_at=ZJ_REVOKED_AT, reason=RevocationReason.SUPERSEDED)

    b.add_node(
        "hz-330100", region_code="330100", kind=NodeKind.REGIONAL, tls_spki_sha256=[_pin("hz")]
    )
    b.add_key(
        "hz-330100", HZ_SIGN.public_key, Purpose.SIGN, not_before=T0, not_after=T0 + 365 * DAY
    )
    b.add_permission("hz-330100", Action.PUBLISH, kinds=["record"], scopes=["region:330100"])

    b.add_node(
        "tax-100000",
        region_code="100000",
        kind=NodeKind.SECTORAL,
        sector="tax",
        tls_spki_sha256=[_pin("tax")],
    )
    b.add_key(
        "tax-100000", TAX_SIGN.public_key, Purpose.SIGN, not_before=T0, not_after=T0 + 365 * DAY
    )
    b.add_permission("tax-100000", Action.PUBLISH, kinds=["name-list-entry"], scopes=["sector:tax"])
    b.add_permission(
        "tax-100000",
        Action.DETERMINE,
        kinds=["name-list-entry"],
        scopes=[f"authority:{TAX_AUTHORITY}", "sector:tax"],
    )
    return b


def bootstrap(
    env: Envelope,
    *,
    now: datetime = NOW,
    roots: Sequence[PrivateKey] = (ROOT_A, ROOT_B),
    threshold: int = 2,
) -> TrustBundle:
    return TrustBundle.from_envelope(
        env, trusted_roots=[r.public_key for r in roots], threshold=threshold, now=now
    )


V1_ENV = make_builder().sign([ROOT_A, ROOT_B])
V1 = bootstrap(V1_ENV)


def reason_of(call: Callable[[], object]) -> str:
    with pytest.raises(InvalidTrustBundle) as info:
        call()
    return info.value.reason


def sign_pb(
    pb: trust_pb2.TrustBundle, signers: Sequence[PrivateKey] = (ROOT_A, ROOT_B)
) -> Envelope:
    return envelope_mod.sign(pb.SerializeToString(), TRUST_BUNDLE_PAYLOAD_TYPE, list(signers))


def v1_pb() -> trust_pb2.TrustBundle:
    pb = trust_pb2.TrustBundle()
    pb.ParseFromString(V1_ENV.payload)
    return pb


# --------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------


def test_bootstrap_exposes_the_verified_bundle() -> None:
    """A first bundle verifies; its identity is the payload digest.

    Covers CXP-TRUST-001, CXP-TRUST-004, CXP-TRUST-017.
    """
    assert V1.federation_id == "cn-credit"
    assert V1.version == 1
    assert V1.issued_at == T0
    assert V1.expires_at == T0 + 90 * DAY
    assert V1.root_threshold == 2
    assert [r.key_id for r in V1.root_keys] == [ROOT_A.key_id, ROOT_B.key_id]
    assert V1.digest == hashlib.sha256(V1_ENV.payload).digest()
    assert V1.to_envelope() is V1_ENV
    assert V1_ENV.payload_type == TRUST_BUNDLE_PAYLOAD_TYPE
    assert V1.node_ids == ("cn-hub", "zj-330000", "hz-330100", "tax-100000")
    assert "cn-credit" in repr(V1)


def test_bootstrap_checks_signatures_before_parsing() -> None:
    """CXP-TRUST-002: garbage signed by an unpinned key is a signature failure, never parsed."""
    env = envelope_mod.sign(b"\xff\xff\xff", TRUST_BUNDLE_PAYLOAD_TYPE, [ROOT_C, ROOT_D])
    assert reason_of(lambda: bootstrap(env)) == "TRUST_BUNDLE_SIGNATURE"
    # The same garbage signed by the pinned roots reaches the parser.
    env = envelope_mod.sign(b"\xff\xff\xff", TRUST_BUNDLE_PAYLOAD_TYPE, [ROOT_A, ROOT_B])
    assert reason_of(lambda: bootstrap(env)) == "TRUST_BUNDLE_MALFORMED"


def test_bootstrap_threshold_counts_distinct_keys() -> None:
    """CXP-TRUST-003: one key signing twice counts once."""
    single = make_builder().sign([ROOT_A, ROOT_B])
    twice = Envelope(
        payload=single.payload,
        payload_type=single.payload_type,
        signatures=[single.signatures[0], single.signatures[0]],
    )
    assert reason_of(lambda: bootstrap(twice)) == "TRUST_BUNDLE_SIGNATURE"


def test_bootstrap_requires_self_signature() -> None:
    """CXP-TRUST-005: pinned roots are not enough when the bundle's own roots did not sign."""
    env = envelope_mod.sign(
        make_builder(roots=[ROOT_C, ROOT_D]).payload(), TRUST_BUNDLE_PAYLOAD_TYPE, [ROOT_A, ROOT_B]
    )
    assert reason_of(lambda: bootstrap(env)) == "TRUST_BUNDLE_SIGNATURE"
    # Signed by the pinned roots and its own: accepted even though the roots differ.
    env = make_builder(roots=[ROOT_C, ROOT_D]).sign([ROOT_A, ROOT_B, ROOT_C, ROOT_D])
    assert bootstrap(env).root_keys[0].key_id == ROOT_C.key_id


@pytest.mark.parametrize(
    ("roots", "threshold", "error"),
    [
        ([ROOT_A.public_key], 0, ValueError),
        ([ROOT_A.public_key, ROOT_A.public_key], 2, ValueError),  # one distinct root
        ([ROOT_A.public_key], 2, ValueError),
        ([ROOT_A], 1, TypeError),  # a private key is not a pinned root
    ],
)
def test_bootstrap_rejects_bad_configuration(
    roots: list[object], threshold: int, error: type[Exception]
) -> None:
    """A pinned-root configuration that cannot be right is a programming error, not a bundle one."""
    with pytest.raises(error):
        TrustBundle.from_envelope(V1_ENV, trusted_roots=roots, threshold=threshold, now=NOW)  # type: ignore[arg-type]


def test_naive_datetimes_are_refused() -> None:
    """Every instant is timezone-aware (no silent local time)."""
    naive = datetime(2026, 1, 2)  # noqa: DTZ001
    with pytest.raises(ValueError, match="timezone-aware"):
        bootstrap(V1_ENV, now=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        V1.signing_keys("zj-330000", kind="record", at=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        V1.verify_update(V1_ENV, now=naive)


@pytest.mark.parametrize(
    ("now", "reason"),
    [
        (T0 + 90 * DAY - US, None),
        (T0 + 90 * DAY, "TRUST_BUNDLE_EXPIRED"),
        (T0 - MAX_CLOCK_SKEW, None),
        (T0 - MAX_CLOCK_SKEW - US, "TRUST_BUNDLE_NOT_YET_VALID"),
    ],
)
def test_bootstrap_time_window(now: datetime, reason: str | None) -> None:
    """CXP-TRUST-009, CXP-TRUST-010: refused from expires_at on, and when issued beyond the skew."""
    if reason is None:
        assert bootstrap(V1_ENV, now=now).version == 1
    else:
        assert reason_of(lambda: bootstrap(V1_ENV, now=now)) == reason


def test_check_not_expired() -> None:
    """CXP-TRUST-009: gateways re-check freshness with the clock of the moment."""
    V1.check_not_expired(T0 + 90 * DAY - US)
    assert reason_of(lambda: V1.check_not_expired(T0 + 90 * DAY)) == "TRUST_BUNDLE_EXPIRED"


def test_root_key_windows_do_not_gate_bundle_signatures() -> None:
    """CXP-TRUST-018: a root counts while it is listed, whatever its record's window says."""
    b = TrustBundleBuilder(
        federation_id="cn-credit", version=1, issued_at=T0, expires_at=T0 + DAY, root_threshold=1
    )
    b.add_root_key(ROOT_A.public_key, not_before=T0 - 10 * DAY, not_after=T0 - 5 * DAY)
    bundle = bootstrap(b.sign([ROOT_A]), now=T0, roots=[ROOT_A], threshold=1)
    assert bundle.version == 1


def test_ecdsa_and_mldsa_roots() -> None:
    """CXP-TRUST-003: root keys of every signing algorithm work; the record fixes the algorithm."""
    ecdsa = PrivateKey.from_seed(bytes(31) + b"\x07", Algorithm.ECDSA_P256_SHA256)
    mldsa = PrivateKey.from_seed(bytes(range(32)), Algorithm.ML_DSA_65)
    env = make_builder(roots=[ecdsa, mldsa]).sign([ecdsa, mldsa])
    assert bootstrap(env, roots=[ecdsa, mldsa]).version == 1


def test_trust_bundle_cannot_be_built_directly() -> None:
    """Only verification produces a TrustBundle."""
    with pytest.raises(TypeError):
        TrustBundle(_token=object(), _envelope=V1_ENV, _payload=b"", _parsed=None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Structure
# --------------------------------------------------------------------------------------------


def _mutations() -> dict[str, Callable[[trust_pb2.TrustBundle], None]]:
    def dup_revocation(pb: trust_pb2.TrustBundle) -> None:
        pb.revocations.append(pb.revocations[0])

    def key_id_mismatch(pb: trust_pb2.TrustBundle) -> None:
        pb.nodes[0].keys[0].key_id = "0" * 32

    def ckpt_without_name(pb: trust_pb2.TrustBundle) -> None:
        pb.nodes[0].keys[1].note_name = ""

    def ckpt_name_with_space(pb: trust_pb2.TrustBundle) -> None:
        pb.nodes[0].keys[1].note_name = "creditlink example"

    def ckpt_name_with_nbsp(pb: trust_pb2.TrustBundle) -> None:
        pb.nodes[0].keys[1].note_name = "creditlink\u00a0example"

    def ckpt_name_with_plus(pb: trust_pb2.TrustBundle) -> None:
        pb.nodes[0].keys[1].note_name = "creditlink+example"

    def ckpt_name_with_control(pb: trust_pb2.TrustBundle) -> None:
        pb.nodes[0].keys[1].note_name = "creditlink\x01example"

    def bad_endpoint(pb: trust_pb2.TrustBundle) -> None:
        pb.nodes[0].endpoints.append("hub.example")

    def port_zero(pb: trust_pb2.TrustBundle) -> None:
        pb.nodes[0].endpoints.append("hub.example:0")

    def no_pins(pb: trust_pb2.TrustBundle) -> None:
        del pb.nodes[2].tls_spki_sha256[:]

    def short_pin(pb: trust_pb2.TrustBundle) -> None:
        pb.nodes[2].tls_spki_sha256[0] = b"\x00" * 31

    def unknown_kind(pb: trust_pb2.TrustBundle) -> None:
        pb.nodes[0].kind = 9  # type: ignore[assignment]

    def unknown_action(pb: trust_pb2.TrustBundle) -> None:
        pb.nodes[0].permissions[0].action = 0  # type: ignore[assignment]

    def no_scopes(pb: trust_pb2.TrustBundle) -> None:
        del pb.nodes[0].permissions[0].scopes[:]

    def bad_kind(pb: trust_pb2.TrustBundle) -> None:
        pb.nodes[0].permissions[0].kinds.append("Record")

    def bad_uscc(pb: trust_pb2.TrustBundle) -> None:
        pb.nodes[3].permissions[1].scopes.append("authority:121200004013590817")

    def bad_sector(pb: trust_pb2.TrustBundle) -> None:
        pb.nodes[3].sector = "Tax"

    def padded_node_id(pb: trust_pb2.TrustBundle) -> None:
        pb.nodes[3].node_id = " tax-100000"

    def seal_key_as_sign(pb: trust_pb2.TrustBundle) -> None:
        pb.nodes[1].keys[2].purpose = trust_pb2.KEY_PURPOSE_SIGN

    def no_root(pb: trust_pb2.TrustBundle) -> None:
        del pb.root_keys[:]

    def version_zero(pb: trust_pb2.TrustBundle) -> None:
        pb.version = 0

    def no_federation(pb: trust_pb2.TrustBundle) -> None:
        pb.federation_id = ""

    def no_expiry(pb: trust_pb2.TrustBundle) -> None:
        pb.ClearField("expires_at")

    def bad_revocation_reason(pb: trust_pb2.TrustBundle) -> None:
        pb.revocations[0].reason = 0  # type: ignore[assignment]

    def root_key_in_node(pb: trust_pb2.TrustBundle) -> None:
        pb.nodes[2].keys.append(pb.root_keys[0])

    def revoked_at_nanos(pb: trust_pb2.TrustBundle) -> None:
        pb.revocations[0].revoked_at.nanos = 999

    def far_future(pb: trust_pb2.TrustBundle) -> None:
        pb.expires_at.seconds = 253_402_300_800

    return {name: fn for name, fn in locals().items() if callable(fn) and not name.startswith("_")}


@pytest.mark.parametrize(("name", "mutate"), sorted(_mutations().items()))
def test_structural_faults_are_malformed(
    name: str, mutate: Callable[[trust_pb2.TrustBundle], None]
) -> None:
    """Every structural fault in a correctly signed bundle is MALFORMED.

    Covers CXP-TRUST-007, CXP-TRUST-008.
    """
    pb = v1_pb()
    mutate(pb)
    assert reason_of(lambda: bootstrap(sign_pb(pb))) == "TRUST_BUNDLE_MALFORMED", name


GOOD_ENDPOINTS = [
    "zj.example:443",
    "ZJ.Example:1",
    "localhost:65535",
    "a-b.c0.example:8443",
    "x" * 63 + ".example:443",
    ".".join(["a" * 63] * 3) + "." + "b" * 61 + ":443",  # 253 characters
    "192.0.2.7:443",
    "0.0.0.0:9",
    "[2001:db8::1]:8443",
    "[2001:DB8:0:0:0:0:0:1]:443",
    "[::]:1",
    "[::ffff:192.0.2.1]:443",
]
BAD_ENDPOINTS = [
    "zj.example",  # no port
    "zj.example:",
    ":443",
    "zj.example:0",
    "zj.example:65536",
    "zj.example:0443",  # leading zero
    "zj.example:+443",
    "zj.example: 443",
    " zj.example:443",
    "zj.example:443 ",
    "zj.example:\uff14\uff14\uff13",  # fullwidth digits
    "-zj.example:443",
    "zj-.example:443",
    "zj..example:443",
    ".zj.example:443",
    "zj.example.:443",  # trailing dot
    "zj_x.example:443",
    "h\u00e9llo.example:443",  # not an A-label
    "x" * 64 + ".example:443",  # label of 64
    ".".join(["a" * 63] * 3) + "." + "b" * 62 + ":443",  # 254 characters
    "123:443",  # all-digit last label
    "1.2.3:443",
    "1.2.3.256:443",
    "01.2.3.4:443",
    "2001:db8::1:443",  # IPv6 without brackets
    "[2001:db8::1%eth0]:443",  # zone identifier
    "[2001:db8::g]:443",
    "[1.2.3.4]:443",
    "[]:443",
    "user@zj.example:443",
    "https://zj.example:443",
]


@pytest.mark.parametrize(
    ("endpoint", "ok"), [(e, True) for e in GOOD_ENDPOINTS] + [(e, False) for e in BAD_ENDPOINTS]
)
def test_endpoint_grammar(endpoint: str, ok: bool) -> None:
    """CXP-TRUST-032 (via CXP-TRUST-007 rule 5): the endpoint grammar, exactly."""
    pb = v1_pb()
    pb.nodes[0].endpoints.append(endpoint)
    if ok:
        assert endpoint in bootstrap(sign_pb(pb)).node("cn-hub").endpoints
    else:
        assert reason_of(lambda: bootstrap(sign_pb(pb))) == "TRUST_BUNDLE_MALFORMED"


def test_unknown_field_is_malformed() -> None:
    """CXP-TRUST-006: an unknown field anywhere in the signed payload is refused."""
    pb = v1_pb()
    payload = pb.SerializeToString()
    # Field 50 (varint) inside the first node: rebuild the node with an unknown field appended.
    node = pb.nodes[0].SerializeToString() + b"\x90\x03\x01"
    pb2 = trust_pb2.TrustBundle()
    pb2.ParseFromString(payload)
    pb2.nodes[0].ParseFromString(node)
    env = envelope_mod.sign(pb2.SerializeToString(), TRUST_BUNDLE_PAYLOAD_TYPE, [ROOT_A, ROOT_B])
    assert reason_of(lambda: bootstrap(env)) == "TRUST_BUNDLE_MALFORMED"


def test_wrong_payload_type_is_malformed() -> None:
    """CXP-TRUST-001: only the trust-bundle payload type is accepted."""
    env = envelope_mod.sign(
        V1_ENV.payload, "application/vnd.creditlink.record.v1+protobuf", [ROOT_A, ROOT_B]
    )
    assert reason_of(lambda: bootstrap(env)) == "TRUST_BUNDLE_MALFORMED"


# --------------------------------------------------------------------------------------------
# Updates
# --------------------------------------------------------------------------------------------


def test_update_to_next_version() -> None:
    """CXP-TRUST-011, CXP-TRUST-013, CXP-TRUST-014: version N+1 signed by N's roots is accepted."""
    env = make_builder(2, issued=T0 + DAY).sign([ROOT_A, ROOT_B])
    v2 = V1.verify_update(env, now=NOW + DAY)
    assert v2.version == 2
    assert v2.to_envelope() is env


def test_root_rotation_needs_old_and_new_roots() -> None:
    """CXP-TRUST-005, CXP-TRUST-011: a rotation verifies under the old threshold and the new one."""
    rotated = make_builder(2, roots=[ROOT_C, ROOT_D], issued=T0 + DAY)
    assert V1.verify_update(rotated.sign([ROOT_A, ROOT_B, ROOT_C, ROOT_D]), now=NOW).version == 2
    assert (
        reason_of(lambda: V1.verify_update(rotated.sign([ROOT_C, ROOT_D]), now=NOW))
        == "TRUST_BUNDLE_SIGNATURE"
    )
    only_old = envelope_mod.sign(rotated.payload(), TRUST_BUNDLE_PAYLOAD_TYPE, [ROOT_A, ROOT_B])
    assert reason_of(lambda: V1.verify_update(only_old, now=NOW)) == "TRUST_BUNDLE_SIGNATURE"


@pytest.mark.parametrize(
    ("builder", "reason"),
    [
        (make_builder(1), "TRUST_BUNDLE_ROLLBACK"),
        (make_builder(3), "TRUST_BUNDLE_VERSION_GAP"),
        (make_builder(2, federation="other-fed"), "TRUST_BUNDLE_FEDERATION_MISMATCH"),
        (make_builder(2, expires=NOW), "TRUST_BUNDLE_EXPIRED"),
        (make_builder(2, issued=NOW + MAX_CLOCK_SKEW + US), "TRUST_BUNDLE_NOT_YET_VALID"),
    ],
)
def test_update_rejections(builder: TrustBundleBuilder, reason: str) -> None:
    """Rollback, gap, federation, freshness.

    Covers CXP-TRUST-009, CXP-TRUST-010, CXP-TRUST-012, CXP-TRUST-013, CXP-TRUST-014.
    """
    env = builder.sign([ROOT_A, ROOT_B])
    assert reason_of(lambda: V1.verify_update(env, now=NOW)) == reason


def test_replay_of_current_version_is_rollback() -> None:
    """CXP-TRUST-013: the same version again is not an update."""
    assert reason_of(lambda: V1.verify_update(V1_ENV, now=NOW)) == "TRUST_BUNDLE_ROLLBACK"


def test_update_from_expired_bundle() -> None:
    """CXP-TRUST-016: a node whose bundle expired while offline can still catch up."""
    later = T0 + 100 * DAY
    env = make_builder(2, issued=later, expires=later + 90 * DAY).sign([ROOT_A, ROOT_B])
    assert V1.verify_update(env, now=later).version == 2


def test_update_chain() -> None:
    """CXP-TRUST-015: versions are applied in order; intermediates may be expired."""
    v2 = make_builder(2, issued=T0 + DAY, expires=T0 + 2 * DAY).sign([ROOT_A, ROOT_B])
    v3 = make_builder(3, issued=T0 + 3 * DAY, roots=[ROOT_B, ROOT_C]).sign([ROOT_A, ROOT_B, ROOT_C])
    v4 = make_builder(4, issued=T0 + 4 * DAY, roots=[ROOT_B, ROOT_C]).sign([ROOT_B, ROOT_C])
    now = T0 + 5 * DAY
    assert V1.verify_update_chain([v2, v3, v4], now=now).version == 4
    assert V1.verify_update_chain(iter([v2, v3]), now=now).version == 3
    # v4 signed by v2's roots, so only the missing v3 is wrong.
    v4_after_v2 = make_builder(4, issued=T0 + 4 * DAY).sign([ROOT_A, ROOT_B])
    assert reason_of(lambda: V1.verify_update_chain([v2, v4_after_v2], now=now)) == (
        "TRUST_BUNDLE_VERSION_GAP"
    )
    # v2 alone is expired at `now`: the last bundle must be fresh.
    assert reason_of(lambda: V1.verify_update_chain([v2], now=now)) == "TRUST_BUNDLE_EXPIRED"
    # v4 signed with the retired root A instead of C does not follow v3.
    v4_bad = make_builder(4, issued=T0 + 4 * DAY, roots=[ROOT_B, ROOT_C]).sign(
        [ROOT_A, ROOT_B, ROOT_C]
    )
    stripped = Envelope(
        payload=v4_bad.payload,
        payload_type=v4_bad.payload_type,
        signatures=[s for s in v4_bad.signatures if s.keyid != ROOT_C.key_id],
    )
    assert reason_of(lambda: V1.verify_update_chain([v2, v3, stripped], now=now)) == (
        "TRUST_BUNDLE_SIGNATURE"
    )


def test_empty_chain_returns_current_if_fresh() -> None:
    """CXP-TRUST-015: no updates leaves the current bundle, which must still be fresh."""
    assert V1.verify_update_chain([], now=NOW) is V1
    assert (
        reason_of(lambda: V1.verify_update_chain([], now=T0 + 90 * DAY)) == "TRUST_BUNDLE_EXPIRED"
    )


def _hint_ranges() -> list[tuple[int, int]]:
    """(start, end) byte ranges of the key id hints in the envelope encoding.

    Key id hints are unauthenticated by design (DSSE): changing one cannot forge anything, so
    those bytes are excluded from the "every flip is rejected" property. The root key ids also
    occur inside the payload, hence the search from the end.
    """
    data = V1_ENV.to_bytes()
    return [(h, h + 32) for h in (data.rindex(s.keyid.encode()) for s in V1_ENV.signatures)]


HINT_RANGES = _hint_ranges()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_bit_flip_in_envelope_is_rejected(data: st.DataObject) -> None:
    """CXP-TRUST-002: flipping any bit of the signed envelope (outside key id hints) fails."""
    encoded = V1_ENV.to_bytes()
    index = data.draw(st.integers(0, len(encoded) - 1))
    assume(not any(start <= index < end for start, end in HINT_RANGES))
    bit = data.draw(st.integers(0, 7))
    flipped = bytearray(encoded)
    flipped[index] ^= 1 << bit
    with pytest.raises((InvalidEnvelope, InvalidTrustBundle)):
        bootstrap(Envelope.from_bytes(bytes(flipped)))


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_bit_flip_in_update_payload_is_rejected(data: st.DataObject) -> None:
    """An update whose payload changed after signing never verifies.

    Covers CXP-TRUST-002, CXP-TRUST-011.
    """
    env = make_builder(2).sign([ROOT_A, ROOT_B])
    index = data.draw(st.integers(0, len(env.payload) - 1))
    bit = data.draw(st.integers(0, 7))
    payload = bytearray(env.payload)
    payload[index] ^= 1 << bit
    flipped = Envelope(
        payload=bytes(payload), payload_type=env.payload_type, signatures=env.signatures
    )
    assert reason_of(lambda: V1.verify_update(flipped, now=NOW)) == "TRUST_BUNDLE_SIGNATURE"


# --------------------------------------------------------------------------------------------
# Key lookups
# --------------------------------------------------------------------------------------------


def _ids(keys: Sequence[PublicKey]) -> list[str]:
    return [k.key_id for k in keys]


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (T0 - 365 * DAY - US, []),
        (T0 - 365 * DAY, [ZJ_SIGN_OLD]),  # not_before is inclusive
        (T0 + 10 * DAY - US, [ZJ_SIGN_OLD]),
        (T0 + 10 * DAY, [ZJ_SIGN, ZJ_SIGN_OLD]),  # newest first
        (ZJ_REVOKED_AT - US, [ZJ_SIGN, ZJ_SIGN_OLD]),
        (ZJ_REVOKED_AT, [ZJ_SIGN]),  # revoked from revoked_at on
        (T0 + 365 * DAY - US, [ZJ_SIGN]),
        (T0 + 365 * DAY, []),  # not_after is exclusive
    ],
)
def test_signing_key_windows_and_revocation(at: datetime, expected: list[PrivateKey]) -> None:
    """[not_before, not_after) and before revoked_at.

    Covers CXP-TRUST-020, CXP-TRUST-021, CXP-TRUST-022.
    """
    assert _ids(V1.signing_keys("zj-330000", kind="record", at=at)) == _ids(
        [k.public_key for k in expected]
    )


def test_revocation_lookup() -> None:
    """CXP-TRUST-021: the revocation instant is exposed for audit."""
    assert V1.revoked_at(ZJ_SIGN_OLD.key_id) == ZJ_REVOKED_AT
    assert V1.revoked_at(ZJ_SIGN.key_id) is None


@pytest.mark.parametrize(
    ("node_id", "kind", "expected"),
    [
        ("zj-330000", "record", [ZJ_SIGN]),
        ("zj-330000", "name-list-entry", [ZJ_SIGN]),
        ("zj-330000", "report", []),  # READ on "*" does not authorize signing
        ("zj-330000", "receipt", [ZJ_SIGN]),  # keeps a log
        ("hz-330100", "receipt", []),  # no log_origin: issues no receipts
        ("hz-330100", "batch-head", [HZ_SIGN]),
        ("tax-100000", "name-list-entry", [TAX_SIGN]),
        ("tax-100000", "record", []),
        ("cn-hub", "report", [HUB_SIGN]),  # PUBLISH on "*"
        ("cn-hub", "trust-bundle", []),  # root keys sign bundles
        ("cn-hub", "checkpoint", []),  # checkpoint keys sign checkpoints
        ("no-such-node", "record", []),
    ],
)
def test_signing_keys_by_kind(node_id: str, kind: str, expected: list[PrivateKey]) -> None:
    """Kind rules, infrastructure kinds, unknown node -> [].

    Covers CXP-TRUST-022, CXP-TRUST-023, CXP-TRUST-024.
    """
    at = T0 + 30 * DAY
    assert _ids(V1.signing_keys(node_id, kind=kind, at=at)) == _ids(
        [k.public_key for k in expected]
    )


@pytest.mark.parametrize("kind", ["*", "Record", "", "record.v1", "-record"])
def test_signing_keys_rejects_bad_kind(kind: str) -> None:
    """A lookup names one concrete kind."""
    with pytest.raises(ValueError, match="kind"):
        V1.signing_keys("zj-330000", kind=kind, at=NOW)


def test_sealing_key_is_newest_valid() -> None:
    """CXP-TRUST-025: the SEAL key with the latest not_before among those valid at `at`."""
    assert V1.sealing_key("zj-330000", at=NOW).key_id == ZJ_SEAL_OLD.key_id
    assert V1.sealing_key("zj-330000", at=T0 + 30 * DAY).key_id == ZJ_SEAL_NEW.key_id
    assert V1.sealing_key("zj-330000", at=T0 + 60 * DAY).key_id == ZJ_SEAL_NEW.key_id
    record = V1.sealing_key("zj-330000", at=T0 + 30 * DAY)
    assert record.purpose is Purpose.SEAL
    assert record.public_key == ZJ_SEAL_NEW.public_key


def test_sealing_key_skips_revoked_key() -> None:
    """CXP-TRUST-021, CXP-TRUST-025: a revoked sealing key is never chosen."""
    b = make_builder()
    b.revoke(ZJ_SEAL_NEW.key_id, revoked_at=T0, reason=RevocationReason.KEY_COMPROMISE)
    bundle = bootstrap(b.sign([ROOT_A, ROOT_B]))
    assert bundle.sealing_key("zj-330000", at=T0 + 30 * DAY).key_id == ZJ_SEAL_OLD.key_id


@pytest.mark.parametrize(
    ("node_id", "at"), [("hz-330100", NOW), ("nope-1", NOW), ("zj-330000", T0 + 400 * DAY)]
)
def test_sealing_key_absent(node_id: str, at: datetime) -> None:
    """CXP-TRUST-024, CXP-TRUST-025: no sealing key is an error the sender cannot ignore."""
    with pytest.raises(InvalidKey) as info:
        V1.sealing_key(node_id, at=at)
    assert info.value.reason == "NO_SEALING_KEY"


def test_checkpoint_keys() -> None:
    """CXP-TRUST-026: checkpoint keys come with their signed-note key name."""
    (record,) = V1.checkpoint_keys("cn-hub", at=NOW)
    assert record.key_id == HUB_CKPT.key_id
    assert record.note_name == "creditlink.example/cn-hub"
    assert V1.checkpoint_keys("zj-330000", at=NOW) == []
    assert V1.checkpoint_keys("cn-hub", at=T0 - US) == []
    assert V1.checkpoint_keys("nope-1", at=NOW) == []
    assert V1.permits("cn-hub", Action.WITNESS, "checkpoint", "*")
    assert not V1.permits("zj-330000", Action.WITNESS, "checkpoint", "*")


def test_node_view() -> None:
    """NodeInfo is a frozen view with Python enums; unknown nodes raise KeyError."""
    zj = V1.node("zj-330000")
    assert zj == NodeInfo(
        node_id="zj-330000",
        display_name="",
        region_code="330000",
        kind=NodeKind.REGIONAL,
        sector="",
        endpoints=("zj.example:443", "[2001:db8::1]:8443"),
        tls_spki_sha256=(_pin("zj-a"), _pin("zj-b")),
        log_origin="creditlink.example/zj-330000",
    )
    assert V1.node("cn-hub").display_name == "全国信用信息共享平台"
    assert V1.node("tax-100000").sector == "tax"
    assert [n.node_id for n in V1.nodes()] == list(V1.node_ids)
    with pytest.raises(KeyError):
        V1.node("nope-1")
    with pytest.raises(AttributeError):
        zj.region_code = "110000"  # type: ignore[misc]


def test_node_for_tls_spki() -> None:
    """CXP-TRUST-027: a certificate maps to a node only through a pin."""
    node = V1.node_for_tls_spki(_pin("zj-b"))
    assert node is not None
    assert node.node_id == "zj-330000"
    assert V1.node_for_tls_spki(_pin("unknown")) is None
    assert V1.node_for_tls_spki(b"") is None


# --------------------------------------------------------------------------------------------
# Permissions
# --------------------------------------------------------------------------------------------


def _region_bundle(granted: str) -> TrustBundle:
    b = TrustBundleBuilder(
        federation_id="cn-credit",
        version=1,
        issued_at=T0,
        expires_at=T0 + DAY,
        root_threshold=1,
    )
    b.add_root_key(ROOT_A.public_key, not_before=T0, not_after=T0 + DAY)
    b.add_node("node-x", region_code="330000", kind=NodeKind.REGIONAL, tls_spki_sha256=[_pin("x")])
    b.add_permission("node-x", Action.PUBLISH, kinds=["record"], scopes=[f"region:{granted}"])
    return bootstrap(b.sign([ROOT_A]), now=T0, roots=[ROOT_A], threshold=1)


REGION_CASES = [
    ("330000", "330000", True),
    ("330000", "330100", True),
    ("330000", "330106", True),
    ("330000", "320000", False),
    ("330000", "100000", False),
    ("330100", "330106", True),
    ("330100", "330100", True),
    ("330100", "330200", False),
    ("330100", "330000", False),
    ("330106", "330106", True),
    ("330106", "330107", False),
    ("100000", "110000", True),
    ("100000", "330106", True),
    ("100000", "100000", True),
    ("110000", "110101", True),
    ("110000", "100000", False),
]


@pytest.mark.parametrize(("granted", "subject", "expected"), REGION_CASES)
def test_region_scope_prefix(granted: str, subject: str, expected: bool) -> None:
    """CXP-TRUST-031: trailing 00 pairs stripped, then prefix; 100000 covers everything."""
    bundle = _region_bundle(granted)
    assert bundle.permits("node-x", Action.PUBLISH, "record", f"region:{subject}") is expected


@settings(max_examples=60, deadline=None)
@given(
    province=st.sampled_from(["11", "31", "33", "44", "65", "82"]),
    rest=st.from_regex(r"[0-9]{4}", fullmatch=True),
)
def test_province_covers_its_codes(province: str, rest: str) -> None:
    """CXP-TRUST-031: a province-level grant covers every code with its two digits."""
    assert _PROVINCE_33.permits("node-x", Action.PUBLISH, "record", f"region:{province}{rest}") is (
        province == "33"
    )
    assert _NATIONAL.permits("node-x", Action.PUBLISH, "record", f"region:{province}{rest}")


_PROVINCE_33 = _region_bundle("330000")
_NATIONAL = _region_bundle("100000")


@pytest.mark.parametrize(
    ("node_id", "action", "kind", "scope", "expected"),
    [
        ("cn-hub", Action.PUBLISH, "anything", "*", True),  # "*" kind and "*" scope
        ("cn-hub", Action.PUBLISH, "record", f"authority:{TAX_AUTHORITY}", True),
        ("cn-hub", Action.READ, "record", "*", False),  # no READ permission
        ("zj-330000", Action.PUBLISH, "record", "*", False),  # region grant is not "*"
        ("zj-330000", Action.PUBLISH, "record", "region:330482", True),
        ("zj-330000", Action.PUBLISH, "report", "region:330482", False),  # kind not listed
        ("zj-330000", Action.PUBLISH, "record", "sector:tax", False),  # other scope type
        ("zj-330000", Action.DETERMINE, "record", "region:330000", False),  # other action
        ("zj-330000", Action.READ, "report", "region:110000", True),
        ("tax-100000", Action.DETERMINE, "name-list-entry", f"authority:{TAX_AUTHORITY}", True),
        ("tax-100000", Action.DETERMINE, "name-list-entry", "authority:91110000600037341L", False),
        ("tax-100000", Action.DETERMINE, "name-list-entry", "sector:tax", True),
        ("tax-100000", Action.PUBLISH, "name-list-entry", "sector:courts", False),
        ("tax-100000", Action.PUBLISH, "name-list-entry", "region:100000", False),
        ("nope-1", Action.READ, "record", "*", False),  # unknown node: deny
    ],
)
def test_permits(node_id: str, action: Action, kind: str, scope: str, expected: bool) -> None:
    """CXP-TRUST-030, CXP-TRUST-031: deny by default; action, kind and scope must all match."""
    assert V1.permits(node_id, action, kind, scope) is expected


@pytest.mark.parametrize(
    "scope",
    ["", "region", "region:33", "region:190000", "province:33", "sector:Tax", "authority:x", "**"],
)
def test_permits_rejects_malformed_scope(scope: str) -> None:
    """CXP-TRUST-031: a malformed scope is a caller error, not a silent deny."""
    with pytest.raises(ValueError, match="scope"):
        V1.permits("zj-330000", Action.PUBLISH, "record", scope)


def test_permits_requires_action_enum() -> None:
    """Actions are the Action enum, never raw proto numbers."""
    with pytest.raises(TypeError):
        V1.permits("zj-330000", 1, "record", "*")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Builder
# --------------------------------------------------------------------------------------------


def test_builder_payload_is_deterministic() -> None:
    """CXP-TRUST-001: the same content yields the same payload bytes."""
    assert make_builder().payload() == make_builder().payload() == V1_ENV.payload


def test_builder_refuses_malformed_bundles() -> None:
    """The builder runs the verifier's structural checks."""
    with pytest.raises(InvalidTrustBundle) as info:
        make_builder(threshold=3).payload()
    assert info.value.reason == "TRUST_BUNDLE_MALFORMED"
    b = make_builder()
    with pytest.raises(ValueError, match="already present"):
        b.add_node("cn-hub", region_code="100000", kind=NodeKind.HUB, tls_spki_sha256=[_pin("z")])
    with pytest.raises(ValueError, match="already present"):
        b.add_root_key(ROOT_A.public_key, not_before=T0, not_after=T0 + DAY)
    with pytest.raises(ValueError, match="add_root_key"):
        b.add_key("cn-hub", ROOT_C.public_key, Purpose.ROOT, not_before=T0, not_after=T0 + DAY)
    with pytest.raises(KeyError):
        b.add_key("nope-1", ROOT_C.public_key, Purpose.SIGN, not_before=T0, not_after=T0 + DAY)
    with pytest.raises(KeyError):
        b.remove_root_key(ROOT_C.key_id)


def test_builder_sign_needs_own_threshold() -> None:
    """CXP-TRUST-005: the builder will not produce a bundle its own roots did not sign."""
    with pytest.raises(ValueError, match="own root keys"):
        make_builder().sign([ROOT_A, ROOT_C])
    with pytest.raises(ValueError, match="own root keys"):
        make_builder().sign([ROOT_A, ROOT_A])


def test_builder_from_bundle_makes_next_version() -> None:
    """CXP-TRUST-011, CXP-TRUST-013: from_bundle copies everything and increments the version."""
    b = TrustBundleBuilder.from_bundle(V1, issued_at=T0 + DAY, expires_at=T0 + 91 * DAY)
    assert b.version == 2
    b.add_root_key(ROOT_C.public_key, not_before=T0, not_after=T0 + 3650 * DAY)
    b.remove_root_key(ROOT_A.key_id)
    b.remove_node("hz-330100")
    v2 = V1.verify_update(b.sign([ROOT_A, ROOT_B, ROOT_C]), now=NOW)
    assert [r.key_id for r in v2.root_keys] == [ROOT_B.key_id, ROOT_C.key_id]
    assert v2.node_ids == ("cn-hub", "zj-330000", "tax-100000")
    assert v2.revoked_at(ZJ_SIGN_OLD.key_id) == ZJ_REVOKED_AT
    assert v2.signing_keys("zj-330000", kind="record", at=NOW) == V1.signing_keys(
        "zj-330000", kind="record", at=NOW
    )


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def test_save_and_load(tmp_path: Path) -> None:
    """CXP-TRUST-001: the distribution file is the DSSE JSON of the envelope."""
    path = tmp_path / "trust-bundle.json"
    save_trust_bundle(V1, path)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["payloadType"] == TRUST_BUNDLE_PAYLOAD_TYPE
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert read_trust_bundle_envelope(path) == V1_ENV
    pinned = [ROOT_A.public_key, ROOT_B.public_key]
    loaded = load_trust_bundle(path, now=NOW, trusted_roots=pinned, threshold=2)
    assert loaded.digest == V1.digest

    update = tmp_path / "v2.json"
    save_trust_bundle(make_builder(2).sign([ROOT_A, ROOT_B]), update)
    assert load_trust_bundle(update, now=NOW, previous=loaded).version == 2
    # Replacing a file is atomic and leaves no temporary files behind.
    save_trust_bundle(make_builder(2).sign([ROOT_A, ROOT_B]), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trust-bundle.json", "v2.json"]


def test_load_argument_errors(tmp_path: Path) -> None:
    """Exactly one of previous or trusted_roots (with a threshold)."""
    path = tmp_path / "b.json"
    save_trust_bundle(V1_ENV, path)
    with pytest.raises(ValueError, match="exactly one"):
        load_trust_bundle(path, now=NOW)
    with pytest.raises(ValueError, match="exactly one"):
        load_trust_bundle(path, now=NOW, previous=V1, trusted_roots=[ROOT_A.public_key])
    with pytest.raises(ValueError, match="threshold"):
        load_trust_bundle(path, now=NOW, trusted_roots=[ROOT_A.public_key])


def test_read_garbage_file(tmp_path: Path) -> None:
    """A file that is not DSSE JSON is MALFORMED, not a crash."""
    path = tmp_path / "garbage.json"
    path.write_text('{"payload": 1}', encoding="utf-8")
    with pytest.raises(InvalidTrustBundle) as info:
        read_trust_bundle_envelope(path)
    assert info.value.reason == "TRUST_BUNDLE_MALFORMED"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: {**d, "signatures": []},  # NO_SIGNATURES
        lambda d: {**d, "signatures": d["signatures"] * 9},  # 18 signatures: LIMIT_EXCEEDED
        lambda d: {**d, "payload": ""},  # empty payload: MALFORMED_ENVELOPE
        lambda d: {**d, "extra": 1},  # unknown member: MALFORMED_ENVELOPE
    ],
)
def test_envelope_decoding_errors_map_to_malformed(tmp_path: Path, mutate: Callable) -> None:
    """CXP-TRUST-033: every envelope decoding reason is reported as TRUST_BUNDLE_MALFORMED."""
    path = tmp_path / "trust-bundle.json"
    path.write_text(json.dumps(mutate(V1_ENV.to_dict())), encoding="utf-8")
    with pytest.raises(InvalidEnvelope):
        Envelope.from_json(path.read_bytes())  # the envelope reason itself ...
    with pytest.raises(InvalidTrustBundle) as info:
        read_trust_bundle_envelope(path)  # ... is never reported as such
    assert info.value.reason == "TRUST_BUNDLE_MALFORMED"


def test_pinned_threshold_above_the_pinned_keys_is_a_configuration_error() -> None:
    """CXP-TRUST-004: t < 1 or t > distinct pinned keys is refused before any envelope."""
    for threshold in (0, 3):
        with pytest.raises(ValueError, match="threshold"):
            bootstrap(V1_ENV, threshold=threshold)
    # The same pinned key twice is one key.
    with pytest.raises(ValueError, match="threshold"):
        bootstrap(V1_ENV, roots=[ROOT_A, ROOT_A], threshold=2)


def test_update_chain_is_bounded() -> None:
    """A chain may apply at most MAX_CHAIN_LENGTH versions; one more is refused.

    Covers CXP-TRUST-015.
    """
    limit = 3  # the rule is the same at any limit; a small one keeps the test fast
    chain = [make_builder(v).sign([ROOT_A, ROOT_B]) for v in range(2, limit + 3)]
    assert V1.verify_update_chain(chain[:limit], now=NOW).version == limit + 1
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("creditlink.sdk.trust.MAX_CHAIN_LENGTH", limit)
        assert V1.verify_update_chain(chain[:limit], now=NOW).version == limit + 1
        with pytest.raises(InvalidTrustBundle) as info:
            V1.verify_update_chain(chain[: limit + 1], now=NOW)
    assert info.value.reason == "TRUST_BUNDLE_CHAIN_TOO_LONG"


def test_a_bundle_pickles_to_an_equal_bundle_parsed_once_per_process() -> None:
    """A gateway hands its verified bundle to its intake worker processes by pickling."""
    import pickle

    from creditlink.sdk import trust as trust_module

    bundle = V1
    data = pickle.dumps(bundle)
    trust_module._RESTORED.clear()
    copy = pickle.loads(data)
    assert copy is not bundle
    assert (copy.digest, copy.version, copy.node_ids) == (
        bundle.digest,
        bundle.version,
        bundle.node_ids,
    )
    for node_id in bundle.node_ids:
        assert copy.node(node_id) == bundle.node(node_id)
    assert pickle.loads(data) is copy  # restored once, then reused
    tampered = data.replace(bundle.digest, bytes(32))
    trust_module._RESTORED.clear()
    with pytest.raises(ValueError, match="digest"):
        pickle.loads(tampered)
