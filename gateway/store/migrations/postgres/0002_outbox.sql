-- creditlink gateway store, PostgreSQL, version 2: the outbox of messages to forward to other
-- nodes. Same table, columns and indexes as the SQLite migration.
--
-- One row per (message, destination node). Rows of one destination are delivered in id order;
-- a row stays 'pending' until it is 'delivered' (the destination's signed receipt is stored)
-- or 'failed' (refused for good, last_error says why).

-- Identity values are taken at insert time, not at commit: ids follow commit order only among
-- writers that serialize, which the ledger's appends do (they enqueue holding the head lock).
CREATE TABLE outbox (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    destination     text        NOT NULL CHECK (length(destination) > 0),
    message_id      text        NOT NULL CHECK (length(message_id) > 0),
    sealed          bytea       NOT NULL CHECK (octet_length(sealed) > 0),
    request_id      text        NOT NULL CHECK (length(request_id) > 0),
    enqueued_at     timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    state           text        NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'failed')),
    receipt         bytea,
    delivered_at    timestamptz,
    -- message_id first: the same uniqueness as (destination, message_id), and the index also
    -- serves the status lookup by message id.
    UNIQUE (message_id, destination),
    CHECK ((state = 'delivered') = (receipt IS NOT NULL)),
    CHECK ((state = 'delivered') = (delivered_at IS NOT NULL))
);

-- The queue: the pending head of one destination in id order, and the per-destination counts.
-- Partial, so delivered rows (almost all of them, over time) leave the index and it stays the
-- size of the backlog.
CREATE INDEX outbox_queue ON outbox (destination, state, id) WHERE state <> 'delivered';
