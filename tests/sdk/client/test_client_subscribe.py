"""Subscriptions: verified entries in log order that survive a gateway restart, and a cursor store.

The gateway is really stopped (its calls cancelled, its port closed) and started again as a new
node over the same store while a subscriber is blocked waiting for entries; new entries are
submitted after the restart. The subscriber must end with every leaf exactly once, in order.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from sdk_client_support import RunningGateway, penalty_record

from creditlink.gateway.bootstrap import DevNode
from creditlink.sdk import AsyncClient, Client
from creditlink.sdk.batch import BatchedEnvelope
from creditlink.sdk.client import ClientCore, Entry, SQLiteCursorStore
from creditlink.sdk.envelope import Envelope
from creditlink.sdk.errors import CreditlinkError, VerificationError
from creditlink.v1 import exchange_service_pb2 as pb
from creditlink.v1 import exchange_service_pb2_grpc


def load_log(client: Client, batched: int, singles: int) -> list[str]:
    """Submit ``batched`` records in batches, then ``singles`` one by one; their message ids."""
    ids = [
        i
        for r in client.submit_records(penalty_record() for _ in range(batched))
        for i in r.statement_ids
    ]
    ids += [client.submit(penalty_record()).message_id for _ in range(singles)]
    return ids


def restart_then_submit(dev: DevNode, gateway: RunningGateway, count: int, out: list[str]) -> None:
    """While the subscriber waits: stop the gateway, start it again, submit ``count`` more."""
    time.sleep(0.5)
    gateway.stop()
    time.sleep(0.5)
    gateway.start()
    with Client.from_credentials(dev.operator_dir) as other:
        out.extend(other.submit(penalty_record()).message_id for _ in range(count))


def test_entries_are_verified_and_filtered_by_kind(client: Client, gateway: RunningGateway) -> None:
    ids = load_log(client, batched=12, singles=3)
    with client.subscribe(["record"], follow=False) as subscription:
        entries = list(subscription)
    assert [e.leaf_index for e in entries] == list(range(15))
    assert [e.message_id for e in entries] == ids
    assert all(isinstance(e, Entry) and e.kind == "record" for e in entries)
    assert isinstance(entries[0].signed, BatchedEnvelope)
    assert entries[0].batch_id
    assert isinstance(entries[-1].signed, Envelope)
    assert entries[-1].batch_id is None
    assert entries[5].statement.record.subject.uscc == "91330100MA27XL0A6Q"
    assert subscription.cursor == 15
    assert subscription.checkpoint is not None
    assert subscription.checkpoint.size == 15
    # An entry proves its own inclusion.
    proof = client.get_inclusion_proof(leaf_index=entries[7].leaf_index)
    assert proof.entry.leaf_hash == entries[7].leaf_hash

    # No entry of another kind: progress still moves the cursor to the end of the log.
    with client.subscribe(["evaluation"], follow=False) as other:
        assert list(other) == []
        assert other.cursor == 15
    with client.subscribe(follow=False, cursor=13) as tail:
        assert [e.leaf_index for e in tail] == [13, 14]


def test_a_subscription_resumes_after_a_gateway_restart_without_loss_or_repeats(
    dev: DevNode, client: Client, gateway: RunningGateway, tmp_path: Path
) -> None:
    ids = load_log(client, batched=20, singles=5)
    store = SQLiteCursorStore(tmp_path / "cursors.sqlite3")
    later: list[str] = []
    received: list[Entry] = []
    subscription = client.subscribe(["record"], cursor_store=store, name="feed", timeout=10)
    restarter = None
    for entry in subscription:
        received.append(entry)
        if len(received) == 25:
            # Everything there is was delivered: the next read blocks, and meanwhile the
            # gateway goes away and comes back with new entries.
            restarter = threading.Thread(target=restart_then_submit, args=(dev, gateway, 10, later))
            restarter.start()
        if len(received) == 35:
            break
    assert restarter is not None
    restarter.join()
    assert gateway.starts == 2
    assert [e.leaf_index for e in received] == list(range(35))
    assert [e.message_id for e in received] == ids + later

    # Closed without ack(): the entry in hand (34) counts as unprocessed, so a new run
    # starts with it (at least once across runs), then goes on where the log goes on.
    subscription.close()
    assert store.load("feed") == 34
    with client.subscribe(["record"], cursor_store=store, name="feed", follow=False) as again:
        assert [e.leaf_index for e in again] == [34]
    assert store.load("feed") == 35
    client.submit(penalty_record())
    with client.subscribe(["record"], cursor_store=store, name="feed", follow=False) as third:
        first = next(third)
        third.ack()
        assert store.load("feed") == 36
        assert first.leaf_index == 35
        assert list(third) == []
    store.close()


async def test_the_async_subscription_resumes_after_a_gateway_restart(
    dev: DevNode, gateway: RunningGateway, tmp_path: Path
) -> None:
    store = SQLiteCursorStore(tmp_path / "cursors.sqlite3")
    later: list[str] = []
    async with AsyncClient.from_credentials(dev.operator_dir) as client:

        async def records() -> object:
            for _ in range(30):
                yield penalty_record()
                await asyncio.sleep(0)

        ids = [i async for r in client.submit_records(records()) for i in r.statement_ids]  # type: ignore[arg-type]
        received: list[Entry] = []
        restarter: asyncio.Task[None] | None = None
        async with client.subscribe("record", cursor_store=store, timeout=10) as subscription:
            async for entry in subscription:
                received.append(entry)
                if len(received) == 30:
                    restarter = asyncio.create_task(
                        asyncio.to_thread(restart_then_submit, dev, gateway, 7, later)
                    )
                if len(received) == 37:
                    subscription.ack()
                    break
        assert restarter is not None
        await restarter
        assert [e.leaf_index for e in received] == list(range(37))
        assert [e.message_id for e in received] == ids + later
        assert store.load(subscription.key) == 37
        assert subscription.key == f"{dev.node_id}:record"
    store.close()


def test_pages_of_entries_are_handed_out_one_by_one_and_checked_whole(
    client: Client, dev: DevNode, gateway: RunningGateway
) -> None:
    """CXP-API-012: the client asks for pages while catching up; a page is verified before its
    first entry is handed out, out of order it is refused, and entries before the cursor are
    skipped."""
    list(client.submit_records([penalty_record() for _ in range(30)], batch_size=30))
    assert [e.leaf_index for e in client.subscribe(["record"], follow=False)] == list(range(30))

    creds = client.credentials
    with grpc.secure_channel(gateway.listen, creds.channel_credentials()) as channel:
        stub = exchange_service_pb2_grpc.ExchangeServiceStub(channel)
        request = pb.SubscribeRequest(stop_at_head=True, max_entries_per_response=8)
        pages = [m for m in stub.Subscribe(request) if m.HasField("entries")]
    assert [len(m.entries.entries) for m in pages] == [8, 8, 8, 6]
    core = ClientCore(credentials=creds, target=gateway.listen, gateway=dev.node_id)

    state = core.subscription(["record"], cursor=3, follow=False)
    first = state.on_response(pages[0])  # leaves 0-7: 0-2 were delivered before
    assert first is not None
    assert first.leaf_index == 3
    assert state.cursor == 4  # only what was handed out counts
    rest = [state.next_entry() for _ in range(4)]
    assert [e.leaf_index for e in rest if e is not None] == [4, 5, 6, 7]
    assert state.next_entry() is None
    assert state.cursor == 8

    shuffled = pb.SubscribeResponse()
    shuffled.entries.entries.extend(reversed(pages[1].entries.entries))
    with pytest.raises(VerificationError) as caught:
        core.subscription(["record"], cursor=0, follow=False).on_response(shuffled)
    assert caught.value.reason == "MALFORMED_RESPONSE"


def test_close_from_another_thread_while_the_stream_opens_ends_the_iteration(
    client: Client,
) -> None:
    """close() (a mirror's stop(), from another thread) can land while the iterating thread
    is opening the stream: the stream it opens must still be cancelled, or a following
    subscription waits forever (the gateway's progress messages keep it from going idle)."""
    subscription = client.subscribe(cursor=0, follow=True)
    real_open = subscription._open
    closer = threading.Thread(target=subscription.close)

    def opening(request: Any) -> Any:
        closer.start()  # close() runs while this stream is being opened
        time.sleep(0.2)
        return real_open(request)

    subscription._open = opening
    ended: list[str] = []

    def iterate() -> None:
        try:
            for _ in subscription:
                pass
            ended.append("stopped")
        except CreditlinkError as exc:
            ended.append(exc.reason)

    consumer = threading.Thread(target=iterate, daemon=True)
    consumer.start()
    consumer.join(10)
    closer.join(10)
    assert ended, "the subscription kept following after close()"
    subscription.close()
