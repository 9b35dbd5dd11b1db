"""The feed follower end to end: a real hub and a real regional gateway on loopback.

The hub's operator publishes name-list entries and measure lists at the hub (signed, sealed
and submitted like any producer does); Zhejiang, whose configuration names the hub as its
upstream, mirrors them into its store after verifying each one, resumes after a restart
without gaps or duplicates, and installs the trust bundle versions the hub adopts.

A dishonest hub is played by a man in the middle (:class:`Mitm`): a gRPC server holding the
hub's certificate and checkpoint key that passes the real hub's answers through and alters them
on demand (a tampered entry, a forked checkpoint, a badly signed trust bundle). That is the
transport boundary; the follower, the stores and both gateways are real.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.rpc import error_details_pb2, status_pb2

from creditlink.cli.dev import node_config
from creditlink.cli.status import feed_status
from creditlink.gateway.bootstrap import DevFederation, create_dev_federation, log_origin_for
from creditlink.gateway.config import Upstream
from creditlink.gateway.domain.measures import list_object_id
from creditlink.gateway.feed import DEFAULT_FEED_KINDS, FeedOptions, object_id_of, subject_key_of
from creditlink.gateway.node import ForwardingOptions, GatewayNode
from creditlink.gateway.services._list_reads import ProvenanceBuilder
from creditlink.gateway.store import FeedEntry, sqlite_url
from creditlink.sdk import envelope as dsse
from creditlink.sdk.batch import BatchedEnvelope, sign_batch, verify_batched
from creditlink.sdk.credentials import Credentials, read_trust_bundle
from creditlink.sdk.errors import InvalidTrustBundle
from creditlink.sdk.keys import PrivateKey, load_private_key
from creditlink.sdk.seal import (
    ENVELOPE_CONTENT_TYPE,
    SIGNED_BATCH_CONTENT_TYPE,
    Recipient,
    seal,
)
from creditlink.sdk.tlog import (
    Checkpoint,
    NoteVerifier,
    sign_note,
    verify_checkpoint,
    verify_inclusion,
)
from creditlink.sdk.trust import Action, TrustBundle, TrustBundleBuilder
from creditlink.v1 import (
    common_pb2,
    exchange_service_pb2,
    exchange_service_pb2_grpc,
    federation_service_pb2,
    federation_service_pb2_grpc,
    log_pb2,
    measure_pb2,
    name_list_pb2,
    statement_pb2,
)
from tests.gateway.listings import transition_statement
from tests.gateway.statements import penalty_record, statement
from tests.gateway.test_forwarding import _free_base_port, until

HUB, ZJ = "cn-hub", "zj-330000"
LISTED_USCC = "91330100MA27XL0A6Q"
FAST_FORWARDING = ForwardingOptions(
    min_backoff=0.05, max_backoff=0.3, attempt_timeout=3.0, poll_interval=0.2
)
# batch_size 2: catch-ups of three entries or more are verified and written in several steps.
FAST_FEED = FeedOptions(
    min_backoff=0.05,
    max_backoff=0.3,
    permanent_backoff=30.0,
    call_timeout=3.0,
    anchor_interval=0.1,
    batch_size=2,
)


# -- statements the hub publishes ------------------------------------------------------------


def _header(out: statement_pb2.Statement, sender: str) -> None:
    # Broadcast kinds name no recipients: the whole federation may read them.
    out.header.message_id = str(uuid.uuid4())
    out.header.sender_node_id = sender
    out.header.created_at.FromDatetime(datetime.now(UTC))
    out.header.request_id = str(uuid.uuid4())


def name_list_entry(sender: str, *, uscc: str = LISTED_USCC) -> statement_pb2.Statement:
    """A serious-untrustworthy listing determined by Zhejiang's market regulator."""
    out = statement_pb2.Statement()
    _header(out, sender)
    entry: name_list_pb2.NameListEntry = out.name_list_entry
    entry.entry_id = str(uuid.uuid4())
    entry.list_type = name_list_pb2.NAME_LIST_TYPE_SERIOUS_UNTRUSTWORTHY
    entry.list_legal_basis.add(law="《市场监督管理严重违法失信名单管理办法》", article="第二条")
    entry.subject.uscc = uscc
    entry.subject.kind = common_pb2.SUBJECT_KIND_LEGAL_PERSON
    entry.subject.display_name = "杭州某某科技有限公司"
    entry.determining_authority.name = "杭州市市场监督管理局"
    entry.determining_authority.uscc = "11330100MB183543XG"
    entry.determining_authority.region_code = "330100"
    entry.determination_date.year, entry.determination_date.month = 2026, 3
    entry.determination_date.day = 2
    entry.basis.add(document_number="杭市监罚〔2026〕12号")
    entry.reason = "因虚假宣传受到较重行政处罚。"
    entry.listing_start.year, entry.listing_start.month, entry.listing_start.day = 2026, 3, 9
    entry.region_code = "330100"
    entry.state = name_list_pb2.NAME_LIST_STATE_LISTED
    return out


def measure_list(sender: str, *, version: str = "2021") -> statement_pb2.Statement:
    """A version of the national basic list of joint punishment measures."""
    out = statement_pb2.Statement()
    _header(out, sender)
    lst: measure_pb2.MeasureList = out.measure_list
    lst.list_id = "national-basic"
    lst.version = version
    lst.title = "全国失信惩戒措施基础清单（2021年版）"
    lst.effective_date.year, lst.effective_date.month, lst.effective_date.day = 2022, 1, 1
    lst.document_number = "发改财金规〔2021〕1827号"
    lst.issuing_authorities.add(
        name="国家发展和改革委员会", uscc="11100000000013055L", region_code="100000"
    )
    lst.region_code = "100000"
    measure = lst.measures.add(
        measure_id="1",
        category=measure_pb2.MEASURE_CATEGORY_RESTRICTING_RIGHTS,
        title="限制参与政府采购",
        content="依法限制失信主体参与政府采购活动。",
        implementing_authorities=["各级财政部门"],
    )
    measure.targets.append(measure_pb2.MEASURE_TARGET_SUBJECT)
    measure.legal_basis.add(law="《中华人民共和国政府采购法》", article="第二十二条")
    return out


def kind_of(body: statement_pb2.Statement) -> str:
    return (body.WhichOneof("body") or "").replace("_", "-")


def _sealed(operator: Credentials, content: bytes, content_type: str) -> bytes:
    key = operator.trust_bundle.sealing_key(HUB, at=datetime.now(UTC)).public_key
    return seal(
        content,
        content_type=content_type,
        sender_node_id=operator.node_id,
        recipients=[Recipient(node_id=HUB, key=key)],  # type: ignore[arg-type]
    ).to_bytes()


async def publish(
    directory: DevFederation, *bodies: statement_pb2.Statement, batch: bool = False
) -> None:
    """The hub's operator submits ``bodies`` to the hub: one by one, or as one signed batch."""
    operator = directory.node(HUB).operator
    if batch:
        signed = sign_batch(
            [(b.SerializeToString(), dsse.payload_type_for(kind_of(b))) for b in bodies],
            operator.signing_key,
            signer_node_id=operator.node_id,
            batch_id=str(uuid.uuid4()),
            signed_at=datetime.now(UTC) - timedelta(seconds=1),
        )
        sealed = [_sealed(operator, signed.to_bytes(), SIGNED_BATCH_CONTENT_TYPE)]
    else:
        sealed = [
            _sealed(
                operator,
                dsse.sign(
                    b.SerializeToString(),
                    dsse.payload_type_for(kind_of(b)),
                    [operator.signing_key],
                ).to_bytes(),
                ENVELOPE_CONTENT_TYPE,
            )
            for b in bodies
        ]
    endpoint = directory.node(HUB).endpoint
    async with grpc.aio.secure_channel(endpoint, operator.channel_credentials()) as channel:
        stub = exchange_service_pb2_grpc.ExchangeServiceStub(channel)
        for data in sealed:
            request = exchange_service_pb2.SubmitRequest(request_id=str(uuid.uuid4()))
            request.sealed.ParseFromString(data)
            await stub.Submit(request, timeout=10)


# -- a man in the middle, holding the hub's certificate ---------------------------------------


@dataclass
class Mitm(
    exchange_service_pb2_grpc.ExchangeServiceServicer,
    federation_service_pb2_grpc.FederationServiceServicer,
):
    """Passes calls to the real hub (as Zhejiang) and alters the answers the tests ask for."""

    hub_endpoint: str
    client: Credentials
    #: Called on every Subscribe message; returns the message to send on.
    on_subscribe: Callable[[exchange_service_pb2.SubscribeResponse], Any] | None = None
    #: Replaces the checkpoint of GetConsistencyProof answers when set.
    forge_consistency: Callable[[log_pb2.SignedCheckpoint], log_pb2.SignedCheckpoint] | None = None
    #: WatchTrustBundle answers these instead of the hub's (then stays silent).
    bundles: list[federation_service_pb2.WatchTrustBundleResponse] | None = None
    #: Every Subscribe call refused with this status instead of reaching the hub.
    refuse: grpc.StatusCode | None = None
    #: The next this many GetInclusionProof calls answer as the hub does once its log has
    #: grown past the size asked for.
    inclusion_misses: int = 0
    calls: list[str] = field(default_factory=list)

    def _channel(self) -> grpc.aio.Channel:
        return grpc.aio.secure_channel(self.hub_endpoint, self.client.channel_credentials())

    async def _relay(self, call: Any, context: Any) -> Any:
        try:
            return await call
        except grpc.aio.AioRpcError as exc:
            # Keep the hub's ErrorInfo (grpc-status-details-bin): the follower reads reasons.
            await context.abort(
                exc.code(), exc.details() or "", trailing_metadata=exc.trailing_metadata()
            )

    async def Subscribe(
        self, request: exchange_service_pb2.SubscribeRequest, context: Any
    ) -> AsyncIterator[exchange_service_pb2.SubscribeResponse]:
        self.calls.append("Subscribe")
        if self.refuse is not None:
            await context.abort(self.refuse, "refused by the test")
        async with self._channel() as channel:
            stub = exchange_service_pb2_grpc.ExchangeServiceStub(channel)
            async for response in stub.Subscribe(request):
                yield self.on_subscribe(response) if self.on_subscribe else response

    async def GetCheckpoint(
        self, request: exchange_service_pb2.GetCheckpointRequest, context: Any
    ) -> exchange_service_pb2.GetCheckpointResponse:
        self.calls.append("GetCheckpoint")
        async with self._channel() as channel:
            stub = exchange_service_pb2_grpc.ExchangeServiceStub(channel)
            response: exchange_service_pb2.GetCheckpointResponse = await self._relay(
                stub.GetCheckpoint(request), context
            )
            return response

    async def GetConsistencyProof(
        self, request: exchange_service_pb2.GetConsistencyProofRequest, context: Any
    ) -> exchange_service_pb2.GetConsistencyProofResponse:
        self.calls.append("GetConsistencyProof")
        async with self._channel() as channel:
            stub = exchange_service_pb2_grpc.ExchangeServiceStub(channel)
            response: exchange_service_pb2.GetConsistencyProofResponse = await self._relay(
                stub.GetConsistencyProof(request), context
            )
        if self.forge_consistency is not None:
            response.checkpoint.CopyFrom(self.forge_consistency(response.checkpoint))
        return response

    async def GetInclusionProof(
        self, request: exchange_service_pb2.GetInclusionProofRequest, context: Any
    ) -> exchange_service_pb2.GetInclusionProofResponse:
        self.calls.append("GetInclusionProof")
        if self.inclusion_misses > 0:
            self.inclusion_misses -= 1
            info = error_details_pb2.ErrorInfo(
                reason="CHECKPOINT_NOT_FOUND", domain="creditlink.v1"
            )
            status = status_pb2.Status(code=grpc.StatusCode.NOT_FOUND.value[0], message="moved")
            status.details.add().Pack(info)
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                "no signed checkpoint for this tree size is kept",
                trailing_metadata=(("grpc-status-details-bin", status.SerializeToString()),),
            )
        async with self._channel() as channel:
            stub = exchange_service_pb2_grpc.ExchangeServiceStub(channel)
            response: exchange_service_pb2.GetInclusionProofResponse = await self._relay(
                stub.GetInclusionProof(request), context
            )
            return response

    async def WatchTrustBundle(
        self, request: federation_service_pb2.WatchTrustBundleRequest, context: Any
    ) -> AsyncIterator[federation_service_pb2.WatchTrustBundleResponse]:
        self.calls.append("WatchTrustBundle")
        for response in self.bundles or ():
            yield response
        await asyncio.Event().wait()  # a watch stays open


# -- the federation: a hub and Zhejiang -------------------------------------------------------


@dataclass
class Setup:
    directory: DevFederation
    hub: GatewayNode
    region: GatewayNode | None = None
    mitm: Mitm | None = None
    mitm_endpoint: str = ""
    servers: list[grpc.aio.Server] = field(default_factory=list)
    #: Zhejiang's store, when not the default SQLite file in its data directory.
    region_store_url: str = ""

    async def start_region(self, *, through_mitm: bool = False) -> GatewayNode:
        """Start Zhejiang, following the hub (or the man in the middle)."""
        config = node_config(self.directory, ZJ)
        if self.region_store_url:
            config = replace(config, store_url=self.region_store_url)
        if through_mitm:
            upstream = Upstream(endpoint=self.mitm_endpoint, node_id=HUB)
            config = replace(config, upstream=upstream)
        node = GatewayNode(
            config,
            self.directory.node(ZJ).credentials,
            forwarding=FAST_FORWARDING,
            feed=FAST_FEED,
        )
        await node.start()
        self.region = node
        return node

    async def stop_region(self) -> None:
        region, self.region = self.region, None
        if region is not None:
            await region.stop(0)

    async def start_mitm(self) -> Mitm:
        """Serve a :class:`Mitm` with the hub's certificate on a free loopback port."""
        mitm = Mitm(
            hub_endpoint=self.directory.node(HUB).endpoint,
            client=self.directory.node(ZJ).credentials,
        )
        server = grpc.aio.server()
        exchange_service_pb2_grpc.add_ExchangeServiceServicer_to_server(mitm, server)
        federation_service_pb2_grpc.add_FederationServiceServicer_to_server(mitm, server)
        hub_creds = self.directory.node(HUB).credentials
        port = server.add_secure_port("127.0.0.1:0", hub_creds.server_credentials())
        await server.start()
        self.servers.append(server)
        self.mitm, self.mitm_endpoint = mitm, f"127.0.0.1:{port}"
        return mitm


@pytest.fixture
async def setup(tmp_path: Any) -> AsyncIterator[Setup]:
    directory = create_dev_federation(tmp_path / "fed", base_port=_free_base_port())
    hub = GatewayNode(
        node_config(directory, HUB),
        directory.node(HUB).credentials,
        forwarding=FAST_FORWARDING,
        feed=FAST_FEED,
    )
    await hub.start()
    state = Setup(directory, hub)
    try:
        yield state
    finally:
        await state.stop_region()
        await hub.stop(0)
        for server in state.servers:
            await server.stop(None)


async def mirrored(node: GatewayNode) -> list[FeedEntry]:
    return await node.store.read_feed(HUB, start=0, limit=1000)


def count_of(node: GatewayNode, n: int) -> Callable[[], Any]:
    async def check() -> bool:
        return len(await mirrored(node)) >= n

    return check


async def hub_leaves(state: Setup) -> list[int]:
    """Leaf indexes of the hub's entries of the followed kinds, in log order."""
    rows = await state.hub.store.read_entries(0, limit=1000, kinds=DEFAULT_FEED_KINDS)
    return [r.leaf_index for r in rows]


def hub_checkpoint(note: str, trust: TrustBundle) -> Checkpoint:
    """``note`` verified under the hub's checkpoint key, for the hub's log origin."""
    (record,) = trust.checkpoint_keys(HUB, at=datetime.now(UTC))
    key = serialization.load_der_public_key(record.public_key.public_bytes)
    assert isinstance(key, Ed25519PublicKey)
    verifier = NoteVerifier(name=record.note_name, public_key=key)
    return verify_checkpoint(note, verifier=verifier, origin=log_origin_for(HUB))


def assert_proven(rows: Sequence[FeedEntry], trust: TrustBundle) -> None:
    """Every row's stored proof verifies: its note under the hub's checkpoint key for the hub's
    log origin, and its audit path from the row's leaf to the note's root."""
    for row in rows:
        assert row.proof_checkpoint is not None
        assert row.proof_hashes is not None
        checkpoint = hub_checkpoint(row.proof_checkpoint, trust)
        assert checkpoint.size == row.proof_tree_size
        verify_inclusion(
            leaf_hash=row.leaf_hash,
            index=row.leaf_index,
            tree_size=checkpoint.size,
            proof=row.proof_hashes,
            root=checkpoint.root_hash,
        )


def metric(node: GatewayNode, name: str, **labels: str) -> float:
    return node.metrics.registry.get_sample_value(name, labels) or 0.0


def metric_at_least(node: GatewayNode, name: str, value: float, **labels: str) -> Any:
    async def check() -> bool:
        return metric(node, name, **labels) >= value

    return check


def next_bundle(
    state: Setup, current: TrustBundle, *, version_step: int = 1, forger: PrivateKey | None = None
) -> dsse.Envelope:
    """The next version of ``current`` (one more grant for Zhejiang), signed by the roots.

    With ``forger``: a version that names the forger as its only root and is signed by it alone,
    so it lacks the current roots' signatures. ``version_step`` 2 skips a version.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    builder = TrustBundleBuilder.from_bundle(
        current, issued_at=now, expires_at=now + timedelta(days=365)
    )
    builder.version = current.version + version_step
    builder.add_permission(ZJ, Action.READ, kinds=["record"], scopes=["region:330000"])
    if forger is not None:
        builder.add_root_key(
            forger.public_key, not_before=now - timedelta(days=1), not_after=now + timedelta(days=9)
        )
        builder.root_threshold = 1
        return builder.sign([forger])
    fed_dir = state.directory.directory / "federation"
    roots = [load_private_key(fed_dir / f"root-{i}.pem") for i in (1, 2)]
    return builder.sign([k for k in roots if isinstance(k, PrivateKey)])


# -- mirroring -------------------------------------------------------------------------------


async def test_the_region_mirrors_the_hubs_lists_and_nothing_else(setup: Setup) -> None:
    region = await setup.start_region()
    assert setup.hub.feed_follower is None  # no upstream: nothing to follow
    assert region.feed_follower is not None
    assert region.feed_follower.kinds == DEFAULT_FEED_KINDS
    operator = setup.directory.node(HUB).operator.node_id
    record = statement(operator, [HUB], penalty_record())  # a kind Zhejiang does not follow
    listed = name_list_entry(operator)
    measures = measure_list(operator)
    batch = [name_list_entry(operator, uscc="91440300708461136T"), name_list_entry(operator)]
    await publish(setup.directory, record)
    await publish(setup.directory, listed, measures)
    await publish(setup.directory, *batch, batch=True)

    await until(count_of(region, 4))
    rows = await mirrored(region)
    assert [r.leaf_index for r in rows] == await hub_leaves(setup) == [1, 2, 3, 4]
    assert [r.message_id for r in rows] == [b.header.message_id for b in (listed, measures, *batch)]
    assert [r.kind for r in rows] == [
        "name-list-entry",
        "measure-list",
        "name-list-entry",
        "name-list-entry",
    ]
    assert [r.batched for r in rows] == [False, False, True, True]
    assert [r.subject_key for r in rows] == [
        LISTED_USCC,
        "national-basic",
        "91440300708461136T",
        LISTED_USCC,
    ]
    # ... and what object each creates: the entry id, the measure list's <list_id>@<version>.
    assert [r.object_id for r in rows] == [
        listed.name_list_entry.entry_id,
        "national-basic@2021",
        batch[0].name_list_entry.entry_id,
        batch[1].name_list_entry.entry_id,
    ]
    assert {r.sender_node_id for r in rows} == {operator}
    assert all(r.origin_node_id == HUB for r in rows)
    # The leaves are the hub's own (the follower computed them from the signed payloads).
    hub_rows = {r.leaf_index: r for r in await setup.hub.store.read_entries(0, limit=10)}
    assert all(r.leaf_hash == hub_rows[r.leaf_index].leaf_hash for r in rows)
    assert all(r.integrated_at == hub_rows[r.leaf_index].integrated_at for r in rows)

    # What is stored verifies again offline, exactly as the hub served it.
    trust, now = region.trust(), datetime.now(UTC)
    single = dsse.Envelope.from_bytes(rows[0].envelope)
    keys = trust.signing_keys(operator, kind="name-list-entry", at=now)
    payload = dsse.verify(single, keys=keys, expected_type=single.payload_type)
    assert statement_pb2.Statement.FromString(payload) == listed
    item = BatchedEnvelope.from_bytes(rows[2].envelope)
    head_keys = trust.signing_keys(operator, kind="batch-head", at=now)
    verified = verify_batched(
        item, keys=head_keys, expected_type=item.item.payload_type, expected_signer=operator
    )
    assert statement_pb2.Statement.FromString(verified.item.payload) == batch[0]
    assert await region.store.feed_entries_by_subject(LISTED_USCC, limit=10) == [
        rows[0],
        rows[3],
    ]

    # The cursor is past everything, and the proven checkpoint is the hub's.
    cursor = await region.store.feed_cursor(HUB)
    assert cursor is not None
    head = await setup.hub.store.head()
    assert cursor.next_leaf_index == head.size == 5
    assert (cursor.checkpoint, cursor.checkpoint_size) == (head.checkpoint, 5)

    # Each entry is stored with the inclusion proof the follower verified: the audit path to
    # the root of a hub checkpoint it proved consistent, and that checkpoint's signed note.
    assert_proven(rows, trust)
    assert all(r.proof_tree_size is not None and r.proof_tree_size > r.leaf_index for r in rows)
    assert rows[-1].proof_tree_size == head.size  # the last anchor: the hub's head
    # Served as the entry's provenance when a client asks for proofs, and only then: the stored
    # path and note, with the unsigned copies beside the note taken from them.
    item = rows[2]  # a batch item
    plain = ProvenanceBuilder.of_feed(item, include_proof=False)
    assert not plain.HasField("inclusion_proof")
    assert not plain.HasField("checkpoint")
    served = ProvenanceBuilder.of_feed(item, include_proof=True)
    assert (served.gateway_node_id, served.message_id) == (HUB, item.message_id)
    proof = served.inclusion_proof
    assert (proof.leaf_index, proof.tree_size) == (item.leaf_index, item.proof_tree_size)
    assert tuple(proof.hashes) == item.proof_hashes
    assert served.checkpoint.note == item.proof_checkpoint
    signed = hub_checkpoint(served.checkpoint.note, trust)
    assert (served.checkpoint.origin, served.checkpoint.size, served.checkpoint.root_hash) == (
        signed.origin,
        signed.size,
        signed.root_hash,
    )
    # A row mirrored before the feed kept proofs has none to serve.
    old = replace(item, proof_hashes=None, proof_tree_size=None, proof_checkpoint=None)
    unproven = ProvenanceBuilder.of_feed(old, include_proof=True)
    assert not unproven.HasField("inclusion_proof")
    assert not unproven.HasField("checkpoint")
    # `creditlink status --data-dir` reads the same position from the store.
    (position,) = (await feed_status(region.config.store_url)).items()
    assert position[0] == HUB
    assert (position[1].cursor, position[1].checkpoint_size) == (5, 5)

    assert (
        metric(region, "creditlink_feed_entries_received_total", origin=HUB, kind="name-list-entry")
        == 3
    )
    assert (
        metric(region, "creditlink_feed_entries_received_total", origin=HUB, kind="measure-list")
        == 1
    )
    assert metric(region, "creditlink_feed_cursor", origin=HUB) == 5
    assert metric(region, "creditlink_feed_lag", origin=HUB) == 0
    assert metric(region, "creditlink_trust_bundle_version") == 1
    assert metric(region, "creditlink_feed_entries_rejected_total", origin=HUB, reason="x") == 0


async def test_an_entry_and_its_transitions_are_found_together_by_object_id(
    setup: Setup,
) -> None:
    region = await setup.start_region()
    operator = setup.directory.node(HUB).operator.node_id
    listed = name_list_entry(operator)
    entry_id = listed.name_list_entry.entry_id
    other = name_list_entry(operator, uscc="91440300708461136T")
    moved = transition_statement(
        operator,
        entry_id,
        name_list_pb2.NAME_LIST_STATE_LISTED,
        name_list_pb2.NAME_LIST_STATE_REMOVED,
        reason_code=name_list_pb2.TRANSITION_REASON_DETERMINATION_REVOKED,
    )
    await publish(setup.directory, listed, other, moved, measure_list(operator, version="2022"))

    await until(count_of(region, 4))
    rows = await mirrored(region)
    assert [r.kind for r in rows] == [
        "name-list-entry",
        "name-list-entry",
        "name-list-transition",
        "measure-list",
    ]
    # The transition is indexed under the entry it moves, as the entry itself is.
    assert [r.object_id for r in rows] == [
        entry_id,
        other.name_list_entry.entry_id,
        entry_id,
        "national-basic@2022",
    ]
    assert await region.store.feed_entries_by_object(entry_id, limit=10) == [rows[0], rows[2]]
    assert await region.store.feed_entries_by_object("national-basic@2022", limit=10) == [rows[3]]


async def test_a_restarted_region_resumes_without_gaps_or_duplicates(
    setup: Setup, store_url: str
) -> None:
    # On both store backends: the cursor and the entries are written in one transaction.
    setup.region_store_url = store_url if "://" in store_url else sqlite_url(store_url)
    region = await setup.start_region()
    operator = setup.directory.node(HUB).operator.node_id
    first = [name_list_entry(operator) for _ in range(3)]
    await publish(setup.directory, *first)
    await until(count_of(region, 3))
    await setup.stop_region()

    later = [name_list_entry(operator), measure_list(operator, version="2022")]
    later.append(statement(operator, [HUB], penalty_record()))  # not followed
    later.append(name_list_entry(operator))
    await publish(setup.directory, *later)
    region = await setup.start_region()  # the same data directory: its store is still there
    await until(count_of(region, 6))
    await asyncio.sleep(0.5)  # time for anything extra to show up; nothing must

    rows = await mirrored(region)
    followed = [b for b in (*first, *later) if kind_of(b) in DEFAULT_FEED_KINDS]
    assert [r.message_id for r in rows] == [b.header.message_id for b in followed]
    assert [r.leaf_index for r in rows] == await hub_leaves(setup)
    assert_proven(rows, region.trust())  # before and after the restart, on both backends
    # The restarted follower read from its cursor: only what was new counts in this process.
    received = metric(
        region, "creditlink_feed_entries_received_total", origin=HUB, kind="name-list-entry"
    )
    assert received == 2


async def test_entries_are_proven_again_when_the_hubs_log_moves_under_the_proofs(
    setup: Setup,
) -> None:
    # The hub serves proofs for its latest size only; when its log grows between the
    # follower's consistency proof and an inclusion proof, the follower anchors again.
    mitm = await setup.start_mitm()
    mitm.inclusion_misses = 3
    region = await setup.start_region(through_mitm=True)
    operator = setup.directory.node(HUB).operator.node_id
    bodies = [name_list_entry(operator), measure_list(operator)]
    await publish(setup.directory, *bodies)
    await until(count_of(region, 2))
    rows = await mirrored(region)
    assert [r.message_id for r in rows] == [b.header.message_id for b in bodies]
    assert_proven(rows, region.trust())  # each with the proof of the anchor it was proven in
    assert mitm.inclusion_misses == 0
    anchors = mitm.calls.count("GetCheckpoint") + mitm.calls.count("GetConsistencyProof")
    # A new checkpoint is proven for each attempt; the three misses need three attempts at least
    # (proofs of one attempt are asked for together, so one attempt may use up two misses).
    assert anchors >= 3
    assert metric(region, "creditlink_feed_entries_rejected_total", origin=HUB, reason="x") == 0


# -- refusals --------------------------------------------------------------------------------


async def test_a_tampered_entry_is_never_stored_and_the_feed_waits_for_the_real_one(
    setup: Setup,
) -> None:
    mitm = await setup.start_mitm()
    tampering = {"on": True}

    def alter(response: exchange_service_pb2.SubscribeResponse) -> Any:
        # The follower takes pages (CXP-API-012); one entry alone is tampered with the same.
        which = response.WhichOneof("event")
        if tampering["on"] and which in ("entry", "entries"):
            entry = response.entry if which == "entry" else response.entries.entries[0]
            payload = bytearray(entry.envelope.payload)
            payload[-1] ^= 0x01  # one bit of the signed statement
            entry.envelope.payload = bytes(payload)
        return response

    mitm.on_subscribe = alter
    region = await setup.start_region(through_mitm=True)
    operator = setup.directory.node(HUB).operator.node_id
    genuine = name_list_entry(operator)
    await publish(setup.directory, genuine)

    rejected = "creditlink_feed_entries_rejected_total"
    # Refused, retried from the cursor, refused again: never skipped, never stored.
    await until(metric_at_least(region, rejected, 2, origin=HUB, reason="INVALID_SIGNATURE"))
    assert await mirrored(region) == []
    cursor = await region.store.feed_cursor(HUB)
    assert cursor is None or cursor.next_leaf_index == 0

    tampering["on"] = False
    await until(count_of(region, 1))
    (row,) = await mirrored(region)
    assert row.message_id == genuine.header.message_id
    assert row.leaf_index == 0


async def test_a_forked_checkpoint_is_refused_and_nothing_after_it_is_stored(
    setup: Setup,
) -> None:
    mitm = await setup.start_mitm()
    region = await setup.start_region(through_mitm=True)
    operator = setup.directory.node(HUB).operator.node_id
    first = name_list_entry(operator)
    await publish(setup.directory, first)
    await until(count_of(region, 1))

    # The "hub" now shows another history: a checkpoint over a different tree, correctly
    # signed with the hub's own checkpoint key.
    signer = setup.directory.node(HUB).credentials.checkpoint_key
    assert signer is not None

    def forge(real: log_pb2.SignedCheckpoint) -> log_pb2.SignedCheckpoint:
        root = hashlib.sha256(b"another history").digest()
        body = Checkpoint(origin=log_origin_for(HUB), size=real.size, root_hash=root).to_body()
        return log_pb2.SignedCheckpoint(
            note=sign_note(body, [signer]), origin=real.origin, size=real.size, root_hash=root
        )

    mitm.forge_consistency = forge
    second = name_list_entry(operator)
    await publish(setup.directory, second)
    rejected = "creditlink_feed_entries_rejected_total"
    await until(metric_at_least(region, rejected, 1, origin=HUB, reason="INCONSISTENT_CHECKPOINT"))

    assert [r.message_id for r in await mirrored(region)] == [first.header.message_id]
    cursor = await region.store.feed_cursor(HUB)
    assert cursor is not None
    assert (cursor.next_leaf_index, cursor.checkpoint_size) == (1, 1)  # as proven before
    failures = "creditlink_feed_failures_total"
    assert metric(region, failures, stream="subscribe", reason="INCONSISTENT_CHECKPOINT") == 1


@pytest.mark.parametrize(
    ("code", "permanent"),
    [(grpc.StatusCode.PERMISSION_DENIED, True), (grpc.StatusCode.UNAVAILABLE, False)],
)
async def test_permanent_refusals_wait_long_transient_ones_are_retried_soon(
    setup: Setup, code: grpc.StatusCode, permanent: bool
) -> None:
    mitm = await setup.start_mitm()
    mitm.refuse = code
    region = await setup.start_region(through_mitm=True)
    failures = "creditlink_feed_failures_total"
    await until(metric_at_least(region, failures, 1, stream="subscribe", reason=code.name))
    await asyncio.sleep(1.0)
    tries = mitm.calls.count("Subscribe")
    if permanent:
        assert tries == 1  # permanent_backoff is 30 s; min_backoff alone would retry at once
    else:
        assert tries >= 3


# -- trust bundle updates --------------------------------------------------------------------


async def test_a_trust_bundle_the_hub_adopts_reaches_the_region(setup: Setup) -> None:
    region = await setup.start_region()
    zj_dir = setup.directory.node(ZJ).credentials_dir
    v2 = next_bundle(setup, setup.hub.trust())
    installed = await setup.hub.install_trust_bundle(v2)
    assert installed.version == setup.hub.trust().version == 2

    async def adopted() -> bool:
        return region.trust().version == 2

    await until(adopted)
    assert region.trust().digest == setup.hub.trust().digest
    assert read_trust_bundle(zj_dir).version == 2  # persisted in the credentials directory
    assert metric(region, "creditlink_trust_bundle_version") == 2
    assert metric(setup.hub, "creditlink_trust_bundle_version") == 2
    # Calls to the region now get the new version (its own watchers are told too).
    operator = setup.directory.node(ZJ).operator
    async with grpc.aio.secure_channel(
        setup.directory.node(ZJ).endpoint, operator.channel_credentials()
    ) as channel:
        stub = federation_service_pb2_grpc.FederationServiceStub(channel)
        got = await stub.GetTrustBundle(federation_service_pb2.GetTrustBundleRequest(), timeout=5)
    served = setup.directory.node(ZJ).credentials.trust_bundle.verify_update(
        dsse.Envelope.from_proto(got.bundle), now=datetime.now(UTC)
    )
    assert served.version == 2
    # The feed keeps working under the new bundle.
    await publish(setup.directory, name_list_entry(setup.directory.node(HUB).operator.node_id))
    await until(count_of(region, 1))


async def test_installing_refuses_what_is_not_the_next_version(setup: Setup) -> None:
    hub_dir = setup.directory.node(HUB).credentials_dir
    before = (hub_dir / "trust" / "bundle.json").read_bytes()
    skipping = next_bundle(setup, setup.hub.trust(), version_step=2)
    with pytest.raises(InvalidTrustBundle) as caught:
        await setup.hub.install_trust_bundle(skipping)
    assert caught.value.reason == "TRUST_BUNDLE_VERSION_GAP"
    assert setup.hub.trust().version == 1
    assert (hub_dir / "trust" / "bundle.json").read_bytes() == before


@pytest.mark.parametrize(
    ("bad", "reason"),
    [("forged", "TRUST_BUNDLE_SIGNATURE"), ("gap", "TRUST_BUNDLE_VERSION_GAP")],
)
async def test_a_bad_trust_bundle_from_upstream_is_refused_and_never_installed(
    setup: Setup, bad: str, reason: str
) -> None:
    current = setup.hub.trust()
    if bad == "forged":
        envelope = next_bundle(setup, current, forger=PrivateKey.generate())
    else:
        envelope = next_bundle(setup, current, version_step=2)
    mitm = await setup.start_mitm()
    mitm.bundles = [
        federation_service_pb2.WatchTrustBundleResponse(bundle=envelope.to_proto(), version=2)
    ]
    zj_file = setup.directory.node(ZJ).credentials_dir / "trust" / "bundle.json"
    before = zj_file.read_bytes()
    region = await setup.start_region(through_mitm=True)

    rejected = "creditlink_trust_bundle_rejected_total"
    await until(metric_at_least(region, rejected, 1, reason=reason))
    assert region.trust().version == 1
    assert metric(region, "creditlink_trust_bundle_version") == 1
    assert zj_file.read_bytes() == before
    assert (
        metric(region, "creditlink_feed_failures_total", stream="trust_bundle", reason=reason) == 1
    )


# -- no database or network needed -----------------------------------------------------------


def test_feed_options_are_checked() -> None:
    assert FeedOptions().kinds == ("name-list-entry", "name-list-transition", "measure-list")
    with pytest.raises(ValueError, match="unknown"):
        FeedOptions(kinds=("name-list",))
    with pytest.raises(ValueError, match="at least one"):
        FeedOptions(kinds=())
    with pytest.raises(ValueError, match="unique"):
        FeedOptions(kinds=("record", "record"))
    with pytest.raises(ValueError, match="backoff"):
        FeedOptions(min_backoff=2, max_backoff=1)
    with pytest.raises(ValueError, match="batch_size"):
        FeedOptions(batch_size=0)


def test_subject_keys_per_kind() -> None:
    listed = name_list_entry("cn-hub-operator")
    assert subject_key_of(listed) == LISTED_USCC
    assert subject_key_of(measure_list("cn-hub-operator")) == "national-basic"
    transition = statement_pb2.Statement()
    transition.name_list_transition.entry_id = listed.name_list_entry.entry_id
    assert subject_key_of(transition) == listed.name_list_entry.entry_id
    record = statement("zj-330000-operator", [ZJ], penalty_record(uscc=LISTED_USCC))
    assert subject_key_of(record) == LISTED_USCC
    assert subject_key_of(statement_pb2.Statement()) is None


def test_object_ids_per_kind() -> None:
    listed = name_list_entry("cn-hub-operator")
    entry_id = listed.name_list_entry.entry_id
    assert object_id_of(listed) == entry_id
    transition = statement_pb2.Statement()
    transition.name_list_transition.entry_id = entry_id
    assert object_id_of(transition) == entry_id
    # A measure-list version: the domain object id the measure handlers give it.
    assert object_id_of(measure_list("cn-hub-operator", version="2021.1")) == (
        list_object_id("national-basic", "2021.1")
    )
    assert list_object_id("national-basic", "2021.1") == "national-basic@2021.1"
    # Other kinds, and bodies that name nothing: none.
    record = statement("zj-330000-operator", [ZJ], penalty_record(uscc=LISTED_USCC))
    assert object_id_of(record) is None
    assert object_id_of(statement_pb2.Statement()) is None
    assert object_id_of(statement_pb2.Statement(name_list_transition={})) is None
    assert object_id_of(statement_pb2.Statement(measure_list={"list_id": "x"})) is None
