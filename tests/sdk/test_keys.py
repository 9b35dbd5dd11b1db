"""Keys: algorithms, key ids, key files, key records, validity windows and key sets."""

from __future__ import annotations

import hashlib
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from hypothesis import given, settings
from hypothesis import strategies as st

from creditlink.sdk.errors import InvalidKey, VerificationError
from creditlink.sdk.keys import (
    Algorithm,
    KeyRecord,
    KeySet,
    KeySetEntry,
    PrivateKey,
    PublicKey,
    Purpose,
    SealingPrivateKey,
    SealingPublicKey,
    key_id_for,
    load_private_key,
    save_private_key,
)
from creditlink.v1 import trust_pb2

SIGNING = [Algorithm.ED25519, Algorithm.ECDSA_P256_SHA256, Algorithm.ML_DSA_65]
SEALING = [Algorithm.X25519_HPKE, Algorithm.MLKEM768_X25519_HPKE]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def signing_keys() -> dict[Algorithm, PrivateKey]:
    return {alg: PrivateKey.generate(alg) for alg in SIGNING}


@pytest.fixture(scope="module")
def sealing_keys() -> dict[Algorithm, SealingPrivateKey]:
    return {alg: SealingPrivateKey.generate(alg) for alg in SEALING}


# --- enums ------------------------------------------------------------------------------------


def test_enum_values_match_proto() -> None:
    """CXP-KEY-003: enum values are the proto KeyAlgorithm / KeyPurpose numbers."""
    for alg in Algorithm:
        assert trust_pb2.KeyAlgorithm.Value(f"KEY_ALGORITHM_{alg.name}") == alg.value
    for purpose in Purpose:
        assert trust_pb2.KeyPurpose.Value(f"KEY_PURPOSE_{purpose.name}") == purpose.value


# --- signing keys -----------------------------------------------------------------------------


@pytest.mark.parametrize("alg", SIGNING)
def test_sign_verify_round_trip(signing_keys: dict[Algorithm, PrivateKey], alg: Algorithm) -> None:
    """CXP-KEY-003: every signing algorithm signs and verifies; a changed message fails."""
    key = signing_keys[alg]
    sig = key.sign(b"message")
    key.public_key.verify(sig, b"message")
    with pytest.raises(VerificationError) as err:
        key.public_key.verify(sig, b"messagf")
    assert err.value.reason == "INVALID_SIGNATURE"
    assert key.algorithm is alg
    assert key.public_key.algorithm is alg


def test_ml_dsa_65_round_trip_through_bytes(signing_keys: dict[Algorithm, PrivateKey]) -> None:
    """CXP-KEY-003: ML-DSA-65 signatures are 3309 bytes and verify under the reloaded key."""
    key = signing_keys[Algorithm.ML_DSA_65]
    sig = key.sign(b"pq")
    assert len(sig) == 3309
    again = PublicKey.from_bytes(key.public_key.public_bytes, Algorithm.ML_DSA_65)
    again.verify(sig, b"pq")
    assert again == key.public_key


def test_ecdsa_is_deterministic_der() -> None:
    """CXP-KEY-003: ECDSA P-256 signatures are RFC 6979 deterministic and DER encoded."""
    key = PrivateKey.from_seed(bytes(31) + b"\x07", Algorithm.ECDSA_P256_SHA256)
    assert key.sign(b"x") == key.sign(b"x")
    assert key.sign(b"x")[0] == 0x30  # DER SEQUENCE


@pytest.mark.parametrize("alg", SIGNING)
def test_malformed_signature_is_verification_error(
    signing_keys: dict[Algorithm, PrivateKey], alg: Algorithm
) -> None:
    """CXP-KEY-003: garbage, empty or truncated signatures fail as INVALID_SIGNATURE."""
    public = signing_keys[alg].public_key
    sig = signing_keys[alg].sign(b"m")
    for bad in (b"", b"\x00", sig[:-1], sig + b"\x00", bytes(len(sig))):
        with pytest.raises(VerificationError):
            public.verify(bad, b"m")


def test_key_id_is_sha256_prefix_of_spki(signing_keys: dict[Algorithm, PrivateKey]) -> None:
    """CXP-KEY-001: key id = lowercase hex of SHA-256(SubjectPublicKeyInfo DER)[:16]."""
    for key in signing_keys.values():
        spki = key._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert key.public_key.public_bytes == spki
        assert key.key_id == hashlib.sha256(spki).hexdigest()[:32]
        assert key.key_id == key_id_for(spki)


def test_key_id_known_answer() -> None:
    """CXP-KEY-001: a fixed Ed25519 seed gives a fixed key id (documented in keys.md)."""
    key = PrivateKey.from_seed(bytes(range(32)))
    raw = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32))).public_key()
    spki = bytes.fromhex("302a300506032b6570032100") + raw.public_bytes_raw()
    assert key.public_key.public_bytes == spki
    assert key.key_id == hashlib.sha256(spki).digest()[:16].hex()


def test_ecdsa_key_passed_as_ed25519_is_refused(signing_keys: dict[Algorithm, PrivateKey]) -> None:
    """CXP-KEY-002: a key must really be of the algorithm its record names."""
    ecdsa = signing_keys[Algorithm.ECDSA_P256_SHA256].public_key.public_bytes
    with pytest.raises(InvalidKey):
        PublicKey.from_bytes(ecdsa, Algorithm.ED25519)
    ed = signing_keys[Algorithm.ED25519].public_key.public_bytes
    for alg in (Algorithm.ECDSA_P256_SHA256, Algorithm.ML_DSA_65):
        with pytest.raises(InvalidKey):
            PublicKey.from_bytes(ed, alg)
    with pytest.raises(InvalidKey):
        PublicKey.from_bytes(ed, Algorithm.X25519_HPKE)
    with pytest.raises(InvalidKey):
        PublicKey.from_pem(
            signing_keys[Algorithm.ECDSA_P256_SHA256].public_key.to_pem(), Algorithm.ED25519
        )


def test_other_curves_and_encodings_are_refused() -> None:
    """CXP-KEY-002: P-384 is not ECDSA_P256_SHA256; compressed points and raw keys are not
    canonical SubjectPublicKeyInfo."""
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    der = p384.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(InvalidKey):
        PublicKey.from_bytes(der, Algorithm.ECDSA_P256_SHA256)
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    compressed = p256.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # Rebuild the SPKI around the compressed point: same key, non-canonical encoding.
    point = p256.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    canonical = PublicKey.from_bytes(compressed, Algorithm.ECDSA_P256_SHA256)
    assert canonical.public_bytes == compressed
    spki_prefix = bytes.fromhex("3039301306072a8648ce3d020106082a8648ce3d030107032200")
    with pytest.raises(InvalidKey):
        PublicKey.from_bytes(spki_prefix + point, Algorithm.ECDSA_P256_SHA256)
    with pytest.raises(InvalidKey):
        PublicKey.from_bytes(bytes(32), Algorithm.ED25519)
    with pytest.raises(InvalidKey):
        PublicKey.from_bytes(compressed + b"\x00", Algorithm.ECDSA_P256_SHA256)


def test_pem_round_trip(signing_keys: dict[Algorithm, PrivateKey]) -> None:
    for key in signing_keys.values():
        pem = key.public_key.to_pem()
        assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
        assert PublicKey.from_pem(pem) == key.public_key
        assert PublicKey.from_pem(pem, key.algorithm) == key.public_key
    with pytest.raises(InvalidKey):
        PublicKey.from_pem(b"not pem")


def test_from_seed() -> None:
    """Seeds give fixed keys (vectors); bad seeds raise InvalidKey."""
    assert PrivateKey.from_seed(bytes(32)).key_id == PrivateKey.from_seed(bytes(32)).key_id
    mldsa = PrivateKey.from_seed(bytes(32), Algorithm.ML_DSA_65)
    assert mldsa.key_id == PrivateKey.from_seed(bytes(32), Algorithm.ML_DSA_65).key_id
    for seed, alg in [
        (bytes(31), Algorithm.ED25519),
        (bytes(32), Algorithm.ECDSA_P256_SHA256),  # scalar 0
        (b"\xff" * 32, Algorithm.ECDSA_P256_SHA256),  # scalar >= n
        (bytes(16), Algorithm.ML_DSA_65),
        (bytes(32), Algorithm.X25519_HPKE),
    ]:
        with pytest.raises(InvalidKey):
            PrivateKey.from_seed(seed, alg)
    with pytest.raises(InvalidKey):
        PrivateKey.generate(Algorithm.X25519_HPKE)


def test_repr_hides_key_material() -> None:
    key = PrivateKey.from_seed(bytes(range(32)))
    assert bytes(range(32)).hex() not in repr(key)
    assert key.key_id in repr(key)


@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=256), flip=st.integers(min_value=0))
def test_flipping_any_signature_bit_fails(data: bytes, flip: int) -> None:
    """CXP-KEY-003: a single bit flip anywhere in an Ed25519 signature is rejected."""
    key = PrivateKey.from_seed(bytes(range(32)))
    sig = bytearray(key.sign(data))
    bit = flip % (len(sig) * 8)
    sig[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(VerificationError):
        key.public_key.verify(bytes(sig), data)


# --- sealing keys -----------------------------------------------------------------------------


@pytest.mark.parametrize("alg", SEALING)
def test_sealing_key_round_trip(
    sealing_keys: dict[Algorithm, SealingPrivateKey], alg: Algorithm
) -> None:
    """CXP-KEY-001: sealing keys reload from their public bytes with the same key id."""
    key = sealing_keys[alg]
    again = SealingPublicKey.from_bytes(key.public_key.public_bytes, alg)
    assert again == key.public_key
    assert again.key_id == key.key_id == key_id_for(key.public_key.public_bytes)
    assert key._hpke_private is not None
    assert again._hpke_public is not None


def test_hybrid_public_encoding_is_mlkem_then_x25519(
    sealing_keys: dict[Algorithm, SealingPrivateKey],
) -> None:
    """CXP-KEY-001: hybrid public bytes = ML-KEM-768 (1184) || X25519 (32)."""
    key = sealing_keys[Algorithm.MLKEM768_X25519_HPKE]
    data = key.public_key.public_bytes
    assert len(data) == 1216
    assert key._mlkem is not None
    assert data[:1184] == key._mlkem.public_key().public_bytes_raw()
    assert data[1184:] == key._x25519.public_key().public_bytes_raw()
    with pytest.raises(InvalidKey):
        SealingPublicKey.from_bytes(data[:-1], Algorithm.MLKEM768_X25519_HPKE)
    with pytest.raises(InvalidKey):
        SealingPublicKey.from_bytes(data, Algorithm.X25519_HPKE)


def test_sealing_key_constructors() -> None:
    raw = bytes(range(32))
    key = SealingPrivateKey.from_x25519_bytes(raw)
    expected = x25519.X25519PrivateKey.from_private_bytes(raw).public_key()
    assert key.public_key._hpke_public.public_bytes_raw() == expected.public_bytes_raw()  # type: ignore[union-attr]
    hybrid = SealingPrivateKey.from_hybrid_seeds(bytes(64), raw)
    assert hybrid.key_id == SealingPrivateKey.from_hybrid_seeds(bytes(64), raw).key_id
    with pytest.raises(InvalidKey):
        SealingPrivateKey.from_x25519_bytes(bytes(31))
    with pytest.raises(InvalidKey):
        SealingPrivateKey.from_hybrid_seeds(bytes(32), raw)
    with pytest.raises(InvalidKey):
        SealingPrivateKey.generate(Algorithm.ED25519)
    with pytest.raises(InvalidKey):
        SealingPublicKey.from_bytes(
            PrivateKey.generate().public_key.public_bytes, Algorithm.X25519_HPKE
        )


# --- key files --------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", SIGNING + SEALING)
def test_save_load_round_trip(tmp_path: Path, alg: Algorithm) -> None:
    """CXP-KEY-004: keys are written as PKCS#8 PEM with mode 0600 and load back."""
    key = PrivateKey.generate(alg) if alg in SIGNING else SealingPrivateKey.generate(alg)
    path = tmp_path / "key.pem"
    save_private_key(key, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_bytes()
    assert text.count(b"-----BEGIN PRIVATE KEY-----") == (
        2 if alg is Algorithm.MLKEM768_X25519_HPKE else 1
    )
    loaded = load_private_key(path)
    assert type(loaded) is type(key)
    assert loaded.key_id == key.key_id
    assert loaded.algorithm is alg
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_hybrid_file_is_mlkem_block_then_x25519(tmp_path: Path) -> None:
    """CXP-KEY-004: a hybrid key file holds the ML-KEM-768 block, then the X25519 block."""
    key = SealingPrivateKey.from_hybrid_seeds(bytes(range(64)), bytes(range(32)))
    path = tmp_path / "hybrid.pem"
    save_private_key(key, path)
    first, second = path.read_bytes().split(b"-----END PRIVATE KEY-----\n")[:2]
    k1 = serialization.load_pem_private_key(first + b"-----END PRIVATE KEY-----\n", None)
    k2 = serialization.load_pem_private_key(second + b"-----END PRIVATE KEY-----\n", None)
    assert type(k1).__name__.startswith("MLKEM768")
    assert isinstance(k2, x25519.X25519PrivateKey)


def test_file_mode_ignores_umask(tmp_path: Path) -> None:
    """CXP-KEY-004: 0600 even under a permissive umask."""
    old = os.umask(0)
    try:
        save_private_key(PrivateKey.generate(), tmp_path / "k.pem")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600


def test_load_refuses_group_or_world_readable(tmp_path: Path) -> None:
    """CXP-KEY-004: a key file readable by group or others is refused."""
    path = tmp_path / "k.pem"
    save_private_key(PrivateKey.generate(), path)
    for mode in (0o644, 0o640, 0o604, 0o660):
        path.chmod(mode)
        with pytest.raises(InvalidKey) as err:
            load_private_key(path)
        assert err.value.reason == "KEY_FILE_PERMISSIONS"
    path.chmod(0o400)
    load_private_key(path)


def test_save_does_not_clobber(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    first = PrivateKey.generate()
    save_private_key(first, path)
    with pytest.raises(FileExistsError):
        save_private_key(PrivateKey.generate(), path)
    assert load_private_key(path).key_id == first.key_id
    second = PrivateKey.generate()
    save_private_key(second, path, overwrite=True)
    assert load_private_key(path).key_id == second.key_id
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("alg", [Algorithm.ED25519, Algorithm.MLKEM768_X25519_HPKE])
def test_passphrase_round_trip_and_wrong_passphrase(tmp_path: Path, alg: Algorithm) -> None:
    """CXP-KEY-004: passphrase-encrypted PKCS#8; a wrong or missing passphrase is InvalidKey."""
    key = PrivateKey.generate(alg) if alg in SIGNING else SealingPrivateKey.generate(alg)
    path = tmp_path / "k.pem"
    save_private_key(key, path, passphrase=b"correct horse")
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    assert load_private_key(path, passphrase=b"correct horse").key_id == key.key_id
    for wrong in (b"wrong", None):
        with pytest.raises(InvalidKey):
            load_private_key(path, passphrase=wrong)
    plain = tmp_path / "plain.pem"
    save_private_key(key, plain)
    with pytest.raises(InvalidKey):
        load_private_key(plain, passphrase=b"unexpected")


def test_load_refuses_garbage_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"garbage")
    os.close(fd)
    with pytest.raises(InvalidKey):
        load_private_key(path)
    p384 = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(p384)
    with pytest.raises(InvalidKey):
        load_private_key(path)


# --- key records ------------------------------------------------------------------------------


def test_key_record_proto_round_trip(
    signing_keys: dict[Algorithm, PrivateKey], sealing_keys: dict[Algorithm, SealingPrivateKey]
) -> None:
    """CXP-KEY-006: KeyRecord <-> proto keeps id, algorithm, purpose, key and window."""
    keys: list[PrivateKey | SealingPrivateKey] = [*signing_keys.values(), *sealing_keys.values()]
    for key in keys:
        purpose = Purpose.SEAL if key.algorithm in SEALING else Purpose.SIGN
        record = KeyRecord.create(key.public_key, purpose, T0, T0 + 365 * DAY)
        pb = record.to_proto()
        assert pb.key_id == key.key_id
        again = KeyRecord.from_proto(trust_pb2.KeyRecord.FromString(pb.SerializeToString()))
        assert again == record


def test_key_record_rejects_inconsistencies(signing_keys: dict[Algorithm, PrivateKey]) -> None:
    """CXP-KEY-005/006: wrong key id, purpose/algorithm clash, empty or naive window."""
    key = signing_keys[Algorithm.ED25519]
    good = KeyRecord.create(key.public_key, Purpose.SIGN, T0, T0 + DAY).to_proto()

    wrong_id = trust_pb2.KeyRecord()
    wrong_id.CopyFrom(good)
    wrong_id.key_id = "0" * 32
    with pytest.raises(InvalidKey) as err:
        KeyRecord.from_proto(wrong_id)
    assert err.value.reason == "KEY_ID_MISMATCH"

    wrong_alg = trust_pb2.KeyRecord()
    wrong_alg.CopyFrom(good)
    wrong_alg.algorithm = trust_pb2.KEY_ALGORITHM_ECDSA_P256_SHA256
    with pytest.raises(InvalidKey):
        KeyRecord.from_proto(wrong_alg)

    for field in ("not_before", "algorithm", "purpose"):
        broken = trust_pb2.KeyRecord()
        broken.CopyFrom(good)
        broken.ClearField(field)
        with pytest.raises(InvalidKey):
            KeyRecord.from_proto(broken)

    with pytest.raises(InvalidKey):
        KeyRecord.create(key.public_key, Purpose.SEAL, T0, T0 + DAY)
    with pytest.raises(InvalidKey):
        KeyRecord.create(key.public_key, Purpose.SIGN, T0, T0)
    with pytest.raises(InvalidKey):
        KeyRecord.create(key.public_key, Purpose.SIGN, T0.replace(tzinfo=None), T0 + DAY)


def test_validity_window_is_half_open(signing_keys: dict[Algorithm, PrivateKey]) -> None:
    """CXP-KEY-005: valid iff not_before <= t < not_after."""
    record = KeyRecord.create(
        signing_keys[Algorithm.ED25519].public_key, Purpose.ROOT, T0, T0 + DAY
    )
    assert record.is_valid_at(T0)
    assert record.is_valid_at(T0 + DAY - timedelta(microseconds=1))
    assert not record.is_valid_at(T0 + DAY)
    assert not record.is_valid_at(T0 - timedelta(microseconds=1))
    with pytest.raises(InvalidKey):
        record.is_valid_at(T0.replace(tzinfo=None))


# --- key sets ---------------------------------------------------------------------------------


def test_key_set_rotation() -> None:
    """CXP-KEY-007: the newest valid key signs; any key still valid is found by id."""
    old, new = PrivateKey.generate(), PrivateKey.generate()
    keys = KeySet(purpose=Purpose.SIGN).with_key(old, T0, T0 + 30 * DAY)
    keys = keys.with_key(new, T0 + 20 * DAY, T0 + 60 * DAY)
    assert keys.newest_valid(T0 + DAY) is old
    assert keys.newest_valid(T0 + 25 * DAY) is new
    assert keys.find(old.key_id, T0 + 25 * DAY) is old
    assert keys.valid_at(T0 + 25 * DAY) == [new, old]
    with pytest.raises(InvalidKey) as err:
        keys.find(old.key_id, T0 + 31 * DAY)
    assert err.value.reason == "UNKNOWN_KEY"
    with pytest.raises(InvalidKey) as err:
        keys.newest_valid(T0 + 61 * DAY)
    assert err.value.reason == "NO_VALID_KEY"
    assert len(keys) == 2
    assert list(keys) == [old, new]


def test_key_set_checks_purpose_and_duplicates() -> None:
    seal = SealingPrivateKey.generate()
    sealing = KeySet.of(Purpose.SEAL, [KeySetEntry(seal, T0, T0 + DAY)])
    assert sealing.newest_valid(T0) is seal
    with pytest.raises(InvalidKey):
        KeySet.of(Purpose.SIGN, [KeySetEntry(seal, T0, T0 + DAY)])
    with pytest.raises(InvalidKey):
        sealing.with_key(PrivateKey.generate(), T0, T0 + DAY)
    with pytest.raises(InvalidKey):
        sealing.with_key(seal, T0, T0 + 2 * DAY)
    with pytest.raises(InvalidKey):
        KeySetEntry(seal, T0 + DAY, T0)


def test_key_id_worked_examples_of_the_spec() -> None:
    """CXP-KEY-001: the worked examples of docs/spec/keys.md §3."""
    seed32 = bytes(range(32))
    assert PrivateKey.from_seed(seed32).key_id == "a050837d85070582ccf7394b0988847c"
    assert SealingPrivateKey.from_x25519_bytes(seed32).key_id == "c30703c0c265fc4a73267bf1ca5e77ff"
    one = bytes(31) + b"\x01"
    assert (
        PrivateKey.from_seed(one, Algorithm.ECDSA_P256_SHA256).key_id
        == "5cd252fb0ce8932436faf8ccd1040981"
    )
    assert (
        PrivateKey.from_seed(bytes(32), Algorithm.ML_DSA_65).key_id
        == "74a967da48075517e7e93c468a90724f"
    )
    hybrid = SealingPrivateKey.from_hybrid_seeds(bytes(range(64)), seed32)
    assert hybrid.key_id == "869bb0ed633adca631cbd4e3f4667ef9"
    assert hybrid.public_key.public_bytes[-32:].hex().startswith("8f40c5ad")
    spki_prefixes = {
        Algorithm.ED25519: "302a300506032b6570032100",
        Algorithm.ECDSA_P256_SHA256: "3059301306072a8648ce3d020106082a8648ce3d03010703420004",
        Algorithm.ML_DSA_65: "308207b2300b0609608648016503040312038207a100",
    }
    for alg, prefix in spki_prefixes.items():
        assert PrivateKey.generate(alg).public_key.public_bytes.hex().startswith(prefix)
    x = SealingPrivateKey.generate().public_key.public_bytes.hex()
    assert x.startswith("302a300506032b656e032100")
