"""The domain effect of each statement kind, one module per kind (``gateway/domain/projection``).

:func:`default_handlers` is what a gateway projects its log with; a kind without a handler is
logged with no domain effect.
"""

from __future__ import annotations

from creditlink.gateway.domain.calendar import WorkingDayCalendar
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


def default_handlers(calendar: WorkingDayCalendar | None = None) -> list[Handler]:
    """One handler per statement kind with a domain effect.

    ``calendar`` counts working days (deadlines of records, objections and repair); by default
    the ``chinesecalendar`` package alone, so years it does not know give provisional deadlines
    (the node passes one with the operator's holiday table, ``holiday_table``).
    """
    return [
        *record_handlers(calendar=calendar),
        *name_list_handlers(),
        *measure_handlers(),
        *evaluation_handlers(),
        *objection_handlers(calendar=calendar),
        *repair_handlers(calendar=calendar),
        *commitment_handlers(),
        *report_handlers(),
    ]
