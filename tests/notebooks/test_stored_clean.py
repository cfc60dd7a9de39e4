"""Tutorials are stored clean: no outputs, no execution counts, valid, small, nothing downloaded."""

from __future__ import annotations

import re

import nbformat
import pytest

from .nbrun import NOTEBOOK_DIR, notebook_paths

PATHS = notebook_paths()
# what fetching from the internet at run time would look like in a cell
_DOWNLOADS = re.compile(
    r"urlopen|urlretrieve|requests\.get|wget |curl https?://|[%!]pip install|hf_hub|from_pretrained"
)


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [], f"{path.name} cell {index} is stored with outputs: clear them"
        assert cell.execution_count is None, f"{path.name} cell {index} has an execution count"
        assert "execution" not in cell.metadata, f"{path.name} cell {index} has timing metadata"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_downloads_nothing(path):
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            found = _DOWNLOADS.search(cell.source)
            assert found is None, f"{path.name} cell {index} fetches from the network: {found[0]!r}"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_plots_need_no_matplotlib_setup(path):
    """easlab's plots show themselves in a kernel: no %matplotlib line, no pyplot import."""
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            for workaround in ("%matplotlib", "pyplot", ".figure\n"):
                assert workaround not in cell.source + "\n", (
                    f"{path.name} cell {index}: {workaround}"
                )


def test_shipped_data_is_small():
    data = NOTEBOOK_DIR / "data"
    files = [p for p in data.rglob("*") if p.is_file()] if data.exists() else []
    big = [f"{p.name}: {p.stat().st_size} bytes" for p in files if p.stat().st_size > 256 * 1024]
    assert big == [], "notebooks/data/ is for kilobytes, not megabytes"
