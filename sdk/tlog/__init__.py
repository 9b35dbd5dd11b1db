"""The transparency-log library: RFC 9162 Merkle trees and C2SP signed checkpoints.

Pure code over bytes, shared by the gateway (which appends, stores nodes and signs checkpoints)
and by clients (which verify). No protobuf, no I/O, no clock.

* :mod:`~creditlink.sdk.tlog.merkle` — leaf and node hashes, inclusion and consistency proof
  verification (:func:`verify_inclusion`, :func:`verify_consistency`).
* :mod:`~creditlink.sdk.tlog.tree` — O(log n) appends from a :class:`Frontier`, proof
  generation from stored complete subtrees through a :class:`NodeReader`.
* :mod:`~creditlink.sdk.tlog.checkpoint` — signed notes and checkpoints
  (:func:`verify_checkpoint`, :func:`open_note`, :func:`sign_note`).

Typical client use::

    from creditlink.sdk.tlog import NoteVerifier, leaf_hash, verify_checkpoint, verify_inclusion

    log_key = NoteVerifier.from_vkey(trusted_vkey)             # from the trust bundle
    cp = verify_checkpoint(note, verifier=log_key, origin="gw.example/log")
    verify_inclusion(leaf_hash=leaf_hash(entry), index=i, tree_size=cp.size,
                     proof=proof, root=cp.root_hash)
"""

from creditlink.sdk.tlog.checkpoint import (
    MAX_SIGNATURES,
    SIGNATURE_TYPE_ED25519,
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    cosign_note,
    open_note,
    sign_note,
    verify_checkpoint,
)
from creditlink.sdk.tlog.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MAX_PROOF_LENGTH,
    MAX_TREE_SIZE,
    ProvenNodes,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from creditlink.sdk.tlog.tree import (
    Frontier,
    MemoryNodeStore,
    NodeId,
    NodeReader,
    NodeRun,
    ProofNodes,
    consistency_nodes,
    consistency_proof,
    inclusion_nodes,
    inclusion_proof,
    root_at,
)

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_PROOF_LENGTH",
    "MAX_SIGNATURES",
    "MAX_TREE_SIZE",
    "SIGNATURE_TYPE_ED25519",
    "Checkpoint",
    "Frontier",
    "MemoryNodeStore",
    "NodeId",
    "NodeReader",
    "NodeRun",
    "NoteSigner",
    "NoteVerifier",
    "ProofNodes",
    "ProvenNodes",
    "consistency_nodes",
    "consistency_proof",
    "cosign_note",
    "inclusion_nodes",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "open_note",
    "root_at",
    "root_from_inclusion_proof",
    "root_from_leaf_hashes",
    "sign_note",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
]
