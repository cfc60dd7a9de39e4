"""A service whose GET runs its model (a python processor: EAS passes the GET on as an
empty request) is not asked for a signature: ``%%eas predict``, ``easlab.bench`` and
``easlab.debug`` send it only what the user sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from easlab.notebook.debug import debug
from easlab.notebook.loadtest import bench

COUNTING_APP = """\
import allspark

SEEN_FILE = {seen!r}


class Counting(allspark.BaseProcessor):
    def process(self, data):
        with open(SEEN_FILE, "a") as seen:
            seen.write(data.decode() + "\\n")
        if not data:
            raise ValueError("an empty body reached the model")
        return b"seen:" + data, 200
"""


@pytest.fixture(scope="module")
def counting(kernel, tmp_path_factory) -> tuple[Any, Path]:
    """A python service that writes each body it gets to a file, and raises on an empty one."""
    folder = tmp_path_factory.mktemp("counting_app")
    seen = folder / "seen.txt"
    seen.touch()
    (folder / "app.py").write_text(COUNTING_APP.format(seen=str(seen)))
    svc = kernel.create(
        {
            "name": "nb_counting",
            "processor_type": "python",
            "processor_path": str(folder),
            "processor_entry": "app.py",
            "metadata": {"instance": 1},
        }
    )
    assert svc.status == "Running", svc.desc.get("message")
    yield svc, seen
    kernel.delete("nb_counting")


def test_the_kernel_says_who_answers_get(kernel, counting, affine):
    svc, _ = counting
    assert kernel.client.describe(svc.name)["get_answered_by"] == "model"
    assert kernel.client.describe(affine.name)["get_answered_by"] == "kernel"


def test_the_model_sees_only_what_the_notebook_sends(kernel, shell, counting):
    svc, seen = counting
    before = kernel.client.metrics(svc.name)["totals"]["requests"]
    shell.user_ns["counted_svc"] = svc
    shell.run_cell_magic("eas", "predict counted_svc out", "b'one'")
    assert shell.user_ns["out"] == b"seen:one"
    shell.run_cell_magic("eas", "predict nb_counting out", '{"two": 2}')  # a name, JSON
    assert shell.user_ns["out"] == 'seen:{"two": 2}'  # text, read as text

    result = bench(svc, {"three": 3}, n=3, concurrency=1, progress=False)
    assert result.ok == 3

    session = debug(svc, namespace={}).session
    assert session.signature is None and not session.is_tensor
    assert debug(svc.name, namespace={}).session.signature is None

    sent = ["one", '{"two": 2}'] + ['{"three":3}'] * 3  # a dict is compact JSON
    assert seen.read_text().splitlines() == sent
    assert kernel.client.metrics(svc.name)["totals"]["requests"] - before == len(sent)
    log = "\n".join(kernel.client.logs(svc.name, n=500))
    assert "an empty body reached the model" not in log
