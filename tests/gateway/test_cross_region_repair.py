"""A repair decided in Zhejiang stops publication wherever the record is held.

A development federation runs in-process (``cn-hub``, ``zj-330000``, ``gd-440000``). Zhejiang's
operator publishes a penalty addressed to Zhejiang and the hub, so both log and hold it. The
company applies for credit repair at Zhejiang (application and credit commitment in one signed
batch, addressed to both holders). The Hangzhou regulator's decision approving it, addressed to
Zhejiang alone, is refused (CXP-REPAIR-001): the hub would keep publishing its copy. Sent
without recipients, the SDK addresses it to the holders the gateway's provenance names (both);
each gateway applies it to its own copy: the record is REPAIRED at Zhejiang and, once forwarded,
at the hub. The blocking ``Client`` addresses a decision the same way. Everything goes through
the SDK's domain methods over mutual TLS; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from creditlink.sdk import AsyncClient, Client
from creditlink.sdk.errors import FailedPrecondition, NotFound
from creditlink.v1 import record_pb2, repair_pb2, statement_pb2
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


async def _application_status(client: AsyncClient, application_id: str) -> int | None:
    try:
        return (await client.get_repair_application(application_id)).value.status
    except NotFound:
        return None


def _application(
    record_id: str, sender: str, holders: tuple[str, ...]
) -> tuple[statement_pb2.Statement, statement_pb2.Statement]:
    """A credit commitment made today and the repair application for ``record_id`` it backs,
    both addressed to the record's holders."""
    now = dt.datetime.now(CST)
    commitment = commitment_statement(
        made=now.date(), uscc=COMPANY, sender=sender, recipients=holders
    )
    application = application_statement(
        [("record", record_id)],
        commitment.commitment.commitment_id,
        submitted=now,
        ruleset_id=RULESET,
        uscc=COMPANY,
        sender=sender,
        recipients=holders,
    )
    return commitment, application


def _approval(application_id: str, record_id: str, sender: str) -> repair_pb2.RepairDecision:
    """The deciding authority's approval of ``record_id``'s repair, decided now (the body: the
    client addresses it)."""
    return decision_statement(
        application_id,
        repair_pb2.REPAIR_STATUS_APPROVED,
        decided=dt.datetime.now(CST),
        approved=[("record", record_id)],
        ruleset_id=RULESET,
        sender=sender,
    ).repair_decision


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

            commitment, application = _application(record.record_id, me, holders)
            application_id = application.repair_application.application_id
            applied = await zj.submit_repair_application(application, commitment=commitment)
            assert applied.value is not None
            assert applied.value.status == repair_pb2.REPAIR_STATUS_SUBMITTED
            await until(
                lambda: _application_is(hub, application_id, repair_pb2.REPAIR_STATUS_SUBMITTED)
            )

            # CXP-REPAIR-001: addressed to Zhejiang alone, the hub's copy would stay published.
            logged_before = (await fed.nodes[ZJ].store.head()).size
            with pytest.raises(FailedPrecondition) as refused:
                await zj.decide_repair_application(
                    _approval(application_id, record.record_id, me), recipients=[ZJ]
                )
            assert refused.value.reason == "DECISION_RECIPIENTS_INCOMPLETE"
            assert f"{HUB} missing" in refused.value.message
            held = f"{HUB} holds repair-application:{application_id}, record:{record.record_id}"
            assert held in refused.value.message
            assert (await fed.nodes[ZJ].store.head()).size == logged_before  # stored nothing
            assert await _status(zj, record.record_id) == record_pb2.RECORD_STATUS_ACTIVE
            assert (
                await _application_status(zj, application_id) == repair_pb2.REPAIR_STATUS_SUBMITTED
            )

            # CXP-REPAIR-002: without recipients, the SDK addresses it to the holders.
            decided = await zj.decide_repair_application(
                _approval(application_id, record.record_id, me)
            )
            assert decided.value is not None
            assert decided.value.status == repair_pb2.REPAIR_STATUS_APPROVED
            fetched = await zj.get_repair_application(application_id)
            logged = fetched.provenance[-1].entry.statement
            assert logged.WhichOneof("body") == "repair_decision"
            assert tuple(logged.header.recipient_node_ids) == holders
            assert await _status(zj, record.record_id) == record_pb2.RECORD_STATUS_REPAIRED
            # Forwarded to the other holder, which applies it to its own copy.
            await until(lambda: _is(hub, record.record_id, record_pb2.RECORD_STATUS_REPAIRED))
            assert (
                await _application_status(hub, application_id) == repair_pb2.REPAIR_STATUS_APPROVED
            )


async def test_the_blocking_client_addresses_a_decision_to_the_holders_too(
    tmp_path: Path,
) -> None:
    """CXP-REPAIR-002 through ``Client``: the decision, sent without recipients, names the
    holders of the application and of the approved record (CXP-REPAIR-001), and the hub repairs
    its copy."""
    async with running_federation(tmp_path / "fed") as fed:
        hub = AsyncClient.from_credentials(fed.operator_dir(HUB))
        async with hub:
            record = penalty_record(uscc=COMPANY)

            def decide_at_zhejiang() -> tuple[str, ...]:
                with Client.from_credentials(fed.operator_dir(ZJ)) as zj:
                    me, holders = zj.credentials.node_id, (ZJ, HUB)
                    zj.submit(record, recipients=holders)
                    commitment, application = _application(record.record_id, me, holders)
                    zj.submit_repair_application(application, commitment=commitment)
                    application_id = application.repair_application.application_id
                    decision = _approval(application_id, record.record_id, me)
                    zj.decide_repair_application(decision)
                    logged = zj.get_repair_application(application_id).provenance[-1]
                    return tuple(logged.entry.statement.header.recipient_node_ids)

            # The gateways run on this loop: the blocking client runs in a thread.
            assert await asyncio.to_thread(decide_at_zhejiang) == (ZJ, HUB)
            await until(lambda: _is(hub, record.record_id, record_pb2.RECORD_STATUS_REPAIRED))


async def _is(client: AsyncClient, record_id: str, status: int) -> bool:
    return await _status(client, record_id) == status


async def _application_is(client: AsyncClient, application_id: str, status: int) -> bool:
    return await _application_status(client, application_id) == status
