"""Signed notes and checkpoints (CXP-LOG-005 .. CXP-LOG-009).

Known answers from other implementations:

* c2sp.org/signed-note's example (key ``example.com/foo``);
* golang.org/x/mod/sumdb/note's documented example (``PeterNeumann``, signer key included, so
  signing must reproduce the published note byte for byte) and its ``EnochRoot`` cosignature;
* two signed tree heads of the Go checksum database (``sum.golang.org``), real checkpoints.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditlink.sdk.errors import InvalidCheckpoint, InvalidKey, VerificationError
from creditlink.sdk.tlog import (
    MAX_SIGNATURES,
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    cosign_note,
    open_note,
    sign_note,
    verify_checkpoint,
)
from creditlink.sdk.tlog.checkpoint import _parse_checkpoint_unsafe

EM = "\u2014"

SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    f"{EM} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFX"
    "mRKuwHjG1Yu72IneyaQM=\n"
)
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    f"{EM} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqd"
    "ngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    f"{EM} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWL"
    "ox33WWd1RvMc+QQ=\n"
)
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTES = [
    (
        31700353,
        "qINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=",
        "Az3grnmrIUEDFqHzAElIQCPNoRFRAAdFo47fooyWKMHb89k11GJh5zHIfNCOBmwn/C3YI8oW9/C8DJ87F61QqspBYwM=",
    ),
    (
        65209736,
        "5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=",
        "Az3grnbssgK7ubgFX36gVETtNv0U23qxyAhAMai2QUfeGa3nB/akvkMdlUErfcZz7l/R3cVtYspg3dxXABkGZZKdsQ8=",
    ),
]

ORIGIN = "gw-a.creditlink.example/log"
LOG = NoteSigner.from_seed(ORIGIN, hashlib.sha256(b"test log key").digest())
W1 = NoteSigner.from_seed("w1.example/witness", hashlib.sha256(b"witness 1").digest())
W2 = NoteSigner.from_seed("w2.example/witness", hashlib.sha256(b"witness 2").digest())
W3 = NoteSigner.from_seed("w3.example/witness", hashlib.sha256(b"witness 3").digest())
OTHER = NoteSigner.from_seed("other.example/log", hashlib.sha256(b"other").digest())
ROOT = hashlib.sha256(b"some root").digest()
CP = Checkpoint(origin=ORIGIN, size=1234, root_hash=ROOT)


# --- known answers ------------------------------------------------------------------------------


def test_c2sp_signed_note_example() -> None:
    v = NoteVerifier.from_vkey(SPEC_VKEY)
    assert v.name == "example.com/foo"
    assert v.key_id.hex() == "530d903a"
    assert v.vkey == SPEC_VKEY
    assert open_note(SPEC_NOTE, [v]) == ("This is an example message.\n", ["example.com/foo"])
    with pytest.raises(InvalidCheckpoint):
        open_note(SPEC_NOTE.replace("example message", "forged message"), [v])


def test_go_note_example_signs_byte_for_byte() -> None:
    signer = NoteSigner.from_skey(GO_SKEY)
    assert signer.verifier.vkey == GO_VKEY
    assert signer.to_skey() == GO_SKEY
    assert signer.key_id.hex() == "c74f20a3"
    # Ed25519 is deterministic, so this is a true known-answer test of key id, encoding and line.
    assert sign_note(GO_TEXT, [signer]) == GO_TEXT + "\n" + PETER_SIG


def test_go_note_example_with_two_signatures() -> None:
    peter, enoch = NoteVerifier.from_vkey(GO_VKEY), NoteVerifier.from_vkey(ENOCH_VKEY)
    note = GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, [peter, enoch]) == (GO_TEXT, ["PeterNeumann", "EnochRoot"])
    assert open_note(note, [enoch]) == (GO_TEXT, ["EnochRoot"])  # Peter's is just unknown
    assert open_note(note.encode(), [peter]) == (GO_TEXT, ["PeterNeumann"])


@pytest.mark.parametrize(("size", "root64", "sig"), SUMDB_NOTES)
def test_go_checksum_database_checkpoints(size: int, root64: str, sig: str) -> None:
    note = f"go.sum database tree\n{size}\n{root64}\n\n{EM} sum.golang.org {sig}\n"
    cp = verify_checkpoint(
        note, verifier=NoteVerifier.from_vkey(SUMDB_VKEY), origin="go.sum database tree"
    )
    assert (cp.size, cp.root_hash, cp.extensions) == (size, base64.b64decode(root64), ())
    with pytest.raises(InvalidCheckpoint):
        verify_checkpoint(
            note.replace(str(size), str(size + 1)),
            verifier=NoteVerifier.from_vkey(SUMDB_VKEY),
            origin="go.sum database tree",
        )


def test_c2sp_checkpoint_example_body_parses() -> None:
    # c2sp.org/tlog-checkpoint's example; its key is not published, so only the text is checked.
    cp = _parse_checkpoint_unsafe(
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    assert (cp.origin, cp.size) == ("example.com/behind-the-sofa", 20852163)


# --- keys ---------------------------------------------------------------------------------------


def test_key_strings_round_trip() -> None:
    assert NoteSigner.from_skey(LOG.to_skey()).verifier == LOG.verifier
    assert NoteVerifier.from_vkey(LOG.verifier.vkey) == LOG.verifier
    expected_id = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + LOG.verifier.public_key).digest()[:4]
    assert LOG.key_id == expected_id
    assert "AYEK" not in repr(NoteSigner.from_skey(GO_SKEY))  # repr never shows the seed


def test_every_mangled_vkey_is_rejected() -> None:
    """As golang.org/x/mod's TestNewVerifier: every substring and every +1 byte change fails."""
    b = GO_VKEY.encode()
    bad: list[str] = []
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if (i, j) != (0, len(b)):
                bad.append(b[i:j].decode())
    for i in range(len(b)):
        bad.append((b[:i] + bytes([b[i] + 1]) + b[i + 1 :]).decode("utf-8", "replace"))
    bad += [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+0xc74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ]
    for k in bad:
        with pytest.raises(InvalidKey):
            NoteVerifier.from_vkey(k)


def test_every_mangled_skey_is_rejected() -> None:
    b = GO_SKEY.encode()
    for i in range(len(b)):
        k = (b[:i] + bytes([b[i] + 1]) + b[i + 1 :]).decode("utf-8", "replace")
        with pytest.raises(InvalidKey):
            NoteSigner.from_skey(k)
    for cut in range(len(GO_SKEY)):
        with pytest.raises(InvalidKey):
            NoteSigner.from_skey(GO_SKEY[:cut])


@pytest.mark.parametrize("name", ["", "a b", "a+b", "tab\there", "nbsp\u00a0x", "nl\nx", "\ud800"])
def test_bad_key_names(name: str) -> None:
    with pytest.raises(InvalidKey):
        NoteSigner.from_seed(name, b"\x01" * 32)


def test_bad_key_material() -> None:
    with pytest.raises(InvalidKey):
        NoteSigner.from_seed("n", b"\x01" * 31)
    with pytest.raises(InvalidKey):
        NoteVerifier(name="n", public_key=b"\x01" * 33)


# --- notes --------------------------------------------------------------------------------------


def test_sign_open_round_trip_with_witnesses() -> None:
    note = sign_note(CP.to_body(), [LOG, W1, W2])
    body, names = open_note(note, [LOG.verifier, W1.verifier, W2.verifier, W3.verifier])
    assert body == CP.to_body()
    assert names == [ORIGIN, W1.name, W2.name]
    # A verifier that signed nothing simply does not appear; unknown signers are ignored.
    assert open_note(note, [W2.verifier]) == (body, [W2.name])


def test_open_note_rejects_when_no_trusted_key_signed() -> None:
    note = sign_note(CP.to_body(), [LOG])
    with pytest.raises(InvalidCheckpoint, match="no signature from a trusted key"):
        open_note(note, [W1.verifier])
    with pytest.raises(InvalidCheckpoint, match="no signature from a trusted key"):
        open_note(note, [])


def test_same_name_other_key_id_is_unknown_not_failing() -> None:
    """A key sharing only the name (or only the key id) with a trusted key is ignored."""
    impostor = NoteSigner.from_seed(ORIGIN, b"\x07" * 32)
    note = sign_note(CP.to_body(), [impostor, LOG])
    assert open_note(note, [LOG.verifier]) == (CP.to_body(), [ORIGIN])
    with pytest.raises(InvalidCheckpoint, match="no signature"):
        open_note(sign_note(CP.to_body(), [impostor]), [LOG.verifier])


def test_failing_trusted_signature_rejects_the_whole_note() -> None:
    good = sign_note(CP.to_body(), [LOG, W1])
    lines = good.split("\n")
    w1_line = lines[-2]
    prefix, sig64 = w1_line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig64))
    raw[10] ^= 1
    bad = good.replace(w1_line, f"{prefix} {base64.b64encode(bytes(raw)).decode()}")
    with pytest.raises(InvalidCheckpoint, match="does not verify"):
        open_note(bad, [LOG.verifier, W1.verifier])
    # Without W1 trusted, its broken signature is just an unknown one.
    assert open_note(bad, [LOG.verifier])[1] == [ORIGIN]


def test_duplicate_signature_lines_are_verified_and_reported_once() -> None:
    note = sign_note(CP.to_body(), [LOG])
    line = note.split("\n\n", 1)[1]
    assert open_note(note + line, [LOG.verifier])[1] == [ORIGIN]
    assert sign_note(CP.to_body(), [LOG, LOG]) == note


def test_tampered_notes_fail() -> None:
    note = sign_note(CP.to_body(), [LOG])
    v = [LOG.verifier]
    tampered = [
        note.replace("1234", "1235"),  # body
        note.replace(ORIGIN + " ", "other.example/log "),  # key name → unknown key
        note.replace(f"{EM} ", "- "),  # not an em dash
        note.replace("\n\n", "\n"),  # no blank line
        note[:-1],  # no final newline
        note + "trailing\n",  # a line that is not a signature
        note + "\n",  # empty line at the end
        note.replace("\n", "\r\n"),  # CRLF
        "\t" + note,  # control character
        CP.to_body(),  # no signatures at all
        "",
    ]
    for t in tampered:
        with pytest.raises(InvalidCheckpoint):
            open_note(t, v)


def test_malformed_signature_lines_fail_even_from_unknown_keys() -> None:
    note = sign_note(CP.to_body(), [LOG])
    for line in [
        f"{EM} someone\n",  # no signature
        f"{EM} someone AAAA\n",  # fewer than 5 bytes
        f"{EM} someone !!!!\n",  # not base64
        f"{EM} some one AAAAAAAA\n",  # space in the name
        f"{EM} a+b AAAAAAAA\n",  # plus in the name
        f"{EM} someone AAAAAAB=\n",  # non-canonical base64 (padding bits set)
        f"{EM}  AAAAAAAA\n",  # empty name
    ]:
        with pytest.raises(InvalidCheckpoint, match=r"malformed|without a signature"):
            open_note(note + line, [LOG.verifier])


def test_signature_line_grammar_edges() -> None:
    """CXP-LOG-006, CXP-LOG-011: 4 decoded bytes, padding, alphabet and names, any key."""
    note = sign_note(CP.to_body(), [LOG])
    for line in [
        f"{EM} someone AAAAAA==\n",  # exactly 4 bytes: a key id and no signature
        f"{EM} someone AAAAAAA\n",  # 5 bytes, unpadded
        f"{EM} someone ____----\n",  # URL-safe alphabet
        f"{EM} some\u00a0one AAAAAAAA\n",  # no-break space (White_Space) in the name
        f"{EM} some\u3000one AAAAAAAA\n",  # ideographic space in the name
        f"{EM} someone AAAAAAAA \n",  # trailing space after the base64
    ]:
        with pytest.raises(InvalidCheckpoint, match=r"malformed|without a signature"):
            open_note(note + line, [LOG.verifier])
    # 5 decoded bytes from an unknown key: well formed, ignored.
    assert open_note(note + f"{EM} someone AAAAAAA=\n", [LOG.verifier])[1] == [ORIGIN]


def test_del_and_c1_are_not_forbidden_control_characters() -> None:
    """CXP-LOG-006: only U+0000-U+0009 and U+000B-U+001F are forbidden; DEL and C1 are text."""
    body = "".join(f"{line}\n" for line in (ORIGIN, "7", base64.b64encode(ROOT).decode()))
    for extension in ["del \x7f", "c1 \x80 \x85 \x9f"]:
        text = body + extension + "\n"
        cp = verify_checkpoint(sign_note(text, [LOG]), verifier=LOG.verifier, origin=ORIGIN)
        assert cp.extensions == (extension,)
    for control in ["\x00", "\x1b", "\x1f", "\r", "\t"]:
        with pytest.raises(InvalidCheckpoint, match="control"):
            sign_note(body + f"ext{control}\n", [LOG])


def test_text_ends_at_the_last_blank_line() -> None:
    """CXP-LOG-006: the signature block follows the LAST empty line; the text may contain one."""
    text = "first paragraph\n\nsecond paragraph\n"
    note = sign_note(text, [LOG])
    assert open_note(note, [LOG.verifier]) == (text, [ORIGIN])


def test_verifier_key_id_must_match() -> None:
    """CXP-LOG-007: a verifier key string whose key id is not the computed one is refused."""
    name, key_id, key64 = LOG.verifier.vkey.split("+", 2)
    wrong = f"{int(key_id, 16) ^ 1:08x}"
    with pytest.raises(InvalidKey, match="key id does not match"):
        NoteVerifier.from_vkey(f"{name}+{wrong}+{key64}")
    # The key id's hex digits may be written in either case.
    assert NoteVerifier.from_vkey(f"{name}+{key_id.upper()}+{key64}") == LOG.verifier
    for bad_id in (key_id[:7], key_id + "0", "0x" + key_id[2:]):
        with pytest.raises(InvalidKey):
            NoteVerifier.from_vkey(f"{name}+{bad_id}+{key64}")


def test_signature_count_cap() -> None:
    unknown = [
        NoteSigner.from_seed(f"u{i}.example", bytes([i]) * 32) for i in range(MAX_SIGNATURES)
    ]
    body = CP.to_body()
    ok = sign_note(body, [LOG, *unknown[: MAX_SIGNATURES - 1]])
    assert open_note(ok, [LOG.verifier])[1] == [ORIGIN]
    too_many = ok + sign_note(body, [unknown[-1]]).split("\n\n", 1)[1]
    with pytest.raises(InvalidCheckpoint, match="more than 100"):
        open_note(too_many, [LOG.verifier])
    with pytest.raises(ValueError, match="at most"):
        sign_note(body, [LOG, *unknown])


def test_invalid_utf8_and_surrogates_fail() -> None:
    note = sign_note(CP.to_body(), [LOG]).encode()
    with pytest.raises(InvalidCheckpoint, match="UTF-8"):
        open_note(b"\xff" + note, [LOG.verifier])
    with pytest.raises(InvalidCheckpoint, match="UTF-8"):
        open_note("\ud800" + note.decode(), [LOG.verifier])


def test_sign_note_checks_its_text() -> None:
    for body in ["no newline", "tab\there\n", ""]:
        with pytest.raises(InvalidCheckpoint):
            sign_note(body, [LOG])
    with pytest.raises(ValueError, match="signer"):
        sign_note("x\n", [])
    # Blank lines inside the text are allowed: the last blank line is the separator.
    note = sign_note("a\n\nb\n", [LOG])
    assert open_note(note, [LOG.verifier]) == ("a\n\nb\n", [ORIGIN])


def test_ambiguous_trusted_keys_are_a_configuration_error() -> None:
    a = NoteVerifier(name="n", public_key=LOG.verifier.public_key)
    b = NoteVerifier(name="n", public_key=W1.verifier.public_key)
    object.__setattr__(b, "key_id", a.key_id)  # simulate a key id collision
    with pytest.raises(ValueError, match="ambiguous"):
        open_note(sign_note("x\n", [LOG]), [a, b])


def test_cosign_note() -> None:
    note = sign_note(CP.to_body(), [LOG])
    cosigned = cosign_note(note, W1, verifiers=[LOG.verifier])
    assert cosigned.startswith(note)
    assert open_note(cosigned, [LOG.verifier, W1.verifier])[1] == [ORIGIN, W1.name]
    assert cosign_note(cosigned, W1, verifiers=[LOG.verifier]) == cosigned
    with pytest.raises(InvalidCheckpoint):
        cosign_note(note.replace("1234", "9"), W1, verifiers=[LOG.verifier])


@settings(max_examples=100, deadline=None)
@given(pos=st.integers(0, 10_000), delta=st.integers(1, 255))
def test_any_byte_change_in_a_signed_note_fails(pos: int, delta: int) -> None:
    note = sign_note(CP.to_body(), [LOG]).encode()
    i = pos % len(note)
    mutated = note[:i] + bytes([(note[i] + delta) % 256]) + note[i + 1 :]
    with pytest.raises(InvalidCheckpoint):
        verify_checkpoint(mutated, verifier=LOG.verifier, origin=ORIGIN)


# --- checkpoints --------------------------------------------------------------------------------


def test_checkpoint_body_and_verify() -> None:
    cp = Checkpoint(origin=ORIGIN, size=7, root_hash=ROOT, extensions=("ext one", "ext2"))
    body = cp.to_body()
    assert body == f"{ORIGIN}\n7\n{base64.b64encode(ROOT).decode()}\next one\next2\n"
    assert verify_checkpoint(sign_note(body, [LOG]), verifier=LOG.verifier, origin=ORIGIN) == cp


def test_verify_checkpoint_wrong_origin_or_key() -> None:
    note = sign_note(CP.to_body(), [LOG])
    with pytest.raises(InvalidCheckpoint, match="origin"):
        verify_checkpoint(note, verifier=LOG.verifier, origin="gw-b.creditlink.example/log")
    with pytest.raises(InvalidCheckpoint, match="no signature"):
        verify_checkpoint(note, verifier=OTHER.verifier, origin=ORIGIN)


def test_verify_checkpoint_needs_the_log_signature_not_just_witnesses() -> None:
    note = sign_note(CP.to_body(), [W1, W2])
    with pytest.raises(InvalidCheckpoint, match="not signed by the log key"):
        verify_checkpoint(
            note, verifier=LOG.verifier, origin=ORIGIN, witnesses=[W1.verifier, W2.verifier]
        )


def test_witness_threshold() -> None:
    note = sign_note(CP.to_body(), [LOG, W1, W2])
    ws = [W1.verifier, W2.verifier, W3.verifier]
    for threshold in (0, 1, 2):
        assert (
            verify_checkpoint(
                note,
                verifier=LOG.verifier,
                origin=ORIGIN,
                witnesses=ws,
                witness_threshold=threshold,
            )
            == CP
        )
    with pytest.raises(InvalidCheckpoint, match="2 witness cosignatures, 3 required"):
        verify_checkpoint(
            note, verifier=LOG.verifier, origin=ORIGIN, witnesses=ws, witness_threshold=3
        )
    # One witness with two keys (rotation) counts once.
    w1_new = NoteSigner.from_seed(W1.name, b"\x09" * 32)
    note2 = sign_note(CP.to_body(), [LOG, W1, w1_new])
    with pytest.raises(InvalidCheckpoint, match="1 witness cosignatures, 2 required"):
        verify_checkpoint(
            note2,
            verifier=LOG.verifier,
            origin=ORIGIN,
            witnesses=[W1.verifier, w1_new.verifier, W2.verifier],
            witness_threshold=2,
        )


def test_witness_configuration_errors() -> None:
    note = sign_note(CP.to_body(), [LOG, W1])
    with pytest.raises(ValueError, match="exceeds"):
        verify_checkpoint(
            note, verifier=LOG.verifier, origin=ORIGIN, witnesses=[W1.verifier], witness_threshold=2
        )
    with pytest.raises(ValueError, match="log key"):
        verify_checkpoint(note, verifier=LOG.verifier, origin=ORIGIN, witnesses=[LOG.verifier])
    with pytest.raises(ValueError, match="negative"):
        verify_checkpoint(note, verifier=LOG.verifier, origin=ORIGIN, witness_threshold=-1)


@pytest.mark.parametrize(
    "body",
    [
        "o\n",  # too few lines
        "o\n5\n",
        "\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # empty origin
        "o\n05\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # leading zero
        "o\n+5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "o\n-5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "o\n5 \nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "o\n\u0665\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # Arabic-Indic digit five
        "o\n9223372036854775808\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # 2**63
        "o\n99999999999999999999\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "o\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n",  # 31 bytes
        "o\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n",  # non-canonical
        "o\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",  # no padding
        "o\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n",  # empty extension line
    ],
)
def test_malformed_checkpoint_bodies_fail_even_when_signed(body: str) -> None:
    note = sign_note(body, [LOG])
    with pytest.raises(InvalidCheckpoint):
        verify_checkpoint(note, verifier=LOG.verifier, origin="o")


def test_checkpoint_text_must_end_with_newline() -> None:
    # A note's text always does; the parser checks anyway.
    with pytest.raises(InvalidCheckpoint, match="newline"):
        _parse_checkpoint_unsafe("o\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")


def test_checkpoint_edge_values() -> None:
    for size in (0, 1, 2**63 - 1):
        cp = Checkpoint(origin="o", size=size, root_hash=ROOT)
        assert (
            verify_checkpoint(sign_note(cp.to_body(), [LOG]), verifier=LOG.verifier, origin="o")
            == cp
        )
    for bad in [
        {"origin": "", "size": 1, "root_hash": ROOT},
        {"origin": "a\nb", "size": 1, "root_hash": ROOT},
        {"origin": "o\t", "size": 1, "root_hash": ROOT},
        {"origin": "o", "size": -1, "root_hash": ROOT},
        {"origin": "o", "size": 2**63, "root_hash": ROOT},
        {"origin": "o", "size": True, "root_hash": ROOT},
        {"origin": "o", "size": 1, "root_hash": ROOT[:31]},
        {"origin": "o", "size": 1, "root_hash": ROOT, "extensions": ("",)},
        {"origin": "o", "size": 1, "root_hash": ROOT, "extensions": ["x"]},
    ]:
        with pytest.raises(ValueError, match=r"origin|size|root|extension|control"):
            Checkpoint(**bad)  # type: ignore[arg-type]


def test_errors_are_verification_errors() -> None:
    with pytest.raises(VerificationError) as info:
        verify_checkpoint("junk", verifier=LOG.verifier, origin=ORIGIN)
    assert info.value.reason == "INVALID_CHECKPOINT"
