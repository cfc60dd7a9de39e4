"""Session-wide fixtures that start real things: the official client's venv, a kernel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OFFICIAL_VENV = ROOT / ".venv-official"


def _official_python() -> Path:
    """The python of a venv holding eas-prediction==0.36 (and its protobuf 3.20.3)."""
    py = OFFICIAL_VENV / "bin" / "python"
    stamp = OFFICIAL_VENV / ".installed"
    if not stamp.exists():
        if not py.exists():
            venv.EnvBuilder(with_pip=True).create(OFFICIAL_VENV)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "eas-prediction==0.36"], check=True)
        stamp.touch()
    return py


@pytest.fixture(scope="session", autouse=True)
def private_easlab_home(tmp_path_factory) -> Iterator[Path]:
    """A private EASLAB_HOME from the session's first test on, never the user's ~/.easlab:
    with pytest-xdist a worker may run tests that start kernels before any folder's
    session kernel (tests/session_kernel.py) has set one."""
    home = tmp_path_factory.mktemp("easlab_home")
    old = os.environ.get("EASLAB_HOME")
    os.environ["EASLAB_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("EASLAB_HOME", None)
    else:
        os.environ["EASLAB_HOME"] = old


@pytest.fixture(scope="session")
def official_python() -> Path:
    return _official_python()


@pytest.fixture(scope="session")
def run_official(official_python):
    """Run a Python snippet with the official client; return its stdout.

    The snippet can print JSON or write bytes to stdout; ``run_official(code,
    stdin=b"...")`` feeds bytes in. Raises with the child's stderr on failure.
    """

    def run(code: str, stdin: bytes | None = None, timeout: float = 120) -> bytes:
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        proc = subprocess.run(
            [str(official_python), "-c", textwrap.dedent(code)],
            input=stdin,
            capture_output=True,
            timeout=timeout,
            env=env,
            cwd="/",  # never import easlab from the checkout by accident
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"official client snippet failed ({proc.returncode}):\n{proc.stderr.decode()}"
            )
        return proc.stdout

    return run


@pytest.fixture(scope="session")
def run_official_json(run_official):
    def run(code: str, stdin: bytes | None = None) -> object:
        return json.loads(run_official(code, stdin))

    return run


@pytest.fixture(scope="session")
def python_exe() -> str:
    return sys.executable


@pytest.fixture(scope="module")
def kernel_endpoint(tmp_path_factory) -> Iterator[str]:
    """A local kernel for one test module, in its own EASLAB_HOME: its endpoint."""
    from easlab.client.local import LocalKernel

    home = tmp_path_factory.mktemp("easlab-home")
    old = os.environ.get("EASLAB_HOME")
    os.environ["EASLAB_HOME"] = str(home)
    try:
        with LocalKernel(port=0) as local:
            yield local.endpoint
    finally:
        if old is None:
            os.environ.pop("EASLAB_HOME", None)
        else:
            os.environ["EASLAB_HOME"] = old
