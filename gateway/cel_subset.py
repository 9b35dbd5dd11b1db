"""The small part of CEL the contract's own rules are written in, compiled to Python.

The message-level and field-level ``cel`` rules of ``proto/creditlink`` compare fields with
literals and with each other, combine the comparisons with ``!``, ``&&`` and ``||``, and use
``has()``, ``size()`` and ``in``. :func:`compile_rule` turns such an expression into a Python
expression over the message (source text, for the generated constraint plans
of :mod:`creditlink.gateway.constraint_plans`). It type-checks what it compiles (fields exist,
both sides of a comparison have one type, ``int`` and ``uint`` are not mixed, the result is a
``bool``) and raises :class:`Unsupported` for anything else — other functions, arithmetic,
escapes in strings, macros — so that a rule outside the subset is left to protovalidate rather
than guessed at. Evaluation cannot fail: the subset has no division, indexing or conversion.

Grammar (CEL's precedence; all relations share one level, left-associative)::

    expr     = and ("||" and)*
    and      = relation ("&&" relation)*
    relation = unary (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in") unary)*
    unary    = "!" unary | primary
    primary  = "(" expr ")" | "has(" path ")" | "size(" path ")" | path | literal | list
    path     = "this" ("." field)*
    literal  = int | int "u" | "'...'" | '"..."' | "true" | "false"
    list     = "[" literal ("," literal)* "]"
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from google.protobuf.descriptor import Descriptor, FieldDescriptor

__all__ = ["Unsupported", "compile_rule"]


class Unsupported(Exception):
    """The expression (or a rule) is outside what is compiled: protovalidate decides it."""


_TOKEN: Final = re.compile(
    r"""\s*(?:
        (?P<op>&&|\|\||==|!=|<=|>=|<|>|!|\(|\)|\[|\]|,|\.)
      | (?P<int>[0-9]+u?)
      | (?P<str>'[^'\\]*'|"[^"\\]*")
      | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
    )\s*""",
    re.VERBOSE,
)

_INT_TYPES: Final = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_SFIXED64,
        FieldDescriptor.TYPE_ENUM,  # CEL treats enum values as ints
    }
)
_UINT_TYPES: Final = frozenset(
    {
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_FIXED64,
    }
)
_SCALAR_KINDS: Final = {
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_BOOL: "bool",
}
_ORDERED: Final = frozenset({"int", "uint", "string"})
_RELATIONS: Final = ("==", "!=", "<", "<=", ">", ">=", "in")


@dataclass(frozen=True, slots=True)
class _Node:
    """A compiled sub-expression: Python source over the variable ``this``, and its CEL
    type."""

    src: str
    kind: str  # bool, int, uint, string, bytes, message, list:<kind>
    #: For a path: the field it ends at, and the source of the message holding it.
    field: FieldDescriptor | None = None
    holder: str = ""


def _kind_of(field: FieldDescriptor) -> str:
    if field.message_type is not None:
        if field.message_type.GetOptions().map_entry:
            raise Unsupported("maps are not compiled")
        kind = "message"
    elif field.type in _INT_TYPES:
        kind = "int"
    elif field.type in _UINT_TYPES:
        kind = "uint"
    elif field.type in _SCALAR_KINDS:
        kind = _SCALAR_KINDS[field.type]
    else:
        raise Unsupported(f"fields of type {field.type} are not compiled")
    return f"list:{kind}" if field.is_repeated else kind


class _Parser:
    def __init__(self, text: str, descriptor: Descriptor) -> None:
        self._tokens = self._lex(text)
        self._at = 0
        self._this = descriptor

    @staticmethod
    def _lex(text: str) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        at = 0
        while at < len(text) and text[at:].strip():
            match = _TOKEN.match(text, at)
            if match is None:
                raise Unsupported(f"cannot read {text[at:]!r}")
            kind = match.lastgroup
            assert kind is not None
            tokens.append((kind, match.group(kind)))
            at = match.end()
        return tokens

    def _peek(self) -> str | None:
        return self._tokens[self._at][1] if self._at < len(self._tokens) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        if self._at >= len(self._tokens):
            raise Unsupported("unexpected end of expression")
        token = self._tokens[self._at]
        if expected is not None and token[1] != expected:
            raise Unsupported(f"expected {expected!r}, found {token[1]!r}")
        self._at += 1
        return token

    def parse(self) -> _Node:
        node = self._or()
        if self._at != len(self._tokens):
            raise Unsupported(f"unexpected {self._peek()!r}")
        return node

    def _or(self) -> _Node:
        return self._logical("||", "or", self._and)

    def _and(self) -> _Node:
        return self._logical("&&", "and", self._relation)

    def _logical(self, token: str, python: str, operand: Callable[[], _Node]) -> _Node:
        node = operand()
        while self._peek() == token:
            self._take()
            right = operand()
            _require(node, "bool")
            _require(right, "bool")
            node = _Node(f"({node.src} {python} {right.src})", "bool")
        return node

    def _relation(self) -> _Node:
        node = self._unary()
        while self._peek() in _RELATIONS:
            op = self._take()[1]
            node = _relate(op, node, self._unary())
        return node

    def _unary(self) -> _Node:
        if self._peek() == "!":
            self._take()
            inner = self._unary()
            _require(inner, "bool")
            return _Node(f"(not {inner.src})", "bool")
        return self._primary()

    def _primary(self) -> _Node:
        kind, text = self._take()
        if text == "(":
            node = self._or()
            self._take(")")
            return node
        if text == "[":
            return self._list()
        if kind == "int":
            if text.endswith("u"):
                return _Node(str(int(text[:-1])), "uint")
            return _Node(str(int(text)), "int")
        if kind == "str":
            return _Node(repr(text[1:-1]), "string")
        if text in ("true", "false"):
            return _Node(str(text == "true"), "bool")
        if text == "this":
            return self._path()
        if text in ("has", "size") and self._peek() == "(":
            self._take("(")
            self._take("this")
            path = self._path()
            self._take(")")
            return _has(path) if text == "has" else _size(path)
        raise Unsupported(f"{text!r} is not compiled")

    def _list(self) -> _Node:
        values: list[str] = []
        kinds: set[str] = set()
        while True:
            item = self._primary()
            if item.kind not in ("int", "uint", "string"):
                raise Unsupported("list literals hold ints or strings")
            values.append(item.src)
            kinds.add(item.kind)
            if self._take()[1] == "]":
                break
        if len(kinds) != 1:
            raise Unsupported("a list literal mixes types")
        return _Node(f"({', '.join(values)},)", f"list:{kinds.pop()}")

    def _path(self) -> _Node:
        """``this`` followed by ``.field`` steps (``this`` was taken)."""
        descriptor: Descriptor | None = self._this
        src, holder = "this", ""
        field: FieldDescriptor | None = None
        kind = "message"
        while self._peek() == ".":
            self._take(".")
            if descriptor is None or kind != "message":
                raise Unsupported("only message fields have fields")
            name = self._take()[1]
            if keyword.iskeyword(name):
                raise Unsupported(f"field {name!r} cannot be read as an attribute")
            field = descriptor.fields_by_name.get(name)
            if field is None:
                raise Unsupported(f"{descriptor.full_name} has no field {name!r}")
            kind = _kind_of(field)
            descriptor = field.message_type
            holder, src = src, f"{src}.{name}"
        return _Node(src, kind, field, holder)


def _require(node: _Node, kind: str) -> None:
    if node.kind != kind:
        raise Unsupported(f"expected a {kind}, found a {node.kind}")


def _relate(op: str, left: _Node, right: _Node) -> _Node:
    if op == "in":
        if right.kind != f"list:{left.kind}":
            raise Unsupported(f"{left.kind} in {right.kind}")
        return _Node(f"({left.src} in {right.src})", "bool")
    if left.kind != right.kind or left.kind.startswith("list:") or left.kind == "message":
        raise Unsupported(f"{left.kind} {op} {right.kind}")
    if op not in ("==", "!=") and left.kind not in _ORDERED:
        raise Unsupported(f"{left.kind} values are not ordered here")
    return _Node(f"({left.src} {op} {right.src})", "bool")


def _has(path: _Node) -> _Node:
    field = path.field
    if field is None:
        raise Unsupported("has() needs a field")
    if field.is_repeated:
        return _Node(f"(len({path.src}) > 0)", "bool")
    if field.has_presence:
        return _Node(f"{path.holder}.HasField({field.name!r})", "bool")
    return _Node(f"({path.src} != {field.default_value!r})", "bool")


def _size(path: _Node) -> _Node:
    if not (path.kind.startswith("list:") or path.kind in ("string", "bytes")):
        raise Unsupported(f"size() of a {path.kind}")
    return _Node(f"len({path.src})", "int")


def compile_rule(expression: str, descriptor: Descriptor) -> str:
    """Python source of the condition ``expression`` states about ``this``, a message of type
    ``descriptor``: true when the rule holds. Raises :class:`Unsupported` outside the subset
    (module docstring)."""
    node = _Parser(expression, descriptor).parse()
    _require(node, "bool")
    return node.src
