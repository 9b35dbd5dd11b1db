"""The contract's constraints (the ``buf.validate`` annotations of the protos), checked with
protovalidate, refused one way everywhere: the intake's statements and the services' requests.

A message first meets its type's compiled plan (:mod:`creditlink.gateway.constraint_plans`),
which can only say "valid": when it does, protovalidate is not asked; otherwise protovalidate
decides, and its violations are what the refusal lists.
"""

from __future__ import annotations

from typing import Any, Final, cast

import protovalidate
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from creditlink.gateway.constraint_plans import plan_for
from creditlink.sdk.errors import FieldViolation, InvalidArgument

__all__ = ["MAX_VIOLATIONS", "check_constraints"]

#: Most field violations one refusal lists (the rest are counted in its message): the details
#: travel in the status trailers, which have a size limit.
MAX_VIOLATIONS: Final = 32


def check_constraints(message: Message, *, what: str) -> None:
    """Refuse ``message`` (the ``what`` of the refusal: "statement", "request") if it violates
    its contract constraints: ``InvalidArgument`` with reason ``CONSTRAINT_VIOLATION`` and a
    field violation per broken rule (the field's path, or the rule id of a message-level rule).
    """
    if plan_for(cast(Descriptor, message.DESCRIPTOR))(message):
        return  # every rule holds (the plan says nothing else)
    violations = protovalidate.collect_violations(message)
    if violations:
        raise InvalidArgument(
            f"the {what} violates {len(violations)} contract constraint(s)",
            reason="CONSTRAINT_VIOLATION",
            field_violations=tuple(
                FieldViolation(_path(v.proto), v.proto.message) for v in violations[:MAX_VIOLATIONS]
            ),
        )


def _path(violation: Any) -> str:
    # Message-level (CEL) rules name no field: the rule id says which rule failed.
    where = violation.field
    if where is not None and where.elements:
        return ".".join(e.field_name for e in where.elements)
    return str(violation.rule_id)
