"""Run ``mypy --strict`` over the hand-written code as the ``creditlink`` package.

The repository keeps one folder per layer and setuptools maps them into the single import
namespace ``creditlink`` (pyproject ``package-dir``). mypy cannot follow setuptools' editable
import hook, so this script lays the same mapping out as a tree of symlinks under
``.cache/typecheck`` and checks ``-p creditlink`` there, then the documentation's example
programs (``docs/examples/*.py``, which users copy) against that tree. Generated protobuf
modules are checked through their ``.pyi`` stubs only (see ``[tool.mypy]``).

    python scripts/typecheck.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / ".cache" / "typecheck"


def _layout() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    shutil.rmtree(TREE, ignore_errors=True)
    # Parents first, so that a sub-package link lands inside its parent's directory.
    for package in sorted(mapping, key=lambda name: name.count(".")):
        source = ROOT / mapping[package]
        target = TREE.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for entry in source.iterdir():
            link = target / entry.name
            if entry.is_dir() or link.exists() or entry.name == "__pycache__":
                continue  # sub-packages get their own mapping entry
            link.symlink_to(entry)


def main() -> int:
    _layout()
    cmd = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        str(ROOT / "pyproject.toml"),
        "-p",
        "creditlink",
        *sys.argv[1:],
    ]
    env = {**os.environ, "MYPYPATH": str(TREE)}
    status = subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode
    examples = sorted(str(p) for p in (ROOT / "docs" / "examples").glob("*.py"))
    if examples:
        # Scripts, not a package: checked as top-level modules, one per file.
        check = [*cmd[:5], *examples, *sys.argv[1:]]
        status = subprocess.run(check, cwd=ROOT, env=env, check=False).returncode or status
    return status


if __name__ == "__main__":
    sys.exit(main())
