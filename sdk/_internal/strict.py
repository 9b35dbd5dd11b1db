"""Strict protobuf parsing for signed payloads (docs/spec/envelope.md, CXP-ENV-007).

A signed payload is parsed only after its signature verifies, and then strictly: a field the
receiver's schema does not know, anywhere in the message tree, is refused rather than silently
carried along, because the signer may have meant something the receiver cannot see.
"""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

from creditlink.sdk.errors import InvalidEnvelope

__all__ = ["has_unknown_fields", "parse_strict"]

M = TypeVar("M", bound=Message)


def parse_strict(message_cls: type[M], data: bytes) -> M:
    """Parse binary protobuf ``data`` as ``message_cls``, refusing unknown fields.

    Raises :class:`InvalidEnvelope` with reason ``MALFORMED_PAYLOAD`` if ``data`` is not a valid
    encoding (including invalid UTF-8 in a string field) or if any message in the tree carries
    a field number its schema does not define.
    """
    message = message_cls()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise InvalidEnvelope(
            f"payload is not a valid {message_cls.DESCRIPTOR.full_name}", reason="MALFORMED_PAYLOAD"
        ) from exc
    if has_unknown_fields(message):
        raise InvalidEnvelope(
            f"payload has fields unknown to {message_cls.DESCRIPTOR.full_name}",
            reason="MALFORMED_PAYLOAD",
        )
    return message


def has_unknown_fields(message: Message) -> bool:
    """Whether ``message`` or any message nested in it (maps, lists) has unknown fields."""
    if len(UnknownFieldSet(message)):
        return True
    for descriptor, value in message.ListFields():
        entry = descriptor.message_type
        if entry is None:
            continue  # scalar field
        if entry.GetOptions().map_entry:
            if entry.fields_by_name["value"].message_type is not None and any(
                has_unknown_fields(v) for v in value.values()
            ):
                return True
        elif descriptor.is_repeated:
            if any(has_unknown_fields(v) for v in value):
                return True
        elif has_unknown_fields(value):
            return True
    return False
