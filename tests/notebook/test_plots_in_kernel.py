"""In a real Jupyter kernel the plots show up with no ``%matplotlib`` line, exactly once.

Runs a small notebook with nbclient (a real ipykernel): what a front-end would
draw is what lands in each cell's outputs.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

SETUP = """\
import sys
import numpy as np
import pandas as pd
import easlab

rng = np.random.default_rng(0)
df = pd.DataFrame({"total_ms": rng.gamma(4.0, 1.0, 300), "start_s": np.linspace(0, 2, 300),
                   "status": 200})
sweep = pd.DataFrame({"concurrency": [1, 2, 4], "throughput": [100.0, 180.0, 200.0],
                      "p50": [1.0, 1.2, 2.0], "p99": [2.0, 3.0, 6.0]})
"""

CELLS = {
    "assigned": "axes = easlab.plot_latency(df)",
    "last_expression": "easlab.plot_latency(df)",
    "customised": 'p = easlab.plot_latency(df)\np[0].set_title("customised in the same cell")',
    "two_plots": "a = easlab.plot_sweep(sweep)\nb = easlab.plot_traffic({'blue': 70, 'green': 30})",
    "not_shown": "quiet = easlab.plot_latency(df, show=False)",
    "own_axes": "from matplotlib.figure import Figure\nmine = easlab.plot_latency(df, ax=Figure().subplots())",
    "next_cell": "1 + 1",
    "state": 'print("pyplot" if "matplotlib.pyplot" in sys.modules else "no pyplot")',
}


def _images(cell: Any) -> list[bytes]:
    return [
        base64.b64decode(o["data"]["image/png"])
        for o in cell.outputs
        if "image/png" in o.get("data", {})
    ]


@pytest.fixture(scope="module")
def executed() -> dict[str, Any]:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP)] + [
        nbformat.v4.new_code_cell(src, metadata={"name": name}) for name, src in CELLS.items()
    ]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    return {c.metadata["name"]: c for c in nb.cells[1:]}


def test_an_assigned_plot_is_drawn_once_at_the_end_of_the_cell(executed):
    cell = executed["assigned"]
    assert len(_images(cell)) == 1
    assert _images(cell)[0][:8] == b"\x89PNG\r\n\x1a\n"
    assert [o.output_type for o in cell.outputs] == ["display_data"]


def test_a_plot_as_the_cells_value_is_drawn_once_without_a_noisy_repr(executed):
    cell = executed["last_expression"]
    assert len(_images(cell)) == 1  # not twice: the value and the end-of-cell display
    (output,) = cell.outputs
    assert output.output_type == "execute_result"
    assert output.data["text/plain"].startswith("<easlab Plot: 3 axes")


def test_customisations_made_in_the_cell_are_drawn(executed):
    (custom,) = _images(executed["customised"])
    (plain,) = _images(executed["assigned"])
    assert custom != plain  # same data, same seed: only the title differs


def test_every_plot_of_a_cell_is_drawn_and_nothing_leaks_into_the_next(executed):
    assert len(_images(executed["two_plots"])) == 2
    assert _images(executed["not_shown"]) == []
    assert _images(executed["own_axes"]) == []  # the caller's figure: the caller shows it
    (output,) = executed["next_cell"].outputs
    assert output.data == {"text/plain": "2"}


def test_no_pyplot_and_no_global_state(executed):
    (output,) = executed["state"].outputs
    assert output.text.strip() == "no pyplot"
