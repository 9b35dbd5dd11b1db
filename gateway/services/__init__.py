"""One module per CXP service, each a thin servicer over the intake, ledger and store.

Errors are raised as ``creditlink.sdk.errors`` exceptions and mapped to statuses in one place
(``creditlink.gateway.errors``).
"""

__all__: list[str] = []
