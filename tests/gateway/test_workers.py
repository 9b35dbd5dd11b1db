"""The intake in worker processes judges exactly as it does in place, and survives a dead worker.

Real worker processes (forked from the fork server), real keys from a development federation:
the same sealed submissions go through :class:`InlineIntake` and :class:`IntakeWorkers` and
must give equal submissions, or errors with equal class, reason and field violations.
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from creditlink.gateway.bootstrap import DevFederation, create_dev_federation
from creditlink.gateway.intake import Intake, RejectedBatch
from creditlink.gateway.ledger import Submission
from creditlink.gateway.workers import (
    IN_PLACE_MAX_BYTES,
    InlineIntake,
    IntakeStartError,
    IntakeWorkers,
    WorkerSettings,
)
from creditlink.sdk.credentials import SEALING_KEY
from creditlink.sdk.errors import CreditlinkError, Unavailable
from tests.gateway.statements import penalty_record, sealed_batch, sealed_single, statement


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> DevFederation:
    return create_dev_federation(Path(tmp_path_factory.mktemp("fed")))


@pytest.fixture
def inline(federation: DevFederation) -> InlineIntake:
    hub = federation.node("cn-hub").credentials
    return InlineIntake(
        Intake(node_id="cn-hub", trust=lambda: hub.trust_bundle, sealing_keys=[hub.sealing_key])
    )


@pytest.fixture
async def workers(federation: DevFederation) -> AsyncIterator[IntakeWorkers]:
    hub = federation.node("cn-hub").credentials
    pool = IntakeWorkers(
        WorkerSettings(node_id="cn-hub", sealing_key_path=hub.directory / SEALING_KEY),
        processes=2,
        trust=lambda: hub.trust_bundle,
        clock=lambda: datetime.now(UTC),
    )
    await pool.start()
    yield pool
    await pool.close()


async def test_workers_give_the_same_submissions(
    federation: DevFederation, inline: InlineIntake, workers: IntakeWorkers
) -> None:
    zj = federation.node("zj-330000").credentials
    single = sealed_single(zj, "cn-hub", statement("zj-330000", ["cn-hub"], penalty_record()))
    bodies = [statement("zj-330000", ["cn-hub"], penalty_record()) for _ in range(50)]
    batch = sealed_batch(zj, "cn-hub", bodies, batch_id="b-1")
    assert await workers.single(single, peer="zj-330000", request_id=None) == (
        await inline.single(single, peer="zj-330000", request_id=None)
    )
    from_workers = await workers.batch(batch, peer="zj-330000", request_id=None)
    assert from_workers == await inline.batch(batch, peer="zj-330000", request_id=None)
    assert [e.message_id for e in from_workers.entries] == [b.header.message_id for b in bodies]


class _CountingIntake(Intake):
    """A real intake that counts the single messages it checks."""

    singles = 0

    def single(self, sealed: bytes, *, peer: str, request_id: str | None = None) -> Submission:
        self.singles += 1
        return super().single(sealed, peer=peer, request_id=request_id)


async def test_small_singles_are_checked_in_place_and_the_rest_in_the_workers(
    federation: DevFederation, inline: InlineIntake
) -> None:
    hub = federation.node("cn-hub").credentials
    zj = federation.node("zj-330000").credentials
    in_place = _CountingIntake(
        node_id="cn-hub", trust=lambda: hub.trust_bundle, sealing_keys=[hub.sealing_key]
    )
    pool = IntakeWorkers(
        WorkerSettings(node_id="cn-hub", sealing_key_path=hub.directory / SEALING_KEY),
        processes=1,
        trust=lambda: hub.trust_bundle,
        clock=lambda: datetime.now(UTC),
        in_place=in_place,
    )
    await pool.start()
    try:
        small = sealed_single(zj, "cn-hub", statement("zj-330000", ["cn-hub"], penalty_record()))
        large_record = penalty_record()
        large_record.penalty.violation_facts = "违" * 8000  # 24 KB of UTF-8, within the contract
        large = sealed_single(zj, "cn-hub", statement("zj-330000", ["cn-hub"], large_record))
        assert len(small) <= IN_PLACE_MAX_BYTES < len(large)
        bodies = [statement("zj-330000", ["cn-hub"], penalty_record()) for _ in range(3)]
        batch = sealed_batch(zj, "cn-hub", bodies)

        got_small = await pool.single(small, peer="zj-330000", request_id=None)
        assert in_place.singles == 1
        got_large = await pool.single(large, peer="zj-330000", request_id=None)
        got_batch = await pool.batch(batch, peer="zj-330000", request_id=None)
        assert in_place.singles == 1  # the large message and the batch went to the worker
        for sealed, got in ((small, got_small), (large, got_large)):
            assert got == await inline.single(sealed, peer="zj-330000", request_id=None)
        assert got_batch == await inline.batch(batch, peer="zj-330000", request_id=None)
        # In place, a refusal is the same as the workers' too.
        tampered = bytearray(small)
        tampered[-5] ^= 1
        error = await _error(pool.single(bytes(tampered), peer="zj-330000", request_id=None))
        assert in_place.singles == 2
        expected = await _error(inline.single(bytes(tampered), peer="zj-330000", request_id=None))
        assert (type(error), error.reason) == (type(expected), expected.reason)
    finally:
        await pool.close()


async def _error(call: object) -> CreditlinkError:
    with pytest.raises(CreditlinkError) as info:
        await call  # type: ignore[misc]
    return info.value


async def test_workers_refuse_with_the_same_errors(
    federation: DevFederation, inline: InlineIntake, workers: IntakeWorkers
) -> None:
    zj = federation.node("zj-330000").credentials
    bad_uscc = penalty_record()
    bad_uscc.subject.uscc = "91330100MA27XL0A6R"
    no_facts = penalty_record()
    no_facts.penalty.ClearField("violation_facts")
    stale = statement(
        "zj-330000", ["cn-hub"], penalty_record(), created_at=datetime.now(UTC) - timedelta(days=2)
    )
    singles = [
        sealed_single(zj, "cn-hub", statement("zj-330000", ["cn-hub"], bad_uscc)),
        sealed_single(zj, "cn-hub", statement("zj-330000", ["cn-hub"], no_facts)),
        sealed_single(zj, "cn-hub", stale),
        sealed_single(zj, "cn-hub", statement("zj-330000", ["gd-440000"], penalty_record())),
        b"\x00not a sealed envelope",
    ]
    for sealed in singles:
        expected = await _error(inline.single(sealed, peer="zj-330000", request_id=None))
        got = await _error(workers.single(sealed, peer="zj-330000", request_id=None))
        assert (type(got), got.reason, str(got)) == (type(expected), expected.reason, str(expected))
        assert getattr(got, "field_violations", ()) == getattr(expected, "field_violations", ())
    # A batch with two bad items names both, as in place.
    bodies = [statement("zj-330000", ["cn-hub"], penalty_record()) for _ in range(5)]
    bodies[1].record.subject.uscc = "91330100MA27XL0A6R"
    bodies[3].record.penalty.ClearField("violation_facts")
    batch = sealed_batch(zj, "cn-hub", bodies)
    got = await _error(workers.batch(batch, peer="zj-330000", request_id=None))
    assert isinstance(got, RejectedBatch)
    assert [(f.index, f.error.reason) for f in got.failures] == [
        (1, "INVALID_USCC"),
        (3, "CONSTRAINT_VIOLATION"),
    ]


async def test_each_task_carries_the_node_clock_and_trust_bundle(
    federation: DevFederation,
) -> None:
    """A worker judges with the node's clock reading and bundle of the moment, not its own."""
    hub = federation.node("cn-hub").credentials
    zj = federation.node("zj-330000").credentials
    now = {"at": datetime.now(UTC)}
    pool = IntakeWorkers(
        WorkerSettings(node_id="cn-hub", sealing_key_path=hub.directory / SEALING_KEY),
        processes=1,
        trust=lambda: hub.trust_bundle,
        clock=lambda: now["at"],
    )
    await pool.start()
    try:
        body = statement("zj-330000", ["cn-hub"], penalty_record())
        sealed = sealed_single(zj, "cn-hub", body)
        assert (await pool.single(sealed, peer="zj-330000", request_id=None)).entries
        now["at"] = hub.trust_bundle.expires_at + timedelta(seconds=1)
        error = await _error(pool.single(sealed, peer="zj-330000", request_id=None))
        assert error.reason == "TRUST_BUNDLE_EXPIRED"
    finally:
        await pool.close()


async def test_a_dead_worker_fails_the_call_retryably_and_the_next_call_works(
    federation: DevFederation, workers: IntakeWorkers
) -> None:
    zj = federation.node("zj-330000").credentials

    def sealed() -> bytes:
        body = statement("zj-330000", ["cn-hub"], penalty_record())
        return sealed_single(zj, "cn-hub", body)

    await workers.single(sealed(), peer="zj-330000", request_id=None)
    pool = workers._pool
    assert pool is not None
    for pid in list(pool._processes):  # the pool's own record of its workers
        os.kill(pid, signal.SIGKILL)
    # A call the dead workers held fails as retryable; one that reaches the pool after it
    # noticed goes to a fresh pool. Which of the two the next call is depends on timing.
    outcome: Submission | Unavailable
    try:
        outcome = await workers.single(sealed(), peer="zj-330000", request_id=None)
    except Unavailable as error:
        outcome = error
    if isinstance(outcome, Unavailable):
        assert outcome.reason == "INTAKE_UNAVAILABLE"
        outcome = await workers.single(sealed(), peer="zj-330000", request_id=None)
    assert len(outcome.entries) == 1
    assert workers._pool is not pool  # replaced


async def test_a_pool_that_cannot_load_the_sealing_key_fails_to_start(tmp_path: Path) -> None:
    pool = IntakeWorkers(
        WorkerSettings(node_id="cn-hub", sealing_key_path=tmp_path / "missing.pem"),
        processes=1,
        trust=lambda: pytest.fail("no task runs"),
        clock=lambda: datetime.now(UTC),
    )
    with pytest.raises(IntakeStartError, match="cannot load the sealing key"):
        await pool.start()
    await pool.close()
