"""Measure lists: the version chain on real stores, lookups by date, diffs, what applies, the seed.

The ``measure-list`` handler runs inside a real ledger's append (SQLite and PostgreSQL): a list
is a chain of versions without gaps, forks or duplicates, each naming the one it replaces. The
pure functions (version in force, diff, measures_for) are checked on the packaged 2021 seed and
versions derived from it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime

import protovalidate
import pytest

from creditlink.gateway.domain.handlers.measures import HEAD_KIND, measure_handlers
from creditlink.gateway.domain.measures import (
    LIST_KIND,
    NATIONAL_BASIC,
    SAMPLE_MARKER,
    SEED_2021_VERSION,
    applies_for,
    diff,
    list_object_id,
    load_seed_2021,
    measure_list_from_json,
    measures_for,
    sample_measure_ids,
    split_object_id,
    target_for_role,
    version_in_force,
)
from creditlink.gateway.domain.projection import Projection
from creditlink.gateway.ledger import Acknowledgement, Ledger, LedgerEntry, Submission
from creditlink.gateway.store import DomainQuery, Store
from creditlink.sdk import envelope as dsse
from creditlink.sdk.keys import PrivateKey
from creditlink.sdk.tlog import NoteSigner
from creditlink.v1 import common_pb2, measure_pb2, name_list_pb2, statement_pb2
from tests.gateway.listings import date as pb_date
from tests.gateway.listings import entry_statement, measure_list_statement, next_version

ORIGIN = "creditlink.test/cn-hub"
HUB_OP = "cn-hub-operator"
P = common_pb2


def submission(body: statement_pb2.Statement) -> Submission:
    payload = body.SerializeToString()
    entry = LedgerEntry(
        message_id=body.header.message_id,
        kind=LIST_KIND,
        sender_node_id=HUB_OP,
        payload_type=dsse.payload_type_for(LIST_KIND),
        payload=payload,
        envelope=b"env",
        subject_key=body.measure_list.list_id,
    )
    return Submission(
        message_id=body.header.message_id,
        request_digest=hashlib.sha256(payload).digest(),
        sender_node_id=HUB_OP,
        payload_type=entry.payload_type,
        payload_digest=hashlib.sha256(payload).digest(),
        entries=[entry],
    )


@pytest.fixture
def ledger(store: Store) -> Ledger:
    return Ledger(
        store=store,
        node_id="cn-hub",
        origin=ORIGIN,
        signing_key=PrivateKey.from_seed(b"s" * 32),
        checkpoint_signer=NoteSigner.from_seed(ORIGIN, b"n" * 32),
        clock=lambda: datetime(2026, 3, 10, tzinfo=UTC),
        projector=Projection(measure_handlers(), log_origin=ORIGIN),
    )


async def publish(ledger: Ledger, measure_list: measure_pb2.MeasureList) -> Acknowledgement:
    (ack,) = await ledger.append([submission(measure_list_statement(HUB_OP, measure_list))])
    return ack


def variant(base: measure_pb2.MeasureList, **changes: object) -> measure_pb2.MeasureList:
    out = measure_pb2.MeasureList()
    out.CopyFrom(base)
    for name, value in changes.items():
        if isinstance(value, measure_pb2.MeasureList | common_pb2.Date):
            getattr(out, name).CopyFrom(value)
        else:
            setattr(out, name, value)
    return out


SEED = load_seed_2021()


# -- the seed --------------------------------------------------------------------------------


def test_the_2021_seed_has_the_lists_structure_and_says_it_is_sample_data() -> None:
    assert (SEED.list_id, SEED.version, SEED.previous_version) == (NATIONAL_BASIC, "2021.1", "")
    assert SEED.version == SEED_2021_VERSION
    assert SEED.title == "全国失信惩戒措施基础清单（2021年版）"
    assert protovalidate.collect_violations(SEED) == []
    # 14 measures in the 3 categories [checked]; which measure is where is sample data.
    assert [m.measure_id for m in SEED.measures] == [str(i) for i in range(1, 15)]
    categories = {m.category for m in SEED.measures}
    assert categories == {
        measure_pb2.MEASURE_CATEGORY_RESTRICTING_RIGHTS,
        measure_pb2.MEASURE_CATEGORY_MANAGEMENT,
        measure_pb2.MEASURE_CATEGORY_MARKET_AND_SOCIAL,
    }
    assert list(sample_measure_ids(SEED)) == [m.measure_id for m in SEED.measures]
    assert all(m.content.endswith(SAMPLE_MARKER) for m in SEED.measures)
    assert all(m.legal_basis and m.implementing_authorities for m in SEED.measures)


def test_json_files_mark_sample_measures_and_refuse_what_is_not_a_list() -> None:
    document = {
        "$comment": "a local supplement",
        "measure_list": {
            "list_id": "330000-supplement",
            "version": "1",
            "title": "浙江省失信惩戒措施补充清单",
            "effective_date": {"year": 2026, "month": 1, "day": 1},
            "issuing_authorities": [
                {"name": "浙江省发展和改革委员会", "uscc": "11330100MB183543XG"}
            ],
            "region_code": "330000",
            "measures": [
                {
                    "measure_id": "1",
                    "category": "MEASURE_CATEGORY_MANAGEMENT",
                    "title": "列为重点监管对象",
                    "content": "提高抽查比例和频次。",
                    "targets": ["MEASURE_TARGET_SUBJECT"],
                    "legal_basis": [{"law": "浙江省公共信用信息管理条例"}],
                    "implementing_authorities": ["各级行政机关"],
                    "sample": True,
                },
                {
                    "measure_id": "2",
                    "category": "MEASURE_CATEGORY_MANAGEMENT",
                    "title": "不适用告知承诺制",
                    "content": "不适用告知承诺制。",
                    "targets": ["MEASURE_TARGET_SUBJECT"],
                    "legal_basis": [{"law": "浙江省公共信用信息管理条例"}],
                    "implementing_authorities": ["各级行政机关"],
                },
            ],
        },
    }
    parsed = measure_list_from_json(json.dumps(document, ensure_ascii=False))
    assert parsed.measures[0].content == "提高抽查比例和频次。" + SAMPLE_MARKER
    assert parsed.measures[1].content == "不适用告知承诺制。"
    assert list(sample_measure_ids(parsed)) == ["1"]
    # The bare MeasureList works too, and marking is idempotent.
    again = measure_list_from_json(document["measure_list"])  # type: ignore[arg-type]
    assert again == measure_list_from_json(json.dumps({"measure_list": document["measure_list"]}))

    with pytest.raises(ValueError, match="not a MeasureList"):
        measure_list_from_json({**document["measure_list"], "editon": 2})  # type: ignore[dict-item]
    twice = json.loads(json.dumps(document))
    twice["measure_list"]["measures"][1]["measure_id"] = "1"
    with pytest.raises(ValueError, match="appears twice"):
        measure_list_from_json(twice)
    no_day = json.loads(json.dumps(document))
    no_day["measure_list"]["effective_date"] = {"year": 2026, "month": 2, "day": 30}
    with pytest.raises(ValueError, match="not a calendar date"):
        measure_list_from_json(no_day)


# -- the chain of versions, on real stores ----------------------------------------------------


async def test_versions_form_a_chain_without_gaps(ledger: Ledger, store: Store) -> None:
    assert (await publish(ledger, SEED)).error is None
    v2022 = next_version(SEED, "2022.1", "2023-01-01")
    assert (await publish(ledger, v2022)).error is None

    first = await store.get_object(LIST_KIND, list_object_id(NATIONAL_BASIC, "2021.1"))
    second = await store.get_object(LIST_KIND, list_object_id(NATIONAL_BASIC, "2022.1"))
    head = await store.get_object(HEAD_KIND, NATIONAL_BASIC)
    assert first is not None
    assert second is not None
    assert head is not None
    assert measure_pb2.MeasureList.FromString(second.body) == v2022
    assert (second.subject_key, second.state, second.created_leaf) == (
        NATIONAL_BASIC,
        "PUBLISHED",
        1,
    )
    assert second.attrs["previous_version"] == "2021.1"
    assert second.attrs["effective_date"] == "2023-01-01"
    assert second.attrs["measures"] == 14
    assert first.attrs["next_version"] == "2022.1"  # the chain links both ways
    assert (first.created_leaf, first.leaf_index) == (0, 1)
    assert head.attrs == {
        "latest_version": "2022.1",
        "latest_effective_date": "2023-01-01",
        "versions": 2,
    }
    assert [e.action for e in await store.object_events(LIST_KIND, first.object_id)] == [
        "PUBLISHED",
        "SUPERSEDED",
    ]
    # Both versions are one subject query away.
    rows = await store.query_objects(DomainQuery(kinds=[LIST_KIND], subject_key=NATIONAL_BASIC))
    assert sorted(split_object_id(r.object_id)[1] for r in rows) == ["2021.1", "2022.1"]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        # A first version that names a previous one: the chain has a hole before it.
        (lambda: variant(SEED, previous_version="2020"), "MEASURE_LIST_VERSION_GAP"),
        # After 2021.1: naming nothing (a second first version), or a version that is not the
        # latest (a fork), leaves a gap.
        (lambda: variant(next_version(SEED, "2022.1", "2023-01-01"), previous_version=""), None),
        (lambda: variant(SEED), "MEASURE_LIST_VERSION_EXISTS"),
        (
            lambda: variant(next_version(SEED, "2022.1", "2021-06-01")),
            "MEASURE_LIST_DATE_ORDER",
        ),
    ],
    ids=["first-names-previous", "second-names-none", "same-version", "effective-earlier"],
)
async def test_versions_that_break_the_chain_are_refused(
    ledger: Ledger, store: Store, make: object, reason: str | None
) -> None:
    if reason != "MEASURE_LIST_VERSION_GAP":
        assert (await publish(ledger, SEED)).error is None
    ack = await publish(ledger, make())  # type: ignore[operator]
    assert ack.error is not None
    assert ack.error.reason == (reason or "MEASURE_LIST_VERSION_GAP")
    size = (await store.head()).size
    assert size == (0 if reason == "MEASURE_LIST_VERSION_GAP" else 1)


async def test_a_fork_of_the_chain_is_refused(ledger: Ledger) -> None:
    assert (await publish(ledger, SEED)).error is None
    assert (await publish(ledger, next_version(SEED, "2022.1", "2023-01-01"))).error is None
    fork = next_version(SEED, "2022.2", "2024-01-01")  # names 2021.1, not the latest 2022.1
    ack = await publish(ledger, fork)
    assert ack.error is not None
    assert ack.error.reason == "MEASURE_LIST_VERSION_GAP"
    assert "2022.1" in ack.error.message


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda m: setattr(m.measures[1], "measure_id", "1"), "DUPLICATE_MEASURE_ID"),
        (lambda m: m.effective_date.CopyFrom(pb_date("2022-02-30")), "INVALID_DATE"),
    ],
    ids=["duplicate-id", "february-30"],
)
async def test_a_malformed_version_is_refused(
    ledger: Ledger, store: Store, change: object, reason: str
) -> None:
    bad = variant(SEED)
    change(bad)  # type: ignore[operator]
    ack = await publish(ledger, bad)
    assert ack.error is not None
    assert ack.error.reason == reason
    assert await store.get_object(HEAD_KIND, NATIONAL_BASIC) is None


# -- lookups, diffs, what applies --------------------------------------------------------------


def test_the_version_in_force_is_the_latest_effective_on_the_day() -> None:
    v2022 = next_version(SEED, "2022.1", "2023-01-01")
    v2024 = next_version(v2022, "2024.1", "2024-07-01")
    versions = [v2024, SEED, v2022]
    assert version_in_force(versions, date(2021, 12, 31)) is None
    assert version_in_force(versions, date(2022, 1, 1)) is SEED
    assert version_in_force(versions, date(2022, 12, 31)) is SEED
    assert version_in_force(versions, date(2023, 1, 1)) is v2022
    assert version_in_force(versions, date(2030, 1, 1)) is v2024


def test_a_diff_matches_measures_by_id_and_names_the_changed_fields() -> None:
    newer = next_version(SEED, "2022.1", "2023-01-01")
    newer.measures[2].applies_in.append(P.USE_PURPOSE_FINANCING)
    changes = diff(SEED, newer)
    assert [m.measure_id for m in changes.added] == ["15"]
    assert [m.measure_id for m in changes.removed] == ["2"]
    assert [(c.measure_id, c.changed_fields) for c in changes.changed] == [
        ("1", ("content",)),
        ("4", ("applies_in",)),
    ]
    (first, _) = changes.changed
    assert first.before == SEED.measures[0]
    assert first.after == newer.measures[0]
    same = diff(SEED, SEED)
    assert (same.added, same.removed, same.changed) == ((), (), ())
    reverse = diff(newer, SEED)
    assert [m.measure_id for m in reverse.added] == ["2"]
    assert [m.measure_id for m in reverse.removed] == ["15"]


def test_purposes_select_measures() -> None:
    procurement = SEED.measures[0]
    assert applies_for(procurement, P.USE_PURPOSE_GOVERNMENT_PROCUREMENT)
    assert not applies_for(procurement, P.USE_PURPOSE_BIDDING)
    assert applies_for(procurement, P.USE_PURPOSE_GENERAL)  # "every measure may apply"
    everywhere = measure_pb2.Measure()
    everywhere.CopyFrom(procurement)
    del everywhere.applies_in[:]
    assert applies_for(everywhere, P.USE_PURPOSE_HONOURS)  # empty: every purpose


def test_measures_for_an_entry_by_purpose_and_target() -> None:
    entry = entry_statement(HUB_OP, measures=("1", "4", "5", "12")).name_list_entry
    ids = lambda found: [m.measure_id for _, m in found]  # noqa: E731
    assert ids(measures_for(entry, P.USE_PURPOSE_GOVERNMENT_PROCUREMENT, SEED)) == ["1"]
    assert ids(measures_for(entry, P.USE_PURPOSE_GENERAL, SEED)) == ["1", "4", "5", "12"]
    assert ids(measures_for(entry, P.USE_PURPOSE_FINANCING, SEED)) == []
    legal_rep = target_for_role(name_list_pb2.RESPONSIBLE_ROLE_LEGAL_REPRESENTATIVE)
    assert legal_rep == measure_pb2.MEASURE_TARGET_LEGAL_REPRESENTATIVE
    assert target_for_role(name_list_pb2.RESPONSIBLE_ROLE_OTHER) is None
    # Procurement restricts the company, not its legal representative; honours restrict both.
    assert ids(measures_for(entry, P.USE_PURPOSE_GENERAL, SEED, target=legal_rep)) == [
        "4",
        "5",
        "12",
    ]
    ref, _ = measures_for(entry, P.USE_PURPOSE_HONOURS, SEED)[0]
    assert (ref.list_id, ref.version, ref.measure_id) == (NATIONAL_BASIC, "2021.1", "12")


def test_a_reference_follows_its_measure_into_the_version_in_force() -> None:
    entry = entry_statement(HUB_OP, measures=("1", "2")).name_list_entry  # made under 2021.1
    newer = next_version(SEED, "2022.1", "2023-01-01")  # 2 dropped, 1 reworded
    found = measures_for(entry, P.USE_PURPOSE_GENERAL, newer)
    assert [(r.version, m.measure_id) for r, m in found] == [("2022.1", "1")]
    assert found[0][1].content == newer.measures[0].content
    other_list = variant(SEED, list_id="330000-supplement")
    assert measures_for(entry, P.USE_PURPOSE_GENERAL, other_list) == []
