-- creditlink gateway store, PostgreSQL, version 5: the inclusion proof of each mirrored entry.
-- Same columns and rules as the SQLite migration.
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

ALTER TABLE feed_entries
    ADD COLUMN proof_tree_size  bigint CHECK (proof_tree_size > leaf_index),
    ADD COLUMN proof_hashes     bytea
        CHECK (octet_length(proof_hashes) % 32 = 0 AND octet_length(proof_hashes) <= 64 * 32),
    ADD COLUMN proof_checkpoint text CHECK (length(proof_checkpoint) > 0),
    ADD CONSTRAINT feed_entries_proof_complete CHECK (
        (proof_checkpoint IS NULL) = (proof_hashes IS NULL)
        AND (proof_checkpoint IS NULL) = (proof_tree_size IS NULL)
    );
