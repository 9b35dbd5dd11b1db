-- creditlink gateway store, PostgreSQL, version 1: the log, its tiles, batches, messages and head.
--
-- Applied by creditlink.gateway.store.postgres inside one transaction, holding an advisory lock
-- so that replicas starting together migrate once. Tables are created in the first schema of
-- the connection's search_path. Same tables, columns and indexes as the SQLite migration.

-- One row per leaf, appended in leaf order.
CREATE TABLE log_entries (
    leaf_index     bigint      PRIMARY KEY CHECK (leaf_index >= 0),
    message_id     text        NOT NULL,
    batch_id       text,
    index_in_batch integer     CHECK (index_in_batch >= 0),
    kind           text        NOT NULL,
    sender_node_id text        NOT NULL,
    payload_type   text        NOT NULL,
    payload        bytea       NOT NULL,
    envelope       bytea,
    leaf_hash      bytea       NOT NULL CHECK (octet_length(leaf_hash) = 32),
    subject_key    text,
    integrated_at  timestamptz NOT NULL,
    CHECK ((batch_id IS NULL) = (index_in_batch IS NULL))
);

-- The only secondary index on the write path: lookups by subject (e.g. a USCC), paged by leaf.
-- Partial, so entries without a subject cost nothing.
CREATE INDEX log_entries_subject ON log_entries (subject_key, leaf_index)
    WHERE subject_key IS NOT NULL;

CREATE TABLE batches (
    batch_id         text    PRIMARY KEY,
    sender_node_id   text    NOT NULL,
    head_envelope    bytea   NOT NULL,
    first_leaf_index bigint  NOT NULL CHECK (first_leaf_index >= 0),
    count            integer NOT NULL CHECK (count >= 1)
);

-- C2SP tlog-tiles-style hash tiles: up to 256 concatenated 32-byte hashes of tree level 8*level.
CREATE TABLE tiles (
    level  integer NOT NULL CHECK (level >= 0),
    idx    bigint  NOT NULL CHECK (idx >= 0),
    hashes bytea   NOT NULL
        CHECK (octet_length(hashes) BETWEEN 32 AND 8192 AND octet_length(hashes) % 32 = 0),
    PRIMARY KEY (level, idx)
);

-- Idempotency and replay protection: one row per accepted message id.
CREATE TABLE messages (
    message_id       text        PRIMARY KEY,
    request_digest   bytea       NOT NULL CHECK (octet_length(request_digest) = 32),
    receipt          bytea       NOT NULL,
    first_leaf_index bigint      NOT NULL CHECK (first_leaf_index >= 0),
    leaf_count       integer     NOT NULL CHECK (leaf_count >= 0),
    sender_node_id   text        NOT NULL,
    accepted_at      timestamptz NOT NULL
);

-- Exactly one row (id = 1), created here so that every writer can lock it (SELECT ... FOR UPDATE).
CREATE TABLE log_head (
    id         smallint    PRIMARY KEY CHECK (id = 1),
    size       bigint      NOT NULL CHECK (size >= 0),
    frontier   bytea       NOT NULL CHECK (octet_length(frontier) % 32 = 0),
    checkpoint text        NOT NULL,
    updated_at timestamptz NOT NULL
);

INSERT INTO log_head (id, size, frontier, checkpoint, updated_at)
VALUES (1, 0, '\x'::bytea, '', now());
