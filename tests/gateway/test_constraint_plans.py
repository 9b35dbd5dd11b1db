"""The compiled constraint plans against protovalidate (``gateway/constraint_plans.py``).

A plan may only ever say "valid" when protovalidate finds no violation (otherwise the gateway
would accept what the contract refuses), and it should say so for valid messages (otherwise it
is useless). Held to both on real statements of every hot kind mutated field by field with
edge values, and to the first on random messages of every type of the contract.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import protovalidate
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

import creditlink.v1
from creditlink.gateway import constraint_plans
from creditlink.gateway.cel_subset import Unsupported, compile_rule
from creditlink.gateway.constraint_plans import plan_for, plan_source
from creditlink.gateway.constraints import check_constraints
from creditlink.sdk.errors import InvalidArgument
from creditlink.v1 import name_list_pb2, record_pb2, statement_pb2
from tests.gateway.listings import (
    HANGZHOU_AMR_USCC,
    entry_statement,
    measure_list_statement,
    transition_statement,
)
from tests.gateway.statements import penalty_record, statement
from tests.report_bundles import credit_report

ZJ, HUB = "zj-330000", "hub"


def _contract_types() -> list[Descriptor]:
    found: dict[str, Descriptor] = {}

    def walk(descriptor: Descriptor) -> None:
        found[descriptor.full_name] = descriptor
        for nested in descriptor.nested_types:
            if not nested.GetOptions().map_entry:
                walk(nested)

    for module in pkgutil.iter_modules(creditlink.v1.__path__):
        if module.name.endswith("_pb2"):
            file = importlib.import_module(f"creditlink.v1.{module.name}").DESCRIPTOR
            for descriptor in file.message_types_by_name.values():
                walk(descriptor)
    return [found[name] for name in sorted(found)]


CONTRACT_TYPES = _contract_types()


def _valid_statements() -> list[statement_pb2.Statement]:
    report = statement_pb2.Statement()
    report.CopyFrom(statement(ZJ, [HUB], penalty_record()))
    report.report.CopyFrom(credit_report(datetime.now(UTC), records=2))
    report.report.issuing_authority.uscc = HANGZHOU_AMR_USCC
    entry = entry_statement(ZJ)
    return [
        statement(ZJ, [HUB], penalty_record()),
        entry,
        transition_statement(
            ZJ,
            entry.name_list_entry.entry_id,
            name_list_pb2.NAME_LIST_STATE_LISTED,
            name_list_pb2.NAME_LIST_STATE_UNDER_OBJECTION,
        ),
        measure_list_statement(ZJ),
        report,
    ]


def _verdicts(message: Message) -> tuple[bool, bool]:
    """(the plan's answer, protovalidate's: no violation)."""
    return plan_for(message.DESCRIPTOR)(message), not protovalidate.collect_violations(message)


def test_every_type_of_the_contract_has_a_compiled_plan() -> None:
    """A rule the generator does not know makes its type fall back to protovalidate: that is
    safe, but slow, so a new kind of rule in the protos must come with its compilation."""
    assert [d.full_name for d in CONTRACT_TYPES if plan_for(d) is constraint_plans._never] == []


def type_of(descriptor: Descriptor) -> type[Message]:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


@pytest.mark.parametrize("valid", _valid_statements(), ids=lambda s: s.WhichOneof("body"))
def test_a_valid_statement_passes_its_plan(valid: statement_pb2.Statement) -> None:
    assert _verdicts(valid) == (True, True)


# -- mutations of valid statements ----------------------------------------------------------------

_STRINGS = (
    "",
    "x",
    "x" * 2049,
    "zj-330000",
    "330100",
    "33010",
    "3301000",
    "91330100MA27XL0A6Q",
    "91330100MA27XL0A6Q\n",
    "91330100ma27xl0a6q",
    "01ARZ3NDEKTSV4RRFFQ69G5FAV",
    "01ARZ3NDEKTSV4RRFFQ69G5FAV\n",
    "0c3b6c4e-8f43-4a3e-9d1a-6c1b2f5e7a90",
    "0C3B6C4E-8F43-4A3E-9D1A-6C1B2F5E7A90",
    "pn1:" + "A" * 43,
    "杭州某某科技有限公司",
    "CR33000020261126000000000" + "1Q",
    "12.50",
    "-3",
    "national-2024",
)
_INTEGERS = (0, 1, 2, 3, 4, 5, 14, 99, -1, 2**31 - 1)
_UNSIGNED = (0, 1, 2, 3, 2**32 - 1)


def _values(field: FieldDescriptor) -> tuple[object, ...]:
    if field.type == FieldDescriptor.TYPE_STRING:
        return _STRINGS
    if field.type == FieldDescriptor.TYPE_BYTES:
        return (b"", b"\x00" * 32, b"\x01" * 31, b"\x02" * 64)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return (False, True)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return (*(v.number for v in field.enum_type.values), 99)  # type: ignore[union-attr]
    if field.cpp_type in (FieldDescriptor.CPPTYPE_UINT32, FieldDescriptor.CPPTYPE_UINT64):
        return _UNSIGNED
    if field.cpp_type in (FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64):
        return _INTEGERS
    return ()


def _navigate(target: Message, step: str) -> Message:
    return target[int(step)] if step.isdigit() else getattr(target, step)  # type: ignore[index]


def _mutations_of(message: Message) -> Iterator[tuple[str, Message]]:
    """Copies of ``message`` with one field changed: cleared, or set to each edge value (for
    lists: one element appended or the first replaced; maps: a bad key), recursively into the
    messages that are set (list elements by index)."""

    def walk(
        path: tuple[str, ...], descriptor: Descriptor, current: Message
    ) -> Iterator[tuple[str, Message]]:
        for field in descriptor.fields:
            where = (*path, field.name)

            def copy_with(
                change: object, field: FieldDescriptor = field, where: tuple[str, ...] = where
            ) -> tuple[str, Message]:
                out = type(message)()
                out.CopyFrom(message)
                target = out
                for step in path:
                    target = _navigate(target, step)
                change(target, field)  # type: ignore[operator]
                return ".".join(where), out

            yield copy_with(lambda t, f: t.ClearField(f.name))
            if field.message_type is not None:
                if field.message_type.GetOptions().map_entry:
                    yield copy_with(lambda t, f: getattr(t, f.name).__setitem__("", ""))
                    yield copy_with(lambda t, f: getattr(t, f.name).__setitem__("k" * 65, "v"))
                    continue
                if field.is_repeated:
                    yield copy_with(lambda t, f: getattr(t, f.name).add())
                    for index, item in enumerate(getattr(current, field.name)):
                        yield from walk((*where, str(index)), field.message_type, item)
                elif current.HasField(field.name):
                    yield from walk(where, field.message_type, getattr(current, field.name))
                else:
                    yield copy_with(lambda t, f: getattr(t, f.name).SetInParent())
                continue
            for value in _values(field):
                if field.is_repeated:
                    yield copy_with(lambda t, f, v=value: getattr(t, f.name).append(v))
                    if len(getattr(current, field.name)):
                        yield copy_with(lambda t, f, v=value: getattr(t, f.name).__setitem__(0, v))
                else:
                    yield copy_with(lambda t, f, v=value: setattr(t, f.name, v))

    yield from walk((), message.DESCRIPTOR, message)


@pytest.mark.parametrize("valid", _valid_statements(), ids=lambda s: s.WhichOneof("body"))
def test_plans_agree_with_protovalidate_on_every_single_field_change(
    valid: statement_pb2.Statement,
) -> None:
    """Exact agreement, both ways, on thousands of near-valid statements: never valid where
    protovalidate finds a violation, and valid wherever it finds none."""
    disagreements = []
    count = 0
    for where, mutated in _mutations_of(valid):
        count += 1
        plan, reference = _verdicts(mutated)
        if plan != reference:
            disagreements.append((where, plan, reference))
    assert count > 300
    assert disagreements == []


# -- random messages of every type ---------------------------------------------------------------


def _random(descriptor: Descriptor, rng: random.Random, depth: int = 0) -> Message:
    out = type_of(descriptor)()
    for field in descriptor.fields:
        if rng.random() < 0.4:
            continue
        if field.message_type is not None:
            if field.message_type.GetOptions().map_entry:
                for _ in range(rng.randrange(3)):
                    getattr(out, field.name)[rng.choice(_STRINGS)] = rng.choice(_STRINGS)
                continue
            if depth > 4:
                continue
            if field.is_repeated:
                for _ in range(rng.randrange(3)):
                    getattr(out, field.name).add().CopyFrom(
                        _random(field.message_type, rng, depth + 1)
                    )
            else:
                getattr(out, field.name).CopyFrom(_random(field.message_type, rng, depth + 1))
            continue
        values = _values(field)
        if not values:
            continue
        if field.is_repeated:
            getattr(out, field.name).extend(rng.choice(values) for _ in range(rng.randrange(3)))
        else:
            setattr(out, field.name, rng.choice(values))
    return out


@pytest.mark.parametrize("descriptor", CONTRACT_TYPES, ids=lambda d: d.name)
def test_a_plan_never_accepts_what_protovalidate_refuses(descriptor: Descriptor) -> None:
    rng = random.Random(descriptor.full_name)
    for _ in range(60):
        message = _random(descriptor, rng)
        plan, reference = _verdicts(message)
        assert reference or not plan, (descriptor.full_name, message)


# -- the pieces ----------------------------------------------------------------------------------


def test_a_pattern_end_is_the_end_of_the_string_not_before_a_final_newline() -> None:
    # RE2's $ never matches before a trailing newline; Python's does unless it is made \Z.
    record = penalty_record()
    record.region_code = "330100\n"
    assert _verdicts(record) == (False, False)


def test_the_gateways_check_still_lists_protovalidates_violations() -> None:
    bad = statement(ZJ, [HUB], penalty_record())
    bad.record.region_code = "33"
    bad.record.revision = 0
    with pytest.raises(InvalidArgument) as refused:
        check_constraints(bad, what="statement")
    assert refused.value.reason == "CONSTRAINT_VIOLATION"
    fields = {v.field for v in refused.value.field_violations}
    assert {"record.region_code", "record.revision"} <= fields


@pytest.mark.parametrize(
    "expression",
    [
        "this.record_id.size() > 0",  # receiver-style call
        "this.revision + 1 > 2",  # arithmetic
        "this.revision == 1",  # uint against int
        "this.category",  # not a bool
        "matches(this.record_id, '^x$')",
        "this.nonexistent == ''",
        "this.record_id == 'a\\'b'",  # escapes
    ],
)
def test_cel_outside_the_subset_is_left_to_protovalidate(expression: str) -> None:
    with pytest.raises(Unsupported):
        compile_rule(expression, record_pb2.CreditRecord.DESCRIPTOR)


def test_generated_source_is_plain_python_over_the_message() -> None:
    source = plan_source(record_pb2.CreditRecord.DESCRIPTOR)
    assert source is not None
    assert re.search(r"w = m\.WhichOneof\('details'\)", source)
    assert "this.HasField('penalty')" in source


@pytest.mark.parametrize(
    "pattern",
    [
        "(?i)^abc$",  # a flag group
        "^a(?=b)",  # a look-ahead (RE2 refuses it)
        "^a{,5}$",  # Python repeats, RE2 reads text
        "^a*+$",  # possessive in Python 3.11, an error in RE2
        "^\\d{6}$",  # class escapes
        "^[a-z]+$\n",  # not ending with $
        "^é$",  # non-ASCII
    ],
)
def test_patterns_the_two_engines_read_differently_are_left_to_protovalidate(
    pattern: str,
) -> None:
    with pytest.raises(Unsupported):
        constraint_plans._pattern(pattern)


def test_the_contracts_patterns_compile_to_python_searches() -> None:
    search = constraint_plans._pattern("^CR[0-9]{14}[0-9A-Z]{11}$")
    assert search("CR3300002026112600000000014") is not None
    assert search("CR3300002026112600000000014\n") is None
    assert search("xCR3300002026112600000000014") is None


def test_a_cel_field_named_like_a_python_keyword_is_left_to_protovalidate() -> None:
    from google.protobuf import descriptor_pb2, descriptor_pool

    file = descriptor_pb2.FileDescriptorProto(name="keyword_test.proto", package="kwtest")
    message = file.message_type.add(name="Message")
    for number, name in enumerate(("from", "to"), start=1):
        message.field.add(
            name=name,
            number=number,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
            label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    descriptor = pool.FindMessageTypeByName("kwtest.Message")
    assert compile_rule("this.to == ''", descriptor) == "(this.to == '')"
    with pytest.raises(Unsupported):
        compile_rule("this.from == ''", descriptor)


def test_a_rule_on_a_field_named_like_a_python_keyword_leaves_the_type_to_protovalidate() -> None:
    from buf.validate import validate_pb2
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    file = descriptor_pb2.FileDescriptorProto(
        name="keyword_rule_test.proto",
        package="kwruletest",
        syntax="proto3",
        dependency=["buf/validate/validate.proto"],
    )
    message = file.message_type.add(name="Message")
    field = message.field.add(
        name="from",
        number=1,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
    )
    field.options.Extensions[validate_pb2.field].string.max_len = 3
    descriptor_pool.Default().Add(file)
    descriptor = descriptor_pool.Default().FindMessageTypeByName("kwruletest.Message")
    assert plan_for(descriptor) is constraint_plans._never
    cls = message_factory.GetMessageClass(descriptor)
    long = cls()
    setattr(long, "from", "abcd")
    with pytest.raises(InvalidArgument):
        check_constraints(long, what="request")
    check_constraints(cls(), what="request")  # protovalidate passes it
