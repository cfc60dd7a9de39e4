"""Restart and Run All after a run that stopped half-way, the most common move in a
notebook: the tutorials wrote their models to a new temporary folder on each run, so
the first tutorial's create cell found its service from the stopped run deployed from
another ``model_path`` and refused it (409), and Run All stopped there. They now keep
their files in ``easlab.workdir(name, fresh=True)``, at the same place on every run."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from easlab import runtime

from .nbrun import NOTEBOOK_DIR, execute, output_text


def test_run_all_after_a_run_stopped_half_way(tmp_path: Path, easlab_home: Path):
    path = NOTEBOOK_DIR / "01-quickstart.ipynb"
    nb = nbformat.read(path, as_version=4)
    stop = next(i for i, c in enumerate(nb.cells) if c.source.startswith("%%eas predict"))
    half = tmp_path / "half.ipynb"
    nb.cells = nb.cells[: stop + 1]  # deployed and called, then the run stopped
    nbformat.write(nb, half)
    execute(half, easlab_home, cwd=NOTEBOOK_DIR)

    again = execute(path, easlab_home)  # a new notebook kernel, the same serving kernel
    create = next(c for c in again.cells if c.source.startswith("%%eas create"))
    said = "".join(output_text(o) for o in create.outputs)
    # the model was written again (fresh=True), the same bytes (the tutorial trains with
    # a seed): the service serves them as it is, no new version to load
    assert "service quickstart exists, deployed from this same cell: using it" in said
    assert "version: 1/1" in said


def test_workdir_is_one_folder_of_easlab_home(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("EASLAB_HOME", str(tmp_path))
    folder = runtime.workdir("quickstart")
    assert folder == tmp_path / "work" / "quickstart" and folder.is_dir()
    assert folder.stat().st_mode & 0o777 == 0o700
    (folder / "model.onnx").write_bytes(b"kept")
    assert (runtime.workdir("quickstart") / "model.onnx").read_bytes() == b"kept"
    assert list(runtime.workdir("quickstart", fresh=True).iterdir()) == []
    for bad, said in (
        ("", "takes a folder name"),
        ("..", "takes a folder name"),
        ("a/b", "one folder name, not a path"),
    ):
        with pytest.raises(ValueError, match=said):
            runtime.workdir(bad)
