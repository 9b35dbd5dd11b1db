"""The projection runs inside the ledger's append: effects and refusals land with the log.

A toy handler (a counter per subject that refuses to go past a limit) on a real ledger and real
stores: the domain state is written in the append's transaction, a refused submission logs
nothing and the leaves of the next ones move up, later submissions of the same append see the
earlier ones' effects, and a batch is refused whole. A handler reads the statement that created
an object (:meth:`View.created_by`), from the log or from earlier in the same append.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import pytest

from creditlink.gateway.domain.projection import Handler, Logged, Projection, View
from creditlink.gateway.ledger import BatchInfo, Ledger, LedgerEntry, Submission
from creditlink.gateway.store import DomainEvent, DomainObject, ObjectKey, Store
from creditlink.sdk.errors import FailedPrecondition
from creditlink.sdk.keys import PrivateKey
from creditlink.sdk.tlog import NoteSigner
from creditlink.v1 import statement_pb2
from tests.gateway.statements import penalty_record, statement

ORIGIN = "creditlink.test/zj-330000"
TYPE = "application/vnd.creditlink.record.v1+protobuf"
LIMIT = 2


class CountingHandler:
    """Counts records per subject; a third record about one subject is refused."""

    kind = "record"

    def reads(self, statement: statement_pb2.Statement) -> Iterable[ObjectKey]:
        return [("counter", statement.record.subject.uscc)]

    def apply(self, logged: Logged, view: View) -> None:
        uscc = logged.statement.record.subject.uscc
        current = view.get("counter", uscc)
        count = 1 if current is None else int(str(current.attrs["count"])) + 1
        if count > LIMIT:
            raise FailedPrecondition(f"{uscc} has {LIMIT} records", reason="TOO_MANY")
        view.put(
            DomainObject(
                kind="counter",
                object_id=uscc,
                subject_key=uscc,
                state="COUNTING",
                body=b"",
                attrs={"count": count},
                flags=frozenset(),
                due_date=None,
                origin_node_id=logged.sender_node_id,
                log_origin=logged.log_origin,
                created_leaf=logged.leaf_index if current is None else current.created_leaf,
                leaf_index=logged.leaf_index,
                updated_at=logged.at,
            )
        )
        view.event(
            DomainEvent(
                kind="counter",
                object_id=uscc,
                log_origin=logged.log_origin,
                leaf_index=logged.leaf_index,
                seq=0,
                action="COUNTED",
                actor_node_id=logged.sender_node_id,
                reason="",
                message_id=logged.message_id,
                at=logged.at,
            )
        )


def submission(uscc: str, *, items: int = 1, recipients: Sequence[str] = ("cn-hub",)) -> Submission:
    bodies = [statement("zj-330000", recipients, penalty_record(uscc=uscc)) for _ in range(items)]
    entries = [
        LedgerEntry(
            message_id=b.header.message_id,
            kind="record",
            sender_node_id="zj-330000",
            payload_type=TYPE,
            payload=b.SerializeToString(),
            envelope=None if items > 1 else b"env",
            subject_key=uscc,
        )
        for b in bodies
    ]
    message_id = bodies[0].header.message_id + ("-batch" if items > 1 else "")
    return Submission(
        message_id=message_id,
        request_digest=hashlib.sha256(message_id.encode()).digest(),
        sender_node_id="zj-330000",
        payload_type=TYPE,
        payload_digest=bytes(32),
        entries=entries,
        batch=BatchInfo(batch_id=message_id, head_envelope=b"head") if items > 1 else None,
    )


A, B = "91330100MA27XL0A6Q", "91110000600037341L"


def _ledger(store: Store, handler: Handler) -> Ledger:
    """Zhejiang's ledger projecting with ``handler`` alone."""
    return Ledger(
        store=store,
        node_id="zj-330000",
        origin=ORIGIN,
        signing_key=PrivateKey.from_seed(b"s" * 32),
        checkpoint_signer=NoteSigner.from_seed(ORIGIN, b"n" * 32),
        clock=lambda: datetime(2026, 3, 9, tzinfo=UTC),
        projector=Projection([handler], log_origin=ORIGIN, node_id="zj-330000"),
    )


@pytest.fixture
def ledger(store: Store) -> Ledger:
    return _ledger(store, CountingHandler())


async def test_effects_refusals_and_leaves_in_one_append(ledger: Ledger, store: Store) -> None:
    acks = await ledger.append(
        [submission(A), submission(A), submission(A), submission(B), submission(A)]
    )
    assert [a.error.reason if a.error else None for a in acks] == [
        None,
        None,
        "TOO_MANY",
        None,
        "TOO_MANY",
    ]
    # The refused ones logged nothing: B took leaf 2, right after A's two.
    assert [a.first_leaf_index for a in acks if a.error is None] == [0, 1, 2]
    assert (await store.head()).size == 3
    counter = await store.get_object("counter", A)
    assert counter is not None
    assert (counter.attrs["count"], counter.created_leaf, counter.leaf_index) == (2, 0, 1)
    assert [e.leaf_index for e in await store.object_events("counter", A)] == [0, 1]
    b = await store.get_object("counter", B)
    assert b is not None
    assert b.leaf_index == 2


async def test_a_batch_is_refused_whole_naming_the_item(ledger: Ledger, store: Store) -> None:
    (ack,) = await ledger.append([submission(A, items=3)])
    assert ack.error is not None
    assert ack.error.reason == "TOO_MANY"
    assert ack.error.message.startswith("item 2:")
    assert (await store.head()).size == 0
    assert await store.get_object("counter", A) is None


async def test_a_retry_is_answered_from_the_log_without_applying_again(
    ledger: Ledger, store: Store
) -> None:
    first = submission(A)
    (ack,) = await ledger.append([first])
    (again,) = await ledger.append([dataclasses.replace(first)])
    assert again.duplicate
    assert again.receipt == ack.receipt
    counter = await store.get_object("counter", A)
    assert counter is not None
    assert counter.attrs["count"] == 1


async def test_a_handler_that_reads_undeclared_objects_is_a_bug() -> None:
    view = View({})
    with pytest.raises(RuntimeError, match="not declared"):
        view.get("record", "x")


class CreatorHandler(CountingHandler):
    """Counts, and keeps on the counter the recipients named by the statement that created it."""

    def reads_creators(self, statement: statement_pb2.Statement) -> Iterable[ObjectKey]:
        return self.reads(statement)

    def apply(self, logged: Logged, view: View) -> None:
        super().apply(logged, view)
        counter = view.get("counter", logged.statement.record.subject.uscc)
        assert counter is not None
        created = view.created_by(counter)
        attrs = {**counter.attrs, "first_recipients": list(created.header.recipient_node_ids)}
        view.put(dataclasses.replace(counter, attrs=attrs))


async def test_a_handler_reads_the_statement_that_created_an_object(store: Store) -> None:
    ledger = _ledger(store, CreatorHandler())
    hub, gd = ("cn-hub",), ("gd-440000",)
    # A's counter is created and counted again in one append (the creating statement is the
    # append's own); B's is created in one append and counted in the next (read from the log).
    acks = await ledger.append([submission(A, recipients=hub), submission(A, recipients=gd)])
    assert [a.error for a in acks] == [None, None]
    await ledger.append([submission(B, recipients=gd)])
    (ack,) = await ledger.append([submission(B, recipients=hub)])
    assert ack.error is None
    for uscc, first in ((A, hub), (B, gd)):
        counter = await store.get_object("counter", uscc)
        assert counter is not None
        assert counter.attrs["count"] == 2
        assert counter.attrs["first_recipients"] == list(first)


async def test_reading_an_undeclared_creating_statement_is_a_bug() -> None:
    obj = DomainObject(
        kind="counter",
        object_id=A,
        subject_key=A,
        state="COUNTING",
        body=b"",
        attrs={},
        flags=frozenset(),
        due_date=None,
        origin_node_id="zj-330000",
        log_origin=ORIGIN,
        created_leaf=0,
        leaf_index=0,
        updated_at=datetime(2026, 3, 9, tzinfo=UTC),
    )
    with pytest.raises(RuntimeError, match="reads_creators"):
        View({obj.key: obj}, log_origin=ORIGIN).created_by(obj)
