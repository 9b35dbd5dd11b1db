"""Domain objects and their events (migration 0004), on both backends.

Runs against real SQLite and PostgreSQL (``store_url``): writes inside the ledger's
transaction (atomic with the append), key lookups, and the paged, filtered queries the domain
services answer lists with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from creditlink.gateway.store import (
    DomainChanges,
    DomainEvent,
    DomainObject,
    DomainQuery,
    Store,
    StoreConflict,
    StoreError,
    open_store,
)

T0 = datetime(2026, 3, 9, 8, 0, 0, 123456, tzinfo=UTC)
ORIGIN = "creditlink.dev/zj-330000"


def obj(
    object_id: str,
    *,
    kind: str = "record",
    subject: str | None = "91330100MA27XL0A6Q",
    state: str = "ACTIVE",
    leaf: int = 0,
    flags: frozenset[str] = frozenset(),
    due: str | None = None,
) -> DomainObject:
    return DomainObject(
        kind=kind,
        object_id=object_id,
        subject_key=subject,
        state=state,
        body=b"body of " + object_id.encode(),
        attrs={"category": "ADMINISTRATIVE_PENALTY", "count": 3, "names": ["甲", "乙"]},
        flags=flags,
        due_date=due,
        origin_node_id="zj-330000",
        log_origin=ORIGIN,
        created_leaf=leaf,
        leaf_index=leaf,
        updated_at=T0 + timedelta(seconds=leaf),
    )


def event(object_id: str, leaf: int, *, seq: int = 0, action: str = "CREATED") -> DomainEvent:
    return DomainEvent(
        kind="record",
        object_id=object_id,
        log_origin=ORIGIN,
        leaf_index=leaf,
        seq=seq,
        action=action,
        actor_node_id="zj-330000-operator",
        reason="decision 12",
        message_id=f"m-{leaf}",
        at=T0 + timedelta(seconds=leaf),
    )


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    async with open_store(store_url) as opened:
        yield opened


async def test_objects_round_trip_and_replace(store: Store) -> None:
    first = obj("r1", flags=frozenset({"disputed", "overdue"}), due="2026-03-18")
    async with store.transaction() as tx:
        await tx.apply_domain(DomainChanges(objects=[first], events=[event("r1", 0)]))
        assert await tx.get_objects([("record", "r1"), ("record", "nope")]) == {
            ("record", "r1"): first
        }
    assert await store.get_object("record", "r1") == first
    assert await store.get_object("record", "nope") is None
    later = dataclasses.replace(first, state="REVOKED", leaf_index=5, flags=frozenset())
    async with store.transaction() as tx:
        await tx.apply_domain(
            DomainChanges(objects=[later], events=[event("r1", 5, action="REVOKED")])
        )
    assert await store.get_object("record", "r1") == later
    assert [e.action for e in await store.object_events("record", "r1")] == [
        "CREATED",
        "REVOKED",
    ]
    assert await store.get_objects([("record", "r1")]) == {("record", "r1"): later}


async def test_a_failed_transaction_writes_no_domain_state(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.apply_domain(DomainChanges(events=[event("r1", 0)]))

    async def write_with_a_duplicate_event() -> None:
        async with store.transaction() as tx:
            await tx.apply_domain(DomainChanges(objects=[obj("r2")]))
            await tx.apply_domain(DomainChanges(events=[event("r1", 0)]))

    with pytest.raises((StoreConflict, StoreError)):
        await write_with_a_duplicate_event()
    assert await store.get_object("record", "r2") is None


# More rows than a backend may write one by one: PostgreSQL switches to COPY (through a staging
# table for the objects' upsert) from 64 rows of a kind on; the outcome must be the same.
MANY = 300


async def test_many_objects_and_events_round_trip_replace_and_repeat_in_one_transaction(
    store: Store,
) -> None:
    first = [
        obj(f"r{i:04d}", leaf=i, flags=frozenset({"overdue"}) if i % 3 else frozenset())
        for i in range(MANY)
    ]
    async with store.transaction() as tx:
        await tx.apply_domain(
            DomainChanges(objects=first, events=[event(o.object_id, o.leaf_index) for o in first])
        )
    # Half of them replaced, half new; then, in the same transaction, a second large change
    # replacing some of those again: the later state wins, nothing is written twice.
    later = [
        dataclasses.replace(
            obj(f"r{i:04d}", leaf=MANY + i, due="2026-05-01", subject=None),
            created_leaf=i if i < MANY else MANY + i,
            state="REVOKED" if i % 2 else "ACTIVE",
        )
        for i in range(MANY // 2, MANY + MANY // 2)
    ]
    again = [dataclasses.replace(o, state="EXPIRED") for o in later[:100]]
    async with store.transaction() as tx:
        await tx.apply_domain(
            DomainChanges(
                objects=later,
                events=[event(o.object_id, o.leaf_index, action="REVISED") for o in later],
            )
        )
        await tx.apply_domain(
            DomainChanges(
                objects=again,
                events=[event(o.object_id, o.leaf_index, seq=1, action="EXPIRED") for o in again],
            )
        )
    expected = {o.key: o for o in [*first, *later, *again]}  # the last write of each key
    keys = list(expected)
    assert await store.get_objects(keys) == expected
    assert [e.action for e in await store.object_events("record", "r0000")] == ["CREATED"]
    assert [e.action for e in await store.object_events("record", f"r{MANY // 2:04d}")] == [
        "CREATED",
        "REVISED",
        "EXPIRED",
    ]
    events = await store.object_events("record", f"r{MANY + 10:04d}")
    assert events == [event(f"r{MANY + 10:04d}", MANY * 2 + 10, action="REVISED")]


async def test_many_events_with_a_duplicate_conflict_and_write_nothing(store: Store) -> None:
    rows = [obj(f"r{i:04d}", leaf=i) for i in range(MANY)]
    events = [event(o.object_id, o.leaf_index) for o in rows]
    with pytest.raises((StoreConflict, StoreError)):
        async with store.transaction() as tx:
            await tx.apply_domain(DomainChanges(objects=rows, events=[*events, events[7]]))
    assert await store.get_objects([o.key for o in rows]) == {}
    # The store (and, on PostgreSQL, the connection's staging table) is usable afterwards.
    async with store.transaction() as tx:
        await tx.apply_domain(DomainChanges(objects=rows, events=events))
    assert len(await store.get_objects([o.key for o in rows])) == MANY


async def test_queries_filter_and_page_newest_first(store: Store) -> None:
    rows = [
        obj("a", leaf=1),
        obj("b", leaf=2, state="REVOKED"),
        obj("c", leaf=3, flags=frozenset({"overdue"}), due="2026-03-10"),
        obj("d", leaf=4, subject="91110000600037341L", due="2026-04-01"),
        obj("e", leaf=5, kind="name-list-entry", flags=frozenset({"overdue-ish"})),
    ]
    async with store.transaction() as tx:
        await tx.apply_domain(DomainChanges(objects=rows))

    async def ids(**kwargs: object) -> list[str]:
        query = DomainQuery(kinds=kwargs.pop("kinds", ["record"]), **kwargs)  # type: ignore[arg-type]
        return [o.object_id for o in await store.query_objects(query)]

    assert await ids() == ["d", "c", "b", "a"]
    assert await ids(kinds=["record", "name-list-entry"]) == ["e", "d", "c", "b", "a"]
    assert await ids(subject_key="91330100MA27XL0A6Q") == ["c", "b", "a"]
    assert await ids(states=["ACTIVE"]) == ["d", "c", "a"]
    assert await ids(kinds=["record", "name-list-entry"], flag="overdue") == ["c"]
    assert await ids(due_before="2026-03-31") == ["c"]
    first = await store.query_objects(DomainQuery(kinds=["record"], limit=2))
    assert [o.object_id for o in first] == ["d", "c"]
    last = first[-1]
    assert await ids(before=(last.leaf_index, last.kind, last.object_id)) == ["b", "a"]


def test_rows_refuse_what_the_schema_would() -> None:
    with pytest.raises(ValueError, match="flags"):
        obj("x", flags=frozenset({"two words"}))
    with pytest.raises(ValueError, match="object_id"):
        obj("")
    with pytest.raises(ValueError, match="at least one kind"):
        DomainQuery(kinds=[])
    with pytest.raises(ValueError, match="limit"):
        DomainQuery(kinds=["record"], limit=0)
