"""NameListMirror with 1,000,000 entries: lookups per second, memory per entry, load time.

No gateway: the entries are written straight into a mirror file with the mirror's own schema
(one distinct subject per entry, a UUID entry id, one of a few measure-reference sets, a mix of
states and listing periods), then the file is opened as a read-only ``NameListMirror``:

* load-from-file time: ``NameListMirror(None, path)`` rebuilding memory (best of ``--repeat``);
* bytes per entry: memory the loaded mirror keeps (tracemalloc, after the load's temporaries
  are freed), divided by the number of entries;
* ``is_listed`` lookups per second over the subjects, half listed and half never listed.

    python bench/sdk/bench_mirror.py [--entries 1000000] [--repeat 3]

Targets (issue 6): >= 1,000,000 lookups/s and <= 200 bytes per entry.
"""

from __future__ import annotations

import argparse
import gc
import random
import sqlite3
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

from creditlink.sdk.mirror import _FIELD_SEP, _OPEN_END, _REF_SEP, _SCHEMA, NameListMirror

MEASURE_SETS = [
    _REF_SEP.join(_FIELD_SEP.join(("national-basic", "2021.1", m)) for m in ids)
    for ids in (("1", "4", "11"), ("2",), ("1", "2", "3", "5"), ("7", "8"))
]


def subject(i: int) -> str:
    """An 18-character synthetic subject code (never checked: the mirror keys on it as is)."""
    return f"91{i:016d}"


def rows(count: int, rng: random.Random) -> Iterator[tuple[object, ...]]:
    for row in range(count):
        state = 1 if rng.random() < 0.9 else rng.choice((2, 3, 4, 5, 6))
        end = _OPEN_END if rng.random() < 0.3 else 20290308
        yield (
            row,
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            subject(row),
            state,
            20260309,
            end,
            MEASURE_SETS[row % len(MEASURE_SETS)],
            "bench-node",
            row,
        )


def build(path: Path, count: int) -> float:
    started = time.perf_counter()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(_SCHEMA)
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows(count, random.Random(6))
    )
    db.execute("INSERT INTO meta VALUES ('cursor', ?)", (count,))
    db.execute("COMMIT")
    db.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    count: int = args.entries

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mirror.db"
        build_s = build(path, count)

        load_s = float("inf")
        for _ in range(args.repeat):
            gc.collect()
            started = time.perf_counter()
            mirror = NameListMirror(None, path)
            load_s = min(load_s, time.perf_counter() - started)
            mirror.close()
            del mirror

        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        mirror = NameListMirror(None, path)
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert len(mirror) == count

        # Half the subjects are mirrored (some not in force), half were never listed.
        keys = [subject(i) if i % 2 else subject(count + i) for i in range(count)]
        random.Random(7).shuffle(keys)
        lookup = mirror.is_listed
        hits = sum(1 for key in keys if lookup(key))
        best = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            for key in keys:
                lookup(key)
            best = min(best, time.perf_counter() - started)
        mirror.close()

    rate = count / best
    per_entry = kept / count
    print(f"NameListMirror, {count:,} entries ({hits:,} of {count:,} lookups listed)\n")
    print("| measure | value | target |")
    print("|---|---:|---:|")
    print(f"| `is_listed` lookups/s | {rate:,.0f} | >= 1,000,000 |")
    print(f"| memory per entry (tracemalloc) | {per_entry:.0f} B | <= 200 B |")
    print(f"| load from file ({count:,} entries) | {load_s:.2f} s | |")
    print(f"| build file (bench setup) | {build_s:.2f} s | |")


if __name__ == "__main__":
    main()
