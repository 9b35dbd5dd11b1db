-- creditlink gateway store, SQLite, version 5: the inclusion proof and the object id of each
-- mirrored entry.
--
-- Written by creditlink.gateway.feed with the entry, in the same transaction: the audit path it
-- verified from the entry's leaf to the root of the origin's tree of proof_tree_size leaves, and
-- the origin's signed checkpoint note for that tree (proven consistent with the ones before).
-- The gateway serves them as the entry's provenance when a client asks for proofs, so the
-- client verifies the note under the origin's checkpoint keys and the path against its root.
--
-- All three are set together or not at all: rows mirrored before this version keep NULL (no
-- proof to serve). proof_hashes is the audit path, leaf to root, as concatenated 32-byte hashes
-- (empty for the only leaf of a tree of size 1), at most 64 of them as in every proof.
--
-- SQLite adds a column at a time and checks each column's CHECK against the existing rows (all
-- NULL here, which passes); the rule tying the three together sits on the last one added.

ALTER TABLE feed_entries ADD COLUMN proof_tree_size INTEGER
    CHECK (proof_tree_size > leaf_index);
ALTER TABLE feed_entries ADD COLUMN proof_hashes BLOB
    CHECK (length(proof_hashes) % 32 = 0 AND length(proof_hashes) <= 64 * 32);
ALTER TABLE feed_entries ADD COLUMN proof_checkpoint TEXT
    CHECK (
        length(proof_checkpoint) > 0
        AND (proof_checkpoint IS NULL) = (proof_hashes IS NULL)
        AND (proof_checkpoint IS NULL) = (proof_tree_size IS NULL)
    );

-- What object each mirrored statement is about, for lookups by id (GetNameListEntry on a
-- regional gateway): the entry_id for name-list-entry and name-list-transition (so every
-- statement about one entry is found together), <list_id>@<version> for measure-list (the
-- domain object id of the version), NULL for other kinds. Set by the feed with the entry; rows
-- mirrored before this version keep NULL and are not found by object id.
ALTER TABLE feed_entries ADD COLUMN object_id TEXT CHECK (length(object_id) > 0);

CREATE INDEX feed_entries_object ON feed_entries (object_id, origin_node_id, leaf_index)
    WHERE object_id IS NOT NULL;
