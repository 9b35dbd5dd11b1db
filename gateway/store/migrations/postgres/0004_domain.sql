-- creditlink gateway store, PostgreSQL, version 4: domain objects, the projection of logged
-- statements. Same tables, columns and indexes as the SQLite migration.
--
-- Written by creditlink.gateway.domain in the transaction that logs the statements (or that
-- mirrors them from another node's log), so the state and the log never disagree. The log is
-- the truth: these rows can be rebuilt by replaying it.

CREATE TABLE domain_objects (
    kind           text        NOT NULL CHECK (length(kind) > 0),
    object_id      text        NOT NULL CHECK (length(object_id) > 0),
    subject_key    text,
    state          text        NOT NULL CHECK (length(state) > 0),
    body           bytea       NOT NULL,
    attrs          jsonb       NOT NULL,
    flags          text        NOT NULL,
    due_date       text,
    origin_node_id text        NOT NULL,
    log_origin     text        NOT NULL,
    created_leaf   bigint      NOT NULL CHECK (created_leaf >= 0),
    leaf_index     bigint      NOT NULL CHECK (leaf_index >= 0),
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (kind, object_id)
);

CREATE INDEX domain_objects_subject ON domain_objects (subject_key, kind)
    WHERE subject_key IS NOT NULL;
CREATE INDEX domain_objects_kind ON domain_objects (kind, leaf_index DESC, object_id DESC);
CREATE INDEX domain_objects_due ON domain_objects (kind, due_date) WHERE due_date IS NOT NULL;

CREATE TABLE domain_events (
    kind          text        NOT NULL,
    object_id     text        NOT NULL,
    log_origin    text        NOT NULL,
    leaf_index    bigint      NOT NULL CHECK (leaf_index >= 0),
    seq           integer     NOT NULL CHECK (seq >= 0),
    action        text        NOT NULL,
    actor_node_id text        NOT NULL,
    reason        text        NOT NULL,
    message_id    text        NOT NULL,
    at            timestamptz NOT NULL,
    PRIMARY KEY (kind, object_id, log_origin, leaf_index, seq)
);
