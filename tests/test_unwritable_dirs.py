"""A state directory or EASLAB_HOME that cannot be written: one line saying which
directory, why, and where to point easlab instead, from every way of starting a kernel.

It was a traceback ending in ``PermissionError: [Errno 1] Operation not permitted:
'.../state/kernel.log'`` from ``easlab.connect(start=True)``, and from the kernel
itself "cannot listen on 127.0.0.1:0: [Errno 1] ... kernel.lock", as if the port
were the trouble. The directories are made read-only with ``chattr +i`` (the suite
runs as root, for whom a 0500 mode changes nothing) or blocked by a file in the way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from easlab import runtime
from easlab.errors import UnwritableDirError

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def immutable(path: Path) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def run(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EASLAB_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("EASLAB_ENDPOINT", None)
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_private_dir_says_which_directory_and_where_to_point_easlab(tmp_path, monkeypatch):
    monkeypatch.setenv("EASLAB_HOME", str(tmp_path / "home"))
    with immutable(tmp_path / "home"):
        with pytest.raises(UnwritableDirError) as caught:
            runtime.private_dir(runtime.default_state_dir())
    assert isinstance(caught.value, OSError)  # what callers catching the write's error expect
    assert str(caught.value) == (
        f"cannot write in {tmp_path / 'home' / 'state'}: Operation not permitted; it is "
        f"under EASLAB_HOME ({tmp_path / 'home'}): set EASLAB_HOME to a directory you can "
        "write, e.g. export EASLAB_HOME=$HOME/.easlab"
    )
    # an existing directory that cannot be written is found now, not at its first file
    with immutable(tmp_path / "elsewhere") as elsewhere:
        with pytest.raises(UnwritableDirError) as caught:
            runtime.private_dir(elsewhere)
    assert str(caught.value) == (
        f"cannot write in {elsewhere}: Operation not permitted; give easlab a directory "
        "you can write instead (--state-dir, or EASLAB_HOME)"
    )
    assert list(elsewhere.iterdir()) == []  # the write check leaves nothing behind


def test_a_file_in_the_way_is_named(tmp_path, monkeypatch):
    (tmp_path / "home").write_text("not a directory")
    monkeypatch.setenv("EASLAB_HOME", str(tmp_path / "home"))
    with pytest.raises(UnwritableDirError) as caught:
        runtime.private_dir(runtime.default_state_dir())
    assert str(caught.value).startswith(
        f"cannot write in {tmp_path / 'home' / 'state'}: Not a directory"
    )
    assert "set EASLAB_HOME to a directory you can write" in str(caught.value)


def test_connect_start_and_the_cli_say_it_in_one_line(tmp_path):
    with immutable(tmp_path / "home") as home:
        connect = run(["-c", "import easlab; easlab.connect(start=True)"], home)
        cli = run(["-m", "easlab", "kernel", "start"], home)
    assert connect.returncode == 1
    assert connect.stderr.strip().splitlines()[-1] == (
        f"easlab.errors.UnwritableDirError: cannot write in {home / 'state'}: Operation not "
        f"permitted; it is under EASLAB_HOME ({home}): set EASLAB_HOME to a directory you "
        "can write, e.g. export EASLAB_HOME=$HOME/.easlab"
    )
    assert cli.returncode == 1
    assert cli.stderr.strip() == (
        f"easlab kernel: error: cannot write in {home / 'state'}: Operation not permitted; "
        f"it is under EASLAB_HOME ({home}): set EASLAB_HOME to a directory you can write, "
        "e.g. export EASLAB_HOME=$HOME/.easlab"
    )


def test_the_kernel_says_its_state_dir_not_cannot_listen(tmp_path):
    home = tmp_path / "home"
    with immutable(tmp_path / "state") as state:
        kernel = run(["-m", "easlab.kernel", "--port", "0", "--state-dir", str(state)], home)
    assert kernel.returncode == 2
    assert kernel.stderr.strip() == (
        f"easlab kernel: cannot write in {state}: Operation not permitted; give easlab a "
        "directory you can write instead (--state-dir, or EASLAB_HOME)"
    )
    # a writable state dir under a home that cannot be written: the runtime file's
    # folder, where clients find the kernel, is checked before it listens
    with immutable(home):
        kernel = run(
            ["-m", "easlab.kernel", "--port", "0", "--state-dir", str(tmp_path / "ok")], home
        )
    assert kernel.returncode == 2
    assert kernel.stderr.strip().startswith(
        f"easlab kernel: cannot write in {home / 'runtime'}: Operation not permitted; it is "
        "under EASLAB_HOME"
    )
