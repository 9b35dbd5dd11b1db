-- creditlink gateway store, SQLite, version 1: the log, its tiles, batches, messages and head.
--
-- Applied by creditlink.gateway.store.sqlite inside one transaction, one statement at a time
-- (a statement ends with ';' at the end of a line). Timestamps are INTEGER microseconds since
-- the Unix epoch, UTC: exact, compact and cheap to compare. STRICT tables (SQLite >= 3.37) make
-- a wrongly typed value an error instead of a silent conversion.

-- One row per leaf. leaf_index is the rowid (INTEGER PRIMARY KEY): appends in leaf order go to
-- the right edge of the table's B-tree and a range read is a rowid range scan.
CREATE TABLE log_entries (
    leaf_index     INTEGER PRIMARY KEY CHECK (leaf_index >= 0),
    message_id     TEXT    NOT NULL,
    batch_id       TEXT,
    index_in_batch INTEGER CHECK (index_in_batch >= 0),
    kind           TEXT    NOT NULL,
    sender_node_id TEXT    NOT NULL,
    payload_type   TEXT    NOT NULL,
    payload        BLOB    NOT NULL,
    envelope       BLOB,
    leaf_hash      BLOB    NOT NULL CHECK (length(leaf_hash) = 32),
    subject_key    TEXT,
    integrated_at  INTEGER NOT NULL,
    CHECK ((batch_id IS NULL) = (index_in_batch IS NULL))
) STRICT;

-- The only secondary index on the write path: lookups by subject (e.g. a USCC), paged by leaf.
-- Partial, so entries without a subject cost nothing.
CREATE INDEX log_entries_subject ON log_entries (subject_key, leaf_index)
    WHERE subject_key IS NOT NULL;

CREATE TABLE batches (
    batch_id         TEXT    PRIMARY KEY,
    sender_node_id   TEXT    NOT NULL,
    head_envelope    BLOB    NOT NULL,
    first_leaf_index INTEGER NOT NULL CHECK (first_leaf_index >= 0),
    count            INTEGER NOT NULL CHECK (count >= 1)
) STRICT;

-- C2SP tlog-tiles-style hash tiles: up to 256 concatenated 32-byte hashes of tree level 8*level.
CREATE TABLE tiles (
    level  INTEGER NOT NULL CHECK (level >= 0),
    idx    INTEGER NOT NULL CHECK (idx >= 0),
    hashes BLOB    NOT NULL CHECK (length(hashes) BETWEEN 32 AND 8192 AND length(hashes) % 32 = 0),
    PRIMARY KEY (level, idx)
) STRICT;

-- Idempotency and replay protection: one row per accepted message id.
CREATE TABLE messages (
    message_id       TEXT    PRIMARY KEY,
    request_digest   BLOB    NOT NULL CHECK (length(request_digest) = 32),
    receipt          BLOB    NOT NULL,
    first_leaf_index INTEGER NOT NULL CHECK (first_leaf_index >= 0),
    leaf_count       INTEGER NOT NULL CHECK (leaf_count >= 0),
    sender_node_id   TEXT    NOT NULL,
    accepted_at      INTEGER NOT NULL
) STRICT;

-- Exactly one row (id = 1), created here so that every writer can lock and update it.
CREATE TABLE log_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    size       INTEGER NOT NULL CHECK (size >= 0),
    frontier   BLOB    NOT NULL CHECK (length(frontier) % 32 = 0),
    checkpoint TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

INSERT INTO log_head (id, size, frontier, checkpoint, updated_at)
VALUES (1, 0, x'', '', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000);
