"""A real kernel (port 0, private EASLAB_HOME) for the panel's server side."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import session_kernel

# the shared session fixtures (tests/session_kernel.py)
easlab_home = session_kernel.easlab_home
kernel = session_kernel.kernel
in_kernel_home = session_kernel.in_kernel_home

CHECKER_APP = """\
import allspark


class Checker(allspark.BaseProcessor):
    def process(self, data):
        if data == b"bad":
            return b"bad body", 400
        return data, 200
"""


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
