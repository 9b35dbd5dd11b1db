"""``creditlink namelist`` and ``creditlink measures``: check a subject, publish and compare lists.

::

    creditlink namelist check USCC|PERSON_TOKEN [--purpose P] [--as-of ISO-INSTANT]
                              [--responsible-person] [--json] --credentials DIR [--target HOST:PORT]
    creditlink measures publish FILE | --seed-2021 --credentials DIR [--target HOST:PORT]
    creditlink measures diff V1 V2 [--list-id national-basic] [--json]
                             --credentials DIR [--target HOST:PORT]

Every command connects over mutual TLS with the credentials directory (a participant's or an
operator's), to ``--target`` or the first endpoint its manifest names, and checks what it prints:
the gateway is identified by its checkpoint signed under the key the trust bundle lists for it,
the checkpoint a check answer rests on must verify, and so must a publication's receipt.

``namelist check`` asks ``NameListService.CheckSubject``: whether the subject is listed for the
purpose (``general`` by default: every measure), the entries in force and the measures that
apply. ``--responsible-person`` (person tokens only) also matches entries that name the person
as legal representative or another responsible person. It exits **0 whenever it got a verified
answer, listed or not**: "listed" is a fact to read, not a failure (scripts read ``"listed"``
from ``--json``); the exit code reports only whether the check itself worked.

``measures publish`` signs a measure list version (a JSON file: the ``MeasureList`` in proto3
JSON, optionally under ``"measure_list"``, measures optionally marked ``"sample": true``;
``--seed-2021``: the packaged 2021 national basic list, SAMPLE measures, as version ``2021.1``)
and publishes it to the whole federation (a broadcast statement) through
``MeasureService.PublishMeasureList``; the gateway refuses versions that leave a gap in the
list's chain. ``measures diff`` prints the measures added, removed and changed (with the changed
fields) between two versions.

Exit codes: 0 done; 1 the gateway refused or could not be reached, or an answer did not verify;
2 bad arguments, files or credentials (nothing was sent).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.message import Message

# The client core builds and verifies requests for any service (the public Client wraps only
# the exchange); the CLI is part of the same distribution.
from creditlink.cli._session import Failed as _Failed
from creditlink.cli._session import Session
from creditlink.cli._session import guarded as _guarded
from creditlink.gateway.domain.measures import (
    NATIONAL_BASIC,
    load_seed_2021,
    measure_list_from_json,
)
from creditlink.sdk.ids import InvalidIdentifier, validate_uscc
from creditlink.v1 import (
    common_pb2,
    measure_pb2,
    name_list_pb2,
    name_list_service_pb2,
)

__all__ = ["register"]

_TIMEOUT: Final = 30.0
#: ``--purpose`` values: the ``UsePurpose`` names, lower-case kebab.
PURPOSES: Final = {
    name.removeprefix("USE_PURPOSE_").lower().replace("_", "-"): value
    for name, value in common_pb2.UsePurpose.items()
    if value
}


def register(sub: Any) -> None:
    """Add ``namelist`` (check) and ``measures`` (publish, diff) to ``sub``."""
    namelist: argparse.ArgumentParser = sub.add_parser(
        "namelist", help="name lists: is a subject listed, which measures apply"
    )
    commands = namelist.add_subparsers(dest="namelist_command", metavar="COMMAND", required=True)
    check = commands.add_parser("check", help="check a subject for a purpose (exit 0 either way)")
    check.add_argument("subject", metavar="SUBJECT", help="the subject's USCC, or a person token")
    check.add_argument(
        "--purpose",
        choices=sorted(PURPOSES),
        default="general",
        help="what the check is for; selects the measures (default: general, every measure)",
    )
    check.add_argument(
        "--as-of", metavar="INSTANT", help="ISO 8601 instant to check for (default: now)"
    )
    check.add_argument(
        "--responsible-person",
        action="store_true",
        help="for a person token: also entries naming the person as a responsible person",
    )
    check.add_argument("--json", action="store_true", help="print the answer as JSON")
    _connection(check)
    check.set_defaults(run=_run_check)

    measures: argparse.ArgumentParser = sub.add_parser(
        "measures", help="punishment measure lists: publish a version, compare two"
    )
    actions = measures.add_subparsers(dest="measures_command", metavar="COMMAND", required=True)
    publish = actions.add_parser("publish", help="sign and publish a measure list version")
    source = publish.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", type=Path, metavar="FILE", help="measure list JSON")
    source.add_argument(
        "--seed-2021",
        action="store_true",
        help="the packaged 2021 national basic list (SAMPLE measures) as version 2021.1",
    )
    _connection(publish)
    publish.set_defaults(run=_run_publish)

    compare = actions.add_parser("diff", help="measures added, removed, changed between versions")
    compare.add_argument("from_version", metavar="V1", help="the older version")
    compare.add_argument("to_version", metavar="V2", help="the newer version")
    compare.add_argument(
        "--list-id", default=NATIONAL_BASIC, help=f"the list (default {NATIONAL_BASIC})"
    )
    compare.add_argument("--json", action="store_true", help="print the diff as JSON")
    _connection(compare)
    compare.set_defaults(run=_run_diff)


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--credentials", type=Path, required=True, metavar="DIR", help="credentials directory"
    )
    parser.add_argument(
        "--target",
        metavar="HOST:PORT",
        help="gateway address (default: the first endpoint in the credentials' manifest)",
    )
    parser.add_argument(
        "--timeout", type=float, default=_TIMEOUT, help=f"seconds per call (default {_TIMEOUT})"
    )


# -- plumbing ----------------------------------------------------------------------------------


_Session = Session


def _dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _iso(value: common_pb2.Date) -> str:
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as the protobuf JSON mapping writes timestamps."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- namelist check ----------------------------------------------------------------------------


def _check_request(args: argparse.Namespace) -> name_list_service_pb2.CheckSubjectRequest:
    request = name_list_service_pb2.CheckSubjectRequest(purpose=PURPOSES[args.purpose])
    if args.subject.startswith("pn"):
        request.person_token = args.subject
        request.include_responsible_person = args.responsible_person
    else:
        try:
            request.uscc = validate_uscc(args.subject)
        except InvalidIdentifier as exc:
            # Not echoed: a mistyped subject may be a personal identity number.
            why = exc.args[0] if exc.args else "malformed"
            raise _Failed(f"SUBJECT is not a valid USCC or person token: {why}", 2) from exc
        if args.responsible_person:
            raise _Failed("--responsible-person goes with a person token", 2)
    if args.as_of:
        try:
            at = datetime.fromisoformat(args.as_of)
        except ValueError as exc:
            raise _Failed(f"--as-of: {exc}", 2) from exc
        request.as_of.FromDatetime(at if at.tzinfo else at.replace(tzinfo=UTC))
    return request


def _run_check(args: argparse.Namespace) -> int:
    return _guarded("namelist check", args, _check)


def _check(args: argparse.Namespace) -> int:
    request = _check_request(args)
    subject = request.person_token or request.uscc
    as_of = request.as_of.ToDatetime(tzinfo=UTC) if request.HasField("as_of") else None
    with _Session(args) as session:
        gateway = session.identify()
        answer = session.call(
            lambda t: session.client.check_subject(
                subject,
                request.purpose,
                include_responsible_person=request.include_responsible_person,
                as_of=as_of,
                timeout=t,
            )
        )
        size = answer.checkpoint.size  # verified by the SDK
    if args.json:
        print(
            json.dumps(
                {
                    "subject": args.subject,
                    "purpose": args.purpose,
                    "listed": answer.listed,
                    "checked_at": _timestamp(answer.checked_at),
                    "entries": [_dict(e) for e in answer.entries],
                    "measures": [_dict(m) for m in answer.measures],
                    "gateway": gateway,
                    "checkpoint_size": size,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    count = len(answer.entries)
    print(f"subject    : {args.subject}")
    print(f"purpose    : {args.purpose}")
    print(f"checked at : {_timestamp(answer.checked_at)}")
    print(f"listed     : {'YES' if answer.listed else 'no'} ({count} entries in force)")
    for entry in answer.entries:
        print(f"entry      : {_entry_line(entry)}")
    for item in answer.measures:
        print(f"measure    : {_measure_line(item)}")
    print(f"answer of  : {gateway}, log size {size} (checkpoint verified)")
    return 0


def _entry_line(entry: name_list_pb2.NameListEntry) -> str:
    kind = name_list_pb2.NameListType.Name(entry.list_type).removeprefix("NAME_LIST_TYPE_")
    state = name_list_pb2.NameListState.Name(entry.state).removeprefix("NAME_LIST_STATE_")
    until = f" until {_iso(entry.listing_end)}" if entry.HasField("listing_end") else ""
    disputed = " (disputed)" if state == "UNDER_OBJECTION" else ""
    return (
        f"{entry.entry_id} {kind} {state}{disputed} since {_iso(entry.listing_start)}{until}, "
        f"by {entry.determining_authority.name}"
    )


def _measure_line(item: measure_pb2.ApplicableMeasure) -> str:
    ref = item.ref
    return (
        f"{ref.list_id}@{ref.version} #{ref.measure_id} {item.measure.title} "
        f"(entries {', '.join(item.entry_ids)})"
    )


# -- measures publish / diff -------------------------------------------------------------------


def _run_publish(args: argparse.Namespace) -> int:
    return _guarded("measures publish", args, _publish)


def _publish(args: argparse.Namespace) -> int:
    try:
        if args.seed_2021:
            measure_list = load_seed_2021()
        else:
            measure_list = measure_list_from_json(args.file.read_bytes())
    except OSError as exc:
        raise _Failed(f"{args.file}: {exc.strerror or exc}", 2) from exc
    except ValueError as exc:
        raise _Failed(f"{args.file}: {exc}", 2) from exc
    with _Session(args) as session:
        gateway = session.identify()
        # A broadcast statement (the SDK's default for measure lists): no recipients, every
        # member may read it and the feeds carry it.
        written = session.call(
            lambda t: session.client.publish_measure_list(measure_list, timeout=t)
        )
        receipt = written.receipt
    print(
        f"published {measure_list.list_id}@{measure_list.version} "
        f"({len(measure_list.measures)} measures, in force from "
        f"{_iso(measure_list.effective_date)}) at {gateway}, leaf {receipt.first_leaf_index} "
        "(receipt verified)"
    )
    return 0


def _run_diff(args: argparse.Namespace) -> int:
    return _guarded("measures diff", args, _diff)


def _diff(args: argparse.Namespace) -> int:
    with _Session(args) as session:
        answer = session.call(
            lambda t: session.client.diff_measure_lists(
                args.list_id, args.from_version, args.to_version, timeout=t
            )
        )
    if args.json:
        document = {
            "added": [_dict(m) for m in answer.added],
            "removed": [_dict(m) for m in answer.removed],
            "changed": [_dict(c) for c in answer.changed],
            "from_effective_date": _day(answer.from_effective_date),
            "to_effective_date": _day(answer.to_effective_date),
        }
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return 0
    print(
        f"{args.list_id}: {args.from_version} ({_day(answer.from_effective_date)}) -> "
        f"{args.to_version} ({_day(answer.to_effective_date)})"
    )
    for measure in answer.added:
        print(f"+ #{measure.measure_id} {measure.title}")
    for measure in answer.removed:
        print(f"- #{measure.measure_id} {measure.title}")
    for change in answer.changed:
        print(f"~ #{change.measure_id} {change.after.title}: {', '.join(change.changed_fields)}")
    if not (answer.added or answer.removed or answer.changed):
        print("no differences")
    return 0
