"""Answer an approval window from a local, verified copy of the name lists.

A government procurement window must check every bidder against the name lists (the serious
untrustworthy subject list and the others) many times a day. It keeps a
``creditlink.sdk.NameListMirror``: ``sync()`` pulls the name-list entries and transitions and
the measure lists from the gateway's log (every statement verified, the log proven consistent
with the last sync) into a SQLite file, and ``is_listed`` / ``measures_for`` answer from
memory, with no network: whether the bidder is listed, and which punishment measures apply to
it for this purpose under the measure list in force. ``Client.check_subject`` asks the gateway
the same question, one call per subject, and names the measures in full.

On a fresh development gateway nothing is listed yet: ``--demo-listing`` first lists one of
the bidders, as the market regulation bureau that determined it would (the development
operator may determine lists), and measures resolve only once a measure list is published.
Run it against a development gateway (``creditlink serve`` in another terminal)::

    creditlink measures publish --seed-2021 --credentials .creditlink/operator
    python docs/examples/mirror_name_lists.py --credentials .creditlink/operator --demo-listing

The mirror file (``--mirror``, default ``name-lists.sqlite3``) is reused by later runs, which
pull only what is new. ``mirror.start()`` would keep it following the log in the background.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from creditlink.sdk import AlreadyExists, Client, NameListMirror
from creditlink.sdk.reports import UsePurpose
from creditlink.v1 import common_pb2, measure_pb2, name_list_pb2

PURPOSE = UsePurpose.GOVERNMENT_PROCUREMENT
#: The bidders of a procurement, by Unified Social Credit Code.
BIDDERS = {
    "91330108MA2CDRLU5H": "杭州某某贸易有限公司",
    "91330110MA2H1F2PX5": "杭州某某电子商务有限公司",
    "91330102MA27WB3Q33": "杭州某某电气设备有限公司",
}
LISTED = "91330108MA2CDRLU5H"
CHINA = timezone(timedelta(hours=8))


def date_pb(value: date) -> common_pb2.Date:
    return common_pb2.Date(year=value.year, month=value.month, day=value.day)


def demo_listing() -> name_list_pb2.NameListEntry:
    """The Hangzhou market regulation bureau lists a trading company that sold substandard
    cables (penalty 杭市监罚〔2026〕31号) for three years from today (dated today so that the
    listing is in force whenever the example runs)."""
    bureau = common_pb2.AuthorityRef(
        name="杭州市市场监督管理局", uscc="11330100MB183543XG", region_code="330100"
    )
    document = "杭市监信〔2026〕7号"
    today = datetime.now(CHINA).date()
    return name_list_pb2.NameListEntry(
        # One entry per determination: a second run is refused as a duplicate.
        entry_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:{bureau.uscc}:{document}")),
        list_type=name_list_pb2.NAME_LIST_TYPE_SERIOUS_UNTRUSTWORTHY,
        list_legal_basis=[
            common_pb2.LegalBasis(
                law="市场监督管理严重违法失信名单管理办法",
                document_number="国家市场监督管理总局令第44号",
            )
        ],
        subject=common_pb2.SubjectRef(
            uscc=LISTED, kind=common_pb2.SUBJECT_KIND_LEGAL_PERSON, display_name=BIDDERS[LISTED]
        ),
        determining_authority=bureau,
        determination_document_number=document,
        determination_date=date_pb(today),
        basis=[common_pb2.BasisRef(document_number="杭市监罚〔2026〕31号", title="行政处罚决定书")],
        reason="销售不合格的电线电缆，货值金额较大，列入严重违法失信名单。",
        # National basic measure list, 2021 edition: procurement, bidding, licensing, funding.
        measures=[
            measure_pb2.MeasureRef(list_id="national-basic", version="2021.1", measure_id=m)
            for m in ("1", "2", "3", "11")
        ],
        listing_start=date_pb(today),
        listing_end=date_pb(today + timedelta(days=3 * 365 - 1)),
        region_code="330100",
        state=name_list_pb2.NAME_LIST_STATE_LISTED,
    )


def window_check(mirror: NameListMirror, uscc: str) -> bool:
    """What the approval window does for each applicant: a lookup in memory."""
    if not mirror.is_listed(uscc):
        print(f"  {BIDDERS.get(uscc, '')} {uscc}: not listed")
        return False
    refs = mirror.measures_for(uscc, PURPOSE)  # under the measure list in force today
    named = ", ".join(f"{r.list_id}@{r.version} #{r.measure_id}" for r in refs) or "none"
    print(f"  {BIDDERS.get(uscc, '')} {uscc}: LISTED, measures {named}")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--credentials", required=True, help="a credentials directory")
    parser.add_argument("--target", help="host:port of the gateway (default: the manifest's)")
    parser.add_argument("--mirror", type=Path, default=Path("name-lists.sqlite3"))
    parser.add_argument("--demo-listing", action="store_true", help="list a bidder first")
    parser.add_argument("uscc", nargs="*", default=list(BIDDERS), help="applicants to check")
    args = parser.parse_args(argv)

    with Client.from_credentials(args.credentials, target=args.target) as client:
        if args.demo_listing:
            try:
                written = client.create_name_list_entry(demo_listing())
                print(f"listed {LISTED} (leaf {written.receipt.first_leaf_index})")
            except AlreadyExists:
                print(f"{LISTED} is listed already")

        with NameListMirror(client, args.mirror) as mirror:
            synced = mirror.sync()
            print(
                f"mirror {mirror.path}: {len(mirror)} entries "
                f"({synced.entries_added} new, {synced.transitions_applied} transitions), "
                f"next log leaf {synced.cursor}"
            )
            print(f"approval window ({PURPOSE.label}):")
            listed = [uscc for uscc in args.uscc if window_check(mirror, uscc)]

        for uscc in listed:
            answer = client.check_subject(uscc, PURPOSE)
            print(f"gateway on {uscc}: listed={answer.listed} at log size {answer.checkpoint.size}")
            for applicable in answer.measures:
                print(f"  measure #{applicable.ref.measure_id}: {applicable.measure.title}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
