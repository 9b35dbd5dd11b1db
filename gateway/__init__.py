"""The CXP node: gRPC services, access control, store backends, ledger, feeds and outbox.

The gateway arrives with its own issue; this package exists so the layout and packaging are
in place from the start.
"""

__all__: list[str] = []
