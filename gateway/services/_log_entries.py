"""Stored log rows as ``LogEntry`` messages, encoded straight to protobuf wire bytes.

A subscription catching up sends hundreds of thousands of entries. Built as messages, each
entry would be assembled field by field, copied into its page, sized, and serialized again with
the page: most of a feed's serving time. Every part of an entry is already bytes in the store
(the payload, the signed head, the audit-path hashes) or a number, so the entry is written
once, as wire bytes, in the layout the protobuf runtime itself produces (the field-number order
of a deterministic serialization); the tests hold the two encodings equal. The varint tables
cost about 1.4 MB, once per process.
"""

from __future__ import annotations

import collections
import datetime as dt
from dataclasses import dataclass
from typing import Final

from google.protobuf import timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from creditlink.gateway.store import EntryRow, Store
from creditlink.sdk.batch import BatchTree
from creditlink.sdk.tlog import HASH_SIZE
from creditlink.v1 import envelope_pb2, exchange_service_pb2, log_pb2

__all__ = ["EntryBuilder", "entries_response", "entry_response", "varint"]

#: Batch trees kept per builder: entries arrive in log order, so the current one suffices;
#: one more absorbs a page boundary inside a batch.
_BATCH_CACHE: Final = 2

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND: Final = dt.timedelta(microseconds=1)

#: Varints of numbers below 2**14 (lengths, indexes), computed once.
_SMALL: Final = tuple(
    bytes([n]) if n < 0x80 else bytes([n & 0x7F | 0x80, n >> 7]) for n in range(1 << 14)
)
#: The first two bytes of the varint of a number of 2**14 or more, by its low 14 bits.
_LOW: Final = tuple(bytes([n & 0x7F | 0x80, n >> 7 | 0x80]) for n in range(1 << 14))


def varint(value: int) -> bytes:
    """The base-128 varint of a non-negative ``value`` (protobuf's encoding of an unsigned).

    >>> varint(1), varint(300), varint(2**32)
    (b'\\x01', b'\\xac\\x02', b'\\x80\\x80\\x80\\x80\\x10')
    """
    if value < 1 << 14:
        if value < 0:
            raise ValueError("a varint encodes a non-negative number here")
        return _SMALL[value]
    # Fourteen bits at a time from tables: leaf indexes and seconds since 1970 come here.
    return _LOW[value & 0x3FFF] + varint(value >> 14)


_VARINT_TYPES: Final = frozenset(
    {FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_INT32}
)
_LENGTH_TYPES: Final = frozenset(
    {FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_BYTES, FieldDescriptor.TYPE_STRING}
)


def _tag(message: type[Message], name: str) -> bytes:
    """The key of field ``name`` of ``message`` (number << 3 | wire type), from the schema."""
    field = message.DESCRIPTOR.fields_by_name[name]
    if field.type in _VARINT_TYPES:
        return varint(field.number << 3)
    if field.type in _LENGTH_TYPES:
        return varint(field.number << 3 | 2)
    raise TypeError(f"{field.full_name}: no encoding here for its type")


_LEAF_INDEX: Final = _tag(log_pb2.LogEntry, "leaf_index")
_ENVELOPE: Final = _tag(log_pb2.LogEntry, "envelope")
_BATCHED: Final = _tag(log_pb2.LogEntry, "batched")
_SENDER: Final = _tag(log_pb2.LogEntry, "sender_node_id")
_INTEGRATED_AT: Final = _tag(log_pb2.LogEntry, "integrated_at")
_ITEM: Final = _tag(envelope_pb2.BatchedEnvelope, "item")
_HEAD: Final = _tag(envelope_pb2.BatchedEnvelope, "head")
_INDEX: Final = _tag(envelope_pb2.BatchedEnvelope, "index")
#: An audit-path element's key and its length (every element is 32 bytes).
_AUDIT_HASH: Final = _tag(envelope_pb2.BatchedEnvelope, "audit_path") + varint(HASH_SIZE)
_PAYLOAD: Final = _tag(envelope_pb2.BatchItem, "payload")
_PAYLOAD_TYPE: Final = _tag(envelope_pb2.BatchItem, "payload_type")
_SECONDS: Final = _tag(timestamp_pb2.Timestamp, "seconds")
_NANOS: Final = _tag(timestamp_pb2.Timestamp, "nanos")
_PAGE_ENTRY: Final = _tag(exchange_service_pb2.EntryPage, "entries")
_RESPONSE_ENTRY: Final = _tag(exchange_service_pb2.SubscribeResponse, "entry")
_RESPONSE_ENTRIES: Final = _tag(exchange_service_pb2.SubscribeResponse, "entries")


def _field(tag: bytes, data: bytes) -> bytes:
    return b"".join((tag, varint(len(data)), data))


def _timestamp(when: dt.datetime) -> bytes:
    """A ``google.protobuf.Timestamp``'s bytes (zero fields omitted, as proto3 does)."""
    micros = (when - _EPOCH) // _MICROSECOND
    seconds, rest = divmod(micros, 1_000_000)
    parts = []
    if seconds:
        # int64: a negative second count is its two's complement in ten bytes.
        parts.append(_SECONDS + varint(seconds if seconds > 0 else seconds + (1 << 64)))
    if rest:
        parts.append(_NANOS + varint(rest * 1000))
    return b"".join(parts)


def entry_response(entry: bytes) -> bytes:
    """The serialized ``SubscribeResponse`` carrying one encoded ``LogEntry``: sent as it is
    (see ``ExchangeServicer.add_to_server``)."""
    return _field(_RESPONSE_ENTRY, entry)


def entries_response(entries: list[bytes]) -> bytes:
    """The serialized ``SubscribeResponse`` carrying an ``EntryPage`` of encoded ``LogEntry``
    bytes: sent as it is (see ``ExchangeServicer.add_to_server``)."""
    return _field(_RESPONSE_ENTRIES, b"".join([_field(_PAGE_ENTRY, entry) for entry in entries]))


@dataclass(slots=True)
class _Batch:
    #: ``BatchedEnvelope.head``, tag and length included: the same for every item.
    head_field: bytes
    tree: BatchTree


class EntryBuilder:
    """Turns stored rows into ``LogEntry`` messages (or their bytes), caching batch trees.

    A batch item travels as a ``BatchedEnvelope``: the item, the signed batch head and the
    item's audit path in the batch tree, so a subscriber verifies it on its own
    (``sdk.batch.verify_batched``). The tree is built once per batch from the stored leaf
    hashes, which are the batch tree's leaves (both hash ``PAE(payload_type, payload)``), with
    every level kept (:class:`~creditlink.sdk.batch.BatchTree`): an audit path is then a lookup
    per level instead of a proof computed from stored subtrees.
    """

    __slots__ = ("_last_stamp", "_store", "_trees")

    def __init__(self, store: Store) -> None:
        self._store = store
        self._trees: collections.OrderedDict[str, _Batch] = collections.OrderedDict()
        # The items of a batch share their instant: its encoding is kept for the next entry.
        self._last_stamp: tuple[dt.datetime, bytes] | None = None

    async def _batch(self, batch_id: str) -> _Batch:
        batch = self._trees.get(batch_id)
        if batch is not None:
            return batch
        row = await self._store.get_batch(batch_id)
        if row is None:
            raise RuntimeError(f"log entry names batch {batch_id!r}, which is not stored")
        leaves = await self._store.leaf_hashes(
            row.first_leaf_index, row.first_leaf_index + row.count
        )
        batch = _Batch(
            head_field=_field(_HEAD, _canonical(row.head_envelope)), tree=BatchTree(leaves)
        )
        self._trees[batch_id] = batch
        while len(self._trees) > _BATCH_CACHE:
            self._trees.popitem(last=False)
        return batch

    async def entry_bytes(self, row: EntryRow) -> bytes:
        """The serialized ``LogEntry`` for ``row``."""
        if row.batch_id is None or row.index_in_batch is None:
            if row.envelope is None:
                raise RuntimeError(f"leaf {row.leaf_index} has neither envelope nor batch")
            signed = _field(_ENVELOPE, _canonical(row.envelope))
        else:
            batch = await self._batch(row.batch_id)
            index = row.index_in_batch
            payload_type = row.payload_type.encode()
            item = b"".join(
                (
                    _PAYLOAD,
                    varint(len(row.payload)),
                    row.payload,
                    _PAYLOAD_TYPE,
                    varint(len(payload_type)),
                    payload_type,
                )
            )
            parts = [_ITEM, varint(len(item)), item, batch.head_field]
            if index:
                parts += (_INDEX, varint(index))
            path = batch.tree.audit_path(index)
            if path:
                parts += (_AUDIT_HASH, _AUDIT_HASH.join(path))
            batched = b"".join(parts)
            signed = _BATCHED + varint(len(batched)) + batched
        sender = row.sender_node_id.encode()
        last = self._last_stamp
        if last is not None and last[0] == row.integrated_at:
            stamp = last[1]
        else:
            stamp = _timestamp(row.integrated_at)
            self._last_stamp = (row.integrated_at, stamp)
        return b"".join(
            (
                _LEAF_INDEX + varint(row.leaf_index) if row.leaf_index else b"",
                signed,
                _SENDER,
                varint(len(sender)),
                sender,
                _INTEGRATED_AT,
                varint(len(stamp)),
                stamp,
            )
        )

    async def entry(self, row: EntryRow) -> log_pb2.LogEntry:
        """The ``LogEntry`` for ``row``."""
        return log_pb2.LogEntry.FromString(await self.entry_bytes(row))


def _canonical(envelope: bytes) -> bytes:
    # Envelope bytes the ledger stored (an envelope it verified, a head it checked), sent as
    # the protobuf runtime serializes them: a verifier checks the signed payload only, and the
    # runtime's canonical form is what a message-built entry carried.
    return envelope_pb2.Envelope.FromString(envelope).SerializeToString()
