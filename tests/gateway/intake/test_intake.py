"""Intake on a real development federation: what passes, and the reason for everything else.

Zhejiang (``zj-330000``) submits to the hub (``cn-hub``); keys, seals, signatures and the trust
bundle are the ones ``create_dev_federation`` makes. Covers CXP-API-003, CXP-API-006,
CXP-API-007, CXP-ID-001, CXP-ID-003.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from creditlink.gateway.bootstrap import DevFederation, create_dev_federation
from creditlink.gateway.intake import Intake, RejectedBatch
from creditlink.sdk.errors import CreditlinkError
from tests.gateway.statements import (
    penalty_record,
    sealed_batch,
    sealed_single,
    statement,
)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> DevFederation:
    return create_dev_federation(Path(tmp_path_factory.mktemp("fed")))


@pytest.fixture
def hub(federation: DevFederation) -> Intake:
    node = federation.node("cn-hub").credentials
    return Intake(
        node_id="cn-hub", trust=lambda: node.trust_bundle, sealing_keys=[node.sealing_key]
    )


def _reason(call: object) -> str:
    assert callable(call)
    with pytest.raises(CreditlinkError) as info:
        call()
    return info.value.reason


def test_a_valid_record_becomes_one_submission(federation: DevFederation, hub: Intake) -> None:
    zj = federation.node("zj-330000").credentials
    body = statement("zj-330000", ["cn-hub"], penalty_record())
    submission = hub.single(sealed_single(zj, "cn-hub", body), peer="zj-330000")
    assert submission.message_id == body.header.message_id
    (entry,) = submission.entries
    assert entry.kind == "record"
    assert entry.subject_key == "91330100MA27XL0A6Q"
    assert entry.payload == body.SerializeToString()


def test_a_valid_batch_becomes_one_submission(federation: DevFederation, hub: Intake) -> None:
    zj = federation.node("zj-330000").credentials
    bodies = [statement("zj-330000", ["cn-hub"], penalty_record()) for _ in range(20)]
    submission = hub.batch(sealed_batch(zj, "cn-hub", bodies, batch_id="b-1"), peer="zj-330000")
    assert submission.message_id == "b-1"
    assert submission.batch is not None
    assert [e.message_id for e in submission.entries] == [b.header.message_id for b in bodies]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("region of another province", "PERMISSION_DENIED_SCOPE"),
        ("invalid USCC check character", "INVALID_USCC"),
        ("not addressed to the hub", "WRONG_RECIPIENT"),
        ("a named recipient is not sealed to", "WRONG_RECIPIENT"),
        ("created two days ago", "STALE_MESSAGE"),
        ("sender field lies", "SENDER_MISMATCH"),
        ("constraint violated", "CONSTRAINT_VIOLATION"),
    ],
)
def test_each_bad_statement_has_its_reason(
    federation: DevFederation, hub: Intake, name: str, reason: str
) -> None:
    zj = federation.node("zj-330000").credentials
    record = penalty_record()
    sender, recipients, created = "zj-330000", ["cn-hub"], None
    if name == "region of another province":
        record = penalty_record(
            uscc="91440300MA5FTBUJ48", region="440300", authority_uscc="11440300MB2C920853"
        )
    elif name == "invalid USCC check character":
        record.subject.uscc = "91330100MA27XL0A6R"
    elif name == "not addressed to the hub":
        recipients = ["gd-440000"]
    elif name == "a named recipient is not sealed to":
        recipients = ["cn-hub", "gd-440000"]  # sealed to cn-hub only: gd could never open it
    elif name == "created two days ago":
        created = datetime.now(UTC) - timedelta(days=2)
    elif name == "sender field lies":
        sender = "gd-440000"
    elif name == "constraint violated":
        record.penalty.ClearField("violation_facts")
    body = statement(sender, recipients, record, created_at=created)
    sealed = sealed_single(zj, "cn-hub", body)
    assert _reason(lambda: hub.single(sealed, peer="zj-330000")) == reason


def test_tampered_seal_is_refused_uniformly(federation: DevFederation, hub: Intake) -> None:
    zj = federation.node("zj-330000").credentials
    sealed = bytearray(
        sealed_single(zj, "cn-hub", statement("zj-330000", ["cn-hub"], penalty_record()))
    )
    sealed[-5] ^= 1
    assert _reason(lambda: hub.single(bytes(sealed), peer="zj-330000")) == "SEAL_OPEN_FAILED"


def test_payload_kind_must_match_the_body(federation: DevFederation, hub: Intake) -> None:
    zj = federation.node("zj-330000").credentials
    body = statement("zj-330000", ["cn-hub"], penalty_record())
    body.ClearField("record")
    body.evaluation.SetInParent()
    sealed = sealed_single(zj, "cn-hub", body)
    assert _reason(lambda: hub.single(sealed, peer="zj-330000")) == "PAYLOAD_KIND_MISMATCH"


def test_a_peer_cannot_submit_what_another_node_sealed(
    federation: DevFederation, hub: Intake
) -> None:
    zj = federation.node("zj-330000").credentials
    sealed = sealed_single(zj, "cn-hub", statement("zj-330000", ["cn-hub"], penalty_record()))
    assert _reason(lambda: hub.single(sealed, peer="zj-330000-operator")) == "SENDER_MISMATCH"


def test_a_batch_with_one_bad_item_is_refused_naming_it(
    federation: DevFederation, hub: Intake
) -> None:
    zj = federation.node("zj-330000").credentials
    bodies = [statement("zj-330000", ["cn-hub"], penalty_record()) for _ in range(5)]
    bodies[3].record.subject.uscc = "91330100MA27XL0A6R"
    sealed = sealed_batch(zj, "cn-hub", bodies)
    with pytest.raises(RejectedBatch) as info:
        hub.batch(sealed, peer="zj-330000")
    assert [(f.index, f.error.reason) for f in info.value.failures] == [(3, "INVALID_USCC")]


def _sealed_report(federation: DevFederation, *, signer: str, issuer: str) -> bytes:
    """A complete report for a Zhejiang company naming ``issuer``, signed by ``signer``."""
    from creditlink.sdk import envelope
    from creditlink.sdk.ids import report_no
    from creditlink.sdk.seal import ENVELOPE_CONTENT_TYPE, Recipient, seal
    from creditlink.v1 import common_pb2, record_pb2, report_pb2, statement_pb2

    creds = federation.node(signer).credentials
    issued = datetime.now(UTC) - timedelta(minutes=1)
    region = federation.node(issuer).credentials.node.region_code
    pb = report_pb2.CreditReport(
        report_number=report_no.generate(region, issued.date(), "0000000001"),
        report_type=report_pb2.REPORT_TYPE_LEGAL_PERSON,
        issuer_node_id=issuer,
        purpose=common_pb2.USE_PURPOSE_BIDDING,
        standard_version="public-credit-report-2022",
        status=report_pb2.REPORT_STATUS_VALID,
    )
    pb.subject.uscc = "91330100MA27XL0A6Q"
    pb.subject.kind = common_pb2.SUBJECT_KIND_LEGAL_PERSON
    pb.subject.display_name = "杭州某某科技有限公司"
    pb.issuing_authority.name = "信用中心"
    pb.issuing_authority.uscc = "11330000MB13335449" if region == "330000" else "11440000MB14435402"
    pb.issuing_authority.region_code = region
    for when in (pb.issued_at, pb.valid_from, pb.data_as_of):
        when.FromDatetime(issued)
    pb.valid_until.FromDatetime(issued + timedelta(days=30))
    pb.basic_information.subject.CopyFrom(pb.subject)
    for category in record_pb2.RecordCategory.values():
        if category:
            pb.summary.counts.add(category=category, count=0)
    # Built by hand: sign_report_statement itself refuses a sender that is not the issuer.
    body = statement_pb2.Statement(report=pb)
    body.header.message_id = str(uuid.uuid4())
    body.header.sender_node_id = signer
    body.header.recipient_node_ids.append("cn-hub")
    body.header.request_id = str(uuid.uuid4())
    body.header.created_at.FromDatetime(datetime.now(UTC))
    signed = envelope.sign(
        body.SerializeToString(deterministic=True),
        envelope.payload_type_for("report"),
        [creds.signing_key],
    )
    hub_key = creds.trust_bundle.sealing_key("cn-hub", at=datetime.now(UTC)).public_key
    return seal(
        signed.to_bytes(),
        content_type=ENVELOPE_CONTENT_TYPE,
        sender_node_id=signer,
        recipients=[Recipient(node_id="cn-hub", key=hub_key)],  # type: ignore[arg-type]
    ).to_bytes()


def test_a_report_must_be_signed_by_an_issuer_entitled_to_its_scope(
    federation: DevFederation, hub: Intake
) -> None:
    """CXP-REPORT-016 at intake: what every verifier would refuse is not logged."""
    own = _sealed_report(federation, signer="zj-330000", issuer="zj-330000")
    assert hub.single(own, peer="zj-330000").entries[0].kind == "report"
    forged = _sealed_report(federation, signer="zj-330000", issuer="gd-440000")
    assert _reason(lambda: hub.single(forged, peer="zj-330000")) == "SENDER_MISMATCH"
    # Guangdong may issue reports for its own region only, not for a Hangzhou company.
    foreign = _sealed_report(federation, signer="gd-440000", issuer="gd-440000")
    assert _reason(lambda: hub.single(foreign, peer="gd-440000")) == "ISSUER_NOT_AUTHORIZED"
