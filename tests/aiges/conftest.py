"""Fixtures for the aiges tests: the test wrappers and the real SDK's virtualenv."""

from __future__ import annotations

import ast
import subprocess
import venv
from pathlib import Path

import pytest

from tests.kernel.conftest import easlab_home, in_kernel_home, kernel  # noqa: F401  (a real kernel)

ROOT = Path(__file__).resolve().parents[2]
WRAPPERS = Path(__file__).resolve().parent / "wrappers"
AIGES_VENV = ROOT / ".venv-aiges"


def aiges_python() -> Path:
    """The python of a venv holding the real aiges 0.16.0 (made once, like .venv-official)."""
    py = AIGES_VENV / "bin" / "python"
    stamp = AIGES_VENV / ".installed"
    if not stamp.exists():
        if not py.exists():
            venv.EnvBuilder(with_pip=True).create(AIGES_VENV)
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "aiges==0.16.0", "setuptools<70"], check=True
        )
        stamp.touch()
    return py


@pytest.fixture(scope="session")
def real_aiges() -> Path:
    return aiges_python()


def copy_wrapper(name: str, target: Path) -> Path:
    """A runnable copy of test wrapper ``name`` in ``target``, with the shared record.py
    every test wrapper imports (one file, not one per wrapper)."""
    import shutil

    shutil.copytree(WRAPPERS / name, target, dirs_exist_ok=True)
    shutil.copy(WRAPPERS / "record.py", target / "record.py")
    return target


@pytest.fixture()
def wrapper_dir(tmp_path):
    """A fresh copy of a test wrapper folder: ``wrapper_dir("echo")``."""

    def copy(name: str) -> Path:
        return copy_wrapper(name, tmp_path / name)

    return copy


def fits_the_cpp_loader(source: str) -> list[str]:
    """What keeps a wrapper's source from running under aiges's C++ loader, which casts the
    answer to its own aiges_embed types (pyWrapper.cpp) and binds their ResponseData
    constructor without names: Response/ResponseData not imported from aiges_embed first
    (in a try, aiges.dto the fallback, as the SDK's template does), a ResponseData built
    with arguments. Empty when it fits."""
    tree = ast.parse(source)
    embedded = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Try)
        for stmt in node.body
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "aiges_embed"
        for alias in stmt.names
    }
    found = [
        f"{name} is not imported from aiges_embed first"
        for name in ("Response", "ResponseData")
        if name not in embedded
    ]
    built = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "ResponseData"
    ]
    if not built:
        found.append("no ResponseData is built")
    found += [
        f"line {call.lineno}: ResponseData(...) with arguments"
        for call in built
        if call.args or call.keywords
    ]
    return found
