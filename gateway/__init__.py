"""The CXP node: gRPC services, access control, store backends, ledger, feeds and outbox.

``node`` assembles one gateway from its configuration and credentials: ``store`` persists,
``ledger`` sequences and signs the log, ``intake`` opens, verifies and checks submissions,
``services`` are the gRPC servicers, ``errors`` maps failures to statuses, ``outbox`` forwards.
"""

__all__: list[str] = []
