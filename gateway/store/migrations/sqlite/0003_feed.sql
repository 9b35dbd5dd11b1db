-- creditlink gateway store, SQLite, version 3: the feed, entries mirrored from other nodes'
-- logs (a regional gateway following its upstream's name lists and measure lists).
--
-- Written by creditlink.gateway.feed only after each entry verified (signature, inclusion in a
-- checkpoint of the origin's log proven consistent with the previous one). Entries and the
-- cursor of their origin are written in one transaction, so a restart resumes without gaps or
-- duplicates. Timestamps are INTEGER microseconds since the Unix epoch, UTC, as in version 1.


-- One row per mirrored entry, keyed by where it sits in its origin's log. envelope holds what
-- the origin served, as received: a serialized Envelope, or a BatchedEnvelope when batched = 1.
CREATE TABLE feed_entries (
    origin_node_id TEXT    NOT NULL CHECK (length(origin_node_id) > 0),
    leaf_index     INTEGER NOT NULL CHECK (leaf_index >= 0),
    kind           TEXT    NOT NULL CHECK (length(kind) > 0),
    sender_node_id TEXT    NOT NULL CHECK (length(sender_node_id) > 0),
    message_id     TEXT    NOT NULL CHECK (length(message_id) > 0),
    subject_key    TEXT,
    envelope       BLOB    NOT NULL CHECK (length(envelope) > 0),
    batched        INTEGER NOT NULL CHECK (batched IN (0, 1)),
    leaf_hash      BLOB    NOT NULL CHECK (length(leaf_hash) = 32),
    integrated_at  INTEGER NOT NULL,
    received_at    INTEGER NOT NULL,
    PRIMARY KEY (origin_node_id, leaf_index)
) STRICT;

-- Lookups of the mirror: by subject (is this company listed?) and by kind (the measure lists).
CREATE INDEX feed_entries_subject ON feed_entries (subject_key, origin_node_id, leaf_index)
    WHERE subject_key IS NOT NULL;
CREATE INDEX feed_entries_kind ON feed_entries (origin_node_id, kind, leaf_index);

-- One row per origin: the next leaf to read and the last checkpoint proven consistent.
CREATE TABLE feed_cursors (
    origin_node_id  TEXT    PRIMARY KEY CHECK (length(origin_node_id) > 0),
    next_leaf_index INTEGER NOT NULL CHECK (next_leaf_index >= 0),
    checkpoint      TEXT    NOT NULL,
    checkpoint_size INTEGER NOT NULL CHECK (checkpoint_size >= 0),
    root_hash       BLOB    NOT NULL CHECK (length(root_hash) = 32),
    updated_at      INTEGER NOT NULL
) STRICT;
