"""Name-list entries and their lifecycle, projected by a real ledger into real stores.

The handlers run inside the ledger's append (as in a gateway): an entry and its responsible
persons' personal entries appear with the statement that lists them, each transition moves
all of them together with one event each (who and why), and a refused statement logs nothing.
The lifecycle table is checked exhaustively, three ways: the pure function, the handler on a
real store, and the contract's own rule (protovalidate on ``NameListTransition``).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import protovalidate
import pytest

from creditlink.gateway.domain.handlers.name_lists import (
    ACTIVE_STATES,
    ALLOWED_TRANSITIONS,
    ENTRY_KIND,
    PERSONAL_KIND,
    TERMINAL_STATES,
    apply_transition,
    body_of,
    entry_object,
    in_force,
    name_list_handlers,
    personal_object_id,
    replay,
    state_at,
    transition,
)
from creditlink.gateway.domain.projection import Logged, Projection, View
from creditlink.gateway.ledger import Acknowledgement, Ledger, LedgerEntry, Submission
from creditlink.gateway.store import DomainObject, Store
from creditlink.sdk import envelope as dsse
from creditlink.sdk.errors import CreditlinkError
from creditlink.sdk.keys import PrivateKey
from creditlink.sdk.tlog import NoteSigner
from creditlink.v1 import name_list_pb2, statement_pb2
from tests.gateway.listings import (
    CONTROLLER,
    LEGAL_REP,
    LISTED_USCC,
    entry_statement,
    person_token,
    transition_statement,
)

ORIGIN = "creditlink.test/cn-hub"
HUB_OP, OTHER_OP = "cn-hub-operator", "gd-440000-operator"
S = name_list_pb2.NameListState
STATES = [S.Name(v) for v in S.values() if v]
L, UO, R = "NAME_LIST_STATE_LISTED", "NAME_LIST_STATE_UNDER_OBJECTION", "NAME_LIST_STATE_RECTIFYING"
REP, REM, EXP = "NAME_LIST_STATE_REPAIRED", "NAME_LIST_STATE_REMOVED", "NAME_LIST_STATE_EXPIRED"


class Clock:
    """The ledger's clock, moved by the tests (listing periods end)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def submission(body: statement_pb2.Statement) -> Submission:
    kind = (body.WhichOneof("body") or "").replace("_", "-")
    payload = body.SerializeToString()
    entry = LedgerEntry(
        message_id=body.header.message_id,
        kind=kind,
        sender_node_id=body.header.sender_node_id,
        payload_type=dsse.payload_type_for(kind),
        payload=payload,
        envelope=b"env",
    )
    return Submission(
        message_id=body.header.message_id,
        request_digest=hashlib.sha256(payload).digest(),
        sender_node_id=body.header.sender_node_id,
        payload_type=entry.payload_type,
        payload_digest=hashlib.sha256(payload).digest(),
        entries=[entry],
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(store: Store, clock: Clock) -> Ledger:
    return Ledger(
        store=store,
        node_id="cn-hub",
        origin=ORIGIN,
        signing_key=PrivateKey.from_seed(b"s" * 32),
        checkpoint_signer=NoteSigner.from_seed(ORIGIN, b"n" * 32),
        clock=clock,
        projector=Projection(name_list_handlers(), log_origin=ORIGIN),
    )


async def log(ledger: Ledger, *bodies: statement_pb2.Statement) -> list[Acknowledgement]:
    return await ledger.append([submission(b) for b in bodies])


async def accepted(ledger: Ledger, *bodies: statement_pb2.Statement) -> None:
    for ack in await log(ledger, *bodies):
        assert ack.error is None, ack.error


async def refused(ledger: Ledger, body: statement_pb2.Statement) -> CreditlinkError:
    (ack,) = await log(ledger, body)
    assert ack.error is not None
    return ack.error


def move(entry_id: str, src: str, dst: str, **kw: object) -> statement_pb2.Statement:
    return transition_statement(HUB_OP, entry_id, S.Value(src), S.Value(dst), **kw)  # type: ignore[arg-type]


async def entry(store: Store, entry_id: str) -> DomainObject:
    found = await store.get_object(ENTRY_KIND, entry_id)
    assert found is not None
    return found


# -- listing ----------------------------------------------------------------------------------


async def test_a_listing_creates_the_entry_and_the_personal_entries(
    ledger: Ledger, store: Store
) -> None:
    body = entry_statement(
        HUB_OP,
        persons=[
            (LEGAL_REP, name_list_pb2.RESPONSIBLE_ROLE_LEGAL_REPRESENTATIVE),
            (CONTROLLER, name_list_pb2.RESPONSIBLE_ROLE_ACTUAL_CONTROLLER),
            (LEGAL_REP, name_list_pb2.RESPONSIBLE_ROLE_PRINCIPAL_RESPONSIBLE_PERSON),
        ],
    )
    await accepted(ledger, body)
    listed = body.name_list_entry
    obj = await entry(store, listed.entry_id)
    assert (obj.state, obj.subject_key, obj.origin_node_id) == (L, LISTED_USCC, HUB_OP)
    assert (obj.created_leaf, obj.leaf_index, obj.log_origin) == (0, 0, ORIGIN)
    assert obj.due_date == "2029-03-08"  # the last day of the listing
    assert obj.flags == frozenset()
    assert obj.attrs == {
        "list_type": "NAME_LIST_TYPE_SERIOUS_UNTRUSTWORTHY",
        "list_code": "",
        "region_code": "100000",
        "authority_uscc": listed.determining_authority.uscc,
        "determination_date": "2026-03-06",
        "listing_start": "2026-03-09",
        "listing_end": "2029-03-08",
        "persons": 3,
        "last_reason": "",
    }
    stored = body_of(obj)
    assert stored == listed  # the statement's entry, as signed (LISTED, no transitions)

    # One personal entry per person token, keyed by token only, with every role it holds.
    rep = await store.get_object(PERSONAL_KIND, personal_object_id(listed.entry_id, LEGAL_REP))
    ctl = await store.get_object(PERSONAL_KIND, personal_object_id(listed.entry_id, CONTROLLER))
    assert rep is not None
    assert ctl is not None
    assert (rep.subject_key, rep.state, rep.body) == (LEGAL_REP, L, obj.body)
    assert rep.attrs["roles"] == [
        "RESPONSIBLE_ROLE_LEGAL_REPRESENTATIVE",
        "RESPONSIBLE_ROLE_PRINCIPAL_RESPONSIBLE_PERSON",
    ]
    assert ctl.attrs["roles"] == ["RESPONSIBLE_ROLE_ACTUAL_CONTROLLER"]
    assert LISTED_USCC not in repr(rep.attrs)  # a person's record names the person by token
    (event,) = await store.object_events(ENTRY_KIND, listed.entry_id)
    assert (event.action, event.actor_node_id, event.leaf_index) == ("LISTED", HUB_OP, 0)
    assert event.reason == listed.reason
    assert len(await store.object_events(PERSONAL_KIND, rep.object_id)) == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda e: setattr(e, "state", name_list_pb2.NAME_LIST_STATE_RECTIFYING),
            "INVALID_INITIAL_STATE",
        ),
        (
            lambda e: e.transitions.add(entry_id=e.entry_id, from_state=1, to_state=4),
            "INVALID_INITIAL_STATE",
        ),
        (
            lambda e: setattr(e.listing_start, "day", 31) or setattr(e.listing_start, "month", 2),
            "INVALID_DATE",
        ),
        (lambda e: e.listing_end.CopyFrom(e.determination_date), "INVALID_LISTING_PERIOD"),
    ],
    ids=["not-listed", "with-transitions", "february-31", "ends-before-start"],
)
async def test_a_listing_that_is_not_a_fresh_one_is_refused(
    ledger: Ledger, store: Store, change: object, reason: str
) -> None:
    body = entry_statement(HUB_OP)
    change(body.name_list_entry)  # type: ignore[operator]
    assert (await refused(ledger, body)).reason == reason
    assert (await store.head()).size == 0
    assert await store.get_object(ENTRY_KIND, body.name_list_entry.entry_id) is None


async def test_an_entry_id_is_used_once(ledger: Ledger, store: Store) -> None:
    first = entry_statement(HUB_OP)
    await accepted(ledger, first)
    again = entry_statement(
        HUB_OP, entry_id=first.name_list_entry.entry_id, uscc="91110000600037341L"
    )
    assert (await refused(ledger, again)).reason == "NAME_LIST_ENTRY_EXISTS"
    assert (await entry(store, first.name_list_entry.entry_id)).subject_key == LISTED_USCC


# -- the lifecycle, exhaustively --------------------------------------------------------------


#: How each state is reached from LISTED.
PATHS: dict[str, Sequence[str]] = {L: (), UO: (UO,), R: (R,), REP: (REP,), REM: (REM,), EXP: (EXP,)}


def contract_allows(src: str, dst: str) -> bool:
    """What the contract's CEL rule on NameListTransition says (run by protovalidate)."""
    change = transition_statement(HUB_OP, "01J0000000000000000000000A", S.Value(src), S.Value(dst))
    violations = protovalidate.collect_violations(change.name_list_transition)
    return not any(v.proto.rule_id == "name_list_transition.allowed" for v in violations)


def test_the_table_is_the_contracts_rule() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(STATES)
    assert set(ALLOWED_TRANSITIONS) == ACTIVE_STATES | TERMINAL_STATES
    for src, dst in itertools.product(STATES, STATES):
        assert (dst in ALLOWED_TRANSITIONS[src]) == contract_allows(src, dst), (src, dst)
    # The rules in words: terminal states go nowhere, a move changes the state, only
    # UNDER_OBJECTION and RECTIFYING return to LISTED.
    assert all(not ALLOWED_TRANSITIONS[t] for t in TERMINAL_STATES)
    assert all(s not in ALLOWED_TRANSITIONS[s] for s in STATES)
    assert {s for s in STATES if L in ALLOWED_TRANSITIONS[s]} == {UO, R}


def logged_as(
    body: statement_pb2.Statement, leaf: int, at: datetime, sender: str = HUB_OP
) -> Logged:
    return Logged(
        statement=body,
        kind=(body.WhichOneof("body") or "").replace("_", "-"),
        message_id=body.header.message_id,
        sender_node_id=sender,
        log_origin=ORIGIN,
        leaf_index=leaf,
        at=at,
    )


@pytest.mark.parametrize(("src", "dst"), list(itertools.product(STATES, STATES)))
def test_transition_allows_exactly_the_table(src: str, dst: str) -> None:
    at = datetime(2026, 4, 1, tzinfo=UTC)
    created = entry_statement(HUB_OP)
    obj = entry_object(created.name_list_entry, logged_as(created, 0, at))
    for leaf, step in enumerate(PATHS[src], start=1):
        obj = transition(obj, step, logged_as(move(obj.object_id, obj.state, step), leaf, at), "x")
    assert obj.state == src
    body = move(obj.object_id, src, dst)
    if dst in ALLOWED_TRANSITIONS[src]:
        moved = transition(
            obj, dst, logged_as(body, 9, at), "why", change=body.name_list_transition
        )
        assert moved.state == dst
        assert body_of(moved).transitions[-1] == body.name_list_transition
    else:
        with pytest.raises(CreditlinkError) as caught:
            transition(obj, dst, logged_as(body, 9, at), "why")
        assert caught.value.reason == "INVALID_TRANSITION"


async def test_the_handler_applies_the_table_on_a_real_store(ledger: Ledger, store: Store) -> None:
    outcomes: dict[tuple[str, str], str | None] = {}
    for src, dst in itertools.product(STATES, STATES):
        created = entry_statement(HUB_OP)
        entry_id = created.name_list_entry.entry_id
        await accepted(ledger, created)
        state = L
        for step in PATHS[src]:
            await accepted(ledger, move(entry_id, state, step))
            state = step
        (ack,) = await log(ledger, move(entry_id, src, dst))
        outcomes[src, dst] = ack.error.reason if ack.error else None
        assert (await entry(store, entry_id)).state == (dst if ack.error is None else src)
    assert outcomes == {
        (src, dst): None if dst in ALLOWED_TRANSITIONS[src] else "INVALID_TRANSITION"
        for src, dst in itertools.product(STATES, STATES)
    }


# -- transitions: who, why, from which state -------------------------------------------------


async def test_each_transition_moves_the_personal_entries_and_says_who_and_why(
    ledger: Ledger, store: Store
) -> None:
    created = entry_statement(HUB_OP)
    entry_id = created.name_list_entry.entry_id
    objection = move(
        entry_id,
        L,
        UO,
        reason_code=name_list_pb2.TRANSITION_REASON_OBJECTION_FILED,
        reason="异议受理",
    )
    rectify = move(
        entry_id,
        UO,
        R,
        reason_code=name_list_pb2.TRANSITION_REASON_RECTIFICATION_STARTED,
        reason="限期整改",
        deadline="2026-04-30",
    )
    repaired = move(entry_id, R, REP, reason_code=name_list_pb2.TRANSITION_REASON_REPAIR_APPROVED)
    await accepted(ledger, created, objection)  # one append: the transition sees the entry
    disputed = await entry(store, entry_id)
    assert (disputed.state, disputed.flags) == (UO, frozenset({"disputed"}))
    await accepted(ledger, rectify)
    obj = await entry(store, entry_id)
    assert (obj.state, obj.flags, obj.due_date) == (R, frozenset(), "2026-04-30")
    assert obj.attrs["last_reason"] == "TRANSITION_REASON_RECTIFICATION_STARTED"
    await accepted(ledger, repaired)
    obj = await entry(store, entry_id)
    assert (obj.state, obj.due_date, obj.created_leaf, obj.leaf_index) == (REP, None, 0, 3)
    body = body_of(obj)
    assert body.state == name_list_pb2.NAME_LIST_STATE_REPAIRED
    assert list(body.transitions) == [
        objection.name_list_transition,
        rectify.name_list_transition,
        repaired.name_list_transition,
    ]
    events = await store.object_events(ENTRY_KIND, entry_id)
    assert [(e.action, e.actor_node_id, e.leaf_index) for e in events] == [
        ("LISTED", HUB_OP, 0),
        ("LISTED->UNDER_OBJECTION", HUB_OP, 1),
        ("UNDER_OBJECTION->RECTIFYING", HUB_OP, 2),
        ("RECTIFYING->REPAIRED", HUB_OP, 3),
    ]
    assert events[1].reason == "TRANSITION_REASON_OBJECTION_FILED: 异议受理"
    personal = await store.get_object(PERSONAL_KIND, personal_object_id(entry_id, LEGAL_REP))
    assert personal is not None
    assert (personal.state, personal.body, personal.leaf_index) == (REP, obj.body, 3)
    assert len(await store.object_events(PERSONAL_KIND, personal.object_id)) == 4


@pytest.mark.parametrize(
    ("sender", "src", "reason"),
    [
        (OTHER_OP, L, "PERMISSION_DENIED_DETERMINER"),
        (HUB_OP, UO, "FROM_STATE_MISMATCH"),
    ],
    ids=["another-node", "stale-from-state"],
)
async def test_a_transition_must_come_from_the_determiner_and_the_current_state(
    ledger: Ledger, store: Store, sender: str, src: str, reason: str
) -> None:
    created = entry_statement(HUB_OP)
    entry_id = created.name_list_entry.entry_id
    await accepted(ledger, created)
    change = transition_statement(sender, entry_id, S.Value(src), S.Value(REM))  # type: ignore[arg-type]
    assert (await refused(ledger, change)).reason == reason
    assert (await entry(store, entry_id)).state == L
    assert (await store.head()).size == 1


async def test_a_transition_of_an_unknown_entry_is_refused(ledger: Ledger) -> None:
    change = move("01J0000000000000000000000A", L, REM)
    assert (await refused(ledger, change)).reason == "NAME_LIST_ENTRY_NOT_FOUND"


# -- expiry is derived -----------------------------------------------------------------------


async def test_an_entry_past_its_listing_end_reads_as_expired(
    ledger: Ledger, store: Store, clock: Clock
) -> None:
    created = entry_statement(HUB_OP, start="2026-03-09", end="2026-03-31")
    entry_id = created.name_list_entry.entry_id
    await accepted(ledger, created)
    body = body_of(await entry(store, entry_id))
    last_day = datetime(2026, 3, 31, 15, 59, tzinfo=UTC)  # 23:59 in Beijing
    assert state_at(body, last_day) == L
    assert in_force(body, last_day)
    assert state_at(body, last_day + timedelta(minutes=1)) == EXP  # 1 April, Beijing
    assert not in_force(body, last_day + timedelta(minutes=1))
    assert not in_force(body, datetime(2026, 3, 8, 15, 59, tzinfo=UTC))  # not started yet

    # Once expired, only recording the expiry is accepted; the stored state stays LISTED.
    clock.now = datetime(2026, 4, 2, tzinfo=UTC)
    assert (await refused(ledger, move(entry_id, L, REP))).reason == "INVALID_TRANSITION"
    assert (await entry(store, entry_id)).state == L
    await accepted(
        ledger, move(entry_id, L, EXP, reason_code=name_list_pb2.TRANSITION_REASON_PERIOD_ENDED)
    )
    assert (await entry(store, entry_id)).state == EXP


def test_state_at_follows_the_transitions_in_effect() -> None:
    created = entry_statement(HUB_OP)
    at = datetime(2026, 4, 1, tzinfo=UTC)
    obj = entry_object(created.name_list_entry, logged_as(created, 0, at))
    later = at + timedelta(days=10)
    change = move(obj.object_id, L, REP, effective_at=later)
    obj = transition(
        obj, REP, logged_as(change, 1, at), "repaired", change=change.name_list_transition
    )
    body = body_of(obj)
    # Logged now, in effect in ten days: checks before then still see the entry in force.
    assert state_at(body, at) == L
    assert in_force(body, later - timedelta(seconds=1))
    assert state_at(body, later) == REP
    assert not in_force(body, later)


# -- other statement kinds and mirrored entries use the same lifecycle -----------------------


async def test_another_handler_moves_an_entry_with_apply_transition(store: Store) -> None:
    at = datetime(2026, 4, 1, tzinfo=UTC)
    created = entry_statement(HUB_OP)
    obj = entry_object(created.name_list_entry, logged_as(created, 0, at))
    view = View({obj.key: obj})
    objection = statement_pb2.Statement()  # e.g. an objection statement, by another node
    objection.header.message_id = "01J0000000000000000000000B"
    logged = logged_as(objection, 5, at, sender=OTHER_OP)
    moved = apply_transition(
        view,
        obj,
        name_list_pb2.NAME_LIST_STATE_UNDER_OBJECTION,
        logged,
        "异议受理，核查中",
        reason_code=name_list_pb2.TRANSITION_REASON_OBJECTION_FILED,
        related_id="01J0000000000000000000000C",
    )
    assert (moved.state, moved.flags) == (UO, frozenset({"disputed"}))
    recorded = body_of(moved).transitions[-1]
    assert recorded.related_id == "01J0000000000000000000000C"
    assert recorded.effective_at.ToDatetime(tzinfo=UTC) == at
    changes = view.changes()
    assert {o.kind for o in changes.objects} == {ENTRY_KIND, PERSONAL_KIND}
    assert {(e.kind, e.actor_node_id, e.leaf_index) for e in changes.events} == {
        (ENTRY_KIND, OTHER_OP, 5),
        (PERSONAL_KIND, OTHER_OP, 5),
    }
    with pytest.raises(CreditlinkError, match="already"):
        apply_transition(view, moved, UO, logged, "twice")
    # ... the written objects land in the store as any handler's do.
    async with store.transaction() as tx:
        await tx.apply_domain(changes)
    stored = await store.get_object(ENTRY_KIND, obj.object_id)
    assert stored is not None
    assert stored.state == UO


def test_replay_folds_mirrored_statements_and_skips_what_the_origin_refused() -> None:
    at = datetime(2026, 4, 1, tzinfo=UTC)
    created = entry_statement(HUB_OP)
    entry_id = created.name_list_entry.entry_id
    statements = [
        logged_as(move(entry_id, L, UO), 1, at),
        logged_as(move(entry_id, L, REM), 2, at),  # stale from_state
        logged_as(transition_statement(OTHER_OP, entry_id, 2, 5), 3, at, sender=OTHER_OP),
        logged_as(move(entry_id, UO, L), 4, at),
        logged_as(move("01J0000000000000000000000A", L, REM), 5, at),  # another entry
        logged_as(move(entry_id, L, REP), 6, at),
        logged_as(move(entry_id, REP, L), 7, at),  # out of a terminal state
    ]
    folded = replay(logged_as(created, 0, at), statements)
    assert folded.state == REP
    assert folded.leaf_index == 6
    assert [t.to_state for t in body_of(folded).transitions] == [
        S.Value(UO),
        S.Value(L),
        S.Value(REP),
    ]
    assert person_token("x").startswith("pn1:")
