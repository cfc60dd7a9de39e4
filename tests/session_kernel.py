"""Session fixtures for test folders that share one kernel: a private EASLAB_HOME, a
LocalKernel started in it, and the folder's modules run in it (imported by the
conftest.py of tests/kernel, tests/lab, tests/notebook, tests/aiges and tests/pysdk).

The home is set where it is needed, never left behind by whichever fixture ran last:
under pytest-xdist a worker runs folders in any order, and a kernel started in, or a
test run in, another folder's home finds no admin token (the runtime file) for its
kernel, nor its kernel as the home's default."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest


@contextmanager
def home_set(home: Path) -> Iterator[None]:
    """EASLAB_HOME is ``home`` inside the block, and what it was after it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EASLAB_HOME", str(home))
        yield


@pytest.fixture(scope="session")
def easlab_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("easlab_home")


@pytest.fixture(scope="session")
def kernel(easlab_home) -> Iterator[Any]:
    from easlab.client.local import LocalKernel

    with home_set(easlab_home):  # its runtime file, with the admin token, goes there
        local = LocalKernel(port=0, state_dir=easlab_home / "state")
    with local:
        yield local


@pytest.fixture(scope="module", autouse=True)
def in_kernel_home(easlab_home) -> Iterator[None]:
    """Each module of the folder runs with EASLAB_HOME at its kernel's home; module-scoped,
    so that module fixtures (services made through the magic) run in it too."""
    with home_set(easlab_home):
        yield
