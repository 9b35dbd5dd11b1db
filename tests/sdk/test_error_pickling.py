"""Errors cross process boundaries whole (a gateway's intake workers send them back)."""

from __future__ import annotations

import pickle
from datetime import timedelta

import pytest

from creditlink.gateway.intake import ItemFailure, RejectedBatch
from creditlink.sdk import errors
from creditlink.sdk.errors import CreditlinkError, FieldViolation


def _every_error_class() -> list[type[CreditlinkError]]:
    found: list[type[CreditlinkError]] = []
    pending: list[type[CreditlinkError]] = [CreditlinkError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return [c for c in found if c.__module__ == errors.__name__]


@pytest.mark.parametrize("cls", _every_error_class(), ids=lambda c: c.__name__)
def test_reason_message_and_class_survive_pickling(cls: type[CreditlinkError]) -> None:
    error = cls("what went wrong", reason="SOME_REASON")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert (copy.message, copy.reason, str(copy)) == (error.message, error.reason, str(error))
    assert copy.metadata == error.metadata


def test_keyword_attributes_survive_pickling() -> None:
    invalid = errors.InvalidArgument(
        "bad", reason="CONSTRAINT_VIOLATION", field_violations=(FieldViolation("a.b", "no"),)
    )
    assert pickle.loads(pickle.dumps(invalid)).field_violations == invalid.field_violations
    pushback = errors.Pushback("slow down", retry_after=timedelta(seconds=3))
    assert pickle.loads(pickle.dumps(pushback)).retry_after == timedelta(seconds=3)
    assert pickle.loads(pickle.dumps(errors.Pushback("x"))).reason == "PUSHBACK"


def test_a_rejected_batch_keeps_each_item_failure() -> None:
    batch = RejectedBatch(
        "2 of 3 items were refused",
        failures=[
            ItemFailure(0, "m0", errors.InvalidArgument("bad uscc", reason="INVALID_USCC")),
            ItemFailure(2, "m2", errors.PermissionDenied("no", reason="PERMISSION_DENIED_SCOPE")),
        ],
    )
    copy = pickle.loads(pickle.dumps(batch))
    assert copy.reason == "BATCH_REJECTED"
    assert [(f.index, f.message_id, f.error.reason) for f in copy.failures] == [
        (0, "m0", "INVALID_USCC"),
        (2, "m2", "PERMISSION_DENIED_SCOPE"),
    ]
