"""``creditlink records``: publish credit records from a file, read them back, list a subject's.

::

    creditlink records submit FILE.json --credentials DIR [--target HOST:PORT]
                                        [--batch-size N] [--json]
    creditlink records get RECORD_ID    --credentials DIR [--target HOST:PORT]
                                        [--revision N] [--proof]
    creditlink records list --subject USCC|PERSON_TOKEN --credentials DIR [--target HOST:PORT]
                            [--category CATEGORY]... [--status STATUS]...
                            [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--limit N] [--json]

``submit`` reads a JSON array of ``CreditRecord`` objects in the protobuf JSON mapping (field
names as in ``record.proto``, e.g. ``{"recordId": "...", "revision": 1, "category":
"RECORD_CATEGORY_ADMINISTRATIVE_PENALTY", ...}``; unknown fields are refused, as the gateway
would), signs them as the credentials' member in batches (one signature per batch), seals each
batch to the gateway and prints each batch's receipt once it is verified (signature, gateway,
checkpoint). The SDK's bulk path does the work (:meth:`creditlink.sdk.Client.submit_records`:
``ExchangeService.SubmitStream`` with flow control). Every record needs its ``recordId``: a
second run of the same file is then refused (``RECORD_ALREADY_EXISTS``) instead of publishing
the records twice. A refused batch stops the upload: the batches accepted before it stay
accepted (their receipts are printed), the refusal names the records at fault
(``records[i]``).

``get`` prints one record (current revision, or ``--revision N``) as JSON with its derived
status, its dispute marker and its provenance, after checking the provenance with the trust
bundle: each statement's signature under its sender's keys, and that the first one carries the
returned revision; with ``--proof`` also each inclusion proof against the gateway's signed
checkpoint. ``list`` prints a subject's records, newest decision first, one line each (or one
JSON object per line with ``--json``), following pages until ``--limit``.

``--target`` defaults to the first gateway endpoint of the credentials' manifest. Exit status:
0 on success; 1 when the gateway refuses or cannot be reached, or a check fails; 2 for a usage
error (bad option, unreadable file or credentials).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import grpc
from google.protobuf import json_format

from creditlink.sdk.client import Client, Provenance, Receipt
from creditlink.sdk.credentials import Credentials, InvalidCredentials
from creditlink.sdk.errors import CreditlinkError, from_grpc_error
from creditlink.v1 import (
    record_pb2,
)

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "load_records", "register"]

EXIT_OK: Final = 0
#: The gateway refused or could not be reached, or what it returned did not verify.
EXIT_FAILED: Final = 1
#: Bad options, an unreadable file or unusable credentials: nothing was sent.
EXIT_USAGE: Final = 2

_PROG: Final = "creditlink records"
#: Largest records file read (a file of a million records belongs in a streaming importer).
_MAX_FILE_BYTES: Final = 512 * 1024 * 1024
_PAGE: Final = 200


class _UsageError(Exception):
    """A problem with the command line or the input: exit status 2."""


def register(sub: Any) -> None:
    """Add ``records`` (``submit``, ``get``, ``list``) to ``sub``, an argparse subparsers action."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "records",
        help="publish credit records from a JSON file, read them back, list a subject's",
        description="Publish, read and list credit records on a gateway (RecordService).",
    )
    commands = parser.add_subparsers(dest="records_command", metavar="COMMAND", required=True)

    submit = commands.add_parser(
        "submit",
        help="sign, batch, seal and submit the records of a JSON file",
        description=(
            "Submit a JSON array of CreditRecord objects (protobuf JSON mapping) in signed "
            "batches; print each batch's verified receipt."
        ),
    )
    submit.add_argument("file", type=Path, metavar="FILE.json", help="the records (JSON array)")
    _connection(submit)
    submit.add_argument(
        "--batch-size",
        type=_positive,
        default=None,
        metavar="N",
        help="records per signed batch (default: adapt to what the gateway grants)",
    )
    submit.add_argument("--json", action="store_true", help="print one JSON object per batch")
    submit.set_defaults(run=_run_submit)

    get = commands.add_parser(
        "get",
        help="show one record with its verified provenance",
        description="Show a record (JSON) with its status and provenance, checked locally.",
    )
    get.add_argument("record_id", metavar="RECORD_ID")
    _connection(get)
    get.add_argument(
        "--revision", type=_positive, default=0, metavar="N", help="an earlier revision"
    )
    get.add_argument(
        "--proof", action="store_true", help="also verify log inclusion proofs and checkpoints"
    )
    get.set_defaults(run=_run_get)

    listing = commands.add_parser(
        "list",
        help="list a subject's records, newest decision first",
        description="List a subject's records, filtered by category, decision date and status.",
    )
    listing.add_argument(
        "--subject", required=True, metavar="USCC|TOKEN", help="USCC or person token (pn1:...)"
    )
    _connection(listing)
    listing.add_argument(
        "--category",
        action="append",
        default=[],
        metavar="CATEGORY",
        help="e.g. ADMINISTRATIVE_PENALTY (repeatable)",
    )
    listing.add_argument(
        "--status", action="append", default=[], metavar="STATUS", help="e.g. ACTIVE (repeatable)"
    )
    listing.add_argument("--from", dest="start", type=_date, metavar="YYYY-MM-DD")
    listing.add_argument("--to", dest="end", type=_date, metavar="YYYY-MM-DD")
    listing.add_argument(
        "--limit", type=_positive, default=None, metavar="N", help="at most N records"
    )
    listing.add_argument("--json", action="store_true", help="one JSON record per line")
    listing.set_defaults(run=_run_list)


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--credentials",
        type=Path,
        required=True,
        metavar="DIR",
        help="credentials directory to sign and connect with",
    )
    parser.add_argument(
        "--target",
        default=None,
        metavar="HOST:PORT",
        help="gateway address (default: the first endpoint in the credentials' manifest)",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for each answer"
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


# --- shared plumbing ------------------------------------------------------------------------


def _credentials(args: argparse.Namespace) -> tuple[Credentials, str]:
    try:
        creds = Credentials.load(args.credentials)
    except InvalidCredentials as exc:
        raise _UsageError(str(exc)) from exc
    target = args.target or (creds.endpoints[0] if creds.endpoints else None)
    if target is None:
        raise _UsageError(f"{args.credentials} names no gateway endpoint: pass --target")
    return creds, target


def _fail(error: CreditlinkError) -> int:
    print(f"{_PROG}: {error.reason}: {error.message}", file=sys.stderr)
    for violation in getattr(error, "field_violations", ()):
        print(f"  {violation.field}: {violation.description}", file=sys.stderr)
    return EXIT_FAILED


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Map the failures of a subcommand to its exit status and one message on stderr."""

    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except _UsageError as exc:
            print(f"{_PROG}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except grpc.RpcError as exc:
            return _fail(from_grpc_error(exc))
        except CreditlinkError as exc:
            return _fail(exc)

    return wrapper


# --- submit ---------------------------------------------------------------------------------


def load_records(path: Path) -> list[record_pb2.CreditRecord]:
    """The records of a JSON file (an array of ``CreditRecord`` in the protobuf JSON mapping).

    Raises ``ValueError`` naming the file and the item at fault.
    """
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise ValueError(f"{path}: larger than {_MAX_FILE_BYTES} bytes")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON array of CreditRecord objects")
    records: list[record_pb2.CreditRecord] = []
    for index, item in enumerate(data):
        record = record_pb2.CreditRecord()
        try:
            json_format.ParseDict(item, record)
        except json_format.ParseError as exc:
            raise ValueError(f"{path}: records[{index}]: {exc}") from exc
        if not record.record_id:
            raise ValueError(
                f"{path}: records[{index}] has no recordId (give each record its id, so that a "
                "second run cannot publish it twice)"
            )
        records.append(record)
    if not records:
        raise ValueError(f"{path}: no records")
    return records


def _receipt_json(receipt: Receipt, record_ids: Sequence[str]) -> dict[str, object]:
    return {
        "batch_id": receipt.message_id,
        "gateway": receipt.gateway_node_id,
        "first_leaf_index": receipt.first_leaf_index,
        "leaf_count": receipt.leaf_count,
        "accepted_at": receipt.accepted_at.isoformat(),
        "checkpoint_size": receipt.checkpoint.size,
        "record_ids": list(record_ids),
    }


@_guarded
def _run_submit(args: argparse.Namespace) -> int:
    try:
        records = load_records(args.file)
    except ValueError as exc:
        raise _UsageError(str(exc)) from exc
    creds, target = _credentials(args)
    done = 0
    with Client(target, creds) as client:
        receipts = client.submit_records(
            records, batch_size=args.batch_size or "auto", timeout=args.timeout
        )
        # Receipts come in record order, one per batch: batch k covers the next leaf_count
        # records of the file.
        for receipt in receipts:
            ids = [r.record_id for r in records[done : done + receipt.leaf_count]]
            done += receipt.leaf_count
            if args.json:
                print(json.dumps(_receipt_json(receipt, ids), ensure_ascii=False), flush=True)
            else:
                last = receipt.first_leaf_index + receipt.leaf_count - 1
                print(
                    f"accepted {receipt.leaf_count} record(s) by {receipt.gateway_node_id}: "
                    f"batch {receipt.message_id}, leaves {receipt.first_leaf_index}-{last}, "
                    f"checkpoint size {receipt.checkpoint.size}",
                    flush=True,
                )
                for record_id in ids:
                    print(f"  {record_id}")
    if not args.json:
        print(f"{done} record(s) published")
    return EXIT_OK


# --- get ------------------------------------------------------------------------------------


def _provenance_json(provenance: Sequence[Provenance], proofs: bool) -> list[dict[str, object]]:
    return [
        {
            "message_id": item.entry.message_id,
            "kind": item.entry.kind,
            "sender": item.entry.sender_node_id,
            "gateway": item.gateway_node_id,
            "leaf_index": item.entry.leaf_index,
            "logged_at": item.entry.integrated_at.isoformat(),
            "signature": "verified",
            **({"inclusion": "verified"} if proofs else {}),
        }
        for item in provenance
    ]


@_guarded
def _run_get(args: argparse.Namespace) -> int:
    creds, target = _credentials(args)
    with Client(target, creds) as client:
        # The SDK verifies each provenance statement (signature under its sender's keys when
        # it was logged; with --proof its inclusion under a signed checkpoint) and that the
        # first one carries the returned revision.
        view = client.get_record(
            args.record_id, revision=args.revision, include_proof=args.proof, timeout=args.timeout
        )
    document = {
        "record": json_format.MessageToDict(view.value),
        "status": record_pb2.RecordStatus.Name(view.value.status),
        "disputed": view.disputed,
        "open_objection_ids": list(view.open_objection_ids),
        "provenance": _provenance_json(view.provenance, args.proof),
    }
    print(json.dumps(document, ensure_ascii=False, indent=2))
    return EXIT_OK


# --- list -----------------------------------------------------------------------------------


def _enum_values(enum: Any, prefix: str, names: Sequence[str], option: str) -> list[int]:
    values = []
    for name in names:
        full = name.upper() if name.upper().startswith(prefix) else prefix + name.upper()
        try:
            values.append(int(enum.Value(full)))
        except ValueError:
            known = ", ".join(
                n.removeprefix(prefix)
                for n in enum.DESCRIPTOR.values_by_name
                if not n.endswith("_UNSPECIFIED")
            )
            raise _UsageError(f"{option} {name!r}: not one of {known}") from None
    return values


@_guarded
def _run_list(args: argparse.Namespace) -> int:
    categories = _enum_values(
        record_pb2.RecordCategory, "RECORD_CATEGORY_", args.category, "--category"
    )
    statuses = _enum_values(record_pb2.RecordStatus, "RECORD_STATUS_", args.status, "--status")
    subject = args.subject if args.subject.startswith("pn") else args.subject.strip().upper()
    creds, target = _credentials(args)
    count = 0
    with Client(target, creds) as client:
        records = client.list_records(
            subject,
            categories=categories,
            statuses=statuses,
            decided_from=args.start,
            decided_to=args.end,
            page_size=min(args.limit or _PAGE, _PAGE),
            max_items=args.limit,
            timeout=args.timeout,
        )
        for record in records:
            count += 1
            if args.json:
                print(json.dumps(json_format.MessageToDict(record), ensure_ascii=False))
                continue
            decided = record.decision_date
            print(
                f"{record.record_id}  {decided.year:04d}-{decided.month:02d}-{decided.day:02d}  "
                f"{record_pb2.RecordCategory.Name(record.category).removeprefix('RECORD_CATEGORY_')}"
                f"  {record_pb2.RecordStatus.Name(record.status).removeprefix('RECORD_STATUS_')}"
                f"  rev {record.revision}  {record.document_number}"
            )
    if not args.json:
        print(f"{count} record(s)", file=sys.stderr)
    return EXIT_OK
