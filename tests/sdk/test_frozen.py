"""``_internal.frozen.builder``: the fast constructor of hot-path results makes the same object
as the dataclass's own ``__init__``, refuses a call that leaves a field out, and refuses a
class it cannot build."""

from __future__ import annotations

import dataclasses
import doctest
from datetime import UTC, datetime

import pytest

from creditlink.sdk._internal import frozen
from creditlink.sdk._internal.frozen import builder
from creditlink.sdk.batch import BatchItem, VerifiedBatchItem
from creditlink.sdk.client import Entry
from creditlink.v1 import statement_pb2

AT = datetime(2026, 3, 20, 8, 0, tzinfo=UTC)


def test_examples_hold() -> None:
    result = doctest.testmod(frozen)
    assert result.attempted
    assert not result.failed


@pytest.mark.parametrize(
    ("cls", "fields"),
    [
        (
            VerifiedBatchItem,
            {
                "item": BatchItem(b"payload", "application/x"),
                "index": 3,
                "root": b"r" * 32,
                "count": 7,
                "batch_id": "b-1",
                "signer_node_id": "zj-330000",
                "signed_at": AT,
                "signer_key_ids": ("k1",),
            },
        ),
        (
            Entry,
            {
                "leaf_index": 9,
                "sender_node_id": "zj-330000",
                "kind": "record",
                "payload_type": "application/x",
                "payload": b"payload",
                "statement": statement_pb2.Statement(),
                "integrated_at": AT,
                "batch_id": None,
                "signed": None,
            },
        ),
    ],
)
def test_built_results_equal_constructed_ones_and_stay_frozen(
    cls: type, fields: dict[str, object]
) -> None:
    built = builder(cls)(**fields)
    assert type(built) is cls
    assert built == cls(**fields)
    assert repr(built) == repr(cls(**fields))
    assert dataclasses.asdict(built).keys() == fields.keys()
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.batch_id = "other"


def test_a_missing_or_unknown_field_is_refused() -> None:
    fields = {"item": BatchItem(b"p", "t"), "index": 0, "root": b"r" * 32, "count": 1}
    with pytest.raises(AssertionError):
        builder(VerifiedBatchItem)(**fields)
    with pytest.raises(AssertionError):
        builder(Entry)(leaf_index=1, nonsense=2)


def test_a_class_with_post_init_or_slots_is_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            if self.x < 0:
                raise ValueError("x")

    @dataclasses.dataclass(frozen=True, slots=True)
    class Slotted:
        x: int

    with pytest.raises(TypeError):
        builder(Checked)
    with pytest.raises(TypeError):
        builder(Slotted)
