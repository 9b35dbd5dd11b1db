"""The domain effect of each statement kind, one module per kind (``gateway/domain/projection``).

:func:`default_handlers` is what a gateway projects its log with; a kind without a handler is
logged with no domain effect.
"""

from __future__ import annotations

from creditlink.gateway.domain.handlers.commitments import commitment_handlers
from creditlink.gateway.domain.handlers.evaluations import evaluation_handlers
from creditlink.gateway.domain.handlers.measures import measure_handlers
from creditlink.gateway.domain.handlers.name_lists import name_list_handlers
from creditlink.gateway.domain.handlers.objections import objection_handlers
from creditlink.gateway.domain.handlers.records import record_handlers
from creditlink.gateway.domain.handlers.repairs import repair_handlers
from creditlink.gateway.domain.handlers.reports import report_handlers
from creditlink.gateway.domain.projection import Handler

__all__ = ["default_handlers"]


def default_handlers() -> list[Handler]:
    """One handler per statement kind with a domain effect."""
    return [
        *record_handlers(),
        *name_list_handlers(),
        *measure_handlers(),
        *evaluation_handlers(),
        *objection_handlers(),
        *repair_handlers(),
        *commitment_handlers(),
        *report_handlers(),
    ]
