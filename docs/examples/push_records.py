"""Push the administrative penalties of a local system to a CXP gateway.

A market regulation bureau's case system exports its penalty decisions in the columns of the
national publication data standard ("double publicity", newer ``CF_`` set) plus one local
column, ``YZCD`` (severity: 轻微 / 一般 / 严重), which the standard lacks and CXP requires.
This example reads such an export (``data/penalties.csv`` beside it, UTF-8), maps each row to a
``creditlink.v1.CreditRecord`` and streams the records to the gateway with
``Client.submit_records``: signed in batches, sealed to the gateway, with a progress callback
and one verified receipt per batch.

Rows whose Unified Social Credit Code fails its check are quarantined before anything is sent
(one bad row would otherwise make the gateway refuse its whole batch). Each decision gets a
stable record id (derived from the authority's code and the document number), so corrections
can name it later and a second run skips the rows the gateway already holds
(``Client.get_record``). A real system would rather keep each row's receipt in its own database.

Run it against a development gateway (``creditlink serve`` in another terminal)::

    python docs/examples/push_records.py --credentials .creditlink/operator
    python docs/examples/push_records.py --credentials .creditlink/operator --batch-size 2
"""

from __future__ import annotations

import argparse
import csv
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

from creditlink.sdk import Client, NotFound
from creditlink.sdk.client import SubmitProgress
from creditlink.sdk.ids import InvalidIdentifier, validate_uscc
from creditlink.v1 import common_pb2, record_pb2

DATA = Path(__file__).resolve().parent / "data" / "penalties.csv"
#: The bureau's region (GB/T 2260): Hangzhou.
REGION = "330100"
#: Namespace of the record ids this system derives from its decisions.
RECORD_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "https://example.invalid/hangzhou-amr/penalties")
#: The standard's sentinel for "no end date".
LONG_TERM = "2099/12/31"
CHINA = timezone(timedelta(hours=8))

SUBJECT_KINDS = {
    "法人及非法人组织": common_pb2.SUBJECT_KIND_LEGAL_PERSON,
    "个体工商户": common_pb2.SUBJECT_KIND_INDIVIDUAL_BUSINESS,
}
SEVERITIES = {
    "轻微": record_pb2.SEVERITY_MINOR,
    "一般": record_pb2.SEVERITY_GENERAL,
    "严重": record_pb2.SEVERITY_SERIOUS,
}
#: CFLB (several categories are separated by ";"), Administrative Penalty Law art. 9.
PENALTY_CATEGORIES = {
    "警告": record_pb2.PENALTY_CATEGORY_WARNING,
    "通报批评": record_pb2.PENALTY_CATEGORY_CIRCULATED_CRITICISM,
    "罚款": record_pb2.PENALTY_CATEGORY_FINE,
    "没收违法所得": record_pb2.PENALTY_CATEGORY_CONFISCATION_OF_ILLEGAL_GAINS,
    "没收非法财物": record_pb2.PENALTY_CATEGORY_CONFISCATION_OF_ILLEGAL_PROPERTY,
    "暂扣许可证件": record_pb2.PENALTY_CATEGORY_LICENCE_SUSPENSION,
    "降低资质等级": record_pb2.PENALTY_CATEGORY_QUALIFICATION_DOWNGRADE,
    "吊销许可证件": record_pb2.PENALTY_CATEGORY_LICENCE_REVOCATION,
    "限制开展生产经营活动": record_pb2.PENALTY_CATEGORY_BUSINESS_RESTRICTION,
    "责令停产停业": record_pb2.PENALTY_CATEGORY_PRODUCTION_SUSPENSION,
    "责令关闭": record_pb2.PENALTY_CATEGORY_CLOSURE,
    "限制从业": record_pb2.PENALTY_CATEGORY_PRACTICE_RESTRICTION,
    "行政拘留": record_pb2.PENALTY_CATEGORY_ADMINISTRATIVE_DETENTION,
}


def day(text: str) -> common_pb2.Date:
    """A ``2026/03/02`` column as a ``creditlink.v1.Date``."""
    year, month, dom = (int(part) for part in text.split("/"))
    return common_pb2.Date(year=year, month=month, day=dom)


def to_record(row: dict[str, str], published: common_pb2.Date) -> record_pb2.CreditRecord:
    """One row of the export as a penalty record, published on ``published``."""
    penalty = record_pb2.PenaltyDetails(
        violation_type=row["WFXW"],
        violation_facts=row["SY"],
        legal_basis=row["YJ"],
        categories=[PENALTY_CATEGORIES[name] for name in row["CFLB"].split(";")],
        content=row["NR"],
        fine_amount=row["NR_FK"],  # in 10,000 CNY, as the standard counts
        confiscated_amount=row["NR_WFFF"],
    )
    if row["YXQ"] == LONG_TERM:
        penalty.valid_until_long_term = True
    else:
        penalty.valid_until.CopyFrom(day(row["YXQ"]))
    return record_pb2.CreditRecord(
        record_id=str(uuid.uuid5(RECORD_IDS, f"{row['CFJGDM']}/{row['WSH']}")),
        revision=1,
        category=record_pb2.RECORD_CATEGORY_ADMINISTRATIVE_PENALTY,
        catalog_edition="national-2024",
        subject=common_pb2.SubjectRef(
            uscc=row["XDR_SHXYM"], kind=SUBJECT_KINDS[row["XDR_LB"]], display_name=row["XDR_MC"]
        ),
        authority=common_pb2.AuthorityRef(name=row["CFJG"], uscc=row["CFJGDM"]),
        source_unit=common_pb2.AuthorityRef(name=row["SJLY"], uscc=row["SJLYDM"]),
        document_number=row["WSH"],
        decision_date=day(row["JDRQ"]),
        severity=SEVERITIES[row["YZCD"]],
        publication_start=published,
        status=record_pb2.RECORD_STATUS_ACTIVE,
        region_code=REGION,
        remarks=row["BZ"],
        penalty=penalty,
    )


def read_records(path: Path) -> Iterator[record_pb2.CreditRecord]:
    """The records of an export, published today (China Standard Time). A row whose code
    fails its check is quarantined (here: reported), never "fixed"."""
    today = datetime.now(CHINA).date()
    published = common_pb2.Date(year=today.year, month=today.month, day=today.day)
    with path.open(encoding="utf-8", newline="") as export:
        for row in csv.DictReader(export):
            try:
                validate_uscc(row["XDR_SHXYM"])
            except InvalidIdentifier as error:
                print(f"quarantined {row['WSH']}: {error}")  # the message ends in [reason]
                continue
            yield to_record(row, published)


def not_on_gateway(
    client: Client, records: Iterator[record_pb2.CreditRecord]
) -> list[record_pb2.CreditRecord]:
    """The records the gateway does not hold yet."""
    new = []
    for record in records:
        try:
            client.get_record(record.record_id)
        except NotFound:
            new.append(record)
        else:
            print(f"skipped {record.document_number}: already on the gateway")
    return new


def show_progress(progress: SubmitProgress) -> None:
    records = f"{progress.records_acknowledged}/{progress.records_sent} records"
    batches = f"{progress.batches_acknowledged}/{progress.batches_sent} batches"
    print(f"  acknowledged: {records}, {batches}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--credentials", required=True, help="a credentials directory")
    parser.add_argument("--target", help="host:port of the gateway (default: the manifest's)")
    parser.add_argument("--file", type=Path, default=DATA, help="the CSV export to push")
    parser.add_argument("--batch-size", type=int, help="records per signed batch (default: auto)")
    args = parser.parse_args(argv)

    with Client.from_credentials(args.credentials, target=args.target) as client:
        records = not_on_gateway(client, read_records(args.file))
        print(f"pushing {len(records)} records to {client.gateway}")
        receipts = client.submit_records(
            records, batch_size=args.batch_size or "auto", progress=show_progress
        )
        for receipt in receipts:  # one verified receipt per signed batch, in record order
            last = receipt.first_leaf_index + receipt.leaf_count - 1
            print(
                f"receipt {receipt.message_id}: leaves {receipt.first_leaf_index}-{last}, "
                f"in the log at size {receipt.checkpoint.size}"
            )
        print(f"pushed {len(records)} records")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
