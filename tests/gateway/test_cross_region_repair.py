"""A repair decided in Zhejiang stops publication wherever the record is held.

A development federation runs in-process (``cn-hub``, ``zj-330000``, ``gd-440000``). Zhejiang's
operator publishes a penalty addressed to Zhejiang and the hub, so both log and hold it. The
company applies for credit repair at Zhejiang (application and credit commitment in one signed
batch, addressed to both holders); the Hangzhou regulator's decision, approving it, is
addressed to both too. Each gateway applies the decision to its own copy: the record is
REPAIRED at Zhejiang and, once forwarded, at the hub. Everything goes through the SDK's domain
methods over mutual TLS; nothing is mocked.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from creditlink.sdk import AsyncClient
from creditlink.sdk.errors import NotFound
from creditlink.v1 import record_pb2, repair_pb2
from tests.gateway.objection_statements import (
    CST,
    application_statement,
    commitment_statement,
    decision_statement,
)
from tests.gateway.statements import penalty_record
from tests.gateway.test_cross_region_report import HUB, ZJ, running_federation
from tests.gateway.test_forwarding import until

#: The ruleset in force from 2026-04-01 (gateway/domain/rulesets.py).
RULESET = "cn-ndrc-2026"
COMPANY = "91330100MA27XL0A6Q"


async def _status(client: AsyncClient, record_id: str) -> int | None:
    try:
        return (await client.get_record(record_id)).value.status
    except NotFound:
        return None


async def test_a_repair_decided_in_zhejiang_stops_publication_at_the_hub_too(
    tmp_path: Path,
) -> None:
    async with running_federation(tmp_path / "fed") as fed:
        zj = AsyncClient.from_credentials(fed.operator_dir(ZJ))
        hub = AsyncClient.from_credentials(fed.operator_dir(HUB))
        async with zj, hub:
            me = zj.credentials.node_id
            holders = (ZJ, HUB)
            record = penalty_record(uscc=COMPANY)
            await zj.submit(record, recipients=holders)
            await until(lambda: _is(hub, record.record_id, record_pb2.RECORD_STATUS_ACTIVE))

            now = dt.datetime.now(CST)
            commitment = commitment_statement(
                made=now.date(), uscc=COMPANY, sender=me, recipients=holders
            )
            application = application_statement(
                [("record", record.record_id)],
                commitment.commitment.commitment_id,
                submitted=now,
                ruleset_id=RULESET,
                uscc=COMPANY,
                sender=me,
                recipients=holders,
            )
            applied = await zj.submit_repair_application(application, commitment=commitment)
            assert applied.value is not None
            assert applied.value.status == repair_pb2.REPAIR_STATUS_SUBMITTED

            decision = decision_statement(
                application.repair_application.application_id,
                repair_pb2.REPAIR_STATUS_APPROVED,
                decided=dt.datetime.now(CST),
                approved=[("record", record.record_id)],
                ruleset_id=RULESET,
                sender=me,
                recipients=holders,
            )
            decided = await zj.decide_repair_application(decision)
            assert decided.value is not None
            assert decided.value.status == repair_pb2.REPAIR_STATUS_APPROVED
            assert await _status(zj, record.record_id) == record_pb2.RECORD_STATUS_REPAIRED
            # Forwarded to the other holder, which applies it to its own copy.
            await until(lambda: _is(hub, record.record_id, record_pb2.RECORD_STATUS_REPAIRED))


async def _is(client: AsyncClient, record_id: str, status: int) -> bool:
    return await _status(client, record_id) == status
