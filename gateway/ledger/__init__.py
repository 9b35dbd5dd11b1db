"""The gateway's transparency log: sequencing, tree integration, checkpoints and receipts.

``tiles`` lays the Merkle tree out as hash tiles for storage; ``ledger`` runs the append
lifecycle in one store transaction and builds proofs. Verification code lives in
``creditlink.sdk.tlog`` and is shared with every verifier.
"""

from creditlink.gateway.ledger.ledger import (
    RECEIPT_PAYLOAD_TYPE,
    Acknowledgement,
    BatchInfo,
    Forward,
    Ledger,
    LedgerEntry,
    Submission,
)

__all__ = [
    "RECEIPT_PAYLOAD_TYPE",
    "Acknowledgement",
    "BatchInfo",
    "Forward",
    "Ledger",
    "LedgerEntry",
    "Submission",
]
