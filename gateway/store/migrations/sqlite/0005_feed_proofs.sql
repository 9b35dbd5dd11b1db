-- creditlink gateway store, SQLite, version 5: the inclusion proof of each mirrored entry.
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
