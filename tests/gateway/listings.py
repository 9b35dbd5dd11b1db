"""Building name-list and measure-list statements for tests (real messages, no mocks)."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from creditlink.gateway.domain.measures import load_seed_2021
from creditlink.v1 import common_pb2, measure_pb2, name_list_pb2, statement_pb2

LISTED_USCC = "91330100MA27XL0A6Q"
OTHER_USCC = "91440300708461136T"
#: The code the determining (national) authority carries in these tests: a well-formed code
#: (valid check characters) borrowed from the feed tests, not checked as any authority's real one.
NATIONAL_AUTHORITY_USCC = "11100000000013055L"
HANGZHOU_AMR_USCC = "11330100MB183543XG"


def person_token(seed: str) -> str:
    """A well-formed ``pn1:`` token (the HMAC of nothing real: tests never hold identities)."""
    digest = hashlib.sha256(seed.encode()).digest()
    return "pn1:" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


LEGAL_REP = person_token("legal representative")
CONTROLLER = person_token("actual controller")


def header(out: statement_pb2.Statement, sender: str, recipients: Sequence[str] = ()) -> None:
    """Fill ``out``'s header; no recipients: a broadcast statement (the list kinds may be)."""
    out.header.message_id = str(uuid.uuid4())
    out.header.sender_node_id = sender
    out.header.recipient_node_ids.extend(recipients)
    out.header.created_at.FromDatetime(datetime.now(UTC))
    out.header.request_id = str(uuid.uuid4())


def date(value: str) -> common_pb2.Date:
    year, month, day = (int(p) for p in value.split("-"))
    return common_pb2.Date(year=year, month=month, day=day)


def entry_statement(
    sender: str,
    *,
    uscc: str = LISTED_USCC,
    entry_id: str | None = None,
    start: str = "2026-03-09",
    end: str | None = "2029-03-08",
    measures: Sequence[str] = ("1", "4", "11"),
    persons: Sequence[tuple[str, int]] = (
        (LEGAL_REP, name_list_pb2.RESPONSIBLE_ROLE_LEGAL_REPRESENTATIVE),
    ),
    record_id: str | None = None,
    authority_uscc: str = NATIONAL_AUTHORITY_USCC,
    recipients: Sequence[str] = (),
) -> statement_pb2.Statement:
    """A serious-untrustworthy listing of ``uscc`` applying national-basic@2021.1 measures."""
    out = statement_pb2.Statement()
    header(out, sender, recipients)
    entry = out.name_list_entry
    entry.entry_id = entry_id or str(uuid.uuid4())
    entry.list_type = name_list_pb2.NAME_LIST_TYPE_SERIOUS_UNTRUSTWORTHY
    entry.list_legal_basis.add(
        law="国务院办公厅关于进一步完善失信约束制度构建诚信建设长效机制的指导意见",
        document_number="国办发〔2020〕49号",
    )
    entry.subject.uscc = uscc
    entry.subject.kind = common_pb2.SUBJECT_KIND_LEGAL_PERSON
    entry.subject.display_name = "杭州某某科技有限公司"
    entry.determining_authority.name = "国家市场监督管理总局"
    entry.determining_authority.uscc = authority_uscc
    entry.determining_authority.region_code = "100000"
    entry.determination_document_number = "国市监信〔2026〕1号"
    entry.determination_date.CopyFrom(date("2026-03-06"))
    if record_id is not None:
        entry.basis.add(record_id=record_id, title="行政处罚决定书")
    else:
        entry.basis.add(document_number="杭市监罚〔2026〕12号", title="行政处罚决定书")
    entry.reason = "因虚假宣传受到较重行政处罚，情节严重。"
    for measure_id in measures:
        entry.measures.add(list_id="national-basic", version="2021.1", measure_id=measure_id)
    for token, role in persons:
        person = entry.responsible_persons.add(role=role, position="执行董事")  # type: ignore[arg-type]
        person.person.person_token = token
        person.person.id_type = common_pb2.PERSON_ID_TYPE_RESIDENT_IDENTITY_CARD
        person.person.name = "张*"
    entry.listing_start.CopyFrom(date(start))
    if end is not None:
        entry.listing_end.CopyFrom(date(end))
    entry.region_code = "100000"
    entry.state = name_list_pb2.NAME_LIST_STATE_LISTED
    return out


def transition_statement(
    sender: str,
    entry_id: str,
    from_state: int,
    to_state: int,
    *,
    reason_code: int = name_list_pb2.TRANSITION_REASON_OTHER,
    reason: str = "依法变更名单状态。",
    deadline: str | None = None,
    effective_at: datetime | None = None,
    recipients: Sequence[str] = (),
) -> statement_pb2.Statement:
    """A transition of ``entry_id`` signed by ``sender``."""
    out = statement_pb2.Statement()
    header(out, sender, recipients)
    change = out.name_list_transition
    change.entry_id = entry_id
    change.from_state = from_state  # type: ignore[assignment]
    change.to_state = to_state  # type: ignore[assignment]
    change.reason_code = reason_code  # type: ignore[assignment]
    change.reason = reason
    change.authority.name = "国家市场监督管理总局"
    change.authority.uscc = NATIONAL_AUTHORITY_USCC
    change.authority.region_code = "100000"
    change.effective_at.FromDatetime(effective_at or datetime.now(UTC))
    if deadline is not None:
        change.rectification_deadline.due.CopyFrom(date(deadline))
        change.rectification_deadline.period = 30
    return out


def measure_list_statement(
    sender: str, measure_list: measure_pb2.MeasureList | None = None
) -> statement_pb2.Statement:
    """A broadcast ``measure-list`` statement (the 2021 seed by default)."""
    out = statement_pb2.Statement()
    header(out, sender)
    out.measure_list.CopyFrom(measure_list or load_seed_2021())
    return out


def next_version(
    previous: measure_pb2.MeasureList, version: str, effective: str
) -> measure_pb2.MeasureList:
    """``previous`` as a new version: measure 2 dropped, 1 reworded, 15 added."""
    out = measure_pb2.MeasureList()
    out.CopyFrom(previous)
    out.version = version
    out.previous_version = previous.version
    out.effective_date.CopyFrom(date(effective))
    kept = [m for m in out.measures if m.measure_id != "2"]
    del out.measures[:]
    out.measures.extend(kept)
    out.measures[0].content = "依法限制失信主体在三年内参加政府采购活动。"
    added = out.measures.add()
    added.CopyFrom(previous.measures[0])
    added.measure_id = "15"
    added.title = "限制取得政府供应土地"
    return out
