"""A real kernel on a free loopback port, shared by the kernel tests, and app builders."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import session_kernel
from tests.kernel.kernel_helpers import app_spec

# the session's kernel home, each module run in it (tests/session_kernel.py)
easlab_home = session_kernel.easlab_home
in_kernel_home = session_kernel.in_kernel_home


@pytest.fixture(scope="session")
def kernel(easlab_home, tmp_path_factory):
    """One LocalKernel for the session (port 0, its own state dir, a small --max-body)."""
    from easlab.client.local import LocalKernel

    state = tmp_path_factory.mktemp("kernel_state")
    with session_kernel.home_set(easlab_home):  # its runtime file goes there
        local = LocalKernel(port=0, state_dir=state, max_body=1024 * 1024)
    with local:
        yield local


@pytest.fixture(scope="session")
def make_app(tmp_path_factory) -> Callable[[str, str], Path]:
    """Write an allspark app.py into a fresh folder; returns the folder."""

    def make(name: str, code: str) -> Path:
        folder = tmp_path_factory.mktemp(f"app_{name}")
        (folder / "app.py").write_text(textwrap.dedent(code))
        return folder

    return make


@pytest.fixture(scope="session")
def python_service(kernel, make_app) -> Callable[..., Any]:
    """Create a python-processor service from app code: ``python_service(name, code, **metadata)``."""

    def create(name: str, code: str, token: str | None = "tok-" + "x" * 8, **metadata: Any):
        spec = app_spec(name, make_app(name, code), **metadata)
        if token:
            spec["token"] = token
        return kernel.create(spec)

    return create
