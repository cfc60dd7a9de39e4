"""Fixtures for running the tutorials: a private EASLAB_HOME whose processes are always stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .nbrun import easlab_processes, stop_processes


@pytest.fixture
def easlab_home(tmp_path: Path) -> Iterator[Path]:
    """A fresh ``EASLAB_HOME``; anything still running with it at the end is stopped.

    A tutorial that fails half-way leaves its kernel running (kernels outlive
    the notebook's Python kernel by design); this makes sure no test leaks one.
    """
    home = tmp_path / "easlab_home"
    home.mkdir()
    yield home
    stop_processes(easlab_processes(home))
