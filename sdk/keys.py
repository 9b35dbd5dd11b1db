"""Signing and sealing keys, key ids, key files and validity windows.

A key's algorithm is a property of the key object, fixed when the key is loaded from a trusted
source (a trust-bundle :class:`KeyRecord`, a PEM file an operator configured), never taken from a
message. Verifying therefore takes no algorithm argument::

    key = PrivateKey.generate()                  # Ed25519 by default
    sig = key.sign(b"data")
    key.public_key.verify(sig, b"data")          # raises VerificationError on failure

Key ids (docs/spec/keys.md, CXP-KEY-001) are the lowercase hex of the first 16 bytes of SHA-256
over the key's canonical public encoding (:attr:`PublicKey.public_bytes`). A key id found in a
message is only a hint: it narrows which trusted keys are tried first and carries no authority.

Private keys are stored as PKCS#8 PEM files created with mode 0600 (optionally encrypted with a
passphrase) and loading refuses a file that group or others can read.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NewType

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, hpke, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, x25519
from google.protobuf.timestamp_pb2 import Timestamp

from creditlink.sdk.errors import InvalidKey, VerificationError
from creditlink.v1 import trust_pb2

__all__ = [
    "SIGNING_ALGORITHMS",
    "Algorithm",
    "KeyId",
    "KeyRecord",
    "KeySet",
    "KeySetEntry",
    "PrivateKey",
    "PublicKey",
    "Purpose",
    "SealingPrivateKey",
    "SealingPublicKey",
    "key_id_for",
    "load_private_key",
    "save_private_key",
]


class Algorithm(enum.Enum):
    """Key algorithms CXP allows; values are the proto ``KeyAlgorithm`` numbers."""

    ED25519 = 1
    ECDSA_P256_SHA256 = 2
    ML_DSA_65 = 3
    X25519_HPKE = 4
    MLKEM768_X25519_HPKE = 5


class Purpose(enum.Enum):
    """What a key may be used for; values are the proto ``KeyPurpose`` numbers."""

    SIGN = 1
    SEAL = 2
    CHECKPOINT = 3
    ROOT = 4


#: Algorithms of signing keys (:class:`PublicKey` / :class:`PrivateKey`).
SIGNING_ALGORITHMS = frozenset(
    {Algorithm.ED25519, Algorithm.ECDSA_P256_SHA256, Algorithm.ML_DSA_65}
)
#: Algorithms of sealing keys (:class:`SealingPublicKey` / :class:`SealingPrivateKey`).
SEALING_ALGORITHMS = frozenset({Algorithm.X25519_HPKE, Algorithm.MLKEM768_X25519_HPKE})

#: Lowercase hex of the first 16 bytes of SHA-256 over a key's public encoding.
KeyId = NewType("KeyId", str)

_KEY_ID_RE = re.compile(r"[0-9a-f]{32}")
_MLKEM768_PUBLIC_LEN = 1184
_X25519_LEN = 32
_HYBRID_PUBLIC_LEN = _MLKEM768_PUBLIC_LEN + _X25519_LEN
_MLKEM_SEED_LEN = 64
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

# Built once: constructing these per signature is measurable on the verify hot path.
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_ECDSA_SHA256_DETERMINISTIC = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
_DER = serialization.Encoding.DER
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


def key_id_for(public_key_bytes: bytes) -> KeyId:
    """Return the key id of a public key encoding (CXP-KEY-001).

    ``public_key_bytes`` is the key's canonical public encoding: SubjectPublicKeyInfo DER for
    Ed25519, ECDSA P-256, ML-DSA-65 and X25519 keys; for the ML-KEM-768 + X25519 hybrid the
    1184-byte ML-KEM public key followed by the 32-byte X25519 public key.
    """
    return KeyId(hashlib.sha256(public_key_bytes).digest()[:16].hex())


def _is_key_id(value: str) -> bool:
    return _KEY_ID_RE.fullmatch(value) is not None


# --------------------------------------------------------------------------------------------
# Signing keys
# --------------------------------------------------------------------------------------------

_CryptoVerifyingKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | mldsa.MLDSA65PublicKey
_CryptoSigningKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | mldsa.MLDSA65PrivateKey


def _signing_algorithm_of(key: object) -> Algorithm | None:
    """The CXP algorithm of a cryptography key object (public or private), or None."""
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return Algorithm.ED25519
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        # Only P-256: any other curve is a different algorithm, not a variant of this one.
        return Algorithm.ECDSA_P256_SHA256 if isinstance(key.curve, ec.SECP256R1) else None
    if isinstance(key, mldsa.MLDSA65PublicKey | mldsa.MLDSA65PrivateKey):
        return Algorithm.ML_DSA_65
    return None


class PublicKey:
    """A verifying key whose algorithm is fixed by the key itself.

    Built with :meth:`from_bytes` (canonical public encoding plus the algorithm the trusted key
    record names) or :meth:`from_pem`. The underlying cryptography key object is parsed once and
    cached, so :meth:`verify` does no per-call parsing or allocation beyond the crypto itself.
    """

    __slots__ = ("_algorithm", "_key", "_key_id", "_public_bytes", "_verify")

    _algorithm: Algorithm
    _key: _CryptoVerifyingKey
    _key_id: KeyId
    _public_bytes: bytes
    _verify: Callable[[bytes, bytes], None]

    def __init__(self, *, _key: _CryptoVerifyingKey, _algorithm: Algorithm) -> None:
        """Private: use :meth:`from_bytes`, :meth:`from_pem` or ``PrivateKey.public_key``."""
        self._algorithm = _algorithm
        self._key = _key
        self._public_bytes = _key.public_bytes(_DER, _SPKI)
        self._key_id = key_id_for(self._public_bytes)
        if isinstance(_key, ec.EllipticCurvePublicKey):
            ecdsa_key = _key

            def _verify_ecdsa(signature: bytes, data: bytes) -> None:
                ecdsa_key.verify(signature, data, _ECDSA_SHA256)

            self._verify = _verify_ecdsa
        else:
            # Ed25519 and ML-DSA-65 (pure mode, empty context): the bound method itself, so the
            # hot path is one C call.
            self._verify = _key.verify

    @classmethod
    def from_bytes(cls, data: bytes, algorithm: Algorithm) -> PublicKey:
        """Load a verifying key from its canonical encoding (SubjectPublicKeyInfo DER).

        ``algorithm`` comes from the trusted key record. The key must really be of that
        algorithm and ``data`` must be its canonical encoding (re-encoding yields the same
        bytes, so the key id is unambiguous); otherwise :class:`InvalidKey` is raised.
        """
        if algorithm not in SIGNING_ALGORITHMS:
            raise InvalidKey(f"{algorithm.name} is not a signing algorithm")
        try:
            key = serialization.load_der_public_key(bytes(data))
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise InvalidKey("public key is not a valid SubjectPublicKeyInfo") from exc
        return cls._checked(key, algorithm, data)

    @classmethod
    def from_pem(cls, data: bytes, algorithm: Algorithm | None = None) -> PublicKey:
        """Load a verifying key from a ``PUBLIC KEY`` (SubjectPublicKeyInfo) PEM block.

        When ``algorithm`` is given the key must be of that algorithm; when omitted the
        algorithm is that of the key (the PEM is itself the trusted configuration).
        """
        try:
            key = serialization.load_pem_public_key(bytes(data))
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise InvalidKey("not a valid SubjectPublicKeyInfo PEM") from exc
        actual = _signing_algorithm_of(key)
        if actual is None:
            raise InvalidKey("PEM does not hold a supported signing key")
        return cls._checked(key, algorithm or actual, None)

    @classmethod
    def _checked(cls, key: object, algorithm: Algorithm, encoding: bytes | None) -> PublicKey:
        actual = _signing_algorithm_of(key)
        if actual is not algorithm or not isinstance(
            key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | mldsa.MLDSA65PublicKey
        ):
            raise InvalidKey(
                f"key is {actual.name if actual else 'unsupported'}, expected {algorithm.name}"
            )
        public = cls(_key=key, _algorithm=algorithm)
        if encoding is not None and public._public_bytes != bytes(encoding):
            raise InvalidKey("public key encoding is not canonical SubjectPublicKeyInfo DER")
        return public

    @property
    def algorithm(self) -> Algorithm:
        """The key's algorithm."""
        return self._algorithm

    @property
    def key_id(self) -> KeyId:
        """The key id (CXP-KEY-001)."""
        return self._key_id

    @property
    def public_bytes(self) -> bytes:
        """Canonical public encoding: SubjectPublicKeyInfo DER."""
        return self._public_bytes

    def to_pem(self) -> bytes:
        """The key as a ``PUBLIC KEY`` (SubjectPublicKeyInfo) PEM block."""
        return self._key.public_bytes(serialization.Encoding.PEM, _SPKI)

    def verify(self, signature: bytes, data: bytes) -> None:
        """Verify ``signature`` over ``data`` with this key's algorithm.

        Raises :class:`VerificationError` with reason ``INVALID_SIGNATURE`` if it does not
        verify (including a malformed signature). Returns nothing: there is no boolean to
        forget to check.
        """
        try:
            self._verify(signature, data)
        except (InvalidSignature, ValueError):
            raise VerificationError(
                "signature does not verify", reason="INVALID_SIGNATURE"
            ) from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicKey):
            return NotImplemented
        return self._algorithm is other._algorithm and self._public_bytes == other._public_bytes

    def __hash__(self) -> int:
        return hash((self._algorithm, self._public_bytes))

    def __repr__(self) -> str:
        return f"PublicKey({self._algorithm.name}, key_id={self._key_id})"


class PrivateKey:
    """A signing key (Ed25519, ECDSA P-256/SHA-256 or ML-DSA-65).

    ECDSA signatures are deterministic (RFC 6979) and DER-encoded; ML-DSA-65 signs in pure mode
    with an empty context (hedged randomness, so its signatures differ from run to run).
    """

    __slots__ = ("_algorithm", "_key", "_public_key")

    _algorithm: Algorithm
    _key: _CryptoSigningKey
    _public_key: PublicKey

    def __init__(self, *, _key: _CryptoSigningKey, _algorithm: Algorithm) -> None:
        """Private: use :meth:`generate`, :meth:`from_seed` or :func:`load_private_key`."""
        self._algorithm = _algorithm
        self._key = _key
        self._public_key = PublicKey(_key=_key.public_key(), _algorithm=_algorithm)

    @classmethod
    def generate(cls, algorithm: Algorithm = Algorithm.ED25519) -> PrivateKey:
        """Generate a fresh signing key (Ed25519 unless another signing algorithm is named)."""
        key: _CryptoSigningKey
        if algorithm is Algorithm.ED25519:
            key = ed25519.Ed25519PrivateKey.generate()
        elif algorithm is Algorithm.ECDSA_P256_SHA256:
            key = ec.generate_private_key(ec.SECP256R1())
        elif algorithm is Algorithm.ML_DSA_65:
            key = mldsa.MLDSA65PrivateKey.generate()
        else:
            raise InvalidKey(f"{algorithm.name} is not a signing algorithm")
        return cls(_key=key, _algorithm=algorithm)

    @classmethod
    def from_seed(cls, seed: bytes, algorithm: Algorithm = Algorithm.ED25519) -> PrivateKey:
        """Derive a signing key from fixed bytes, for deterministic test vectors.

        Ed25519 and ML-DSA-65: the 32-byte seed (RFC 8032 private key, FIPS 204 ``xi``).
        ECDSA P-256: the 32-byte big-endian private scalar, which must lie in [1, n-1].
        Never use a seed that is not itself a secret random value.
        """
        try:
            key: _CryptoSigningKey
            if algorithm is Algorithm.ED25519:
                key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
            elif algorithm is Algorithm.ECDSA_P256_SHA256:
                scalar = int.from_bytes(seed, "big")
                if len(seed) != 32 or not 0 < scalar < _P256_ORDER:
                    raise ValueError("P-256 scalar out of range")
                key = ec.derive_private_key(scalar, ec.SECP256R1())
            elif algorithm is Algorithm.ML_DSA_65:
                key = mldsa.MLDSA65PrivateKey.from_seed_bytes(seed)
            else:
                raise InvalidKey(f"{algorithm.name} is not a signing algorithm")
        except ValueError as exc:
            raise InvalidKey(f"invalid {algorithm.name} seed") from exc
        return cls(_key=key, _algorithm=algorithm)

    @property
    def algorithm(self) -> Algorithm:
        """The key's algorithm."""
        return self._algorithm

    @property
    def key_id(self) -> KeyId:
        """The key id of the matching public key (CXP-KEY-001)."""
        return self._public_key.key_id

    @property
    def public_key(self) -> PublicKey:
        """The matching verifying key."""
        return self._public_key

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` (for DSSE, the PAE bytes) and return the raw signature bytes."""
        key = self._key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, _ECDSA_SHA256_DETERMINISTIC)
        return key.sign(data)

    def _pem_blocks(self, encryption: serialization.KeySerializationEncryption) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def __repr__(self) -> str:
        # Never show key material.
        return f"PrivateKey({self._algorithm.name}, key_id={self.key_id})"


# --------------------------------------------------------------------------------------------
# Sealing keys
# --------------------------------------------------------------------------------------------

_HpkePublic = x25519.X25519PublicKey | hpke.MLKEM768X25519PublicKey
_HpkePrivate = x25519.X25519PrivateKey | hpke.MLKEM768X25519PrivateKey


class SealingPublicKey:
    """An HPKE recipient key: X25519 (``X25519_HPKE``) or ML-KEM-768 + X25519 (hybrid).

    ``public_bytes`` is SubjectPublicKeyInfo DER for X25519 and, for the hybrid, the 1184-byte
    ML-KEM-768 encapsulation key followed by the 32-byte X25519 public key (1216 bytes, the
    X-Wing order). ``_hpke_public`` is the object ``sdk/seal.py`` passes to HPKE.
    """

    __slots__ = ("_algorithm", "_hpke_public", "_key_id", "_public_bytes")

    _algorithm: Algorithm
    _hpke_public: _HpkePublic
    _key_id: KeyId
    _public_bytes: bytes

    def __init__(
        self,
        *,
        _x25519: x25519.X25519PublicKey,
        _mlkem: mlkem.MLKEM768PublicKey | None = None,
    ) -> None:
        """Private: use :meth:`from_bytes` or ``SealingPrivateKey.public_key``."""
        if _mlkem is None:
            self._algorithm = Algorithm.X25519_HPKE
            self._hpke_public = _x25519
            self._public_bytes = _x25519.public_bytes(_DER, _SPKI)
        else:
            self._algorithm = Algorithm.MLKEM768_X25519_HPKE
            self._hpke_public = hpke.MLKEM768X25519PublicKey(_mlkem, _x25519)
            self._public_bytes = _mlkem.public_bytes_raw() + _x25519.public_bytes_raw()
        self._key_id = key_id_for(self._public_bytes)

    @classmethod
    def from_bytes(cls, data: bytes, algorithm: Algorithm) -> SealingPublicKey:
        """Load a sealing key from its canonical encoding for the trusted ``algorithm``."""
        data = bytes(data)
        try:
            if algorithm is Algorithm.X25519_HPKE:
                key = serialization.load_der_public_key(data)
                if not isinstance(key, x25519.X25519PublicKey):
                    raise InvalidKey("key is not an X25519 key")
                public = cls(_x25519=key)
            elif algorithm is Algorithm.MLKEM768_X25519_HPKE:
                if len(data) != _HYBRID_PUBLIC_LEN:
                    raise InvalidKey(f"hybrid sealing key must be {_HYBRID_PUBLIC_LEN} bytes")
                public = cls(
                    _mlkem=mlkem.MLKEM768PublicKey.from_public_bytes(data[:_MLKEM768_PUBLIC_LEN]),
                    _x25519=x25519.X25519PublicKey.from_public_bytes(data[_MLKEM768_PUBLIC_LEN:]),
                )
            else:
                raise InvalidKey(f"{algorithm.name} is not a sealing algorithm")
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise InvalidKey(f"invalid {algorithm.name} public key") from exc
        if public._public_bytes != data:
            raise InvalidKey("sealing key encoding is not canonical")
        return public

    @property
    def algorithm(self) -> Algorithm:
        """The key's algorithm (it fixes the HPKE suite)."""
        return self._algorithm

    @property
    def key_id(self) -> KeyId:
        """The key id (CXP-KEY-001)."""
        return self._key_id

    @property
    def public_bytes(self) -> bytes:
        """Canonical public encoding (see the class docstring)."""
        return self._public_bytes

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SealingPublicKey):
            return NotImplemented
        return self._algorithm is other._algorithm and self._public_bytes == other._public_bytes

    def __hash__(self) -> int:
        return hash((self._algorithm, self._public_bytes))

    def __repr__(self) -> str:
        return f"SealingPublicKey({self._algorithm.name}, key_id={self._key_id})"


class SealingPrivateKey:
    """The private half of a :class:`SealingPublicKey`; ``_hpke_private`` feeds HPKE."""

    __slots__ = ("_algorithm", "_hpke_private", "_mlkem", "_public_key", "_x25519")

    _algorithm: Algorithm
    _hpke_private: _HpkePrivate
    _mlkem: mlkem.MLKEM768PrivateKey | None
    _public_key: SealingPublicKey
    _x25519: x25519.X25519PrivateKey

    def __init__(
        self,
        *,
        _x25519: x25519.X25519PrivateKey,
        _mlkem: mlkem.MLKEM768PrivateKey | None = None,
    ) -> None:
        """Private: use :meth:`generate`, :meth:`from_x25519_bytes` or :func:`load_private_key`."""
        self._x25519 = _x25519
        self._mlkem = _mlkem
        if _mlkem is None:
            self._algorithm = Algorithm.X25519_HPKE
            self._hpke_private = _x25519
            self._public_key = SealingPublicKey(_x25519=_x25519.public_key())
        else:
            self._algorithm = Algorithm.MLKEM768_X25519_HPKE
            self._hpke_private = hpke.MLKEM768X25519PrivateKey(_mlkem, _x25519)
            self._public_key = SealingPublicKey(
                _x25519=_x25519.public_key(), _mlkem=_mlkem.public_key()
            )

    @classmethod
    def generate(cls, algorithm: Algorithm = Algorithm.X25519_HPKE) -> SealingPrivateKey:
        """Generate a fresh sealing key (X25519 unless the hybrid is named)."""
        if algorithm is Algorithm.X25519_HPKE:
            return cls(_x25519=x25519.X25519PrivateKey.generate())
        if algorithm is Algorithm.MLKEM768_X25519_HPKE:
            return cls(
                _x25519=x25519.X25519PrivateKey.generate(),
                _mlkem=mlkem.MLKEM768PrivateKey.generate(),
            )
        raise InvalidKey(f"{algorithm.name} is not a sealing algorithm")

    @classmethod
    def from_x25519_bytes(cls, raw: bytes) -> SealingPrivateKey:
        """An ``X25519_HPKE`` key from its 32 raw private bytes (deterministic vectors)."""
        try:
            return cls(_x25519=x25519.X25519PrivateKey.from_private_bytes(raw))
        except ValueError as exc:
            raise InvalidKey("X25519 private key must be 32 bytes") from exc

    @classmethod
    def from_hybrid_seeds(cls, mlkem_seed: bytes, x25519_raw: bytes) -> SealingPrivateKey:
        """A hybrid key from a 64-byte ML-KEM-768 seed (``d || z``) and 32 raw X25519 bytes."""
        try:
            if len(mlkem_seed) != _MLKEM_SEED_LEN:
                raise ValueError("ML-KEM-768 seed must be 64 bytes")
            return cls(
                _x25519=x25519.X25519PrivateKey.from_private_bytes(x25519_raw),
                _mlkem=mlkem.MLKEM768PrivateKey.from_seed_bytes(mlkem_seed),
            )
        except ValueError as exc:
            raise InvalidKey("invalid hybrid sealing key seeds") from exc

    @property
    def algorithm(self) -> Algorithm:
        """The key's algorithm."""
        return self._algorithm

    @property
    def key_id(self) -> KeyId:
        """The key id of the matching public key."""
        return self._public_key.key_id

    @property
    def public_key(self) -> SealingPublicKey:
        """The matching recipient key."""
        return self._public_key

    def _pem_blocks(self, encryption: serialization.KeySerializationEncryption) -> bytes:
        # Hybrid: two PKCS#8 blocks, ML-KEM-768 first, then X25519 (docs/spec/keys.md).
        keys: list[mlkem.MLKEM768PrivateKey | x25519.X25519PrivateKey] = [self._x25519]
        if self._mlkem is not None:
            keys.insert(0, self._mlkem)
        pems = [
            k.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
            )
            for k in keys
        ]
        return b"".join(pems)

    def __repr__(self) -> str:
        return f"SealingPrivateKey({self._algorithm.name}, key_id={self.key_id})"


# --------------------------------------------------------------------------------------------
# Key files
# --------------------------------------------------------------------------------------------

_PEM_BLOCK_RE = re.compile(
    rb"-----BEGIN ([A-Z ]+)-----\r?\n.+?\r?\n-----END \1-----\r?\n?", re.DOTALL
)


def save_private_key(
    key: PrivateKey | SealingPrivateKey,
    path: str | os.PathLike[str],
    *,
    passphrase: bytes | None = None,
    overwrite: bool = False,
) -> None:
    """Write ``key`` as PKCS#8 PEM to ``path`` with mode 0600 (CXP-KEY-004).

    With a ``passphrase`` the key is encrypted (the best PKCS#8 encryption cryptography offers,
    currently PBES2 with AES-256-CBC). The file is written to a temporary file created
    exclusively with mode 0600 in the same directory, flushed to disk and then linked into
    place, so the key is never readable by others and a crash leaves no half-written key.
    An existing file is not replaced unless ``overwrite`` is true (``FileExistsError``).
    """
    target = Path(path)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key._pem_blocks(encryption)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            # The umask can only remove bits; set the mode explicitly anyway.
            os.fchmod(fd, 0o600)
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, target)
        else:
            # link() fails if the target exists: create-if-absent, atomically.
            os.link(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def load_private_key(
    path: str | os.PathLike[str], *, passphrase: bytes | None = None
) -> PrivateKey | SealingPrivateKey:
    """Load a key written by :func:`save_private_key` (CXP-KEY-004).

    Refuses (``InvalidKey``, reason ``KEY_FILE_PERMISSIONS``) a file that group or others may
    read or write. A wrong or missing passphrase, or an unsupported key type, raises
    :class:`InvalidKey`.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        # fstat on the opened descriptor: no window between the check and the read.
        if os.fstat(fd).st_mode & 0o077:
            raise InvalidKey(
                f"key file {os.fspath(path)!r} is accessible by group or others; chmod 600 it",
                reason="KEY_FILE_PERMISSIONS",
            )
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read()
    finally:
        os.close(fd)
    return _private_key_from_pem(data, passphrase)


def _private_key_from_pem(data: bytes, passphrase: bytes | None) -> PrivateKey | SealingPrivateKey:
    blocks = [m.group(0) for m in _PEM_BLOCK_RE.finditer(data)]
    if not 1 <= len(blocks) <= 2:
        raise InvalidKey("key file must hold one PKCS#8 PEM block (two for a hybrid key)")
    loaded = []
    for block in blocks:
        try:
            loaded.append(serialization.load_pem_private_key(block, passphrase))
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            # Wrong passphrase, a passphrase for an unencrypted key (or none for an encrypted
            # one) and corrupt data all land here.
            raise InvalidKey("cannot load private key (wrong passphrase or corrupt file)") from exc
    if len(loaded) == 2:
        first, second = loaded
        if isinstance(first, mlkem.MLKEM768PrivateKey) and isinstance(
            second, x25519.X25519PrivateKey
        ):
            return SealingPrivateKey(_x25519=second, _mlkem=first)
        raise InvalidKey("two PEM blocks must be an ML-KEM-768 key followed by an X25519 key")
    (only,) = loaded
    if isinstance(only, x25519.X25519PrivateKey):
        return SealingPrivateKey(_x25519=only)
    algorithm = _signing_algorithm_of(only)
    if algorithm is None or not isinstance(
        only, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | mldsa.MLDSA65PrivateKey
    ):
        raise InvalidKey("unsupported private key type")
    return PrivateKey(_key=only, _algorithm=algorithm)


# --------------------------------------------------------------------------------------------
# Key records, validity windows and key sets
# --------------------------------------------------------------------------------------------


def _require_aware(name: str, when: datetime) -> None:
    if when.tzinfo is None or when.utcoffset() is None:
        raise InvalidKey(f"{name} must be timezone-aware")


def _timestamp(when: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(when.astimezone(UTC))
    return ts


def _check_purpose(algorithm: Algorithm, purpose: Purpose) -> None:
    sealing = purpose is Purpose.SEAL
    if sealing != (algorithm in SEALING_ALGORITHMS):
        raise InvalidKey(f"a {algorithm.name} key cannot have purpose {purpose.name}")


def _public_key_from_bytes(data: bytes, algorithm: Algorithm) -> PublicKey | SealingPublicKey:
    if algorithm in SEALING_ALGORITHMS:
        return SealingPublicKey.from_bytes(data, algorithm)
    return PublicKey.from_bytes(data, algorithm)


@dataclass(frozen=True)
class KeyRecord:
    """A public key with its algorithm, purpose and validity window (proto ``KeyRecord``).

    Invariants checked on construction: the key id is that of the key, the algorithm is the
    key's, the purpose suits the algorithm (``SEAL`` only for sealing keys), and the window is
    non-empty with timezone-aware bounds.
    """

    key_id: KeyId
    algorithm: Algorithm
    purpose: Purpose
    public_key: PublicKey | SealingPublicKey
    not_before: datetime
    not_after: datetime
    note_name: str = ""

    def __post_init__(self) -> None:
        if self.key_id != self.public_key.key_id:
            raise InvalidKey("key id does not match the public key", reason="KEY_ID_MISMATCH")
        if self.algorithm is not self.public_key.algorithm:
            raise InvalidKey("algorithm does not match the public key")
        _check_purpose(self.algorithm, self.purpose)
        _require_aware("not_before", self.not_before)
        _require_aware("not_after", self.not_after)
        if self.not_after <= self.not_before:
            raise InvalidKey("not_after must be later than not_before")

    @classmethod
    def create(
        cls,
        public_key: PublicKey | SealingPublicKey,
        purpose: Purpose,
        not_before: datetime,
        not_after: datetime,
        *,
        note_name: str = "",
    ) -> KeyRecord:
        """Build a record for ``public_key``, deriving its key id and algorithm."""
        return cls(
            key_id=public_key.key_id,
            algorithm=public_key.algorithm,
            purpose=purpose,
            public_key=public_key,
            not_before=not_before,
            not_after=not_after,
            note_name=note_name,
        )

    @classmethod
    def from_proto(cls, pb: trust_pb2.KeyRecord) -> KeyRecord:
        """Build from a ``creditlink.v1.KeyRecord``; the algorithm field fixes the key type.

        Raises :class:`InvalidKey` (reason ``KEY_ID_MISMATCH`` when the stated key id is not
        the one derived from the key bytes).
        """
        try:
            algorithm = Algorithm(pb.algorithm)
            purpose = Purpose(pb.purpose)
        except ValueError as exc:
            raise InvalidKey("key record has an unknown algorithm or purpose") from exc
        if not (pb.HasField("not_before") and pb.HasField("not_after")):
            raise InvalidKey("key record lacks its validity window")
        if not _is_key_id(pb.key_id):
            raise InvalidKey("key id is not 32 lowercase hex characters")
        return cls(
            key_id=KeyId(pb.key_id),
            algorithm=algorithm,
            purpose=purpose,
            public_key=_public_key_from_bytes(pb.public_key, algorithm),
            not_before=pb.not_before.ToDatetime(tzinfo=UTC),
            not_after=pb.not_after.ToDatetime(tzinfo=UTC),
            note_name=pb.note_name,
        )

    def to_proto(self) -> trust_pb2.KeyRecord:
        """The ``creditlink.v1.KeyRecord`` for this record."""
        return trust_pb2.KeyRecord(
            key_id=self.key_id,
            algorithm=self.algorithm.value,  # type: ignore[arg-type]
            purpose=self.purpose.value,  # type: ignore[arg-type]
            public_key=self.public_key.public_bytes,
            not_before=_timestamp(self.not_before),
            not_after=_timestamp(self.not_after),
            note_name=self.note_name,
        )

    def is_valid_at(self, when: datetime) -> bool:
        """Whether ``when`` lies in the window ``not_before <= when < not_after`` (CXP-KEY-005).

        Half-open, so a successor key whose ``not_before`` equals this key's ``not_after`` takes
        over without an instant at which both (or neither) are valid.
        """
        _require_aware("when", when)
        return self.not_before <= when < self.not_after


@dataclass(frozen=True)
class KeySetEntry:
    """One private key of a :class:`KeySet` with its validity window."""

    private_key: PrivateKey | SealingPrivateKey
    not_before: datetime
    not_after: datetime

    def __post_init__(self) -> None:
        _require_aware("not_before", self.not_before)
        _require_aware("not_after", self.not_after)
        if self.not_after <= self.not_before:
            raise InvalidKey("not_after must be later than not_before")

    @property
    def key_id(self) -> KeyId:
        """The key id of the entry's key."""
        return self.private_key.key_id

    def is_valid_at(self, when: datetime) -> bool:
        """Whether ``not_before <= when < not_after`` (half-open, like ``KeyRecord``)."""
        _require_aware("when", when)
        return self.not_before <= when < self.not_after


@dataclass(frozen=True)
class KeySet:
    """Several private keys of one purpose, for rotation (like ``MultiFernet``).

    The newest key valid now signs or seals (:meth:`newest_valid`); any key still inside its
    window opens or is looked up by id (:meth:`find`). Keys of a purpose that does not suit
    their algorithm are refused.
    """

    purpose: Purpose
    entries: tuple[KeySetEntry, ...] = field(default=())

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for entry in self.entries:
            _check_purpose(entry.private_key.algorithm, self.purpose)
            if entry.key_id in seen:
                raise InvalidKey(f"key {entry.key_id} appears twice in the key set")
            seen.add(entry.key_id)

    @classmethod
    def of(cls, purpose: Purpose, entries: Iterable[KeySetEntry]) -> KeySet:
        """Build a key set from any iterable of entries."""
        return cls(purpose=purpose, entries=tuple(entries))

    def with_key(
        self, key: PrivateKey | SealingPrivateKey, not_before: datetime, not_after: datetime
    ) -> KeySet:
        """A new key set with ``key`` added (rotation adds a key; it never mutates)."""
        return KeySet(
            purpose=self.purpose,
            entries=(*self.entries, KeySetEntry(key, not_before, not_after)),
        )

    def valid_at(self, now: datetime) -> list[PrivateKey | SealingPrivateKey]:
        """Every key valid at ``now``, newest (latest ``not_before``) first."""
        valid = [e for e in self.entries if e.is_valid_at(now)]
        valid.sort(key=lambda e: e.not_before, reverse=True)
        return [e.private_key for e in valid]

    def newest_valid(self, now: datetime) -> PrivateKey | SealingPrivateKey:
        """The key to sign or seal with at ``now``: the valid key with the latest ``not_before``.

        Raises :class:`InvalidKey` (reason ``NO_VALID_KEY``) if no key is valid at ``now``.
        """
        valid = self.valid_at(now)
        if not valid:
            raise InvalidKey(
                f"no {self.purpose.name} key is valid at {now.isoformat()}", reason="NO_VALID_KEY"
            )
        return valid[0]

    def find(self, key_id: str, now: datetime) -> PrivateKey | SealingPrivateKey:
        """The key with ``key_id`` if it is valid at ``now``.

        Raises :class:`InvalidKey` (reason ``UNKNOWN_KEY``) if there is none.
        """
        for entry in self.entries:
            if entry.key_id == key_id and entry.is_valid_at(now):
                return entry.private_key
        raise InvalidKey(f"no key {key_id!r} valid at {now.isoformat()}", reason="UNKNOWN_KEY")

    def __iter__(self) -> Iterator[PrivateKey | SealingPrivateKey]:
        return (e.private_key for e in self.entries)

    def __len__(self) -> int:
        return len(self.entries)
