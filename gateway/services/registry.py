"""The domain services a gateway serves besides ``ExchangeService`` and ``FederationService``.

Each entry is a service module's ``register(server, ctx)``: it adds the servicer to the
grpc.aio server and returns the service's full name, which the node then reports in health
checking and server reflection. Add a service here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import grpc

from creditlink.gateway.services import measures, name_lists, records
from creditlink.gateway.services import objections as objection_service
from creditlink.gateway.services import reports as report_service
from creditlink.gateway.services.pipeline import ServiceContext

__all__ = ["DOMAIN_SERVICES", "Register"]

#: ``register(server, ctx) -> full service name``.
Register = Callable[["grpc.aio.Server", ServiceContext], str]

DOMAIN_SERVICES: Final[tuple[Register, ...]] = (
    records.register,
    name_lists.register,
    measures.register,
    report_service.register,
    objection_service.register,
)
