"""NameListMirror against a real gateway over mutual TLS (fixtures: ``conftest.py``).

The development node's operator may determine name-list entries; it lists subjects and moves
them with signed ``name-list-entry`` / ``name-list-transition`` statements sent through
``Client.submit``, and the mirror pulls them from the gateway's feed. Nothing is mocked.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import date
from pathlib import Path

import pytest
from sdk_client_support import RunningGateway

from creditlink.gateway.bootstrap import DevNode
from creditlink.gateway.domain.measures import load_seed_2021
from creditlink.gateway.domain.measures import measures_for as gateway_measures_for
from creditlink.sdk import Client, NameListMirror
from creditlink.sdk.mirror import MeasureRef
from creditlink.v1 import common_pb2, name_list_pb2, name_list_service_pb2, statement_pb2
from tests.gateway.listings import (
    LISTED_USCC,
    OTHER_USCC,
    entry_statement,
    transition_statement,
)

S = name_list_pb2.NameListState
UNLISTED_USCC = "91110000600037341L"


def _list(client: Client, uscc: str, **kwargs: object) -> str:
    statement = entry_statement(client.credentials.node_id, uscc=uscc, **kwargs)  # type: ignore[arg-type]
    client.submit(statement)
    return statement.name_list_entry.entry_id


def _rows(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        count: int = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return count


def test_sync_lists_repairs_and_resumes(client: Client, tmp_path: Path) -> None:
    seed = load_seed_2021()
    client.publish_measure_list(seed)
    first = _list(client, LISTED_USCC)
    _list(client, OTHER_USCC, end=None, measures=("2",))
    path = tmp_path / "mirror.db"

    with NameListMirror(client, path) as mirror:
        result = mirror.sync()
        assert (result.entries_added, result.transitions_applied, result.skipped) == (2, 0, 0)
        assert mirror.is_listed(LISTED_USCC)
        assert mirror.is_listed(OTHER_USCC)
        assert not mirror.is_listed(UNLISTED_USCC)
        # Expiry is derived: the first listing ends 2029-03-08; the open-ended one never does.
        assert not mirror.is_listed(LISTED_USCC, at=date(2029, 3, 9))
        assert mirror.is_listed(OTHER_USCC, at=date(2099, 1, 1))
        assert not mirror.is_listed(LISTED_USCC, at=date(2026, 3, 8))  # before it starts
        (entry,) = mirror.entries_for(LISTED_USCC)
        assert (entry.entry_id, entry.state, entry.in_force) == (
            first,
            "NAME_LIST_STATE_LISTED",
            True,
        )
        assert entry.listing_end == date(2029, 3, 8)
        # Resolved against national-basic@2021.1, in force since 2022-01-01: of the entry's
        # measures 1, 4 and 11, only 1 applies in government procurement, none in bidding.
        procurement = mirror.measures_for(LISTED_USCC, "USE_PURPOSE_GOVERNMENT_PROCUREMENT")
        assert procurement == (MeasureRef("national-basic", "2021.1", "1"),)
        assert mirror.measures_for(LISTED_USCC, "USE_PURPOSE_BIDDING") == ()
        # ... as the gateway's own resolution says, for every purpose.
        (listing,) = client.list_name_list_entries(
            name_list_service_pb2.ListNameListEntriesRequest(uscc=LISTED_USCC)
        )
        for purpose in common_pb2.UsePurpose.values()[1:]:
            expected = tuple(
                MeasureRef(ref.list_id, ref.version, ref.measure_id)
                for ref, _ in gateway_measures_for(listing, purpose, seed)
            )
            assert mirror.measures_for(LISTED_USCC, purpose) == expected
        answer = client.check_subject(LISTED_USCC, common_pb2.USE_PURPOSE_GOVERNMENT_PROCUREMENT)
        assert [m.ref.measure_id for m in answer.measures] == ["1"]
        assert mirror.measures_for(LISTED_USCC, "USE_PURPOSE_GENERAL", at=date(2026, 3, 9)) == (
            tuple(MeasureRef("national-basic", "2021.1", m) for m in ("1", "4", "11"))
        )
        assert mirror.measure_list_versions("national-basic") == ("2021.1",)
        with pytest.raises(ValueError, match="purpose is required"):
            mirror.measures_for(LISTED_USCC, 0)
        assert mirror.checkpoint is not None
        cursor = mirror.cursor

        # Credit repair lifts the listing at the next sync.
        client.submit(
            transition_statement(
                client.credentials.node_id,
                first,
                S.NAME_LIST_STATE_LISTED,
                S.NAME_LIST_STATE_REPAIRED,
                reason_code=name_list_pb2.TRANSITION_REASON_REPAIR_APPROVED,
            )
        )
        assert mirror.is_listed(LISTED_USCC)  # not synced yet
        result = mirror.sync()
        assert (result.entries_added, result.transitions_applied) == (0, 1)
        assert result.cursor > cursor
        assert not mirror.is_listed(LISTED_USCC)
        assert mirror.is_listed(OTHER_USCC)
        assert mirror.entries_for(LISTED_USCC)[0].state == "NAME_LIST_STATE_REPAIRED"
        assert mirror.measures_for(LISTED_USCC, "USE_PURPOSE_BIDDING") == ()
        cursor = mirror.cursor

    # Restart from the file: memory rebuilt, nothing pulled twice.
    third = _list(client, UNLISTED_USCC)
    with NameListMirror(client, path) as mirror:
        assert mirror.cursor == cursor
        assert len(mirror) == 2
        assert not mirror.is_listed(LISTED_USCC)
        assert mirror.is_listed(OTHER_USCC)
        result = mirror.sync()
        assert (result.entries_added, result.transitions_applied, result.skipped) == (1, 0, 0)
        assert mirror.is_listed(UNLISTED_USCC)
        assert mirror.entries_for(UNLISTED_USCC)[0].entry_id == third
        assert mirror.sync().entries_added == 0
    assert _rows(path, "entries") == 3
    assert _rows(path, "statements") == 5  # with the measure list
    with sqlite3.connect(path) as db:  # payloads stay in the gateway's log by default
        assert db.execute("SELECT count(*) FROM statements WHERE payload != x''").fetchone() == (0,)
    assert _rows(path, "measure_lists") == 1

    # A read-only mirror of the file answers too.
    with NameListMirror(None, path) as offline:
        assert offline.is_listed(UNLISTED_USCC)
        assert offline.measure_list_versions("national-basic") == ("2021.1",)
        assert not offline.is_listed(LISTED_USCC)
        with pytest.raises(ValueError, match="no client"):
            offline.sync()


def test_several_entries_of_one_subject(client: Client, tmp_path: Path) -> None:
    client.publish_measure_list(load_seed_2021())
    entry_id = _list(client, LISTED_USCC)
    second = _list(client, LISTED_USCC, measures=("2",))
    client.submit(
        transition_statement(
            client.credentials.node_id,
            entry_id,
            S.NAME_LIST_STATE_LISTED,
            S.NAME_LIST_STATE_UNDER_OBJECTION,
            reason_code=name_list_pb2.TRANSITION_REASON_OBJECTION_FILED,
        )
    )
    with NameListMirror(client, tmp_path / "mirror.db", page_size=1) as mirror:
        result = mirror.sync()
        assert (result.entries_added, result.transitions_applied, result.skipped) == (2, 1, 0)
        assert mirror.is_listed(LISTED_USCC)  # measures still apply under objection
        first, last = mirror.entries_for(LISTED_USCC)
        assert (first.entry_id, last.entry_id) == (entry_id, second)
        assert first.state == "NAME_LIST_STATE_UNDER_OBJECTION"
        assert len(mirror.measures_for(LISTED_USCC, "USE_PURPOSE_GENERAL")) == 4
        client.submit(
            transition_statement(
                client.credentials.node_id,
                entry_id,
                S.NAME_LIST_STATE_UNDER_OBJECTION,
                S.NAME_LIST_STATE_REMOVED,
                reason_code=name_list_pb2.TRANSITION_REASON_OBJECTION_UPHELD,
            )
        )
        mirror.sync()
        assert mirror.is_listed(LISTED_USCC)  # the second entry still applies
        assert mirror.measures_for(LISTED_USCC, "USE_PURPOSE_GENERAL") == (
            MeasureRef("national-basic", "2021.1", "2"),
        )
        client.submit(
            transition_statement(
                client.credentials.node_id,
                second,
                S.NAME_LIST_STATE_LISTED,
                S.NAME_LIST_STATE_REPAIRED,
                reason_code=name_list_pb2.TRANSITION_REASON_REPAIR_APPROVED,
            )
        )
        mirror.sync()
        assert not mirror.is_listed(LISTED_USCC)


def test_keep_payloads_stores_each_signed_payload_as_received(
    client: Client, tmp_path: Path
) -> None:
    entry_id = _list(client, OTHER_USCC)
    path = tmp_path / "mirror.db"
    with NameListMirror(client, path, keep_payloads=True) as mirror:
        mirror.sync()
        with client.subscribe(["name-list-entry"], cursor=0, follow=False) as feed:
            entries = {e.leaf_index: e.payload for e in feed}
    with sqlite3.connect(path) as db:
        kept = dict(
            db.execute("SELECT leaf_index, payload FROM statements WHERE kind = 'name-list-entry'")
        )
    assert kept == entries
    listed = {statement_pb2.Statement.FromString(p).name_list_entry.entry_id for p in kept.values()}
    assert entry_id in listed


def test_follow_in_background(client: Client, tmp_path: Path) -> None:
    with NameListMirror(client, tmp_path / "mirror.db") as mirror:
        mirror.start()
        _list(client, OTHER_USCC)
        deadline = time.monotonic() + 20
        while not mirror.is_listed(OTHER_USCC) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mirror.is_listed(OTHER_USCC)
        mirror.stop()
    assert _rows(tmp_path / "mirror.db", "entries") == 1


def test_resumes_after_gateway_restart(
    dev: DevNode, gateway: RunningGateway, tmp_path: Path
) -> None:
    path = tmp_path / "mirror.db"
    with Client.from_credentials(dev.operator_dir) as client:
        _list(client, LISTED_USCC)
        with NameListMirror(client, path) as mirror:
            assert mirror.sync().entries_added == 1
        gateway.stop()
        gateway.start()
        _list(client, OTHER_USCC)
        with NameListMirror(client, path) as mirror:
            assert mirror.sync().entries_added == 1
            assert mirror.is_listed(LISTED_USCC)
            assert mirror.is_listed(OTHER_USCC)
    assert _rows(path, "entries") == 2


def test_duplicate_entry_ids_are_skipped_whether_in_the_file_or_in_the_same_page(
    dev: DevNode, tmp_path: Path
) -> None:
    """The fold writes a page of entries at once; an entry id seen before (in the file or
    earlier in the page) is still skipped with its reason, and rows stay contiguous.

    A gateway refuses a second entry with the same id, so these entries are signed here and
    verified by the client core as a subscription would, then folded directly."""
    import uuid
    from datetime import UTC, datetime

    from creditlink.sdk.batch import BatchItem, extract, sign_batch
    from creditlink.sdk.client._core import ClientCore
    from creditlink.sdk.credentials import Credentials
    from creditlink.sdk.envelope import payload_type_for
    from creditlink.v1 import log_pb2

    creds = Credentials.load(dev.operator_dir)
    core = ClientCore(credentials=creds, target=dev.listen)
    me, now = creds.node_id, datetime.now(UTC)
    ids = [str(uuid.uuid4()) for _ in range(4)]
    # (entry id, subject) in log order: B's id again in page 2 (already in the file); D twice
    # in page 3.
    plan = [
        (ids[0], LISTED_USCC),
        (ids[1], OTHER_USCC),
        (ids[1], UNLISTED_USCC),
        (ids[2], UNLISTED_USCC),
        (ids[3], "91330100MA27XL0A6Q"),
        (ids[3], "91310115MA1K3BTP2B"),
    ]
    items = [
        BatchItem(
            entry_statement(me, uscc=uscc, entry_id=entry_id).SerializeToString(deterministic=True),
            payload_type_for("name-list-entry"),
        )
        for entry_id, uscc in plan
    ]
    batch = sign_batch(items, creds.signing_key, signer_node_id=me, batch_id="b-1", signed_at=now)
    entries = []
    for index in range(len(items)):
        pb = log_pb2.LogEntry(
            leaf_index=index, sender_node_id=me, batched=extract(batch, index).to_proto()
        )
        pb.integrated_at.FromDatetime(now)
        entries.append(core.verify_entry(pb))

    path = tmp_path / "mirror.db"
    with NameListMirror(None, path) as mirror:
        counts = [0, 0, 0]
        for page in (entries[0:2], entries[2:4], entries[4:6]):
            mirror._db.execute("BEGIN IMMEDIATE")
            for entry in page:
                mirror._apply(entry, counts)
            mirror._flush_entries()
            mirror._commit(page[-1].leaf_index + 1, None)
        assert counts == [4, 0, 2]
        assert len(mirror) == 4
        assert mirror.is_listed(LISTED_USCC)
        assert mirror.is_listed(OTHER_USCC)
        assert mirror.is_listed(UNLISTED_USCC)
        assert mirror.is_listed("91330100MA27XL0A6Q")
        assert not mirror.is_listed("91310115MA1K3BTP2B")
        assert mirror.entries_for(UNLISTED_USCC)[0].entry_id == ids[2]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT row, entry_id FROM entries ORDER BY row").fetchall() == [
            (0, ids[0]),
            (1, ids[1]),
            (2, ids[2]),
            (3, ids[3]),
        ]
        skipped = db.execute(
            "SELECT leaf_index, note FROM statements WHERE applied = 0 ORDER BY leaf_index"
        ).fetchall()
    assert skipped == [
        (2, f"entry {ids[1]} exists already"),
        (5, f"entry {ids[3]} exists already"),
    ]
    with NameListMirror(None, path) as reloaded:  # the file alone gives the same answers
        assert len(reloaded) == 4
        assert not reloaded.is_listed("91310115MA1K3BTP2B")


def test_the_in_memory_id_index_finds_every_row_and_nothing_else() -> None:
    """The id index replaces the file's UNIQUE index: every id finds its row through growth
    and a rebuild, and an id not there finds nothing."""
    import random
    import uuid

    from creditlink.sdk.mirror import _IdIndex, _pack_id

    rng = random.Random(5)
    ids = bytearray()
    index = _IdIndex(ids)
    packed = [_pack_id(str(uuid.UUID(int=rng.getrandbits(128), version=4))) for _ in range(5000)]
    for row, one in enumerate(packed):
        assert index.find(one) is None
        ids += one
        index.add(one, row)
    rebuilt = _IdIndex(ids, len(packed))
    for row, one in enumerate(packed):
        assert index.find(one) == row
        assert rebuilt.find(one) == row
    absent = _pack_id(str(uuid.UUID(int=rng.getrandbits(128), version=4)))
    assert index.find(absent) is None
    assert rebuilt.find(absent) is None


def test_a_stop_before_the_live_phase_starts_ends_it(client: Client, tmp_path: Path) -> None:
    """stop() between follow()'s catch-up and its live subscription finds no subscription to
    close; the live phase must see the stop itself instead of following forever."""
    import threading

    with NameListMirror(client, tmp_path / "mirror.db") as mirror:
        mirror.sync()
        mirror._stopping.set()  # as stop() leaves it, before the live subscription exists
        live = threading.Thread(target=mirror.sync, kwargs={"until_head": False}, daemon=True)
        live.start()
        live.join(10)
        assert not live.is_alive(), "the live phase kept following after stop()"
