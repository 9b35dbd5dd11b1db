-- creditlink gateway store, PostgreSQL, version 3: the feed, entries mirrored from other
-- nodes' logs. Same tables, columns and indexes as the SQLite migration.
--
-- Written by creditlink.gateway.feed only after each entry verified (signature, inclusion in a
-- checkpoint of the origin's log proven consistent with the previous one). Entries and the
-- cursor of their origin are written in one transaction, so a restart resumes without gaps or
-- duplicates.

-- One row per mirrored entry, keyed by where it sits in its origin's log. envelope holds what
-- the origin served, as received: a serialized Envelope, or a BatchedEnvelope when batched.
CREATE TABLE feed_entries (
    origin_node_id text        NOT NULL CHECK (length(origin_node_id) > 0),
    leaf_index     bigint      NOT NULL CHECK (leaf_index >= 0),
    kind           text        NOT NULL CHECK (length(kind) > 0),
    sender_node_id text        NOT NULL CHECK (length(sender_node_id) > 0),
    message_id     text        NOT NULL CHECK (length(message_id) > 0),
    subject_key    text,
    envelope       bytea       NOT NULL CHECK (octet_length(envelope) > 0),
    batched        boolean     NOT NULL,
    leaf_hash      bytea       NOT NULL CHECK (octet_length(leaf_hash) = 32),
    integrated_at  timestamptz NOT NULL,
    received_at    timestamptz NOT NULL,
    PRIMARY KEY (origin_node_id, leaf_index)
);

-- Lookups of the mirror: by subject (is this company listed?) and by kind (the measure lists).
CREATE INDEX feed_entries_subject ON feed_entries (subject_key, origin_node_id, leaf_index)
    WHERE subject_key IS NOT NULL;
CREATE INDEX feed_entries_kind ON feed_entries (origin_node_id, kind, leaf_index);

-- One row per origin: the next leaf to read and the last checkpoint proven consistent.
CREATE TABLE feed_cursors (
    origin_node_id  text        PRIMARY KEY CHECK (length(origin_node_id) > 0),
    next_leaf_index bigint      NOT NULL CHECK (next_leaf_index >= 0),
    checkpoint      text        NOT NULL,
    checkpoint_size bigint      NOT NULL CHECK (checkpoint_size >= 0),
    root_hash       bytea       NOT NULL CHECK (octet_length(root_hash) = 32),
    updated_at      timestamptz NOT NULL
);
