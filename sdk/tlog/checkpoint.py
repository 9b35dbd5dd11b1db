"""C2SP signed notes and transparency-log checkpoints (Ed25519).

A *signed note* (c2sp.org/signed-note) is a UTF-8 text ending in a newline, a blank line, and
one or more signature lines ``— <key name> <base64(key id || signature)>``. A *checkpoint*
(c2sp.org/tlog-checkpoint) is a note whose text is::

    <origin>
    <decimal tree size>
    <base64 root hash>
    [extension lines]

Rules this module enforces (CXP-LOG-005 to CXP-LOG-009):

* A signature counts only when both its key name and key id match a key the caller trusts and
  it verifies; signatures from unknown keys are ignored (that is how cosignatures from other
  witnesses and key rotation work), a trusted key whose signature fails rejects the whole note,
  and a note with no verified trusted signature is rejected.
* The text is returned, or parsed, only after that check: :func:`open_note` verifies before
  returning the body, and :func:`verify_checkpoint` verifies with the log key the caller picked,
  only then parses, and then compares the origin with the one the caller expects.
* Parsing is strict: valid UTF-8, no control character but newline, at most 100 signature
  lines, canonical base64, decimal sizes without leading zeros and below ``2**63``.

Witness cosignatures are plain Ed25519 note signatures (type ``0x01``) over the same checkpoint
text by other keys; :func:`verify_checkpoint` can require a threshold of them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from creditlink.sdk.errors import InvalidCheckpoint, InvalidKey
from creditlink.sdk.tlog.merkle import HASH_SIZE, MAX_TREE_SIZE

__all__ = [
    "MAX_SIGNATURES",
    "SIGNATURE_TYPE_ED25519",
    "Checkpoint",
    "NoteSigner",
    "NoteVerifier",
    "cosign_note",
    "open_note",
    "sign_note",
    "verify_checkpoint",
]

#: Signature type byte of Ed25519 note signatures (c2sp.org/signed-note).
SIGNATURE_TYPE_ED25519: Final = 0x01
#: Most signature lines a note may carry. The spec asks verifiers to cap the count and to accept
#: at least 16; 100 is the limit of the Go reference implementation.
MAX_SIGNATURES: Final = 100

_SIG_PREFIX: Final = "\u2014 "  # EM DASH, space
_ED25519_SIG_SIZE: Final = 64
_ED25519_KEY_SIZE: Final = 32
# Every ASCII control character except newline (signed-note: "MUST NOT contain any ASCII
# control characters (those below U+0020) other than newline").
_CONTROL: Final = re.compile("[\x00-\x09\x0b-\x1f]")
_KEY_ID_HEX: Final = re.compile("[0-9a-fA-F]{8}")
# ASCII only: int() alone would also take "+5", " 5", "5_0" and non-ASCII digits.
_DECIMAL: Final = re.compile("0|[1-9][0-9]{0,18}")


# --- keys --------------------------------------------------------------------------------------


def _check_name(name: str) -> None:
    """Key names are non-empty and contain no Unicode space and no ``+`` (signed-note)."""
    if not isinstance(name, str) or not name:
        raise InvalidKey("note key name must be a non-empty string")
    if "+" in name or any(c.isspace() for c in name) or _CONTROL.search(name):
        raise InvalidKey(f"note key name {name!r} contains a space, '+' or a control character")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidKey("note key name is not valid UTF-8") from None


def _key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    """``SHA-256(name || 0x0A || type || public key)[:4]``, as c2sp.org/signed-note recommends."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()[:4]


def _b64decode_canonical(text: str) -> bytes:
    """Standard base64 with padding; reject anything that does not re-encode to ``text``.

    Canonical-only input means one value has one spelling, so signatures and roots cannot be
    re-encoded into look-alike variants.
    """
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ValueError("not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("not canonical base64")
    return raw


class NoteVerifier:
    """A trusted Ed25519 note key: its name, its 4-byte key id and its public key.

    Build it from configuration (a trust bundle), never from the note being verified: a key id
    in a signature line only selects among keys the caller already trusts.
    """

    __slots__ = ("_key", "_raw", "key_id", "name")

    def __init__(self, *, name: str, public_key: Ed25519PublicKey | bytes) -> None:
        """Create a verifier for ``name`` with an Ed25519 public key (object or 32 raw bytes)."""
        _check_name(name)
        if isinstance(public_key, Ed25519PublicKey):
            raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        elif isinstance(public_key, bytes) and len(public_key) == _ED25519_KEY_SIZE:
            raw = public_key
        else:
            raise InvalidKey("public key must be an Ed25519PublicKey or 32 raw bytes")
        try:
            self._key = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            raise InvalidKey("not an Ed25519 public key") from None
        self._raw = raw
        self.name: str = name
        #: The 4-byte key id that signature lines carry.
        self.key_id: bytes = _key_id(name, SIGNATURE_TYPE_ED25519, raw)

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse a verifier key string ``<name>+<hex key id>+<base64(0x01 || public key)>``.

        Raises :class:`~creditlink.sdk.errors.InvalidKey` if the string is malformed, names
        another algorithm, or its key id does not match the name and key.
        """
        if not isinstance(vkey, str):
            raise InvalidKey("verifier key must be a string")
        name, _, rest = vkey.partition("+")
        id_hex, _, key64 = rest.partition("+")
        if not _KEY_ID_HEX.fullmatch(id_hex):
            raise InvalidKey("malformed verifier key: key id must be 8 hex digits")
        _check_name(name)
        try:
            material = _b64decode_canonical(key64)
        except ValueError:
            raise InvalidKey("malformed verifier key: bad base64 key") from None
        if len(material) != 1 + _ED25519_KEY_SIZE or material[0] != SIGNATURE_TYPE_ED25519:
            raise InvalidKey("verifier key is not an Ed25519 (type 0x01) note key")
        verifier = cls(name=name, public_key=material[1:])
        if verifier.key_id != bytes.fromhex(id_hex):
            raise InvalidKey("verifier key id does not match its name and public key")
        return verifier

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return self._raw

    @property
    def vkey(self) -> str:
        """The verifier key string ``<name>+<hex key id>+<base64(0x01 || public key)>``."""
        material = base64.b64encode(bytes([SIGNATURE_TYPE_ED25519]) + self._raw).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def verify(self, message: bytes, signature: bytes) -> None:
        """Verify an Ed25519 ``signature`` over ``message``; raise ``InvalidCheckpoint`` if bad."""
        if len(signature) != _ED25519_SIG_SIZE:
            raise InvalidCheckpoint(f"signature by {self.name} has the wrong length")
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            raise InvalidCheckpoint(f"signature by {self.name} does not verify") from None

    def _identity(self) -> tuple[str, bytes]:
        return self.name, self.key_id

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NoteVerifier):
            return NotImplemented
        return (self.name, self.key_id, self._raw) == (other.name, other.key_id, other._raw)

    def __hash__(self) -> int:
        return hash((self.name, self.key_id, self._raw))

    def __repr__(self) -> str:
        return f"NoteVerifier({self.vkey!r})"


class NoteSigner:
    """An Ed25519 note signing key with its name (for logs and witnesses)."""

    __slots__ = ("_key", "_verifier")

    def __init__(self, *, name: str, private_key: Ed25519PrivateKey) -> None:
        """Create a signer for ``name`` from an Ed25519 private key object."""
        if not isinstance(private_key, Ed25519PrivateKey):
            raise InvalidKey("private key must be an Ed25519PrivateKey")
        self._key = private_key
        self._verifier = NoteVerifier(name=name, public_key=private_key.public_key())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> NoteSigner:
        """Create a signer from a 32-byte RFC 8032 seed (deterministic: same seed, same key)."""
        if not isinstance(seed, bytes) or len(seed) != _ED25519_KEY_SIZE:
            raise InvalidKey("Ed25519 seed must be 32 bytes")
        return cls(name=name, private_key=Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_skey(cls, skey: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>``.

        Raises :class:`~creditlink.sdk.errors.InvalidKey` if the string is malformed or its key
        id does not match the name and the key derived from the seed.
        """
        if not isinstance(skey, str):
            raise InvalidKey("signer key must be a string")
        priv1, _, rest = skey.partition("+")
        priv2, _, rest = rest.partition("+")
        name, _, rest = rest.partition("+")
        id_hex, _, key64 = rest.partition("+")
        if priv1 != "PRIVATE" or priv2 != "KEY" or not _KEY_ID_HEX.fullmatch(id_hex):
            raise InvalidKey("malformed signer key")
        _check_name(name)
        try:
            material = _b64decode_canonical(key64)
        except ValueError:
            raise InvalidKey("malformed signer key: bad base64 key") from None
        if len(material) != 1 + _ED25519_KEY_SIZE or material[0] != SIGNATURE_TYPE_ED25519:
            raise InvalidKey("signer key is not an Ed25519 (type 0x01) note key")
        signer = cls.from_seed(name, material[1:])
        if signer.key_id != bytes.fromhex(id_hex):
            raise InvalidKey("signer key id does not match its name and public key")
        return signer

    @property
    def name(self) -> str:
        """The key name written in signature lines."""
        return self._verifier.name

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id written in front of each signature."""
        return self._verifier.key_id

    @property
    def verifier(self) -> NoteVerifier:
        """The matching :class:`NoteVerifier` (public part only)."""
        return self._verifier

    def to_skey(self) -> str:
        """Return the secret signer key string. It holds the seed: handle it as a secret."""
        seed = self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        material = base64.b64encode(bytes([SIGNATURE_TYPE_ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{material}"

    def sign(self, message: bytes) -> bytes:
        """Return the raw 64-byte Ed25519 signature over ``message``."""
        return self._key.sign(message)

    def __repr__(self) -> str:
        # Never show the seed.
        return f"NoteSigner(name={self.name!r}, key_id={self.key_id.hex()!r})"


# --- notes -------------------------------------------------------------------------------------


def _check_text(text: str, what: str) -> bytes:
    """Return the UTF-8 bytes of ``text`` if it contains no forbidden control character."""
    if _CONTROL.search(text):
        raise InvalidCheckpoint(f"{what} contains a control character other than newline")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidCheckpoint(f"{what} is not valid UTF-8") from None


def _signature_line(signer: NoteSigner, body: bytes) -> str:
    sig = base64.b64encode(signer.key_id + signer.sign(body)).decode()
    return f"{_SIG_PREFIX}{signer.name} {sig}\n"


def sign_note(body: str, signers: Sequence[NoteSigner]) -> str:
    """Sign ``body`` with every signer and return the note text.

    ``body`` must end with a newline and contain no control character but newline; it may
    contain blank lines (the last blank line of a note separates text from signatures).
    Signers with the same name and key id sign once.
    """
    if not isinstance(body, str) or not body.endswith("\n"):
        raise InvalidCheckpoint("note text must be a string ending with a newline")
    raw = _check_text(body, "note text")
    if not signers:
        raise ValueError("sign_note needs at least one signer")
    if len(signers) > MAX_SIGNATURES:
        raise ValueError(f"a note carries at most {MAX_SIGNATURES} signatures")
    lines: list[str] = []
    seen: set[tuple[str, bytes]] = set()
    for signer in signers:
        ident = (signer.name, signer.key_id)
        if ident not in seen:
            seen.add(ident)
            lines.append(_signature_line(signer, raw))
    return body + "\n" + "".join(lines)


def cosign_note(
    note_text: str | bytes, signer: NoteSigner, *, verifiers: Sequence[NoteVerifier]
) -> str:
    """Add ``signer``'s signature to a note that already verifies with ``verifiers``.

    This is how a witness cosigns: it first verifies the note with the keys it trusts (the
    log's), then appends its own signature line over the same text. Existing signature lines,
    including unknown ones, are kept as received. If the signer's name and key id already sign
    the note, it is returned unchanged.
    """
    text, sig_lines, _ = _open(note_text, verifiers)
    ident = (signer.name, signer.key_id)
    for name, key_id, _sig in sig_lines:
        if (name, key_id) == ident:
            return _as_str(note_text)
    if len(sig_lines) >= MAX_SIGNATURES:
        raise InvalidCheckpoint(f"note already carries {MAX_SIGNATURES} signatures")
    return _as_str(note_text) + _signature_line(signer, text.encode("utf-8"))


def open_note(note_text: str | bytes, verifiers: Sequence[NoteVerifier]) -> tuple[str, list[str]]:
    """Verify a signed note and return ``(text, names of the trusted keys that signed it)``.

    The text is returned only if at least one signature from a key in ``verifiers`` (matched by
    name *and* key id) verifies, and every signature from such a key verifies. Signatures from
    other keys are ignored. The names come in signature-line order, once per trusted key.
    Raises :class:`~creditlink.sdk.errors.InvalidCheckpoint` for a malformed note, a failing
    trusted signature, or a note no trusted key signed.
    """
    text, _, verified = _open(note_text, verifiers)
    return text, [v.name for v in verified]


def _as_str(note_text: str | bytes) -> str:
    if isinstance(note_text, bytes):
        try:
            return note_text.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidCheckpoint("note is not valid UTF-8") from None
    if isinstance(note_text, str):
        return note_text
    raise InvalidCheckpoint("note must be str or bytes")


def _open(
    note_text: str | bytes, verifiers: Sequence[NoteVerifier]
) -> tuple[str, list[tuple[str, bytes, bytes]], list[NoteVerifier]]:
    """Parse and verify a note: (text, parsed signature lines, trusted verifiers that signed)."""
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for v in verifiers:
        if not isinstance(v, NoteVerifier):
            raise TypeError("verifiers must be NoteVerifier instances")
        prior = known.setdefault(v._identity(), v)
        if prior != v:
            # Two trusted keys share a name and key id: which one signed cannot be told.
            raise ValueError(f"ambiguous trusted keys: two keys named {v.name} with one key id")

    note = _as_str(note_text)
    _check_text(note, "note")

    # 1. Split at the last blank line: text (ending in its newline) | signature block.
    split = note.rfind("\n\n")
    if split < 0:
        raise InvalidCheckpoint("note has no blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block or not block.endswith("\n"):
        raise InvalidCheckpoint("note has no signature lines or does not end with a newline")
    lines = block[:-1].split("\n")
    # 2. Cap the work before decoding or verifying anything.
    if len(lines) > MAX_SIGNATURES:
        raise InvalidCheckpoint(f"note has more than {MAX_SIGNATURES} signatures")

    # 3. Parse every line, known key or not: a malformed line makes the note malformed.
    parsed: list[tuple[str, bytes, bytes]] = []
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise InvalidCheckpoint("note has a line that is not a signature line")
        name, _, sig64 = line[len(_SIG_PREFIX) :].partition(" ")
        try:
            _check_name(name)
            sig = _b64decode_canonical(sig64)
        except (InvalidKey, ValueError):
            raise InvalidCheckpoint("note has a malformed signature line") from None
        if len(sig) < 5:
            raise InvalidCheckpoint("note has a signature line without a signature")
        parsed.append((name, sig[:4], sig[4:]))

    # 4. Verify every signature by a trusted key; ignore the others.
    body = text.encode("utf-8")
    verified: list[NoteVerifier] = []
    for name, key_id, sig in parsed:
        trusted = known.get((name, key_id))
        if trusted is None:
            continue
        trusted.verify(body, sig)
        if trusted not in verified:
            verified.append(trusted)
    if not verified:
        raise InvalidCheckpoint("note carries no signature from a trusted key")
    return text, parsed, verified


# --- checkpoints -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """A transparency-log checkpoint: origin, tree size, root hash and extension lines.

    Build one to sign (:meth:`to_body` then :func:`sign_note`); get one from a note only through
    :func:`verify_checkpoint`.
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin or "\n" in self.origin:
            raise ValueError("origin must be a non-empty single line")
        if not isinstance(self.size, int) or isinstance(self.size, bool):
            raise ValueError("size must be an int")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise ValueError(f"size {self.size} is outside [0, 2**63)")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise ValueError("root hash must be 32 bytes")
        if not isinstance(self.extensions, tuple):
            raise ValueError("extensions must be a tuple of strings")
        for ext in self.extensions:
            if not isinstance(ext, str) or not ext or "\n" in ext:
                raise ValueError("extension lines must be non-empty single lines")
        try:
            _check_text(self.to_body(), "checkpoint")
        except InvalidCheckpoint as exc:
            raise ValueError(str(exc.args[0])) from None

    def to_body(self) -> str:
        """Return the note text: origin, size, base64 root and extension lines, each + ``\\n``."""
        root64 = base64.b64encode(self.root_hash).decode()
        return "".join(
            f"{line}\n" for line in (self.origin, str(self.size), root64, *self.extensions)
        )


def _parse_checkpoint_unsafe(body: str) -> Checkpoint:
    """Parse checkpoint text WITHOUT checking any signature.

    Private on purpose: only :func:`verify_checkpoint` calls it, after the signature check.
    """
    if not body.endswith("\n"):
        raise InvalidCheckpoint("checkpoint text does not end with a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise InvalidCheckpoint("checkpoint needs origin, size and root hash lines")
    origin, size_text, root64, *extensions = lines
    if not origin:
        raise InvalidCheckpoint("checkpoint origin is empty")
    if not _DECIMAL.fullmatch(size_text):
        raise InvalidCheckpoint("checkpoint size is not a decimal number without leading zeros")
    size = int(size_text)
    if size > MAX_TREE_SIZE:
        raise InvalidCheckpoint("checkpoint size is not below 2**63")
    try:
        root = _b64decode_canonical(root64)
    except ValueError:
        raise InvalidCheckpoint("checkpoint root hash is not canonical base64") from None
    if len(root) != HASH_SIZE:
        raise InvalidCheckpoint("checkpoint root hash is not 32 bytes")
    if any(not ext for ext in extensions):
        raise InvalidCheckpoint("checkpoint has an empty extension line")
    return Checkpoint(origin=origin, size=size, root_hash=root, extensions=tuple(extensions))


def verify_checkpoint(
    note_text: str | bytes,
    *,
    verifier: NoteVerifier,
    origin: str,
    witnesses: Sequence[NoteVerifier] = (),
    witness_threshold: int = 0,
) -> Checkpoint:
    """Verify a signed checkpoint and return it; raise ``InvalidCheckpoint`` on any failure.

    Steps, in order:

    1. Open the note with the log key ``verifier`` and the ``witnesses`` keys: every signature
       by one of them must verify, others are ignored (:func:`open_note`).
    2. The log key's own signature must be among the verified ones.
    3. At least ``witness_threshold`` distinct witness names must have verified signatures.
    4. Only now parse the text as a checkpoint (strictly).
    5. Its origin must equal the expected ``origin``.
    """
    if witness_threshold < 0:
        raise ValueError("witness_threshold must not be negative")
    log_ident = verifier._identity()
    witness_names = {w.name for w in witnesses}
    if any(w._identity() == log_ident for w in witnesses):
        raise ValueError("the log key cannot also count as a witness")
    if witness_threshold > len(witness_names):
        raise ValueError(
            f"witness_threshold {witness_threshold} exceeds the {len(witness_names)} witnesses"
        )

    # 1. Verify every trusted signature before looking at the text.
    text, _, verified = _open(note_text, [verifier, *witnesses])
    # 2. The log itself must have signed: a quorum of witnesses does not replace it.
    if not any(v._identity() == log_ident for v in verified):
        raise InvalidCheckpoint(f"checkpoint is not signed by the log key {verifier.name}")
    # 3. Count witnesses by name, so one witness with a rotated key still counts once.
    cosigned = {v.name for v in verified if v._identity() != log_ident and v in witnesses}
    if len(cosigned) < witness_threshold:
        raise InvalidCheckpoint(
            f"checkpoint has {len(cosigned)} witness cosignatures, {witness_threshold} required"
        )
    # 4. Parse only verified text.
    checkpoint = _parse_checkpoint_unsafe(text)
    # 5. The origin names the log; a valid checkpoint of another log is still wrong here.
    if checkpoint.origin != origin:
        raise InvalidCheckpoint(
            f"checkpoint origin {checkpoint.origin!r} is not the expected {origin!r}"
        )
    return checkpoint
