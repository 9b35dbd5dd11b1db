"""The contract's constraints compiled to Python checks that can only say "valid".

protovalidate interprets the ``buf.validate`` annotations of every message it is given; for a
credit-record statement that is about 45 µs of CPU, a large share of the gateway's intake
(docs/performance.md). The rules the contract actually uses are few and simple — required
fields and oneofs, string lengths and patterns, enum values, integer bounds, list sizes, and
small CEL expressions (:mod:`creditlink.gateway.cel_subset`) — so :func:`plan_for` generates,
once per message type, a straight-line Python function that checks them.

A plan is a fast path, never the judge. It answers True only when every rule it compiled holds
and every rule of the type was compiled; :func:`creditlink.gateway.constraints.check_constraints`
then accepts the message. Any other answer sends the message to protovalidate, whose violations
are what a refusal lists. So a plan may be too strict (the message is then only checked twice)
but must never accept what protovalidate refuses: a rule the generator does not understand makes
its whole type's plan answer False (:class:`~creditlink.gateway.cel_subset.Unsupported`), and
the differential tests (``tests/gateway/test_constraint_plans.py``) hold plans against
protovalidate on generated messages of every contract type.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from typing import Any, Final

from buf.validate import validate_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from creditlink.gateway.cel_subset import Unsupported, compile_rule

__all__ = ["plan_for", "plan_source"]

Plan = Callable[[Any], bool]

_IGNORE_IF_ZERO: Final = validate_pb2.IGNORE_IF_ZERO_VALUE
_IGNORE_ALWAYS: Final = validate_pb2.IGNORE_ALWAYS

_INTEGER_RULES: Final = frozenset(
    {
        "int32",
        "int64",
        "uint32",
        "uint64",
        "sint32",
        "sint64",
        "fixed32",
        "fixed64",
        "sfixed32",
        "sfixed64",
    }
)
_INTEGER_CPP: Final = frozenset(
    {
        FieldDescriptor.CPPTYPE_INT32,
        FieldDescriptor.CPPTYPE_INT64,
        FieldDescriptor.CPPTYPE_UINT32,
        FieldDescriptor.CPPTYPE_UINT64,
    }
)
#: RE2 patterns built only from these parts mean the same in Python's ``re`` once a final
#: ``$`` is ``\Z`` (Python's ``$`` also matches before a final newline): literal letters,
#: digits and punctuation, classes and ranges of them, groups, alternation, quantifiers, and
#: escaped punctuation. Anything else (class escapes such as ``\d``, flags, look-arounds,
#: Unicode classes, non-ASCII) is left to protovalidate.
_SAFE_PATTERN: Final = re.compile(
    r"\^?(?:[A-Za-z0-9 _:@/#%&=,'\"~<>!-]|\\[.\-+*?()|\[\]{}^$/]|[\[\]{}()|?*+.])*\$?"
)

#: The generated functions' globals: the plans by name, and the constants they use.
_NAMESPACE: dict[str, Any] = {}
_PLANS: dict[str, Plan] = {}
_SOURCES: dict[str, str] = {}
#: Types whose plan is being generated (a type nested in itself calls its plan by name).
_GENERATING: set[str] = set()
_LOCK = threading.RLock()


def _never(_message: Any) -> bool:
    return False


def plan_for(descriptor: Descriptor) -> Plan:
    """The compiled check of messages of type ``descriptor``: True only if the message
    certainly satisfies every constraint of its type (module docstring)."""
    plan = _PLANS.get(descriptor.full_name)
    if plan is None:
        with _LOCK:
            _generate(descriptor)
            plan = _PLANS[descriptor.full_name]
    return plan


def plan_source(descriptor: Descriptor) -> str | None:
    """The generated source of a type's plan (None when it is not compiled), for review and
    tests."""
    plan_for(descriptor)
    return _SOURCES.get(descriptor.full_name)


def _name(descriptor: Descriptor) -> str:
    return "plan_" + descriptor.full_name.replace(".", "_")


def _always(_message: Any) -> bool:
    return True


def _generate(descriptor: Descriptor) -> None:
    """Generate the plan of ``descriptor``, and first those of the types it nests (a plan calls
    another through the namespace, at call time, so types that nest each other work)."""
    full_name = descriptor.full_name
    if full_name in _PLANS:
        return
    name = _name(descriptor)
    _GENERATING.add(full_name)
    try:
        source, constants = _Generator(descriptor).build(name)
    except Unsupported:
        _PLANS[full_name] = _NAMESPACE[name] = _never
        return
    finally:
        _GENERATING.discard(full_name)
    if source is None:
        _PLANS[full_name] = _NAMESPACE[name] = _always
        return
    try:
        code = compile(source, f"<plan {full_name}>", "exec")
    except SyntaxError:
        # A field named like a Python keyword cannot be read as m.<name>: not compiled.
        _PLANS[full_name] = _NAMESPACE[name] = _never
        return
    _NAMESPACE.update(constants)
    exec(code, _NAMESPACE)  # noqa: S102
    _PLANS[full_name] = _NAMESPACE[name]
    _SOURCES[full_name] = source


class _Generator:
    """The source of one message type's plan."""

    def __init__(self, descriptor: Descriptor) -> None:
        self._descriptor = descriptor
        self._lines: list[str] = []
        self._constants: dict[str, Any] = {}
        self._prefix = _name(descriptor)

    def build(self, name: str) -> tuple[str | None, dict[str, Any]]:
        """The plan's source (None when the type has no rule to check) and its constants."""
        descriptor = self._descriptor
        options = descriptor.GetOptions()
        for field in descriptor.fields:
            oneof = field.containing_oneof
            if oneof is None or _synthetic(oneof):
                self._field(field)
        for oneof in descriptor.oneofs:
            if not _synthetic(oneof):
                self._oneof(oneof)
        if options.HasExtension(validate_pb2.message):
            rules = options.Extensions[validate_pb2.message]
            if rules.oneof:
                raise Unsupported("message oneof rules are not compiled")
            for text in [rule.expression for rule in rules.cel] + list(rules.cel_expression):
                self._lines.append("    this = m")
                self._fail_unless(compile_rule(text, descriptor), 1)
        if not self._lines:
            return None, {}
        body = "\n".join(self._lines)
        return f"def {name}(m):\n{body}\n    return True\n", self._constants

    # -- emitting -------------------------------------------------------------------------------

    def _emit(self, line: str, depth: int) -> None:
        self._lines.append("    " * depth + line)

    def _fail_unless(self, condition: str, depth: int) -> None:
        self._emit(f"if not ({condition}):", depth)
        self._emit("return False", depth + 1)

    def _constant(self, value: Any) -> str:
        name = f"{self._prefix}_c{len(self._constants)}"
        self._constants[name] = value
        return name

    def _plan_call(self, descriptor: Descriptor, value: str) -> str | None:
        """The call of a nested type's plan, or None when that plan checks nothing."""
        if descriptor.full_name not in _GENERATING:
            _generate(descriptor)  # first, to know whether it checks anything
            if _PLANS[descriptor.full_name] is _always:
                return None
        return f"{_name(descriptor)}({value})"

    # -- fields ---------------------------------------------------------------------------------

    def _oneof(self, oneof: Any) -> None:
        """One ``WhichOneof`` and the checks of the member that is set (not one ``HasField``
        per member: a statement's body is a oneof of fifteen)."""
        options = oneof.GetOptions()
        required = (
            options.HasExtension(validate_pb2.oneof)
            and options.Extensions[validate_pb2.oneof].required
        )
        start = len(self._lines)
        self._emit(f"w = m.WhichOneof({oneof.name!r})", 1)
        if required:
            self._fail_unless("w is not None", 1)
        keyword = "if"
        for field in oneof.fields:
            rules = _field_rules(field)
            if rules is not None and rules.ignore == _IGNORE_ALWAYS:
                continue
            if rules is not None and rules.required:
                self._fail_unless(f"w == {field.name!r}", 1)
            branch = len(self._lines)
            self._emit(f"{keyword} w == {field.name!r}:", 1)
            if self._present(field, rules, 2):
                keyword = "elif"
            else:
                del self._lines[branch:]
        if not required and keyword == "if" and len(self._lines) == start + 1:
            del self._lines[start:]  # nothing to check

    def _present(
        self, field: FieldDescriptor, rules: validate_pb2.FieldRules | None, depth: int
    ) -> bool:
        """Emit the checks of a field that is set; whether there are any."""
        checks = self._value_checks(field, rules)
        if not checks:
            return False
        ignore = rules.ignore if rules is not None else 0
        if ignore == _IGNORE_IF_ZERO and field.message_type is not None:
            raise Unsupported("IGNORE_IF_ZERO_VALUE on a message field is not compiled")
        self._emit(f"v = m.{field.name}", depth)
        if ignore == _IGNORE_IF_ZERO:
            self._emit(f"if v != {field.default_value!r}:", depth)
            depth += 1
        for check in checks:
            check(depth)
        return True

    def _field(self, field: FieldDescriptor) -> None:
        rules = _field_rules(field)
        ignore = rules.ignore if rules is not None else 0
        if ignore == _IGNORE_ALWAYS:
            return
        required = rules is not None and rules.required
        name = field.name
        message_type = field.message_type
        is_map = message_type is not None and message_type.GetOptions().map_entry
        if rules is not None:
            allowed = {"cel", "cel_expression", "required", "ignore", rules.WhichOneof("type")}
            extra = {f.name for f, _ in rules.ListFields()} - allowed
            if extra:
                raise Unsupported(f"field rules {sorted(extra)} are not compiled")

        if field.is_repeated:  # lists and maps: no presence; empty is the zero value
            checks = self._collection_checks(field, rules, is_map=is_map)
            if not checks and not required:
                return
            self._emit(f"v = m.{name}", 1)
            if required:
                self._fail_unless("len(v) > 0", 1)
            depth = 1
            if ignore == _IGNORE_IF_ZERO:
                self._emit("if v:", 1)
                depth = 2
            for check in checks:
                check(depth)
            return

        if field.has_presence:  # message fields, optional scalars (oneofs: _oneof)
            if required:
                self._fail_unless(f"m.HasField({name!r})", 1)
                self._present(field, rules, 1)
                return
            branch = len(self._lines)
            self._emit(f"if m.HasField({name!r}):", 1)
            if not self._present(field, rules, 2):
                del self._lines[branch:]
            return

        # Scalars without presence: the rules always apply; `required` means "not zero".
        checks = self._value_checks(field, rules)
        if not checks and not required:
            return
        self._emit(f"v = m.{name}", 1)
        zero = repr(field.default_value)
        if required:
            self._fail_unless(f"v != {zero}", 1)
        depth = 1
        if ignore == _IGNORE_IF_ZERO:
            self._emit(f"if v != {zero}:", 1)
            depth = 2
        for check in checks:
            check(depth)

    def _value_checks(
        self, field: FieldDescriptor, rules: validate_pb2.FieldRules | None
    ) -> list[Callable[[int], None]]:
        """Emitters of the checks of a singular field's value ``v``."""
        checks: list[Callable[[int], None]] = []
        if rules is not None:
            expressions = [rule.expression for rule in rules.cel] + list(rules.cel_expression)
            if expressions:
                if field.message_type is None:
                    raise Unsupported("field-level CEL is compiled on message fields only")
                for text in expressions:
                    condition = compile_rule(text, field.message_type)
                    checks.append(functools.partial(self._rule, condition))
            case = rules.WhichOneof("type")
            if case is not None:
                conditions = self._scalar_conditions(field, case, getattr(rules, case), "v")
                checks.extend(functools.partial(self._fail_unless, c) for c in conditions)
        if field.message_type is not None:
            call = self._plan_call(field.message_type, "v")
            if call is not None:
                checks.append(lambda d: self._fail_unless(call, d))
        return checks

    def _collection_checks(
        self, field: FieldDescriptor, rules: validate_pb2.FieldRules | None, *, is_map: bool
    ) -> list[Callable[[int], None]]:
        """Emitters of the checks of a list or map ``v``."""
        checks: list[Callable[[int], None]] = []
        if rules is not None:
            if rules.cel or rules.cel_expression:
                raise Unsupported("field-level CEL on a list or map is not compiled")
            case = rules.WhichOneof("type")
            if case == "repeated" and not is_map:
                checks.extend(self._repeated(field, rules.repeated))
            elif case == "map" and is_map:
                checks.extend(self._map(field, rules.map))
            elif case is not None:
                raise Unsupported(f"{case} rules on a list or map")
        message_type = field.message_type
        if message_type is not None and not is_map:
            call = self._plan_call(message_type, "x")
            if call is not None:
                checks.append(lambda d: self._each("x", "v", call, d))
        elif is_map:
            assert message_type is not None
            value_type = message_type.fields_by_name["value"].message_type
            if value_type is not None:
                value_call = self._plan_call(value_type, "x")
                if value_call is not None:
                    checks.append(lambda d: self._each("x", "v.values()", value_call, d))
        return checks

    def _rule(self, condition: str, depth: int) -> None:
        """A field-level CEL rule: ``this`` is the field's value."""
        self._emit("this = v", depth)
        self._fail_unless(condition, depth)

    def _each(self, var: str, iterable: str, condition: str, depth: int) -> None:
        self._emit(f"for {var} in {iterable}:", depth)
        self._fail_unless(condition, depth + 1)

    def _repeated(self, field: FieldDescriptor, rules: Any) -> list[Callable[[int], None]]:
        found = _fields_set(rules, {"min_items", "max_items", "unique", "items"})
        conditions: list[str] = []
        if "min_items" in found:
            conditions.append(f"len(v) >= {int(found['min_items'])}")
        if "max_items" in found:
            conditions.append(f"len(v) <= {int(found['max_items'])}")
        if found.get("unique"):
            if field.message_type is not None:
                raise Unsupported("unique lists of messages are not compiled")
            conditions.append("len(set(v)) == len(v)")
        checks: list[Callable[[int], None]] = [
            functools.partial(self._fail_unless, c) for c in conditions
        ]
        if "items" in found:
            item = self._element(field, found["items"], "x")
            if item is not None:
                checks.append(lambda d: self._each("x", "v", item, d))
        return checks

    def _map(self, field: FieldDescriptor, rules: Any) -> list[Callable[[int], None]]:
        found = _fields_set(rules, {"min_pairs", "max_pairs", "keys", "values"})
        entry = field.message_type
        assert entry is not None
        conditions: list[str] = []
        if "min_pairs" in found:
            conditions.append(f"len(v) >= {int(found['min_pairs'])}")
        if "max_pairs" in found:
            conditions.append(f"len(v) <= {int(found['max_pairs'])}")
        checks: list[Callable[[int], None]] = [
            functools.partial(self._fail_unless, c) for c in conditions
        ]
        if "keys" in found:
            key = self._element(entry.fields_by_name["key"], found["keys"], "x")
            if key is not None:
                checks.append(lambda d: self._each("x", "v", key, d))
        if "values" in found:
            value_field = entry.fields_by_name["value"]
            if value_field.message_type is not None:
                raise Unsupported("rules on map values that are messages are not compiled")
            value = self._element(value_field, found["values"], "x")
            if value is not None:
                checks.append(lambda d: self._each("x", "v.values()", value, d))
        return checks

    def _element(self, field: FieldDescriptor, rules: Any, var: str) -> str | None:
        """The condition on one element of a list or one key or value of a map (elements are
        always "set"), or None when there is none."""
        allowed = {"ignore", rules.WhichOneof("type")}
        extra = {f.name for f, _ in rules.ListFields()} - allowed
        if extra:
            raise Unsupported(f"element rules {sorted(extra)} are not compiled")
        case = rules.WhichOneof("type")
        if case is None or rules.ignore == _IGNORE_ALWAYS:
            return None
        if case in ("repeated", "map"):
            raise Unsupported("nested list rules are not compiled")
        if field.message_type is not None:
            raise Unsupported("typed rules on message elements are not compiled")
        conditions = self._scalar_conditions(field, case, getattr(rules, case), var)
        if not conditions:
            return None
        joined = " and ".join(f"({c})" for c in conditions)
        if rules.ignore == _IGNORE_IF_ZERO:
            return f"{var} == {field.default_value!r} or ({joined})"
        return joined

    # -- scalar rules -----------------------------------------------------------------------------

    def _scalar_conditions(
        self, field: FieldDescriptor, case: str, rules: Any, v: str
    ) -> list[str]:
        if case == "string":
            if field.type != FieldDescriptor.TYPE_STRING:
                raise Unsupported("string rules on another type")
            return self._string(rules, v)
        if case == "bytes":
            if field.type != FieldDescriptor.TYPE_BYTES:
                raise Unsupported("bytes rules on another type")
            return self._lengths_and_sets(
                _fields_set(rules, {"min_len", "max_len", "len", "const"}), v
            )
        if case == "enum":
            if field.enum_type is None:
                raise Unsupported("enum rules on another type")
            found = _fields_set(rules, {"const", "defined_only", "in", "not_in"})
            conditions = self._lengths_and_sets(found, v)
            if found.get("defined_only"):
                defined = frozenset(value.number for value in field.enum_type.values)
                conditions.append(f"{v} in {self._constant(defined)}")
            return conditions
        if case == "bool":
            if field.type != FieldDescriptor.TYPE_BOOL:
                raise Unsupported("bool rules on another type")
            return self._lengths_and_sets(_fields_set(rules, {"const"}), v)
        if case in _INTEGER_RULES:
            if field.cpp_type not in _INTEGER_CPP or field.enum_type is not None:
                raise Unsupported("integer rules on another type")
            return self._integer(rules, v)
        raise Unsupported(f"{case} rules are not compiled")

    def _string(self, rules: Any, v: str) -> list[str]:
        found = _fields_set(
            rules, {"min_len", "max_len", "len", "pattern", "const", "in", "not_in"}
        )
        # Lengths count characters (code points), as Python's len of a str does.
        conditions = self._lengths_and_sets(found, v)
        if "pattern" in found:
            search = _pattern(found["pattern"])
            conditions.append(f"{self._constant(search)}({v}) is not None")
        return conditions

    def _lengths_and_sets(self, found: dict[str, Any], v: str) -> list[str]:
        conditions = [
            f"len({v}) {op} {int(found[rule])}"
            for rule, op in (("len", "=="), ("min_len", ">="), ("max_len", "<="))
            if rule in found
        ]
        if "const" in found:
            conditions.append(f"{v} == {self._constant(found['const'])}")
        conditions.extend(
            f"{v} {op} {self._constant(frozenset(found[rule]))}"
            for rule, op in (("in", "in"), ("not_in", "not in"))
            if rule in found
        )
        return conditions

    def _integer(self, rules: Any, v: str) -> list[str]:
        found = _fields_set(rules, {"const", "lt", "lte", "gt", "gte", "in", "not_in"})
        low = found.get("gt", found.get("gte"))
        high = found.get("lt", found.get("lte"))
        if low is not None and high is not None and low > high:
            raise Unsupported("an exclusive (inverted) range is not compiled")
        conditions = self._lengths_and_sets(
            {k: found[k] for k in ("const", "in", "not_in") if k in found}, v
        )
        for key, op in (("gt", ">"), ("gte", ">="), ("lt", "<"), ("lte", "<=")):
            if key in found:
                conditions.append(f"{v} {op} {int(found[key])}")
        return conditions


def _synthetic(oneof: Any) -> bool:
    """Whether a oneof is the one protoc makes for a proto3 ``optional`` field."""
    fields = oneof.fields
    return len(fields) == 1 and oneof.name == "_" + fields[0].name


def _field_rules(field: FieldDescriptor) -> validate_pb2.FieldRules | None:
    options = field.GetOptions()
    if not options.HasExtension(validate_pb2.field):
        return None
    return options.Extensions[validate_pb2.field]


def _fields_set(rules: Any, allowed: set[str]) -> dict[str, Any]:
    found = {f.name: value for f, value in rules.ListFields()}
    extra = set(found) - allowed - {"example"}
    if extra:
        raise Unsupported(f"rules {sorted(extra)} are not compiled")
    return found


def _pattern(pattern: str) -> Callable[[str], Any]:
    """``re.search`` of an RE2 pattern where Python's ``re`` means the same (``_SAFE_PATTERN``)."""
    if not _SAFE_PATTERN.fullmatch(pattern) or _DIVERGENT.search(pattern):
        raise Unsupported(f"pattern {pattern!r} is not compiled")
    body = pattern
    if body.endswith("$") and not body.endswith("\\$"):
        body = body[:-1] + r"\Z"
    if "$" in body.replace("\\$", ""):
        raise Unsupported("'$' inside a pattern is not compiled")
    try:
        return re.compile(body).search
    except re.error as exc:
        raise Unsupported(f"pattern {pattern!r}: {exc}") from None


#: Constructs the two engines read differently, though made of allowed parts: groups with
#: flags or look-arounds (``(?`` other than ``(?:``; RE2 has no look-around), ``{,n}`` (a
#: repetition in Python, literal text in RE2), and possessive quantifiers (Python 3.11 only).
_DIVERGENT: Final = re.compile(r"\(\?(?!:)|\{,|[*+?}]\+")
