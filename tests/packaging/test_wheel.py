"""The built wheel, not the checkout, contains every sub-package.

An editable install maps folders on the fly and so hides a sub-package missing from the
``package-dir`` mapping; this test builds the wheel, installs it into a fresh virtual environment
and imports every module from there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _mapped_packages() -> dict[str, str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    return mapping


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("creditlink-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_env(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding only the wheel; dependencies come from this interpreter's env.

    Dependencies are made visible through a ``.pth`` line appended *after* the fresh
    site-packages, so the wheel's ``creditlink`` always wins over anything else installed.
    """
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    deps = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "zz_creditlink_test_deps.pth").write_text("\n".join(deps) + "\n")
    return env_dir


def test_wheel_lists_every_source_package(wheel: Path) -> None:
    """Every folder with an ``__init__.py`` under a mapped root is in the wheel."""
    names = zipfile.ZipFile(wheel).namelist()
    in_wheel = {n.rsplit("/", 1)[0].replace("/", ".") for n in names if n.endswith("__init__.py")}
    in_tree: set[str] = set()
    for package, folder in _mapped_packages().items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base).parts
            if "__pycache__" not in rel:
                in_tree.add(".".join((package, *rel)))
    assert in_tree <= in_wheel, f"missing from the wheel: {sorted(in_tree - in_wheel)}"
    assert any(n.endswith("creditlink/py.typed") for n in names)
    assert any(n.endswith("creditlink/v1/envelope.proto") for n in names)


def test_every_module_imports_from_the_wheel(fresh_env: Path) -> None:
    script = """
import importlib, json, pkgutil, sys
import creditlink, buf
seen = {}
for root in (creditlink, buf):
    seen[root.__name__] = root.__file__
    for info in pkgutil.walk_packages(root.__path__, root.__name__ + "."):
        if info.name.endswith(".__main__"):
            continue  # running it is the console script's test
        module = importlib.import_module(info.name)
        seen[info.name] = module.__file__
print(json.dumps(seen))
"""
    python = fresh_env / "bin" / "python"
    result = subprocess.run(
        [str(python), "-c", script], check=True, capture_output=True, text=True, cwd="/"
    )
    modules: dict[str, str] = json.loads(result.stdout)
    for package in _mapped_packages():
        assert package in modules, f"{package} not importable from the wheel"
    outside = {name: f for name, f in modules.items() if not f.startswith(str(fresh_env))}
    assert not outside, f"imported from outside the fresh venv: {outside}"


def test_console_script_from_the_wheel(fresh_env: Path) -> None:
    exe = fresh_env / "bin" / "creditlink"
    version = subprocess.run([str(exe), "--version"], check=True, capture_output=True, text=True)
    assert version.stdout.startswith("creditlink ")
    helptext = subprocess.run([str(exe), "--help"], check=True, capture_output=True, text=True)
    assert "Credit Exchange Protocol" in helptext.stdout
