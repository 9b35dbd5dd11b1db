"""Signing and verification throughput against the raw Ed25519 ceiling.

    python bench/crypto/bench_sign.py [--seconds 0.5] [--rounds 5] [--payload 256]

Prints one table. Ceilings are measured in the same run on the same machine:

* raw Ed25519 verify/s: cryptography's ``Ed25519PublicKey.verify`` over a message of the same
  length as the DSSE PAE bytes (the most any Python DSSE verifier can reach);
* DSSE verify/s: ``creditlink.sdk.envelope.verify`` on a parsed envelope, and the ratio to the
  ceiling (target >= 0.8); also bytes -> Envelope -> verify, for reference;
* batch items verified/s at batch size 500 (``verify_batch``: one signature, the whole tree)
  against per-item DSSE verifies/s, and the ratio (target >= 20).

Rounds of the measurements are interleaved and the median taken, so a noisy neighbour hits
every row alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric import ed25519

from creditlink.sdk._internal.pae import pae
from creditlink.sdk.batch import BatchItem, extract_all, sign_batch, verify_batch, verify_batched
from creditlink.sdk.envelope import Envelope, payload_type_for, sign, verify
from creditlink.sdk.keys import Algorithm, PrivateKey, PublicKey

BATCH_SIZE = 500
RECORD = payload_type_for("record")


def rate(fn: Callable[[], object], seconds: float, per_call: int = 1) -> float:
    """Operations per second of ``fn`` over about ``seconds`` of wall time."""
    # Calibrate a loop count so the timed part is not dominated by the clock call.
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
    return loops * per_call / (time.perf_counter() - start)


def _verify_row(envelope: Envelope, keys: list[PublicKey], seconds: float) -> Callable[[], float]:
    return lambda: rate(lambda: verify(envelope, keys=keys, expected_type=RECORD), seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    parser.add_argument("--payload", type=int, default=256, help="payload bytes per item")
    args = parser.parse_args()

    payload = os.urandom(args.payload)
    key = PrivateKey.generate()
    public = key.public_key
    keys = [public]

    # Ceiling: the bare primitive over a message as long as the PAE bytes.
    message = pae(RECORD, payload)
    raw_private = ed25519.Ed25519PrivateKey.generate()
    raw_public = raw_private.public_key()
    raw_sig = raw_private.sign(message)

    envelope = sign(payload, RECORD, [key])
    wire = envelope.to_bytes()

    items = [BatchItem(os.urandom(args.payload), RECORD) for _ in range(BATCH_SIZE)]
    batch = sign_batch(
        items, key, signer_node_id="bench", batch_id="bench-1", signed_at=datetime.now(UTC)
    )
    batched = extract_all(batch)
    types = frozenset({RECORD})

    # Sanity: everything measured must actually verify.
    raw_public.verify(raw_sig, message)
    verify(envelope, keys=keys, expected_type=RECORD)
    verify_batch(batch, keys=keys, expected_types=types)
    verify_batched(batched[123], keys=keys, expected_type=RECORD)

    others = {
        alg: PrivateKey.generate(alg) for alg in (Algorithm.ECDSA_P256_SHA256, Algorithm.ML_DSA_65)
    }
    other_envs = {alg: sign(payload, RECORD, [k]) for alg, k in others.items()}

    rows: dict[str, Callable[[], float]] = {
        "raw Ed25519 verify (ceiling)": lambda: rate(
            lambda: raw_public.verify(raw_sig, message), args.seconds
        ),
        "DSSE verify (parsed envelope)": lambda: rate(
            lambda: verify(envelope, keys=keys, expected_type=RECORD), args.seconds
        ),
        "DSSE bytes -> Envelope -> verify": lambda: rate(
            lambda: verify(Envelope.from_bytes(wire), keys=keys, expected_type=RECORD),
            args.seconds,
        ),
        f"batch items verified (verify_batch, n={BATCH_SIZE})": lambda: rate(
            lambda: verify_batch(batch, keys=keys, expected_types=types),
            args.seconds,
            per_call=BATCH_SIZE,
        ),
        "batched item verified alone (verify_batched)": lambda: rate(
            lambda: verify_batched(batched[123], keys=keys, expected_type=RECORD), args.seconds
        ),
        "Ed25519 DSSE sign": lambda: rate(lambda: sign(payload, RECORD, [key]), args.seconds),
    }
    for alg, env in other_envs.items():
        rows[f"DSSE verify {alg.name}"] = _verify_row(env, [others[alg].public_key], args.seconds)

    samples: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(args.rounds):
        for name, measure in rows.items():
            samples[name].append(measure())
    result = {name: statistics.median(values) for name, values in samples.items()}

    ceiling = result["raw Ed25519 verify (ceiling)"]
    dsse = result["DSSE verify (parsed envelope)"]
    batch_rate = result[f"batch items verified (verify_batch, n={BATCH_SIZE})"]

    print(
        f"payload {args.payload} bytes, PAE {len(message)} bytes, "
        f"{args.rounds} rounds x {args.seconds}s, median"
    )
    print(f"{'measurement':<52} {'ops/s':>12} {'vs ceiling':>11}")
    print("-" * 77)
    for name, value in result.items():
        print(f"{name:<52} {value:>12,.0f} {value / ceiling:>10.2f}x")
    print("-" * 77)
    dsse_ratio = dsse / ceiling
    batch_ratio = batch_rate / dsse
    print(
        f"{'DSSE verify / raw Ed25519 verify':<52} {dsse_ratio:>12.2f}  target >= 0.8  "
        f"{'OK' if dsse_ratio >= 0.8 else 'MISS'}"
    )
    print(
        f"{'batch items/s (n=500) / per-item DSSE verifies/s':<52} {batch_ratio:>12.1f}  "
        f"target >= 20   {'OK' if batch_ratio >= 20 else 'MISS'}"
    )


if __name__ == "__main__":
    main()
