"""Benchmark the transparency-log library: batch append and proof generation.

    python bench/crypto/bench_merkle.py                # up to 10**7 leaves (~1 GB RAM, ~1 min)
    python bench/crypto/bench_merkle.py --max-exp 6    # up to 10**6 leaves

Part 1 measures ``Frontier.extend`` (the gateway's append path) in leaves per second against
the ceiling measured in the same run: raw ``hashlib.sha256`` over the same 32-byte leaf hashes,
one call per leaf. An append needs one node hash per leaf on average (n - 1 interior nodes for
n leaves), so the ratio says how much Python overhead sits on top of hashing. Target:
>= 200,000 leaves/s.

Part 2 builds one log in a ``MemoryNodeStore`` and, at 10**3 .. 10**7 leaves, times inclusion
and consistency proof generation and counts store reads and node ids per proof, which must grow
as O(log n) (one ``get_nodes`` call, at most ~2 log2 n ids).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import struct
import time
from collections.abc import Sequence

from creditlink.sdk.tlog import (
    Frontier,
    MemoryNodeStore,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_at,
    verify_consistency,
    verify_inclusion,
)

_sha256 = hashlib.sha256
_pack = struct.Struct(">Q").pack


def leaf_hashes(start: int, count: int) -> list[bytes]:
    """Deterministic leaf hashes for entries ``start .. start + count - 1``."""
    return [_sha256(b"\x00" + _pack(i)).digest() for i in range(start, start + count)]


class CountingReader:
    """Counts reads and ids on top of the real in-memory store."""

    def __init__(self, store: MemoryNodeStore) -> None:
        self.store = store
        self.calls = 0
        self.ids = 0

    def get_nodes(self, ids: Sequence[tuple[int, int]]) -> list[bytes]:
        self.calls += 1
        self.ids += len(ids)
        return self.store.get_nodes(ids)


def best_of(repeat: int, fn: object) -> float:
    assert callable(fn)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_append(n: int, batch: int) -> None:
    leaves = leaf_hashes(0, n)

    def raw() -> None:
        for x in leaves:
            _sha256(x).digest()

    def extend_only() -> None:
        f = Frontier()
        for i in range(0, n, batch):
            f, _ = f.extend(leaves[i : i + batch])

    def extend_and_store() -> None:
        f, store = Frontier(), MemoryNodeStore()
        for i in range(0, n, batch):
            f, runs = f.extend(leaves[i : i + batch])
            store.add_runs(runs)

    def per_leaf() -> None:
        f = Frontier()
        for x in leaves[: n // 10]:
            f, _ = f.append(x)

    t_raw = best_of(3, raw)
    t_ext = best_of(3, extend_only)
    t_store = best_of(3, extend_and_store)
    t_one = best_of(3, per_leaf) * 10
    ceiling = n / t_raw
    print(f"\n## Batch append ({n:,} precomputed leaf hashes, batches of {batch:,})\n")
    print(f"| {'path':<44} | {'leaves/s':>12} | {'vs sha256 ceiling':>17} |")
    print(f"|{'-' * 46}|{'-' * 14}|{'-' * 19}|")
    rows = [
        ("raw hashlib.sha256 of each 32-byte leaf hash", ceiling),
        ("Frontier.extend", n / t_ext),
        ("Frontier.extend + MemoryNodeStore.add_runs", n / t_store),
        ("Frontier.append, one leaf at a time", n / t_one),
    ]
    for label, rate in rows:
        print(f"| {label:<44} | {rate:>12,.0f} | {rate / ceiling:>17.2f} |")
    target = n / t_store
    verdict = "meets" if target >= 200_000 else "MISSES"
    print(f"\nextend + store: {target:,.0f} leaves/s, {verdict} the 200,000 leaves/s target.")


def bench_proofs(max_exp: int, samples: int) -> None:
    rng = random.Random(20240501)
    store = MemoryNodeStore()
    frontier = Frontier()
    chunk = 1 << 16
    print(f"\n## Proof generation (MemoryNodeStore, {samples} random proofs per size)\n")
    header = (
        f"| {'tree size':>10} | {'build s':>7} | {'store MB':>8} | {'incl. us':>8} "
        f"| {'reads':>5} | {'ids':>5} | {'cons. us':>8} | {'reads':>5} | {'ids':>5} "
        f"| {'2*log2 n':>8} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c) + 0) for c in header.split("|")[1:-1]) + "|")
    t_build = 0.0
    for exp in range(3, max_exp + 1):
        size = 10**exp
        t0 = time.perf_counter()
        while frontier.size < size:
            n = min(chunk, size - frontier.size)
            frontier, runs = frontier.extend(leaf_hashes(frontier.size, n))
            store.add_runs(runs)
        t_build += time.perf_counter() - t0
        assert root_at(size, store) == frontier.root()
        mb = sum(store.node_count(lv) for lv in range(64)) * 32 / 1e6

        indices = [rng.randrange(size) for _ in range(samples - 1)] + [size - 1]
        reader = CountingReader(store)
        t0 = time.perf_counter()
        proofs = [inclusion_proof(i, size, reader) for i in indices]
        t_incl = (time.perf_counter() - t0) / samples
        incl_reads, incl_ids = reader.calls / samples, reader.ids / samples

        sizes1 = [rng.randrange(1, size) for _ in range(samples)]
        reader = CountingReader(store)
        t0 = time.perf_counter()
        cproofs = [consistency_proof(s1, size, reader) for s1 in sizes1]
        t_cons = (time.perf_counter() - t0) / samples
        cons_reads, cons_ids = reader.calls / samples, reader.ids / samples

        # Spot-check that what was measured is right.
        root = frontier.root()
        for i, p in list(zip(indices, proofs, strict=True))[:20]:
            lh = leaf_hashes(i, 1)[0]
            verify_inclusion(leaf_hash=lh, index=i, tree_size=size, proof=p, root=root)
        for s1, p in list(zip(sizes1, cproofs, strict=True))[:5]:
            r1 = root_at(s1, store)
            verify_consistency(size1=s1, size2=size, root1=r1, root2=root, proof=p)

        print(
            f"| {size:>10,} | {t_build:>7.1f} | {mb:>8.0f} | {t_incl * 1e6:>8.1f} "
            f"| {incl_reads:>5.1f} | {incl_ids:>5.1f} | {t_cons * 1e6:>8.1f} | {cons_reads:>5.1f} "
            f"| {cons_ids:>5.1f} | {2 * size.bit_length():>8} |"
        )
    print("\nbuild s is cumulative (one log grows through every size).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000, help="leaves for part 1")
    parser.add_argument("--batch", type=int, default=4096, help="batch size for part 1")
    parser.add_argument("--max-exp", type=int, default=7, help="largest tree is 10**max-exp")
    parser.add_argument("--samples", type=int, default=1000, help="proofs timed per size")
    args = parser.parse_args()
    assert leaf_hash(b"") == _sha256(b"\x00").digest()
    bench_append(args.leaves, args.batch)
    bench_proofs(args.max_exp, args.samples)


if __name__ == "__main__":
    main()
