"""Compare creditlink's hand-written crypto paths with the libraries it could have used.

The evaluation itself is docs/design/libraries.md.

    python bench/crypto/compare_libraries.py [--seconds 0.4] [--rounds 5] [--leaves 100000]

One run, one machine, three tables (everything measured in the same process):

A. DSSE verify/s on the same signed envelope (one Ed25519 key, same payload): the raw
   cryptography ``Ed25519PublicKey.verify`` over the PAE bytes (ceiling), creditlink
   ``sdk.envelope.verify`` and securesystemslib ``dsse.Envelope.verify``; parsed envelope and
   JSON text -> verify. ECDSA P-256 rows for reference. Rounds are interleaved, median taken.
B. Merkle append, leaves/s over the same entries: raw ``hashlib`` (1 and 2 SHA-256 calls per
   entry), creditlink ``leaf_hash`` + ``Frontier.extend`` + ``MemoryNodeStore.add_runs``,
   ``Frontier.extend`` alone on precomputed leaf hashes, pymerkle ``InmemoryTree.append_entries``
   (default options: none of its options made appends faster) and pymerkle
   ``SqliteTree(':memory:').append_entries`` (stores leaves only; interior hashing is deferred
   to the first root/proof, so "append + get_root" is shown as well). Best of 3.
C. Inclusion-proof generation at ``--leaves`` leaves for the same random indices (best of 3
   passes; pymerkle's SQLite first proof is a single cold call), and a cross-check that all
   implementations give the same RFC 9162 root and audit paths.

securesystemslib and pymerkle are imported lazily: the project's CI does not install them, and
their rows then read "not installed".
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import cryptography
from cryptography.hazmat.primitives.asymmetric import ed25519

from creditlink.sdk._internal.pae import pae
from creditlink.sdk.envelope import Envelope, payload_type_for, sign, verify
from creditlink.sdk.keys import Algorithm, PrivateKey
from creditlink.sdk.tlog import (
    EMPTY_ROOT,
    Frontier,
    MemoryNodeStore,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_at,
    verify_inclusion,
)

RECORD = payload_type_for("record")
NOT_INSTALLED = "not installed"
_sha256 = hashlib.sha256


def _optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _version(module: ModuleType | None, dist: str) -> str:
    if module is None:
        return NOT_INSTALLED
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return getattr(module, "__version__", "?")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds`` of wall time."""
    n, elapsed = 1, 0.0
    while elapsed < seconds / 10:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed < seconds / 10:
            n *= 2
    loops = max(1, int(n * seconds / max(elapsed, 1e-9)))
    start = time.perf_counter()
    for _ in range(loops):
        fn()
    return loops / (time.perf_counter() - start)


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    """Shortest wall time of ``repeat`` calls of ``fn``."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _fmt(value: float | str, spec: str) -> str:
    return value if isinstance(value, str) else format(value, spec)


# --- A. DSSE verify ----------------------------------------------------------------------------


def table_verify(args: argparse.Namespace, sslib: dict[str, Any] | None) -> None:
    payload = os.urandom(args.payload)
    rows: dict[str, Callable[[], float] | None] = {}

    # One Ed25519 key, held both as the raw cryptography object and as a creditlink key.
    raw_private = ed25519.Ed25519PrivateKey.generate()
    raw_public = raw_private.public_key()
    key = PrivateKey.from_seed(raw_private.private_bytes_raw())
    envelope = sign(payload, RECORD, [key])
    text = envelope.to_json()
    message = pae(RECORD, payload)
    raw_sig = envelope.signatures[0].sig
    keys = [key.public_key]

    ecdsa = PrivateKey.generate(Algorithm.ECDSA_P256_SHA256)
    ecdsa_env = sign(payload, RECORD, [ecdsa])
    ecdsa_keys = [ecdsa.public_key]

    # Sanity: every measured call must succeed on these inputs.
    raw_public.verify(raw_sig, message)
    verify(envelope, keys=keys, expected_type=RECORD)
    verify(ecdsa_env, keys=ecdsa_keys, expected_type=RECORD)

    def ours_json() -> None:
        verify(Envelope.from_json(text), keys=keys, expected_type=RECORD)

    rows["raw Ed25519 verify, cryptography (ceiling)"] = lambda: rate(
        lambda: raw_public.verify(raw_sig, message), args.seconds
    )
    rows["creditlink sdk.envelope.verify"] = lambda: rate(
        lambda: verify(envelope, keys=keys, expected_type=RECORD), args.seconds
    )
    rows["creditlink Envelope.from_json + verify"] = lambda: rate(ours_json, args.seconds)

    if sslib is None:
        for label in (
            "securesystemslib dsse.Envelope.verify",
            "securesystemslib from_dict + verify",
        ):
            rows[label] = None
    else:
        s_envelope_cls, s_key_cls = sslib["Envelope"], sslib["SSlibKey"]
        # The same envelope bytes; the key carries creditlink's key id so the hint matches.
        s_key = s_key_cls.from_crypto(raw_public, keyid=key.key_id)
        s_env = s_envelope_cls.from_dict(json.loads(text))
        s_env.verify([s_key], 1)
        s_ecdsa_key = s_key_cls.from_crypto(ecdsa.public_key._key, keyid=ecdsa.key_id)
        s_ecdsa_env = s_envelope_cls.from_dict(json.loads(ecdsa_env.to_json()))
        s_ecdsa_env.verify([s_ecdsa_key], 1)

        def theirs_json() -> None:
            # from_dict consumes (mutates) its argument, so it gets a fresh dict each time.
            s_envelope_cls.from_dict(json.loads(text)).verify([s_key], 1)

        rows["securesystemslib dsse.Envelope.verify"] = lambda: rate(
            lambda: s_env.verify([s_key], 1), args.seconds
        )
        rows["securesystemslib from_dict + verify"] = lambda: rate(theirs_json, args.seconds)

    rows["creditlink verify, ECDSA P-256"] = lambda: rate(
        lambda: verify(ecdsa_env, keys=ecdsa_keys, expected_type=RECORD), args.seconds
    )
    if sslib is None:
        rows["securesystemslib verify, ECDSA P-256"] = None
    else:
        rows["securesystemslib verify, ECDSA P-256"] = lambda: rate(
            lambda: s_ecdsa_env.verify([s_ecdsa_key], 1), args.seconds
        )

    samples: dict[str, list[float]] = {name: [] for name, fn in rows.items() if fn is not None}
    for _ in range(args.rounds):
        for name, fn in rows.items():
            if fn is not None:
                samples[name].append(fn())
    result: dict[str, float | str] = {
        name: statistics.median(samples[name]) if fn is not None else NOT_INSTALLED
        for name, fn in rows.items()
    }
    ceiling = result["raw Ed25519 verify, cryptography (ceiling)"]
    assert isinstance(ceiling, float)

    print(
        f"\n## A. DSSE verify, Ed25519, payload {args.payload} B, PAE {len(message)} B "
        f"({args.rounds} interleaved rounds x {args.seconds}s, median)\n"
    )
    print(f"| {'verifier':<46} | {'verifies/s':>13} | {'vs raw Ed25519':>14} |")
    print(f"|{'-' * 48}|{'-' * 14}:|{'-' * 15}:|")
    for name, value in result.items():
        ratio = "" if isinstance(value, str) else f"{value / ceiling:.2f}x"
        print(f"| {name:<46} | {_fmt(value, ',.0f'):>13} | {ratio:>14} |")


# --- B. Merkle append --------------------------------------------------------------------------


def table_append(
    args: argparse.Namespace, entries: list[bytes], pymerkle: ModuleType | None
) -> None:
    n, batch = len(entries), args.batch
    hashes = [leaf_hash(e) for e in entries]

    def raw_one() -> None:
        for e in entries:
            _sha256(b"\x00" + e).digest()

    def raw_two() -> None:
        for e in entries:
            _sha256(b"\x01" + _sha256(b"\x00" + e).digest()).digest()

    def ours_full() -> None:
        frontier, store = Frontier(), MemoryNodeStore()
        for i in range(0, n, batch):
            frontier, runs = frontier.extend([leaf_hash(e) for e in entries[i : i + batch]])
            store.add_runs(runs)

    def ours_extend() -> None:
        frontier = Frontier()
        for i in range(0, n, batch):
            frontier, _ = frontier.extend(hashes[i : i + batch])

    timings: dict[str, float | str] = {
        "raw hashlib, 1 SHA-256 per entry (leaf hash)": best_of(3, raw_one),
        "raw hashlib, 2 SHA-256 per entry (leaf + node)": best_of(3, raw_two),
        f"creditlink leaf_hash + Frontier.extend + add_runs (batch {batch})": best_of(3, ours_full),
        f"creditlink Frontier.extend on leaf hashes (batch {batch})": best_of(3, ours_extend),
    }
    if pymerkle is None:
        for label in (
            "pymerkle InmemoryTree.append_entries",
            "pymerkle SqliteTree(':memory:').append_entries",
            "pymerkle SqliteTree(':memory:') append + get_root",
        ):
            timings[label] = NOT_INSTALLED
    else:
        timings["pymerkle InmemoryTree.append_entries"] = best_of(
            3, lambda: pymerkle.InmemoryTree().append_entries(entries)
        )

        def sqlite_append(root: bool) -> None:
            tree = pymerkle.SqliteTree(":memory:")
            tree.append_entries(entries)
            if root:
                tree.get_root()
            tree.close()

        timings["pymerkle SqliteTree(':memory:').append_entries"] = best_of(
            3, lambda: sqlite_append(False)
        )
        timings["pymerkle SqliteTree(':memory:') append + get_root"] = best_of(
            3, lambda: sqlite_append(True)
        )

    print(f"\n## B. Append {n:,} entries of {args.entry} B (best of 3)\n")
    print(f"| {'path':<62} | {'leaves/s':>13} | {'vs 1 SHA-256/entry':>18} |")
    print(f"|{'-' * 64}|{'-' * 14}:|{'-' * 19}:|")
    ceiling = n / float(timings["raw hashlib, 1 SHA-256 per entry (leaf hash)"])
    for name, t in timings.items():
        value: float | str = t if isinstance(t, str) else n / t
        ratio = "" if isinstance(value, str) else f"{value / ceiling:.2f}x"
        print(f"| {name:<62} | {_fmt(value, ',.0f'):>13} | {ratio:>18} |")


# --- C. Proofs and cross-check -----------------------------------------------------------------


def table_proofs(
    args: argparse.Namespace, entries: list[bytes], pymerkle: ModuleType | None
) -> None:
    n = len(entries)
    rng = random.Random(20240501)
    indices = [rng.randrange(n) for _ in range(args.proofs)]
    old_size = n - 12_345 if n > 20_000 else n // 2
    old_indices = [rng.randrange(old_size) for _ in range(args.proofs)]

    store, frontier = MemoryNodeStore(), Frontier()
    hashes = [leaf_hash(e) for e in entries]
    for i in range(0, n, args.batch):
        frontier, runs = frontier.extend(hashes[i : i + args.batch])
        store.add_runs(runs)
    ours = {i: inclusion_proof(i, n, store) for i in indices}
    root = frontier.root()
    for i in indices:
        verify_inclusion(leaf_hash=hashes[i], index=i, tree_size=n, proof=ours[i], root=root)

    rows: list[tuple[str, float | str, float | str]] = []

    def per_proof(fn: Callable[[int], object], idx: list[int], repeat: int = 3) -> float:
        """Mean microseconds per proof, best of ``repeat`` passes over ``idx``."""

        def one_pass() -> None:
            for i in idx:
                fn(i)

        return best_of(repeat, one_pass) / len(idx) * 1e6

    rows.append(
        (
            "creditlink inclusion_proof (MemoryNodeStore)",
            per_proof(lambda i: inclusion_proof(i, n, store), indices),
            per_proof(lambda i: inclusion_proof(i, old_size, store), old_indices),
        )
    )
    checks: list[tuple[str, str]] = []
    roots: dict[str, bytes] = {
        "creditlink Frontier.root": root,
        "creditlink root_at (from stored nodes)": root_at(n, store),
    }
    if pymerkle is None:
        rows.append(("pymerkle InmemoryTree.prove_inclusion", NOT_INSTALLED, NOT_INSTALLED))
        rows.append(("pymerkle SqliteTree, first proof (cold cache)", NOT_INSTALLED, ""))
        rows.append(("pymerkle SqliteTree, first pass over the indices", NOT_INSTALLED, ""))
        rows.append(("pymerkle SqliteTree, warm LRU cache", NOT_INSTALLED, NOT_INSTALLED))
        checks.append(("pymerkle", NOT_INSTALLED))
    else:
        mem = pymerkle.InmemoryTree()
        mem.append_entries(entries)
        sql = pymerkle.SqliteTree(":memory:")
        sql.append_entries(entries)
        # pymerkle indices count from one.
        rows.append(
            (
                "pymerkle InmemoryTree.prove_inclusion",
                per_proof(lambda i: mem.prove_inclusion(i + 1, n), indices),
                per_proof(lambda i: mem.prove_inclusion(i + 1, old_size), old_indices),
            )
        )
        cold = per_proof(lambda i: sql.prove_inclusion(i + 1, n), indices[:1], repeat=1)
        rows.append(("pymerkle SqliteTree, first proof (cold cache)", cold, ""))
        # Interior nodes are not stored: they are recomputed from leaf rows and kept in an
        # in-process LRU cache, so the first pass pays for reading leaves, later ones do not.
        first_pass = per_proof(lambda i: sql.prove_inclusion(i + 1, n), indices[1:], repeat=1)
        rows.append(("pymerkle SqliteTree, first pass over the indices", first_pass, ""))
        rows.append(
            (
                "pymerkle SqliteTree, warm LRU cache",
                per_proof(lambda i: sql.prove_inclusion(i + 1, n), indices[1:]),
                per_proof(lambda i: sql.prove_inclusion(i + 1, old_size), old_indices),
            )
        )
        roots["pymerkle InmemoryTree.get_root"] = mem.get_root()
        roots["pymerkle SqliteTree.get_root"] = sql.get_root()
        same_paths = 0
        for i in indices:
            p_mem, p_sql = mem.prove_inclusion(i + 1, n), sql.prove_inclusion(i + 1, n)
            # pymerkle's path is [leaf hash] + the RFC 9162 audit path.
            if (
                p_mem.path == p_sql.path
                and p_mem.path[0] == hashes[i]
                and p_mem.path[1:] == ours[i]
            ):
                same_paths += 1
        checks.append(
            (
                f"inclusion paths at n={n:,}: pymerkle path[1:] == creditlink proof",
                f"{same_paths}/{len(indices)}",
            )
        )
        empty = pymerkle.InmemoryTree().get_root()
        checks.append(('empty-tree root == SHA-256("") in both', str(empty == EMPTY_ROOT)))
        pairs = [(a, b) for b in range(2, 65) for a in range(1, b)]
        small = MemoryNodeStore()
        _, small_runs = Frontier().extend(hashes[:64])
        small.add_runs(small_runs)
        equal = sum(
            mem.prove_consistency(a, b).path == consistency_proof(a, b, small) for a, b in pairs
        )
        checks.append(
            (
                "consistency proofs (1 <= m < n <= 64) equal to RFC 9162 ones",
                f"{equal}/{len(pairs)}",
            )
        )
        sql.close()

    print(
        f"\n## C. Inclusion-proof generation at n = {n:,} leaves "
        f"(mean over {args.proofs} random indices, best of 3 passes)\n"
    )
    old_label = f"us/proof, size {old_size:,}"
    print(f"| {'implementation':<48} | {'us/proof, size n':>16} | {old_label:>20} |")
    print(f"|{'-' * 50}|{'-' * 17}:|{'-' * 21}:|")
    for name, cur, old in rows:
        print(f"| {name:<48} | {_fmt(cur, ',.1f'):>16} | {_fmt(old, ',.1f'):>20} |")

    print(f"\n### Cross-check at n = {n:,}\n")
    reference = roots["creditlink Frontier.root"]
    for name, value in roots.items():
        same = "same" if value == reference else "DIFFERENT"
        print(f"- {name}: {value.hex()[:16]}… {same}")
    for name, outcome in checks:
        print(f"- {name}: {outcome}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.4, help="time per verify sample")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved verify rounds")
    parser.add_argument("--payload", type=int, default=256, help="DSSE payload bytes")
    parser.add_argument("--leaves", type=int, default=100_000, help="Merkle leaves")
    parser.add_argument("--entry", type=int, default=64, help="bytes per Merkle entry")
    parser.add_argument("--batch", type=int, default=1_000, help="Frontier.extend batch size")
    parser.add_argument("--proofs", type=int, default=200, help="proofs per measurement")
    args = parser.parse_args()

    sslib_dsse = _optional("securesystemslib.dsse")
    sslib_signer = _optional("securesystemslib.signer")
    sslib = (
        None
        if sslib_dsse is None or sslib_signer is None
        else {"Envelope": sslib_dsse.Envelope, "SSlibKey": sslib_signer.SSlibKey}
    )
    pymerkle = _optional("pymerkle")

    print("# creditlink vs. libraries\n")
    print(f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    cpus = len(os.sched_getaffinity(0))
    print(f"- machine: {cpus} CPUs available (os.cpu_count() {os.cpu_count()}), {_cpu_model()}")
    print(f"- Python {platform.python_version()} ({sys.implementation.name}), {platform.system()}")
    print(
        f"- cryptography {cryptography.__version__}, "
        f"securesystemslib {_version(_optional('securesystemslib'), 'securesystemslib')}, "
        f"pymerkle {_version(pymerkle, 'pymerkle')}, "
        f"creditlink {_version(_optional('creditlink'), 'creditlink')}"
    )

    table_verify(args, sslib)
    rng = random.Random(7)
    entries = [rng.randbytes(args.entry) for _ in range(args.leaves)]
    table_append(args, entries, pymerkle)
    table_proofs(args, entries, pymerkle)


if __name__ == "__main__":
    main()
