"""The protovalidate annotations in the contract really constrain messages.

Runs the protovalidate runtime over a complete administrative penalty record (every required
column of the publication data standard present) and over single mutations of it; each mutation
must produce a violation naming the field or rule at fault. Cites CXP-API-003.
"""

from __future__ import annotations

from collections.abc import Callable

import protovalidate
import pytest

from creditlink.v1 import common_pb2, record_pb2

Mutation = Callable[[record_pb2.CreditRecord], None]


def _penalty_record() -> record_pb2.CreditRecord:
    record = record_pb2.CreditRecord(
        record_id="01JD2Z8K3M4N5P6Q7R8S9T0V1W",
        revision=1,
        category=record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY,
        catalog_edition="national-2024",
        document_number="杭市监罚〔2026〕12号",
        severity=record_pb2.SEVERITY_GENERAL,
        status=record_pb2.RECORD_STATUS_ACTIVE,
        region_code="330100",
    )
    record.subject.uscc = "91330100MA27XL0A6Q"
    record.subject.kind = common_pb2.SUBJECT_KIND_LEGAL_PERSON
    record.subject.display_name = "杭州某某科技有限公司"
    record.authority.name = "杭州市市场监督管理局"
    record.authority.uscc = "11330100MB1835432D"
    record.source_unit.name = "杭州市市场监督管理局"
    record.source_unit.uscc = "11330100MB1835432D"
    record.decision_date.year, record.decision_date.month, record.decision_date.day = 2026, 3, 2
    record.publication_start.year = 2026
    record.publication_start.month = 3
    record.publication_start.day = 9
    penalty = record.penalty
    penalty.violation_type = "虚假宣传"
    penalty.violation_facts = "在网店页面发布虚假的商品功效宣传。"
    penalty.legal_basis = "《中华人民共和国反不正当竞争法》第二十条"
    penalty.categories.extend([record_pb2.PENALTY_CATEGORY_FINE])
    penalty.content = "罚款人民币五万元"
    penalty.fine_amount = "5"
    penalty.valid_until.year, penalty.valid_until.month, penalty.valid_until.day = 2027, 3, 2
    return record


def _violations(message: record_pb2.CreditRecord) -> list[str]:
    found = []
    for violation in protovalidate.collect_violations(message):
        where = violation.proto.field
        path = ".".join(e.field_name for e in where.elements) if where is not None else ""
        found.append(f"{path}|{violation.proto.rule_id}|{violation.proto.message}")
    return found


def test_complete_penalty_record_is_valid() -> None:
    assert _violations(_penalty_record()) == []


def _clear(field: str) -> Mutation:
    def mutate(record: record_pb2.CreditRecord) -> None:
        record.penalty.ClearField(field)  # type: ignore[arg-type]

    return mutate


MUTATIONS: dict[str, tuple[Mutation, str]] = {
    "uscc with letter O": (lambda r: setattr(r.subject, "uscc", "9133010OMA27XL0A6Q"), "uscc"),
    "uscc 17 characters": (lambda r: setattr(r.subject, "uscc", "91330100MA27XL0A6"), "uscc"),
    "region code 5 digits": (lambda r: setattr(r, "region_code", "33010"), "region_code"),
    "no violation type": (_clear("violation_type"), "violation_type"),
    "no violation facts": (_clear("violation_facts"), "violation_facts"),
    "no legal basis": (_clear("legal_basis"), "legal_basis"),
    "no penalty category": (_clear("categories"), "categories"),
    "no penalty content": (_clear("content"), "content"),
    "no valid-until": (_clear("valid_until"), "valid_until"),
    "fine not decimal": (lambda r: setattr(r.penalty, "fine_amount", "5万"), "fine_amount"),
    "no document number": (lambda r: r.ClearField("document_number"), "a document number"),
    "no authority": (lambda r: r.ClearField("authority"), "authority"),
    "no source unit": (lambda r: r.ClearField("source_unit"), "source_unit"),
    "no decision date": (lambda r: r.ClearField("decision_date"), "decision_date"),
    "month 13": (lambda r: setattr(r.decision_date, "month", 13), "month"),
    "severity unspecified": (lambda r: r.ClearField("severity"), "severity"),
    "penalty without details": (lambda r: r.ClearField("penalty"), "penalty"),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_mutation_is_a_named_violation(name: str) -> None:
    mutate, hint = MUTATIONS[name]
    record = _penalty_record()
    mutate(record)
    found = _violations(record)
    assert found, f"{name}: no violation reported"
    assert any(hint in v for v in found), f"{name}: {found}"
