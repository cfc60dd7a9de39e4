"""A real kernel (port 0, private EASLAB_HOME) for the panel's server side."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHECKER_APP = """\
import allspark


class Checker(allspark.BaseProcessor):
    def process(self, data):
        if data == b"bad":
            return b"bad body", 400
        return data, 200
"""


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


@pytest.fixture(scope="session")
def app_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("checker_app")
    (folder / "app.py").write_text(CHECKER_APP)
    return folder


@pytest.fixture
def lab(tmp_path: Path, easlab_home: Path, app_dir: Path) -> Iterator[dict[str, Any]]:
    """A JupyterLab with the panel on loopback (tests/lab/lab_server.py), no kernel at first."""
    from tests.lab.lab_server import start_lab

    with start_lab(tmp_path, app_dir) as info:
        yield info
