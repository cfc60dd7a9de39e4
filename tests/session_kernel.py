"""Session fixtures for test folders that share one kernel: a private EASLAB_HOME and a
LocalKernel on it (imported by tests/notebook/conftest.py and tests/lab/conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def easlab_home(tmp_path_factory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("easlab_home")
    old = os.environ.get("EASLAB_HOME")
    os.environ["EASLAB_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("EASLAB_HOME", None)
    else:
        os.environ["EASLAB_HOME"] = old


@pytest.fixture(scope="session")
def kernel(easlab_home) -> Iterator[Any]:
    from easlab.client.local import LocalKernel

    with LocalKernel(port=0, state_dir=easlab_home / "state") as k:
        yield k
