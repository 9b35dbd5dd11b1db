"""Whom a statement is about and within which scopes it falls (CXP-TRUST-031).

One derivation for both directions of access control: the intake checks that a sender may
*publish* a statement within its scopes, and the exchange checks, entry by entry, that a peer
with a scoped READ grant may *read* it. Scopes come from the statement body: ``region:<code>``
for the body's region code, each authority's region and the subject's (a legal person's region
is characters 3–8 of its USCC), and ``authority:<USCC>`` for each authority named; the sender's
``sector:`` is added by the caller, who knows the sender::

    subject_key, scopes = subject_and_scopes(statement.record, "record")
    # ("91330100MA27XL0A6Q", ["region:330100", "authority:11330100MB183543XG"])
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from google.protobuf import message as pb_message
from google.protobuf.descriptor import Descriptor

from creditlink.sdk.errors import FieldViolation, InvalidArgument
from creditlink.sdk.ids import InvalidIdentifier, validate_uscc
from creditlink.sdk.trust import NodeInfo
from creditlink.v1 import common_pb2, statement_pb2

__all__ = ["entry_scopes", "subject_and_scopes"]

_AUTHORITY_FIELDS = (
    "authority",
    "determining_authority",
    "issuing_authority",
    "handling_authority",
    "deciding_authority",
    "accepting_authority",
    "assessing_authority",
    "evaluator",
)


def subject_and_scopes(body: pb_message.Message, kind: str) -> tuple[str | None, list[str]]:
    """Validate the identifiers ``body`` (a statement's body of ``kind``) carries.

    Returns its subject key (a legal person's USCC or a natural person's token, or None) and
    its scopes, regions first. A malformed USCC raises ``InvalidArgument`` (``INVALID_USCC``)
    naming the field: codes that fail are rejected, never corrected.
    """
    field = kind.replace("-", "_")
    shape = _shape(body.DESCRIPTOR)
    subject_key: str | None = None
    regions: list[str] = []
    scopes: list[str] = []
    if shape.subject and body.HasField("subject"):
        subject: common_pb2.SubjectRef = body.subject  # type: ignore[attr-defined]
        if subject.uscc:
            code = _uscc(subject.uscc, f"{field}.subject.uscc")
            subject_key = code
            regions.append(code[2:8])
        elif subject.person_token:
            subject_key = subject.person_token
    for name in shape.authorities:
        if body.HasField(name):
            authority: common_pb2.AuthorityRef = getattr(body, name)
            if authority.uscc:
                scopes.append(f"authority:{_uscc(authority.uscc, f'{field}.{name}.uscc')}")
            if authority.region_code:
                regions.insert(0, authority.region_code)
    if shape.region_code:
        region: str = body.region_code  # type: ignore[attr-defined]
        if region:
            regions.insert(0, region)
    scopes[:0] = [f"region:{r}" for r in dict.fromkeys(regions)]
    return subject_key, scopes


def entry_scopes(payload: bytes, kind: str, sender: NodeInfo | None) -> tuple[str, ...]:
    """The scopes of a logged statement (its serialized ``payload``), the sender's sector too.

    For entries the intake accepted; a payload that no longer parses or validates (it cannot
    have been accepted) has no scope, so a scoped grant never covers it.
    """
    try:
        statement = statement_pb2.Statement.FromString(payload)
        body = getattr(statement, statement.WhichOneof("body") or "")
        _, scopes = subject_and_scopes(body, kind)
    except (pb_message.DecodeError, InvalidArgument, AttributeError, TypeError):
        return ()
    if sender is not None and sender.sector:
        scopes.append(f"sector:{sender.sector}")
    return tuple(scopes)


@functools.lru_cache(maxsize=65536)
def _checked_uscc(code: str) -> tuple[str, str | None]:
    # Authority and source-unit codes repeat on nearly every record of a batch: validate each
    # distinct code once (hot path). Returns (compact code, None) or (code, what is wrong).
    try:
        return validate_uscc(code), None
    except InvalidIdentifier as exc:
        return code, exc.message


def _uscc(code: str, path: str) -> str:
    compact, problem = _checked_uscc(code)
    if problem is not None:
        raise InvalidArgument(
            f"{path}: {problem}",
            reason="INVALID_USCC",
            field_violations=(FieldViolation(path, problem),),
        )
    return compact


@dataclass(frozen=True, slots=True)
class _Shape:
    """Where a body type carries the identifiers the intake checks."""

    subject: bool
    authorities: tuple[str, ...]
    region_code: bool


@functools.cache
def _shape(descriptor: Descriptor) -> _Shape:
    # Read from the descriptor once per body type instead of probing every name per record.
    fields = descriptor.fields_by_name
    subject = fields.get("subject")
    region = fields.get("region_code")
    return _Shape(
        subject=subject is not None and subject.message_type is common_pb2.SubjectRef.DESCRIPTOR,
        authorities=tuple(
            name
            for name in _AUTHORITY_FIELDS
            if name in fields
            and fields[name].message_type is common_pb2.AuthorityRef.DESCRIPTOR
            and not fields[name].is_repeated
        ),
        region_code=region is not None
        and region.type == region.TYPE_STRING
        and not region.is_repeated,
    )
