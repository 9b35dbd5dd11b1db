"""Checks on the CXP v1 contracts (proto/creditlink/v1/*.proto) that buf lint does not make.

- every generated module imports;
- every message, field, oneof, enum, enum value, service and method has a leading comment
  (read from the source info of a descriptor set compiled here with the pinned grpc_tools);
- every ``List*`` method pages with ``page_size``/``page_token``/``next_page_token``;
- every method that changes state takes a ``request_id``;
- every ``Statement.body`` case documents its payload kind.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import (
    FieldDescriptor,
    FileDescriptor,
    MethodDescriptor,
    ServiceDescriptor,
)

ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = ROOT / "proto"
V1_DIR = PROTO_ROOT / "creditlink" / "v1"
PROTO_FILES = sorted(V1_DIR.glob("*.proto"))
PROTO_NAMES = [f"creditlink/v1/{p.name}" for p in PROTO_FILES]

# Method name prefixes (AIP verbs) that read, and those that create or change state.
READ_VERBS = ("Get", "List", "Check", "Diff", "Verify", "Subscribe", "Watch")
MUTATING_VERBS = (
    "Submit",
    "Create",
    "Correct",
    "Revoke",
    "Transition",
    "Publish",
    "Issue",
    "Supersede",
    "File",
    "Resolve",
    "Decide",
    "Cosign",
)

# FileDescriptorProto / DescriptorProto / EnumDescriptorProto / ServiceDescriptorProto field
# numbers, as used in SourceCodeInfo.Location.path.
_FILE_MESSAGE, _FILE_ENUM, _FILE_SERVICE, _FILE_SYNTAX = 4, 5, 6, 12
_MSG_FIELD, _MSG_NESTED, _MSG_ENUM, _MSG_ONEOF = 2, 3, 4, 8
_ENUM_VALUE = 2
_SERVICE_METHOD = 2


def _module_name(proto: Path, suffix: str) -> str:
    return f"creditlink.v1.{proto.stem}{suffix}"


def _import(proto: Path, suffix: str = "_pb2") -> ModuleType:
    return importlib.import_module(_module_name(proto, suffix))


def _file_descriptor(proto: Path) -> FileDescriptor:
    descriptor: FileDescriptor = _import(proto).DESCRIPTOR
    return descriptor


def _services() -> Iterator[ServiceDescriptor]:
    for proto in PROTO_FILES:
        yield from _file_descriptor(proto).services_by_name.values()


def _methods() -> list[tuple[str, str]]:
    return [(s.name, m.name) for s in _services() for m in s.methods]


def _method(service_name: str, method_name: str) -> MethodDescriptor:
    for service in _services():
        if service.name == service_name:
            method: MethodDescriptor = service.methods_by_name[method_name]
            return method
    raise LookupError(service_name)


@pytest.fixture(scope="module")
def descriptor_set(tmp_path_factory: pytest.TempPathFactory) -> descriptor_pb2.FileDescriptorSet:
    """The v1 files compiled with source info by the pinned grpc_tools protoc."""
    import grpc_tools  # dev extra; provides protoc and the google/protobuf includes

    out = tmp_path_factory.mktemp("descriptors") / "v1.binpb"
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            "--include_source_info",
            f"--descriptor_set_out={out}",
            *PROTO_NAMES,
        ],
        check=True,
        cwd=PROTO_ROOT,
    )
    fds = descriptor_pb2.FileDescriptorSet()
    fds.ParseFromString(out.read_bytes())
    return fds


def test_contract_files_exist() -> None:
    expected = {
        "common",
        "record",
        "name_list",
        "measure",
        "commitment",
        "objection",
        "repair",
        "evaluation",
        "supervision",
        "report",
        "statement",
        "envelope",
        "log",
        "trust",
        "record_service",
        "name_list_service",
        "measure_service",
        "report_service",
        "objection_service",
        "exchange_service",
        "federation_service",
    }
    assert expected <= {p.stem for p in PROTO_FILES}


@pytest.mark.parametrize("proto", PROTO_FILES, ids=lambda p: p.name)
def test_generated_modules_import(proto: Path) -> None:
    module = _import(proto)
    assert module.DESCRIPTOR.name == f"creditlink/v1/{proto.name}"
    assert module.DESCRIPTOR.package == "creditlink.v1"
    if module.DESCRIPTOR.services_by_name:
        grpc_module = _import(proto, "_pb2_grpc")
        for service in module.DESCRIPTOR.services_by_name:
            assert hasattr(grpc_module, f"{service}Stub")
            assert hasattr(grpc_module, f"{service}Servicer")


def _elements(
    fdp: descriptor_pb2.FileDescriptorProto,
) -> Iterator[tuple[str, tuple[int, ...]]]:
    """Yield (qualified name, source path) for every element that must carry a comment."""

    def enum(
        e: descriptor_pb2.EnumDescriptorProto, prefix: str, path: tuple[int, ...]
    ) -> Iterator[tuple[str, tuple[int, ...]]]:
        name = f"{prefix}{e.name}"
        yield f"enum {name}", path
        for i, value in enumerate(e.value):
            yield f"enum value {name}.{value.name}", (*path, _ENUM_VALUE, i)

    def message(
        m: descriptor_pb2.DescriptorProto, prefix: str, path: tuple[int, ...]
    ) -> Iterator[tuple[str, tuple[int, ...]]]:
        name = f"{prefix}{m.name}"
        if m.options.map_entry:
            return
        yield f"message {name}", path
        for i, field in enumerate(m.field):
            yield f"field {name}.{field.name}", (*path, _MSG_FIELD, i)
        for i, oneof in enumerate(m.oneof_decl):
            if oneof.name.startswith("_"):  # synthetic oneof of a proto3 `optional` field
                continue
            yield f"oneof {name}.{oneof.name}", (*path, _MSG_ONEOF, i)
        for i, nested in enumerate(m.nested_type):
            yield from message(nested, f"{name}.", (*path, _MSG_NESTED, i))
        for i, nested_enum in enumerate(m.enum_type):
            yield from enum(nested_enum, f"{name}.", (*path, _MSG_ENUM, i))

    for i, m in enumerate(fdp.message_type):
        yield from message(m, "", (_FILE_MESSAGE, i))
    for i, e in enumerate(fdp.enum_type):
        yield from enum(e, "", (_FILE_ENUM, i))
    for i, s in enumerate(fdp.service):
        yield f"service {s.name}", (_FILE_SERVICE, i)
        for j, method in enumerate(s.method):
            yield f"rpc {s.name}.{method.name}", (_FILE_SERVICE, i, _SERVICE_METHOD, j)


@pytest.mark.parametrize("name", PROTO_NAMES)
def test_every_element_has_a_leading_comment(
    descriptor_set: descriptor_pb2.FileDescriptorSet, name: str
) -> None:
    (fdp,) = [f for f in descriptor_set.file if f.name == name]
    commented = {
        tuple(loc.path) for loc in fdp.source_code_info.location if loc.leading_comments.strip()
    }
    elements = list(_elements(fdp))
    assert elements, f"{name} defines nothing"
    missing = [label for label, path in elements if path not in commented]
    assert not missing, f"{name}: elements without a leading comment: {missing}"


@pytest.mark.parametrize(
    ("service", "method"),
    [m for m in _methods() if m[1].startswith("List")],
    ids=lambda v: v,
)
def test_list_methods_page(service: str, method: str) -> None:
    rpc = _method(service, method)
    request, response = rpc.input_type.fields_by_name, rpc.output_type.fields_by_name
    assert "page_size" in request, f"{service}.{method} request lacks page_size"
    assert request["page_size"].type == FieldDescriptor.TYPE_INT32
    assert "page_token" in request, f"{service}.{method} request lacks page_token"
    assert request["page_token"].type == FieldDescriptor.TYPE_STRING
    assert "next_page_token" in response, f"{service}.{method} response lacks next_page_token"
    assert response["next_page_token"].type == FieldDescriptor.TYPE_STRING


@pytest.mark.parametrize(("service", "method"), _methods(), ids=lambda v: v)
def test_methods_are_classified(service: str, method: str) -> None:
    """A new RPC must be classified as a read or a state change (and then carry request_id)."""
    is_read = method.startswith(READ_VERBS)
    is_mutation = method.startswith(MUTATING_VERBS)
    assert is_read != is_mutation, f"{service}.{method}: add its verb to READ_ or MUTATING_VERBS"


@pytest.mark.parametrize(
    ("service", "method"),
    [m for m in _methods() if m[1].startswith(MUTATING_VERBS)],
    ids=lambda v: v,
)
def test_mutating_methods_take_request_id(service: str, method: str) -> None:
    rpc = _method(service, method)
    fields = rpc.input_type.fields_by_name
    assert "request_id" in fields, f"{service}.{method} request lacks request_id"
    assert fields["request_id"].type == FieldDescriptor.TYPE_STRING


def test_statement_body_cases_document_their_kind(
    descriptor_set: descriptor_pb2.FileDescriptorSet,
) -> None:
    """Each body case's comment names its payload kind, the kebab-case of the case name."""
    (fdp,) = [f for f in descriptor_set.file if f.name == "creditlink/v1/statement.proto"]
    comments = {tuple(loc.path): loc.leading_comments for loc in fdp.source_code_info.location}
    (index,) = [i for i, m in enumerate(fdp.message_type) if m.name == "Statement"]
    statement = fdp.message_type[index]
    (body,) = [i for i, o in enumerate(statement.oneof_decl) if o.name == "body"]
    cases = [
        (i, f)
        for i, f in enumerate(statement.field)
        if f.HasField("oneof_index") and f.oneof_index == body
    ]
    assert len(cases) == 15
    # The file's opening comment is attached to the `syntax` statement (FileDescriptorProto
    # field 12), as a leading or a detached comment depending on the blank lines around it.
    file_comment = " ".join(
        " ".join([loc.leading_comments, *loc.leading_detached_comments])
        for loc in fdp.source_code_info.location
        if tuple(loc.path) == (_FILE_SYNTAX,)
    )
    for i, field in cases:
        kind = field.name.replace("_", "-")
        comment = comments[(_FILE_MESSAGE, index, _MSG_FIELD, i)]
        assert re.search(rf"Kind `{re.escape(kind)}`", comment), field.name
        assert f"application/vnd.creditlink.{kind}.v1+protobuf" in file_comment, field.name
