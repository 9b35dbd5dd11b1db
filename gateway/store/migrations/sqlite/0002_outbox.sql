-- creditlink gateway store, SQLite, version 2: the outbox of messages to forward to other nodes.
--
-- One row per (message, destination node). Rows of one destination are delivered in id order;
-- a row stays 'pending' until it is 'delivered' (the destination's signed receipt is stored)
-- or 'failed' (refused for good, last_error says why). Timestamps are INTEGER microseconds
-- since the Unix epoch, UTC, as in version 1.

-- AUTOINCREMENT, not a plain rowid: ids are never reused, even after the newest rows are
-- deleted (pruning delivered rows), so id order stays enqueue order for good.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    destination     TEXT    NOT NULL CHECK (length(destination) > 0),
    message_id      TEXT    NOT NULL CHECK (length(message_id) > 0),
    sealed          BLOB    NOT NULL CHECK (length(sealed) > 0),
    request_id      TEXT    NOT NULL CHECK (length(request_id) > 0),
    enqueued_at     INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    state           TEXT    NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'failed')),
    receipt         BLOB,
    delivered_at    INTEGER,
    -- message_id first: the same uniqueness as (destination, message_id), and the index also
    -- serves the status lookup by message id.
    UNIQUE (message_id, destination),
    CHECK ((state = 'delivered') = (receipt IS NOT NULL)),
    CHECK ((state = 'delivered') = (delivered_at IS NOT NULL))
) STRICT;

-- The queue: the pending head of one destination in id order, and the per-destination counts.
-- Partial, so delivered rows (almost all of them, over time) leave the index and it stays the
-- size of the backlog. Queries repeat the term state <> 'delivered' so SQLite uses it.
CREATE INDEX outbox_queue ON outbox (destination, state, id) WHERE state <> 'delivered';
