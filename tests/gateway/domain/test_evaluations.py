"""Evaluations and spot-check draws become domain objects with the append (both stores)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime

import pytest

from creditlink.gateway.domain.evaluation import evaluate
from creditlink.gateway.domain.handlers.evaluations import evaluation_handlers
from creditlink.gateway.domain.projection import Projection
from creditlink.gateway.ledger import Ledger, LedgerEntry, Submission
from creditlink.gateway.store import Store
from creditlink.sdk.keys import PrivateKey
from creditlink.sdk.tlog import NoteSigner
from creditlink.v1 import common_pb2, statement_pb2, supervision_pb2

ORIGIN = "creditlink.test/cn-hub"
AT = datetime(2026, 3, 9, tzinfo=UTC)
USCC = "91330100MA27XL0A6Q"


def _statement(**body: object) -> statement_pb2.Statement:
    out = statement_pb2.Statement(**body)  # type: ignore[arg-type]
    out.header.message_id = str(uuid.uuid4())
    out.header.sender_node_id = "cn-hub"
    out.header.created_at.FromDatetime(AT)
    return out


def _submission(statement: statement_pb2.Statement, kind: str) -> Submission:
    payload = statement.SerializeToString()
    return Submission(
        message_id=statement.header.message_id,
        request_digest=hashlib.sha256(payload).digest(),
        sender_node_id="cn-hub",
        payload_type=f"application/vnd.creditlink.{kind}.v1+protobuf",
        payload_digest=hashlib.sha256(payload).digest(),
        entries=[
            LedgerEntry(
                message_id=statement.header.message_id,
                kind=kind,
                sender_node_id="cn-hub",
                payload_type=f"application/vnd.creditlink.{kind}.v1+protobuf",
                payload=payload,
                envelope=b"env",
            )
        ],
    )


def _evaluation(evaluation_id: str, *, supersedes: str = "", uscc: str = USCC) -> Submission:
    subject = common_pb2.SubjectRef(uscc=uscc, kind=common_pb2.SUBJECT_KIND_LEGAL_PERSON)
    evaluator = common_pb2.AuthorityRef(name="浙江省发展和改革委员会", uscc="11330000002482071R")
    body = evaluate(
        subject,
        [],
        as_of=date(2026, 3, 9),
        evaluation_id=evaluation_id,
        evaluator=evaluator,
        evaluated_at=AT,
    )
    body.supersedes_evaluation_id = supersedes
    return _submission(_statement(evaluation=body), "evaluation")


@pytest.fixture
def ledger(store: Store) -> Ledger:
    return Ledger(
        store=store,
        node_id="cn-hub",
        origin=ORIGIN,
        signing_key=PrivateKey.from_seed(b"s" * 32),
        checkpoint_signer=NoteSigner.from_seed(ORIGIN, b"n" * 32),
        clock=lambda: AT,
        projector=Projection(evaluation_handlers(), log_origin=ORIGIN),
    )


async def test_an_evaluation_is_current_until_superseded(ledger: Ledger, store: Store) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    await ledger.append([_evaluation(first)])
    stored = await store.get_object("evaluation", first)
    assert stored is not None
    assert (stored.state, stored.subject_key, stored.attrs["grade"]) == ("CURRENT", USCC, "A")
    (ack,) = await ledger.append([_evaluation(second, supersedes=first)])
    assert ack.error is None
    old = await store.get_object("evaluation", first)
    assert old is not None
    assert old.state == "SUPERSEDED"
    assert [e.action for e in await store.object_events("evaluation", first)] == [
        "EVALUATED",
        "SUPERSEDED",
    ]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("reused id", "EVALUATION_EXISTS"),
        ("unknown predecessor", "EVALUATION_NOT_FOUND"),
        ("other subject", "EVALUATION_SUBJECT_MISMATCH"),
        ("superseded twice", "EVALUATION_ALREADY_SUPERSEDED"),
    ],
)
async def test_bad_evaluations_are_refused(
    ledger: Ledger, store: Store, case: str, reason: str
) -> None:
    base = str(uuid.uuid4())
    await ledger.append([_evaluation(base)])
    if case == "reused id":
        bad = _evaluation(base)
    elif case == "unknown predecessor":
        bad = _evaluation(str(uuid.uuid4()), supersedes=str(uuid.uuid4()))
    elif case == "other subject":
        bad = _evaluation(str(uuid.uuid4()), supersedes=base, uscc="91110000600037341L")
    else:
        await ledger.append([_evaluation(str(uuid.uuid4()), supersedes=base)])
        bad = _evaluation(str(uuid.uuid4()), supersedes=base)
    size = (await store.head()).size
    (ack,) = await ledger.append([bad])
    assert ack.error is not None
    assert ack.error.reason == reason
    assert (await store.head()).size == size


async def test_a_draw_is_stored_once(ledger: Ledger, store: Store) -> None:
    draw = supervision_pb2.SpotCheckDraw(
        draw_id=str(uuid.uuid4()), task_name="2026年第一季度双随机抽查", region_code="330100"
    )
    draw.selections.add()
    statement = _statement(spot_check_draw=draw)
    (ack,) = await ledger.append([_submission(statement, "spot-check-draw")])
    assert ack.error is None
    stored = await store.get_object("spot-check-draw", draw.draw_id)
    assert stored is not None
    assert (stored.state, stored.attrs["selected"]) == ("DRAWN", 1)
    again = _statement(spot_check_draw=draw)
    (ack,) = await ledger.append([_submission(again, "spot-check-draw")])
    assert ack.error is not None
    assert ack.error.reason == "DRAW_EXISTS"
