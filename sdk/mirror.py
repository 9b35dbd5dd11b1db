"""A local copy of a gateway's name lists, kept in sync from its feed: :class:`NameListMirror`.

A local platform that must check "is this subject listed?" thousands of times a second cannot
ask the gateway each time. The mirror pulls the ``name-list-entry``,
``name-list-transition`` and ``measure-list`` statements from :meth:`Client.subscribe
<creditlink.sdk.client.Client.subscribe>`, folds them into per-subject state held compactly in
memory, and persists them with the subscription cursor in one SQLite file, so that a restarted
program reloads the file and resumes where it stopped::

    from creditlink.sdk import Client, NameListMirror

    with Client.from_credentials(".creditlink/operator") as client:
        with NameListMirror(client, "name-lists.db") as mirror:
            mirror.sync()                       # pull up to the log's current end
            if mirror.is_listed("91330100MA27XL0A6Q"):
                refs = mirror.measures_for("91330100MA27XL0A6Q", "USE_PURPOSE_BIDDING")

What is verified (nothing unverified reaches the fold):

1. every entry, by the client's subscription: the DSSE signature (or the batch head's signature
   and the item's audit path) under keys the trust bundle lists for the sender and the kind at
   the time the entry was logged, then the payload parsed strictly with the kind its payload
   type names (:class:`~creditlink.sdk.client.Entry`);
2. each progress checkpoint the gateway sends along, under the gateway's checkpoint key, and
   that the log never shrinks (the subscription);
3. before each :meth:`NameListMirror.sync`, that the gateway's log extends the checkpoint the
   file recorded last (an RFC 9162 consistency proof, :meth:`Client.get_consistency_proof
   <creditlink.sdk.client.Client.get_consistency_proof>`): a rewritten history raises
   :class:`~creditlink.sdk.errors.InvalidProof` before anything new is applied.

The fold re-implements, in a few lines, the lifecycle rules of ``name_list.proto`` (the SDK
never imports the gateway): an entry is created ``LISTED``; a transition applies only when it
names a known entry, comes from the node that signed the entry, names the entry's current state
as ``from_state``, and is allowed (REPAIRED, REMOVED and EXPIRED are terminal, a transition
changes the state, only UNDER_OBJECTION and RECTIFYING return to LISTED, and after the last day
of the listing only the expiry may be recorded). Anything else is skipped and recorded as
skipped in the file. An entry is **in force** on a day (China Standard Time) when its state is
LISTED, UNDER_OBJECTION or RECTIFYING, its listing has started and its ``listing_end`` (if any)
has not passed: expiry is derived, as the gateway derives it.

Measures resolve as the gateway's ``CheckSubject`` resolves them ("no punishment outside the
list"): each reference of an entry in force (list id and measure id) is looked up in the version
of its list in force on the day (the latest ``effective_date`` not after it, among the
``measure-list`` versions mirrored); a measure applies when that version still has it, it
targets the listed subject, and it applies for the purpose (``Measure.applies_in``: empty means
every purpose; a ``GENERAL`` check gets every measure). A measure-list version is folded only
when it extends its list's chain (``previous_version`` names the latest version mirrored), as
the gateway's handler requires.

Known simplification: a transition takes effect when it is mirrored, not at its
``effective_at`` (the gateway's ``CheckSubject(as_of=...)`` honours ``effective_at``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Final, NamedTuple, Self

from creditlink.sdk.errors import CreditlinkError, VerificationError
from creditlink.sdk.tlog import Checkpoint
from creditlink.v1 import common_pb2, measure_pb2, name_list_pb2

if TYPE_CHECKING:
    from creditlink.sdk.client import Client, Entry, Subscription

__all__ = ["MeasureRef", "MirroredEntry", "NameListMirror", "SyncResult", "applies_for"]

_log = logging.getLogger(__name__)

#: The statement kinds the mirror follows.
KINDS: Final = ("name-list-entry", "name-list-transition", "measure-list")
#: China Standard Time: listing dates are calendar dates there (common.proto).
_CST: Final = timezone(timedelta(hours=8), "CST")

_S = name_list_pb2.NameListState
_LISTED: Final = name_list_pb2.NAME_LIST_STATE_LISTED
_UNDER_OBJECTION: Final = name_list_pb2.NAME_LIST_STATE_UNDER_OBJECTION
_RECTIFYING: Final = name_list_pb2.NAME_LIST_STATE_RECTIFYING
_EXPIRED: Final = name_list_pb2.NAME_LIST_STATE_EXPIRED
#: States in force are 1..3 (LISTED, UNDER_OBJECTION, RECTIFYING); 4..6 are terminal.
_LAST_ACTIVE: Final = 3
_LAST_STATE: Final = 6
#: ``listing_end`` of an open-ended listing, as a day number (YYYYMMDD): after every real day.
_OPEN_END: Final = 99991231
_now: Final = time.time

# Entry ids (ULID or UUID) are packed into 18 bytes each: a format byte, then the value.
_ID_STRIDE: Final = 18
_UUID: Final = 0
_ULID: Final = 1
_UUID_PREFIX: Final = bytes((_UUID,))
_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_VALUE: Final = {c: i for i, c in enumerate(_CROCKFORD)}

# Measure references are stored as text: fields split by \x1f, references by \x1e.
_FIELD_SEP: Final = "\x1f"
_REF_SEP: Final = "\x1e"

#: The file's schema. ``entries.row`` is the entry's index in the in-memory arrays.
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY NOT NULL,
    value BLOB
);
CREATE TABLE IF NOT EXISTS entries (
    row INTEGER PRIMARY KEY NOT NULL,
    entry_id TEXT NOT NULL,  -- unique, by the fold (kept in memory: _IdIndex)
    subject TEXT NOT NULL,
    state INTEGER NOT NULL,
    listing_start INTEGER NOT NULL,
    listing_end INTEGER NOT NULL,
    measures TEXT NOT NULL,
    origin_node_id TEXT NOT NULL,
    leaf_index INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS measure_lists (
    list_id TEXT NOT NULL,
    version TEXT NOT NULL,
    effective_date INTEGER NOT NULL,
    body BLOB NOT NULL,
    leaf_index INTEGER NOT NULL,
    PRIMARY KEY (list_id, version)
);
CREATE TABLE IF NOT EXISTS statements (
    leaf_index INTEGER PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    sender_node_id TEXT NOT NULL,
    payload_type TEXT NOT NULL,
    payload BLOB NOT NULL,  -- empty unless the mirror keeps payloads
    applied INTEGER NOT NULL,
    note TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class MeasureRef:
    """A reference into a published measure list version (``creditlink.v1.MeasureRef``)."""

    list_id: str
    version: str
    measure_id: str


@dataclass(frozen=True, kw_only=True)
class MirroredEntry:
    """One mirrored name-list entry, as the fold left it.

    ``subject`` is the listed subject's USCC (or person token for a natural person); ``state``
    the ``NameListState`` name the last applied transition set; ``in_force`` whether the entry
    applies on the day asked about (state, listing start and end, China Standard Time).
    """

    entry_id: str
    subject: str
    state: str
    listing_start: date
    listing_end: date | None
    measures: tuple[MeasureRef, ...]
    in_force: bool


@dataclass(frozen=True, kw_only=True)
class SyncResult:
    """What one :meth:`NameListMirror.sync` did."""

    entries_added: int
    transitions_applied: int
    #: Statements left out of the fold (their reasons are in the file's ``statements.note``).
    skipped: int
    #: The next log leaf the mirror will read.
    cursor: int
    #: The latest checkpoint proven consistent with the file's previous one.
    checkpoint: Checkpoint | None


_ROW_MASK: Final = 0xFFFFFFFF


def _single(row: int, state: int, start: int, end: int) -> int:
    """The head of a subject with one entry: its in-force window and row in one int.

    ``window << 33 | row << 1`` with ``window = start << 27 | end`` (YYYYMMDD days, 27 bits
    each) while the state is in force, else 0 (an empty window). A subject with several
    entries has the head ``row << 1 | 1`` (its newest row; the rest are chained through
    ``_next``). So the common lookup reads no array at all: fewer cache misses on a large
    mirror.
    """
    window = (start << 27 | end) if state <= _LAST_ACTIVE else 0
    return window << 33 | row << 1


def _day(value: date) -> int:
    return value.year * 10000 + value.month * 100 + value.day


def _proto_day(value: common_pb2.Date) -> int:
    return value.year * 10000 + value.month * 100 + value.day


def _date_of(day: int) -> date:
    return date(day // 10000, day // 100 % 100, day % 100)


def _pack_id(entry_id: str) -> bytes:
    """18 bytes for a UUID or ULID entry id (``ValueError`` for anything else)."""
    if len(entry_id) == 36:
        if entry_id.count("-") != 4 or entry_id != entry_id.lower():
            raise ValueError(f"entry id {entry_id!r} is not a lower-case UUID")
        return _UUID_PREFIX + bytes.fromhex(entry_id.replace("-", "")) + b"\x00"
    if len(entry_id) == 26:
        number = 0
        for char in entry_id:
            number = number * 32 + _CROCKFORD_VALUE[char]  # KeyError -> caught by the caller
        return bytes((_ULID,)) + number.to_bytes(17, "big")
    raise ValueError(f"entry id {entry_id!r} is neither a ULID nor a UUID")


def _unpack_id(packed: bytes | bytearray) -> str:
    if packed[0] == _UUID:
        return str(uuid.UUID(bytes=bytes(packed[1:17])))
    number = int.from_bytes(packed[1:], "big")
    chars = []
    for _ in range(26):
        number, digit = divmod(number, 32)
        chars.append(_CROCKFORD[digit])
    return "".join(reversed(chars))


def _encode_measures(refs: Iterable[measure_pb2.MeasureRef]) -> str:
    sep = _FIELD_SEP
    return _REF_SEP.join([f"{r.list_id}{sep}{r.version}{sep}{r.measure_id}" for r in refs])


def _decode_measures(text: str) -> tuple[MeasureRef, ...]:
    if not text:
        return ()
    return tuple(MeasureRef(*part.split(_FIELD_SEP)) for part in text.split(_REF_SEP))


def _purpose_value(purpose: int | str) -> int:
    """A defined, non-zero ``UsePurpose`` value from a value or a name (``ValueError``)."""
    value: int
    if isinstance(purpose, str):
        value = common_pb2.UsePurpose.Value(purpose)
    elif isinstance(purpose, int) and not isinstance(purpose, bool):
        common_pb2.UsePurpose.Name(purpose)  # type: ignore[arg-type]  # ValueError if unknown
        value = purpose
    else:
        raise TypeError("purpose is a UsePurpose value or name")
    if value == common_pb2.USE_PURPOSE_UNSPECIFIED:
        raise ValueError("purpose is required")
    return value


def applies_for(measure: measure_pb2.Measure, purpose: int) -> bool:
    """Whether ``measure`` applies in a check for ``purpose`` (a ``UsePurpose`` value): a
    measure with no ``applies_in`` applies for every purpose, and a ``GENERAL`` check asks for
    every measure (``measure.proto``)."""
    return (
        not measure.applies_in
        or purpose == common_pb2.USE_PURPOSE_GENERAL
        or purpose in measure.applies_in
    )


@dataclass(frozen=True, slots=True)
class _Version:
    """One mirrored version of a measure list: in force from ``effective`` (YYYYMMDD)."""

    effective: int
    version: str
    #: measure id -> the measure, for the measures that target the listed subject.
    measures: dict[str, measure_pb2.Measure]


def _version_of(body: measure_pb2.MeasureList) -> _Version:
    return _Version(
        effective=_proto_day(body.effective_date),
        version=body.version,
        measures={
            m.measure_id: m
            for m in body.measures
            if measure_pb2.MEASURE_TARGET_SUBJECT in m.targets
        },
    )


class _Skip(Exception):
    """A statement the fold leaves out, with why."""


_INSERT_ENTRY: Final = "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"


class _NewEntry(NamedTuple):
    """A checked ``name-list-entry`` waiting for :meth:`NameListMirror._flush_entries`
    (a tuple: one is built per entry a feed brings)."""

    entry_id: str
    subject: str
    start: int
    end: int
    measures: str
    origin: str
    leaf_index: int
    packed: bytes

    def values(self, row: int) -> tuple[object, ...]:
        """The ``entries`` row, as the entry at ``row`` of the arrays."""
        return (
            row,
            self.entry_id,
            self.subject,
            _LISTED,
            self.start,
            self.end,
            self.measures,
            self.origin,
            self.leaf_index,
        )


class _IdIndex:
    """Entry id to row, in memory: an open-addressing table of rows over the packed ids.

    The packed ids are kept anyway (18 bytes per entry, to name entries); the table adds one
    4-byte slot per 0.6 of an entry or less, instead of a ``UNIQUE`` index in the file, whose
    random keys cost a random B-tree page per insert once a million entries outgrow SQLite's
    page cache. It answers whether a new entry's id is taken, and which row a transition moves.
    """

    __slots__ = ("_count", "_ids", "_limit", "_mask", "_slots")

    _MAX_LOAD: Final = 0.6

    def __init__(self, ids: bytearray, count: int = 0) -> None:
        """Index the first ``count`` packed ids of ``ids`` (which later rows are appended to)."""
        self._ids = ids
        self._count = 0
        self._slots = array("i")
        self._mask = 0
        self._limit = 0
        self._rebuild(count)

    def _rebuild(self, count: int) -> None:
        """A table sized for one more than ``count`` rows, holding rows ``0 .. count - 1``."""
        size = 16
        while size * self._MAX_LOAD < count + 1:
            size *= 2
        slots = self._slots = array("i", bytes(4 * size))
        mask = self._mask = size - 1
        self._limit = int(size * self._MAX_LOAD)
        # One copy of the ids, sliced: this runs for every row at each doubling and at load.
        frozen = bytes(self._ids[: count * _ID_STRIDE])
        for row in range(count):
            start = row * _ID_STRIDE
            i = hash(frozen[start : start + _ID_STRIDE]) & mask
            while slots[i]:
                i = (i + 1) & mask
            slots[i] = row + 1  # 0 marks an empty slot
        self._count = count

    def find(self, packed: bytes) -> int | None:
        """The row of the entry with this packed id, or ``None``."""
        slots, mask, ids = self._slots, self._mask, self._ids
        i = hash(packed) & mask
        while value := slots[i]:
            start = (value - 1) * _ID_STRIDE
            if ids[start : start + _ID_STRIDE] == packed:
                return value - 1
            i = (i + 1) & mask
        return None

    def add(self, packed: bytes, row: int) -> None:
        """Index ``row``, whose packed id ``ids`` holds already."""
        if self._count >= self._limit:
            self._rebuild(self._count)
        slots, mask = self._slots, self._mask
        i = hash(packed) & mask
        while slots[i]:
            i = (i + 1) & mask
        slots[i] = row + 1
        self._count += 1


class NameListMirror:
    """The name lists of one gateway's log, in memory and in one SQLite file.

    ``client`` is the connected :class:`~creditlink.sdk.client.Client` to sync from (``None``
    for a read-only mirror of an existing file); ``path`` the SQLite file, created with mode
    0600 if missing and loaded otherwise. ``page_size`` statements are applied per SQLite
    transaction, together with the cursor after them, so a crash never loses or repeats one.
    The file's ``statements`` table lists every statement folded or skipped (leaf, kind, id,
    sender, whether applied and why not); with ``keep_payloads`` it also keeps each signed
    payload as received, as evidence held locally (about 1.2 KB per name-list entry: 1.2 GB
    for a million). Without, the evidence stays in the gateway's log, where the leaf index
    finds it with its inclusion proof.

    Reads (:meth:`is_listed`, :meth:`entries_for`, :meth:`measures_for`) answer from memory
    and are safe from any thread while one thread syncs (:meth:`sync`, :meth:`follow`, or
    :meth:`start` for a background thread). Memory: a dict from subject to its newest entry's
    row, and per entry a state byte, three 4-byte integers (start, end, next row of the same
    subject), a 4-byte index into the interned measure-reference sets, the 18-byte packed
    entry id and its slot in the id index (4 bytes per 0.6 entry or less).
    """

    def __init__(
        self,
        client: Client | None,
        path: str | os.PathLike[str],
        *,
        page_size: int = 1000,
        keep_payloads: bool = False,
    ) -> None:
        """Open (or create) the mirror at ``path`` and load it into memory."""
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._client = client
        self._path = Path(path)
        self._page_size = page_size
        self._keep_payloads = keep_payloads
        if not self._path.exists():
            # Private: what a platform mirrors, and how far, is its own business.
            os.close(os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._sync_lock = threading.Lock()
        self._subscription: Subscription | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._day_number = 0
        self._day_ends = 0.0
        # Rows of the write-only ``statements`` table, and new entries, written in one
        # executemany each per page.
        self._statement_rows: list[tuple[object, ...]] = []
        self._pending_entries: list[_NewEntry] = []
        self._pending_ids: set[bytes] = set()
        self._load()

    # -- loading ------------------------------------------------------------------------------

    def _reset_memory(self) -> None:
        self._heads: dict[str, int] = {}
        self._state = bytearray()
        self._start = array("i")
        self._end = array("i")
        self._next = array("i")
        self._mset = array("I")
        self._ids = bytearray()
        self._by_id = _IdIndex(self._ids)
        self._msets: list[tuple[MeasureRef, ...]] = []
        self._mset_index: dict[str, int] = {}
        # list id -> its versions, oldest effective date first.
        self._lists: dict[str, list[_Version]] = {}

    def _load(self) -> None:
        """Rebuild memory from the file (rows in order, so ``row`` is the array index)."""
        self._reset_memory()
        rows = self._db.execute(
            "SELECT row, entry_id, subject, state, listing_start, listing_end, measures "
            "FROM entries ORDER BY row"
        )
        heads, state, start, end, nxt, mset = (
            self._heads,
            self._state,
            self._start,
            self._end,
            self._next,
            self._mset,
        )
        ids, intern = self._ids, self._intern
        for expected, (row, entry_id, subject, st, begin, finish, measures) in enumerate(rows):
            if row != expected:
                raise ValueError(f"{self._path}: entry rows are not contiguous at {expected}")
            state.append(st)
            start.append(begin)
            end.append(finish)
            head = heads.get(subject)
            if head is None:
                nxt.append(-1)
                heads[subject] = _single(row, st, begin, finish)
            else:
                nxt.append((head >> 1) & _ROW_MASK)
                heads[subject] = (row << 1) | 1
            mset.append(intern(measures))
            ids += _pack_id(entry_id)
        self._by_id = _IdIndex(ids, len(state))
        for (body,) in self._db.execute(
            "SELECT body FROM measure_lists ORDER BY effective_date, leaf_index"
        ):
            measure_list = measure_pb2.MeasureList.FromString(body)
            self._lists.setdefault(measure_list.list_id, []).append(_version_of(measure_list))
        cursor = self._meta("cursor") or 0
        if not isinstance(cursor, int) or cursor < 0:
            raise ValueError(f"{self._path}: the recorded cursor is not valid")
        self._cursor = cursor
        self._checkpoint = self._stored_checkpoint()

    def _intern(self, measures: str) -> int:
        index = self._mset_index.get(measures)
        if index is None:
            index = self._mset_index[measures] = len(self._msets)
            self._msets.append(_decode_measures(measures))
        return index

    def _meta(self, key: str) -> object:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _set_meta(self, key: str, value: object) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _stored_checkpoint(self) -> Checkpoint | None:
        origin = self._meta("checkpoint_origin")
        if origin is None:
            return None
        size, root = self._meta("checkpoint_size"), self._meta("checkpoint_root")
        if not (isinstance(origin, str) and isinstance(size, int) and isinstance(root, bytes)):
            raise ValueError(f"{self._path}: the recorded checkpoint is not valid")
        return Checkpoint(origin=origin, size=size, root_hash=root)

    # -- state --------------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._path

    @property
    def cursor(self) -> int:
        """The next log leaf to read: every earlier one is in the file."""
        return self._cursor

    @property
    def checkpoint(self) -> Checkpoint | None:
        """The latest checkpoint the mirror proved consistent with its previous one."""
        return self._checkpoint

    def __len__(self) -> int:
        """The number of mirrored entries (in force or not)."""
        return len(self._state)

    # -- reads (from memory) ------------------------------------------------------------------

    def _today(self) -> int:
        """Today in China Standard Time as YYYYMMDD, recomputed once a day."""
        now = _now()
        if now >= self._day_ends:
            current = datetime.fromtimestamp(now, _CST)
            self._day_number = _day(current.date())
            midnight = current.replace(hour=0, minute=0, second=0, microsecond=0)
            self._day_ends = (midnight + timedelta(days=1)).timestamp()
        return self._day_number

    def is_listed(self, uscc: str, at: date | None = None) -> bool:
        """Whether an entry about ``uscc`` (or a person token) is in force on ``at`` (a China
        Standard Time date; today by default)."""
        head = self._heads.get(uscc)
        if head is None:
            return False
        # The hot path: no calls but the clock's, cached attributes, constants inlined.
        if at is not None:
            day = _day(at)
        elif _now() < self._day_ends:
            day = self._day_number
        else:
            day = self._today()
        if not head & 1:  # one entry: its window is in the head (see _single)
            window = head >> 33
            return window >> 27 <= day <= window & 0x7FFFFFF
        row = (head >> 1) & 0xFFFFFFFF  # _ROW_MASK
        state, start, end = self._state, self._start, self._end
        while True:
            if state[row] <= 3 and start[row] <= day <= end[row]:  # 3: _LAST_ACTIVE
                return True
            row = self._next[row]
            if row < 0:
                return False

    def _rows(self, subject: str) -> list[int]:
        rows = []
        head = self._heads.get(subject)
        row = -1 if head is None else (head >> 1) & _ROW_MASK
        while row >= 0:
            rows.append(row)
            row = self._next[row]
        rows.reverse()  # oldest first: log order
        return rows

    def _in_force(self, row: int, day: int) -> bool:
        return self._state[row] <= _LAST_ACTIVE and self._start[row] <= day <= self._end[row]

    def entries_for(self, uscc: str, at: date | None = None) -> tuple[MirroredEntry, ...]:
        """Every mirrored entry about ``uscc`` in log order, ended ones included, with whether
        each is in force on ``at`` (today by default)."""
        day = self._today() if at is None else _day(at)
        out = []
        for row in self._rows(uscc):
            end = self._end[row]
            packed = self._ids[row * _ID_STRIDE : (row + 1) * _ID_STRIDE]
            out.append(
                MirroredEntry(
                    entry_id=_unpack_id(packed),
                    subject=uscc,
                    state=_S.Name(self._state[row]),  # type: ignore[arg-type]
                    listing_start=_date_of(self._start[row]),
                    listing_end=None if end == _OPEN_END else _date_of(end),
                    measures=self._msets[self._mset[row]],
                    in_force=self._in_force(row, day),
                )
            )
        return tuple(out)

    def measures_for(
        self, uscc: str, purpose: int | str, at: date | None = None
    ) -> tuple[MeasureRef, ...]:
        """The measures that apply to ``uscc`` for ``purpose`` (a ``UsePurpose`` value or
        name) on ``at`` (today by default), resolved against the measure lists in force then
        (see the module docstring); references to the version in force, without repeats, in
        the log order of the entries that apply them."""
        wanted = _purpose_value(purpose)
        day = self._today() if at is None else _day(at)
        seen: dict[MeasureRef, None] = {}
        for row in self._rows(uscc):
            if not self._in_force(row, day):
                continue
            for ref in self._msets[self._mset[row]]:
                version = self._version_in_force(ref.list_id, day)
                if version is None:
                    continue
                measure = version.measures.get(ref.measure_id)
                if measure is not None and applies_for(measure, wanted):
                    seen[MeasureRef(ref.list_id, version.version, ref.measure_id)] = None
        return tuple(seen)

    def _version_in_force(self, list_id: str, day: int) -> _Version | None:
        found = None
        for version in self._lists.get(list_id, ()):
            if version.effective > day:
                break
            found = version
        return found

    def measure_list_versions(self, list_id: str) -> tuple[str, ...]:
        """The mirrored versions of a measure list, oldest effective date first."""
        return tuple(v.version for v in self._lists.get(list_id, ()))

    # -- sync ---------------------------------------------------------------------------------

    def _require_client(self) -> Client:
        if self._client is None:
            raise ValueError("this mirror has no client: open it with one to sync")
        return self._client

    def _prove_consistency(self, client: Client) -> Checkpoint:
        """Step 3 of the module docstring: the gateway's log extends the recorded checkpoint."""
        old = self._checkpoint
        if old is None:
            return client.get_checkpoint()
        new = client.get_consistency_proof(old).new  # InvalidProof if the log was rewritten
        if new.origin != old.origin:
            raise VerificationError(
                f"the mirror follows {old.origin!r}, the gateway's log is {new.origin!r}",
                reason="LOG_ORIGIN_MISMATCH",
            )
        return new

    def sync(self, until_head: bool = True) -> SyncResult:
        """Pull new name-list statements, fold them in and persist them, page by page.

        With ``until_head`` (the default) it returns at the log's current end; without, it
        follows the log until :meth:`stop` (or an error). Resumes from the file's cursor, after
        proving the gateway's log consistent with the checkpoint recorded last.
        """
        client = self._require_client()
        with self._sync_lock:
            checkpoint = self._prove_consistency(client)
            counts = [0, 0, 0]  # entries added, transitions applied, skipped
            subscription = client.subscribe(KINDS, cursor=self._cursor, follow=not until_head)
            self._subscription = subscription
            if not until_head and self._stopping.is_set():
                # stop() came between follow()'s catch-up and this subscription: it could not
                # close what did not exist yet, so the subscription must not start following.
                subscription.close()
            pending = 0
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for entry in self._iterate(subscription):
                        self._apply(entry, counts)
                        pending += 1
                        if pending >= self._page_size or not until_head:
                            self._flush_entries()
                            self._commit(subscription.cursor, None)
                            pending = 0
                            self._db.execute("BEGIN IMMEDIATE")
                    self._flush_entries()
                    self._commit(subscription.cursor, checkpoint)
                except BaseException:
                    self._pending_entries.clear()
                    self._pending_ids.clear()
                    self._statement_rows.clear()
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    self._load()  # memory back to what the file holds
                    raise
            finally:
                self._subscription = None
                subscription.close()
        return SyncResult(
            entries_added=counts[0],
            transitions_applied=counts[1],
            skipped=counts[2],
            cursor=self._cursor,
            checkpoint=self._checkpoint,
        )

    def _iterate(self, subscription: Subscription) -> Iterator[Entry]:
        try:
            yield from subscription
        except CreditlinkError:
            if not self._stopping.is_set():
                raise  # closed from stop(): end quietly

    def _commit(self, cursor: int, checkpoint: Checkpoint | None) -> None:
        rows, self._statement_rows = self._statement_rows, []
        self._db.executemany(
            "INSERT OR IGNORE INTO statements VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows
        )
        self._set_meta("cursor", max(cursor, self._cursor))
        if checkpoint is not None:
            self._set_meta("checkpoint_origin", checkpoint.origin)
            self._set_meta("checkpoint_size", checkpoint.size)
            self._set_meta("checkpoint_root", checkpoint.root_hash)
        self._db.execute("COMMIT")
        self._cursor = max(cursor, self._cursor)
        if checkpoint is not None:
            self._checkpoint = checkpoint

    def _apply(self, entry: Entry, counts: list[int]) -> None:
        """Fold one verified entry into memory and the open transaction."""
        statement = entry.statement
        if entry.kind == "name-list-entry":
            listing = statement.name_list_entry
            entry_id = listing.entry_id
        elif entry.kind == "measure-list":
            entry_id = f"{statement.measure_list.list_id}@{statement.measure_list.version}"
        else:
            entry_id = statement.name_list_transition.entry_id
        try:
            if entry.kind == "name-list-entry":
                self._add_entry(entry, listing, entry_id)
                counts[0] += 1
            elif entry.kind == "name-list-transition":
                self._flush_entries()  # its entry may be waiting in this page
                self._move_entry(entry)
                counts[1] += 1
            elif entry.kind == "measure-list":
                self._add_measure_list(entry)
            else:
                raise _Skip(f"not a name-list kind: {entry.kind}")
            applied, note = 1, ""
        except _Skip as skip:
            applied, note = 0, str(skip)
            counts[2] += 1
            _log.warning("name-list mirror: leaf %d skipped: %s", entry.leaf_index, note)
        self._statement_rows.append(
            (
                entry.leaf_index,
                entry.kind,
                entry_id,
                entry.sender_node_id,
                entry.payload_type,
                entry.payload if self._keep_payloads else b"",
                applied,
                note,
            )
        )

    def _add_entry(self, entry: Entry, listing: name_list_pb2.NameListEntry, entry_id: str) -> None:
        """Check a new entry (``listing``, the statement's body) and queue it for
        :meth:`_flush_entries`."""
        if listing.state != _LISTED or listing.transitions:
            raise _Skip("a new entry must be LISTED with no transitions")
        named = listing.subject
        subject = named.uscc or named.person_token
        if not subject:
            raise _Skip("the entry names no subject")
        try:
            packed = _pack_id(entry_id)
        except (ValueError, KeyError):
            raise _Skip(f"malformed entry id {entry_id!r}") from None
        if packed in self._pending_ids or self._by_id.find(packed) is not None:
            raise _Skip(f"entry {entry_id} exists already")
        start = _proto_day(listing.listing_start)
        end = _proto_day(listing.listing_end) if listing.HasField("listing_end") else _OPEN_END
        self._pending_ids.add(packed)
        self._pending_entries.append(
            _NewEntry(
                entry_id=entry_id,
                subject=subject,
                start=start,
                end=end,
                measures=_encode_measures(listing.measures),
                origin=entry.sender_node_id,
                leaf_index=entry.leaf_index,
                packed=packed,
            )
        )

    def _flush_entries(self) -> None:
        """Write the queued entries in one ``executemany``, then take them into memory.

        A page of a feed is written at once: per-entry ``INSERT`` calls cost more than the
        rest of the fold. Ids are unique already (checked in memory when queued).
        """
        pending, self._pending_entries = self._pending_entries, []
        self._pending_ids.clear()
        if not pending:
            return
        base = len(self._state)
        self._db.executemany(_INSERT_ENTRY, [new.values(base + i) for i, new in enumerate(pending)])
        for new in pending:
            self._remember(new)

    def _remember(self, new: _NewEntry) -> None:
        """Take a written entry into memory (after its row: readers only see whole entries)."""
        row = len(self._state)
        self._state.append(_LISTED)
        self._start.append(new.start)
        self._end.append(new.end)
        self._mset.append(self._intern(new.measures))
        self._ids += new.packed
        self._by_id.add(new.packed, row)
        subject = new.subject
        head = self._heads.get(subject)
        if head is None:
            self._next.append(-1)
            self._heads[subject] = _single(row, _LISTED, new.start, new.end)
        else:
            self._next.append((head >> 1) & _ROW_MASK)
            self._heads[subject] = (row << 1) | 1

    def _add_measure_list(self, entry: Entry) -> None:
        body = entry.statement.measure_list
        versions = self._lists.get(body.list_id, [])
        latest = max(versions, key=lambda v: v.effective, default=None)
        if any(v.version == body.version for v in versions):
            raise _Skip(f"measure list {body.list_id}@{body.version} exists already")
        if body.previous_version != (latest.version if latest is not None else ""):
            raise _Skip(f"{body.list_id}@{body.version} does not extend the latest version")
        version = _version_of(body)
        if latest is not None and version.effective <= latest.effective:
            raise _Skip(f"{body.list_id}@{body.version} is not in force after the latest version")
        self._db.execute(
            "INSERT INTO measure_lists VALUES (?, ?, ?, ?, ?)",
            (
                body.list_id,
                body.version,
                version.effective,
                body.SerializeToString(deterministic=True),
                entry.leaf_index,
            ),
        )
        # A new list object, so readers on other threads never see a half-updated one.
        self._lists[body.list_id] = [*versions, version]

    def _move_entry(self, entry: Entry) -> None:
        change = entry.statement.name_list_transition
        try:
            row = self._by_id.find(_pack_id(change.entry_id))
        except (ValueError, KeyError):
            row = None
        if row is None:
            raise _Skip(f"no entry {change.entry_id}")
        origin, subject = self._db.execute(
            "SELECT origin_node_id, subject FROM entries WHERE row = ?", (row,)
        ).fetchone()
        if entry.sender_node_id != origin:
            raise _Skip(f"{entry.sender_node_id!r} did not determine entry {change.entry_id}")
        current, target = self._state[row], int(change.to_state)
        if change.from_state != current:
            raise _Skip(f"from state {change.from_state}, the entry is in {current}")
        if current > _LAST_ACTIVE:
            raise _Skip(f"state {current} is terminal")
        if not 1 <= target <= _LAST_STATE or target == current:
            raise _Skip(f"no move from {current} to {target}")
        if target == _LISTED and current not in (_UNDER_OBJECTION, _RECTIFYING):
            raise _Skip("only UNDER_OBJECTION and RECTIFYING return to LISTED")
        logged_day = _day(entry.integrated_at.astimezone(_CST).date())
        if target != _EXPIRED and logged_day > self._end[row]:
            raise _Skip("the listing had ended; only its expiry may be recorded")
        self._db.execute("UPDATE entries SET state = ? WHERE row = ?", (target, row))
        self._state[row] = target
        head = self._heads[subject]
        if not head & 1:  # the subject's only entry: refresh the window kept in its head
            self._heads[subject] = _single(row, target, self._start[row], self._end[row])

    # -- following ----------------------------------------------------------------------------

    def follow(self) -> None:
        """Catch up, then apply new statements as they are logged, until :meth:`stop`.

        Each statement is committed as it arrives. Reconnection after a gateway restart is the
        subscription's (backoff, resume at the cursor).
        """
        self._stopping.clear()
        self.sync(until_head=True)
        if not self._stopping.is_set():
            self.sync(until_head=False)

    def start(self) -> None:
        """Run :meth:`follow` in a daemon thread (errors are logged, and end the thread)."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("the mirror is following already")
        self._stopping.clear()

        def run() -> None:
            try:
                self.follow()
            except Exception:
                _log.exception("name-list mirror: following stopped")

        self._thread = threading.Thread(target=run, name="name-list-mirror", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop :meth:`follow` (from another thread) and wait for the background thread."""
        self._stopping.set()
        subscription = self._subscription
        if subscription is not None:
            subscription.close()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def close(self) -> None:
        """Stop following and close the file. The mirror cannot be used afterwards."""
        self.stop()
        with self._sync_lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        path = os.fspath(self._path)
        return f"NameListMirror({path!r}, entries={len(self)}, cursor={self._cursor})"
