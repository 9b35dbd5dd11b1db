"""The asyncio client: the same calls and checks as the blocking one, against a real gateway."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sdk_client_support import RunningGateway, penalty_record

from creditlink.gateway.bootstrap import DevNode
from creditlink.sdk import AsyncClient
from creditlink.sdk.client import SubmitProgress
from creditlink.sdk.errors import InvalidArgument
from creditlink.v1 import record_pb2, statement_pb2


async def test_async_submit_receipts_proofs_and_idempotence(
    dev: DevNode, gateway: RunningGateway
) -> None:
    async with AsyncClient.from_credentials(dev.operator_dir) as client:
        assert await client.gateway() == dev.node_id
        single = await client.submit(penalty_record())
        assert (single.first_leaf_index, single.leaf_count) == (0, 1)
        batch = await client.submit([penalty_record() for _ in range(4)])
        assert (batch.first_leaf_index, batch.leaf_count) == (1, 4)

        statement = statement_pb2.Statement()
        statement.header.message_id = str(uuid.uuid4())
        statement.header.request_id = str(uuid.uuid4())
        statement.header.created_at.FromDatetime(datetime.now(UTC).replace(microsecond=0))
        statement.record.CopyFrom(penalty_record())
        first = await client.submit(statement)
        assert (await client.submit(statement)).envelope == first.envelope
        assert gateway.log_size() == 6

        proof = await client.get_inclusion_proof(message_id=first.message_id)
        assert proof.entry.leaf_index == first.first_leaf_index == 5
        consistency = await client.get_consistency_proof(single.checkpoint)
        assert (consistency.old.size, consistency.new.size) == (1, 6)
        assert (await client.get_checkpoint()) == consistency.new
        receipt = await client.get_receipt(batch.message_id)
        assert receipt.envelope == batch.envelope
        bundle = await client.get_trust_bundle()
        assert bundle.version == client.trust_bundle.version == dev.operator.trust_bundle.version


async def test_async_submit_records_from_an_async_iterable(
    dev: DevNode, gateway: RunningGateway
) -> None:
    made: list[record_pb2.CreditRecord] = []

    async def records() -> AsyncIterator[record_pb2.CreditRecord]:
        for _ in range(2_500):
            made.append(penalty_record())
            yield made[-1]

    seen: list[SubmitProgress] = []
    async with AsyncClient.from_credentials(dev.operator_dir) as client:
        receipts = [r async for r in client.submit_records(records(), progress=seen.append)]
        assert sum(r.leaf_count for r in receipts) == 2_500 == gateway.log_size()
        assert [r.first_leaf_index for r in receipts] == [
            sum(r.leaf_count for r in receipts[:i]) for i in range(len(receipts))
        ]
        assert seen[-1].records_acknowledged == 2_500
        last = receipts[-1]
        proof = await client.get_inclusion_proof(leaf_index=last.leaf_index(last.statement_ids[-1]))
        assert proof.entry.statement.record == made[-1]

        made.clear()
        plain = [penalty_record() for _ in range(10)]
        plain[3] = penalty_record(uscc="91330100MA27XL0A6R")
        with pytest.raises(InvalidArgument) as info:
            async for _ in client.submit_records(plain, batch_size=5):
                pass
        assert info.value.field_violations[0].field == "records[3]"


async def test_an_async_subscription_closed_while_it_starts_opens_no_stream(
    dev: DevNode, gateway: RunningGateway
) -> None:
    """aclose() from another task while the subscription is still working out where to start
    (an await): the subscription ends instead of opening a stream that follows forever."""
    import asyncio

    async with AsyncClient.from_credentials(dev.operator_dir) as client:
        subscription = client.subscribe(cursor=0, follow=True)
        start_state = subscription._start_state

        async def closed_meanwhile() -> object:
            state = await start_state()
            await subscription.aclose()  # as another task would, during the await
            return state

        subscription._start_state = closed_meanwhile  # type: ignore[method-assign]
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(subscription.__anext__(), 10)
