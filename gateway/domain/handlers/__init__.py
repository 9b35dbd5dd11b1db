"""The domain effect of each statement kind, one module per kind (``gateway/domain/projection``).

:func:`default_handlers` is what a gateway projects its log with; a kind without a handler is
logged with no domain effect.
"""

from __future__ import annotations

from creditlink.gateway.domain.projection import Handler

__all__ = ["default_handlers"]


def default_handlers() -> list[Handler]:
    """One handler per statement kind with a domain effect."""
    return []
