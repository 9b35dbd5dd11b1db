"""Regenerate the committed protobuf code beside the .proto files.

    python scripts/regen_protos.py          # rewrite proto/**/_pb2*.py and .pyi
    python scripts/regen_protos.py --check  # regenerate into a temp dir; exit 1 on any drift

Uses ``python -m grpc_tools.protoc`` from the pinned grpcio-tools (see pyproject ``dev``
extra) plus mypy-protobuf for the ``.pyi`` stubs. Generated files are never edited by hand.
"""

from __future__ import annotations

import argparse
import filecmp
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def _sources() -> list[Path]:
    return sorted(PROTO_ROOT.rglob("*.proto"))


def _generate(out: Path) -> None:
    rel = [str(p.relative_to(PROTO_ROOT)) for p in _sources()]
    bindir = Path(sys.executable).parent
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *rel,
    ]
    result = subprocess.run(cmd, cwd=PROTO_ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"protoc failed with exit code {result.returncode}")
    # protoc writes a gRPC module for every file; keep it only where the file defines a service.
    for proto in _sources():
        if not any(line.startswith("service ") for line in proto.read_text().splitlines()):
            stem = out / proto.relative_to(PROTO_ROOT).with_suffix("")
            for suffix in ("_pb2_grpc.py", "_pb2_grpc.pyi"):
                Path(f"{stem}{suffix}").unlink(missing_ok=True)


def _generated_files(base: Path) -> set[Path]:
    return {
        p.relative_to(base)
        for p in base.rglob("*")
        if p.is_file() and p.name.endswith(GENERATED_SUFFIXES)
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail on drift, write nothing")
    args = parser.parse_args()

    if not args.check:
        for stale in _generated_files(PROTO_ROOT):
            (PROTO_ROOT / stale).unlink()
        _generate(PROTO_ROOT)
        print(f"regenerated {len(_generated_files(PROTO_ROOT))} files under {PROTO_ROOT}")
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        _generate(out)
        fresh, committed = _generated_files(out), _generated_files(PROTO_ROOT)
        drift = sorted(str(p) for p in fresh ^ committed)
        drift += sorted(
            str(p)
            for p in fresh & committed
            if not filecmp.cmp(out / p, PROTO_ROOT / p, shallow=False)
        )
    if drift:
        print("generated code differs from the .proto files; run scripts/regen_protos.py:")
        for path in drift:
            print(f"  {path}")
        return 1
    print("generated code matches the .proto files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
