"""A failing magic stops Run All: nbclient raises at that cell, and the cells below never run."""

from __future__ import annotations

from pathlib import Path

import pytest

from .nbrun import execute


def test_a_failing_magic_stops_the_notebook_at_its_cell(tmp_path: Path, easlab_home: Path):
    import nbformat
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "%load_ext easlab\n%config EasMagic.target = 'http://127.0.0.1:9'"
        ),
        nbformat.v4.new_code_cell('%%eas predict no_such_service out\n"hello"'),
        nbformat.v4.new_code_cell("print(out)  # would be a NameError if the run went on"),
    ]
    path = tmp_path / "stops.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(CellExecutionError) as info:
        execute(path, easlab_home)
    text = str(info.value)
    assert "%%eas predict no_such_service out" in text  # names the failing cell
    assert "easlab error: no easlab kernel answers at http://127.0.0.1:9" in text
    assert "NameError" not in text and "Traceback" not in text
