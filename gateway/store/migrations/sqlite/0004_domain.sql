-- creditlink gateway store, SQLite, version 4: domain objects, the projection of logged
-- statements (records, name-list entries, measure lists, objections, repair applications,
-- commitments, evaluations, reports, spot-check draws).
--
-- Written by creditlink.gateway.domain in the transaction that logs the statements (or that
-- mirrors them from another node's log), so the state and the log never disagree. The log is
-- the truth: these rows can be rebuilt by replaying it. Timestamps are INTEGER microseconds.

-- The current state of each object. attrs is a JSON object of small derived values; flags a
-- space-padded list of tags (' disputed overdue ') so that one LIKE finds a tag.
CREATE TABLE domain_objects (
    kind           TEXT    NOT NULL CHECK (length(kind) > 0),
    object_id      TEXT    NOT NULL CHECK (length(object_id) > 0),
    subject_key    TEXT,
    state          TEXT    NOT NULL CHECK (length(state) > 0),
    body           BLOB    NOT NULL,
    attrs          TEXT    NOT NULL CHECK (json_valid(attrs)),
    flags          TEXT    NOT NULL,
    due_date       TEXT,
    origin_node_id TEXT    NOT NULL,
    log_origin     TEXT    NOT NULL,
    created_leaf   INTEGER NOT NULL CHECK (created_leaf >= 0),
    leaf_index     INTEGER NOT NULL CHECK (leaf_index >= 0),
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (kind, object_id)
) STRICT;

-- A subject's objects (reports, CheckSubject), lists by state, deadlines, newest first.
CREATE INDEX domain_objects_subject ON domain_objects (subject_key, kind)
    WHERE subject_key IS NOT NULL;
CREATE INDEX domain_objects_kind ON domain_objects (kind, leaf_index DESC, object_id DESC);
CREATE INDEX domain_objects_due ON domain_objects (kind, due_date) WHERE due_date IS NOT NULL;

-- The history of each object: one row per change, with who and why.
CREATE TABLE domain_events (
    kind          TEXT    NOT NULL,
    object_id     TEXT    NOT NULL,
    log_origin    TEXT    NOT NULL,
    leaf_index    INTEGER NOT NULL CHECK (leaf_index >= 0),
    seq           INTEGER NOT NULL CHECK (seq >= 0),
    action        TEXT    NOT NULL,
    actor_node_id TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    message_id    TEXT    NOT NULL,
    at            INTEGER NOT NULL,
    PRIMARY KEY (kind, object_id, log_origin, leaf_index, seq)
) STRICT;
