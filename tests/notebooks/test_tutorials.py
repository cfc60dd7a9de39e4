"""Every tutorial runs top to bottom with nbclient, shows what it promises, and leaves nothing running."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .nbrun import easlab_error_lines, execute, leftover_services, live_tokens, notebook_paths

SERIES = [
    "01-quickstart",
    "02-building-requests",
    "03-custom-processors",
    "04-latency-and-batching",
    "05-versions-and-blue-green",
    "06-gpu-and-pai-eas",
    "07-aiges-wrappers",
    "08-seldon-components",
    "09-async-inference",
]
WIDGET = "application/vnd.jupyter.widget-view+json"


def test_the_series_is_complete():
    assert [p.stem for p in notebook_paths()] == SERIES


def _path(name: str) -> Path:
    (path,) = [p for p in notebook_paths() if p.stem == name]
    return path


def _cell(nb: Any, first_line: str) -> Any:
    cells = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(first_line)]
    assert len(cells) == 1, f"expected one cell starting with {first_line!r}, found {len(cells)}"
    return cells[0]


def _kinds(cell: Any) -> set[str]:
    kinds: set[str] = set()
    for output in cell.outputs:
        kinds |= set(output.get("data", {}))
        if output.output_type == "stream":
            kinds.add("text/plain")
    return kinds


def _text(cell: Any) -> str:
    parts = []
    for output in cell.outputs:
        data = output.get("data", {})
        parts += [output.get("text", ""), data.get("text/plain", ""), data.get("text/html", "")]
        parts += output.get("traceback", [])  # an error output: the magic's one line
    return "\n".join(parts)


# What each tutorial promises the reader, checked on the executed notebook.


def _quickstart(nb: Any) -> None:
    assert "HTTP 200" in _text(_cell(nb, "%%eas predict quickstart out"))
    assert "scores: float32[5, 3]" in _text(_cell(nb, "%%eas predict quickstart out"))
    assert WIDGET in _kinds(_cell(nb, "%eas debug quickstart"))


def _requests(nb: Any) -> None:
    assert "True" in _text(_cell(nb, "TFRequest = easlab.TFRequest"))  # same bytes as official
    torch_cell = _text(_cell(nb, "try:"))
    assert "a + a = [[0.0, 2.0], [4.0, 6.0]]" in torch_cell  # torch is installed here
    # the version warning the service carries is shown where the prose explains it (it
    # was in `desc` only, never mentioned)
    assert "note: processor 'pytorch_cpu_1.6' names PyTorch 1.6" in torch_cell
    (prose,) = [c.source for c in nb.cells if c.source.startswith("## PyTorch requests")]
    assert "`pytorch_cpu_1.6` is PAI-EAS's processor code for PyTorch 1.6" in prose
    # EasyRec: the DataFrame form gives the official calls' bytes; TorchRec: the answer as a table
    assert "True" in _text(_cell(nb, "from easlab.eas_prediction.easyrec_request"))
    ranked = _text(_cell(nb, "from easlab.eas_prediction import pytorch_predict_pb2"))
    assert "item features: ['price']" in ranked and "probs" in ranked
    assert ranked.index("i2") < ranked.index("i3") < ranked.index("i1")  # sorted by probability
    mistakes = _text(_cell(nb, "client = mixed.client(retry_count=1)"))
    for error in ("ShapeError", "RequestError", "DTypeError", "PredictException"):
        assert error in mistakes
    assert "no error" not in mistakes


def _processors(nb: Any) -> None:
    assert "Code: 400" in _text(_cell(nb, "%%eas predict wordcount --raw"))
    assert "counted" in _text(_cell(nb, "%eas logs wordcount"))
    assert "'HELLO FROM A C PROCESSOR'" in _text(_cell(nb, "shout"))
    assert WIDGET in _kinds(_cell(nb, "%eas debug upper"))
    # the pysdk loop: init, a dependency in ENV only, standalone, pack, the archive deployed
    made = _text(_cell(nb, "import sys"))
    assert "[PYSDK] Created" in made and "'ENV', 'app.json', 'app.py'" in made
    only_env = _text(_cell(nb, "import importlib.util"))
    assert "'words': 3" in only_env and "this notebook:  None" in only_env
    standalone = _text(_cell(nb, "import http.client"))
    assert 'standalone: 200 {"words": 4, "mean_length": 4.0' in standalone
    assert "pysdk_demo/ENV/bin/python" in standalone
    packed = _text(_cell(nb, "import tarfile"))
    assert (
        "[PYSDK] Created package" in packed
        and "archive root: ['ENV', 'app.json', 'app.py']" in packed
    )
    # pack warns that a virtualenv ENV cannot start on EAS: the prose above it says why
    pack_cell = nb.cells.index(_cell(nb, "import tarfile"))
    assert "[WARN] for PAI-EAS" in packed and "[WARN]" in nb.cells[pack_cell - 1].source
    assert "pysdk_demo Running" in _text(_cell(nb, 'print((project / "app.json")'))
    lines = dict(
        line.split(":", 1)
        for line in _text(_cell(nb, 'print("answered by:')).splitlines()
        if ":" in line
    )
    answered, described, own = (
        lines[k].strip() for k in ("answered by", "desc's python", "easlab's own")
    )
    assert answered == described and answered.endswith("/ENV/bin/python") and answered != own


def _latency(nb: Any) -> None:
    for first_line in (
        "easlab.plot_latency(r)",
        "easlab.plot_sweep(sweep)",
        "plot = easlab.plot_latency",
    ):
        # drawn once, with no %matplotlib line: the Plot's own PNG, no "<Figure ...>" text
        images = [o for o in _cell(nb, first_line).outputs if "image/png" in o.get("data", {})]
        assert len(images) == 1, first_line
        assert "<Figure" not in _text(_cell(nb, first_line))
    (table,) = [o.data["text/plain"] for o in _cell(nb, "results = {}").outputs if "data" in o]
    throughput = table.splitlines()[1].split()  # "throughput (req/s)  180.2  912.5"
    plain, batched = float(throughput[-2]), float(throughput[-1])
    assert batched > 1.5 * plain, f"the text promises batching wins here: {table}"
    # a lone caller's calls each go at once as a batch of one (counted, not timed)
    (line,) = [
        ln
        for ln in _text(_cell(nb, "closes = lambda")).splitlines()
        if ln.startswith("the lone calls' batches")
    ]
    closed = ast.literal_eval(line.split(":", 1)[1].strip())
    assert closed["full"] == 0 and closed["timeout"] == 0 and closed["idle"] >= 50, line


def _versions(nb: Any) -> None:
    answers = [
        _text(c) for c in nb.cells if c.cell_type == "code" and c.source.startswith("%%eas predict")
    ]
    assert "v1: hello world" in answers[0]
    assert "v2: hello world" in answers[1]  # after modify -s
    assert "v1: hello world" in answers[2]  # after version 1
    assert "v2: hello still here" in answers[3]  # the sibling took all the traffic
    assert "now at version 2" in _text(_cell(nb, "%%eas modify greeter"))
    assert "now at version 1" in _text(_cell(nb, "%eas version greeter 1"))
    assert "image/png" in _kinds(_cell(nb, 'client = kernel.service("greeter")'))


def _gpu(nb: Any) -> None:
    local_dry_run = "%%eas create --dry-run\nname: which_device\nprocessor_type: python\n"
    said = _text(
        _cell(
            nb,
            local_dry_run
            + "processor_path: $app_dir\nprocessor_entry: app.py\nmetadata:\n  instance: 1\n  gpu: 1\n  cpu",
        )
    )
    # the kernel's GPU check, at the dry run: a host without a GPU would refuse the create
    assert "valid; would create" in said or (
        "create would be refused" in said and "--allow-cpu-fallback" in said
    ), said
    served = _text(_cell(nb, 'if "svc" not in globals()'))
    assert "GPUs visible to this instance" in served
    # the prose promises that desc shows the fallback, where there was one
    refused = "create would be refused" in said
    assert "GPU: 1" in served and ("GPU: 1 (CPU fallback)" in served) == refused, served
    assert "oss://examplebucket" in _text(_cell(nb, "import pandas as pd"))
    # the same file against PAI-EAS, dry run: nothing sent, no cloud account needed
    plan = _text(
        _cell(
            nb,
            "%%eas create --dry-run\nname: which_device\nprocessor_type: python\nprocessor_path: $app_dir\nprocessor_entry: app.py\nmetadata:\n  instance: 1\n  gpu: 1\n  resource",
        )
    )
    assert "CreateService on PAI-EAS cn-shanghai" in plan and "would upload" in plan
    assert "oss://examplebucket/easlab/" in plan and "note: metadata.resource" in plan
    cloud_file_plan = _text(_cell(nb, "%eas target local"))
    assert "CreateService on PAI-EAS cn-shanghai" in cloud_file_plan, cloud_file_plan
    assert "error:" not in cloud_file_plan  # the file the notebook writes is deployable as is


def _aiges(nb: Any) -> None:
    assert "wrapper.py verified" in _text(_cell(nb, "def sh(*args)"))
    answers = _text(_cell(nb, "import requests"))
    assert (
        "200 served: HELLO" in answers
        and "parameter.echo.mode" in answers
        and "empty text" in answers
    )
    flipped = _text(_cell(nb, "flip = kernel.create"))
    assert "('img', 'file')" in flipped
    assert "\n200 " in flipped and "setyb-GNP" in flipped, flipped  # its param, as a string


def _seldon(nb: Any) -> None:
    shown = _text(_cell(nb, "print(list(probs.columns)"))
    assert "['no', 'yes'] {'model': 'scorer'}" in shown and "'key': 'scored'" in shown
    rest = _text(_cell(nb, "auth = {"))
    assert "200 {" in rest and "'names': ['no', 'yes']" in rest and "pong" in rest
    assert "400 MICROSERVICE_BAD_DATA" in rest and "401 without the token" in rest
    standalone = _text(_cell(nb, "with socket.socket() as s:"))
    assert "same answer as the service: True" in standalone
    assert "--grpc-workers ignored" in standalone
    paths = _text(_cell(nb, 'print("a >= 0:"'))
    assert "NaN" not in paths  # both branches answer columns no/yes
    assert "'router': 'parts.ByFirst', 'scorer': 'Scorer'" in paths
    assert "'ensemble': 'parts.Average'" in paths and "'low': 'Scorer'" in paths


def _async(nb: Any) -> None:
    assert "put 6 requests" in _text(_cell(nb, "endpoint, token = scorer.endpoint"))
    answers = _text(_cell(nb, "answers = {}"))
    assert answers.count("label ") == 6 and "scores [" in answers  # decoded TFResponses
    failed = _text(_cell(nb, "wrong = easlab.TFRequest"))
    assert "HTTP 400" in failed and "unknown input 'features'" in failed
    assert "seen before: False" not in failed  # only the redelivered answer comes before it
    assert "same as above: True" in _text(_cell(nb, "signature = scorer.desc"))
    refused = _cell(nb, 'easlab.AsyncPredictor(endpoint, "async_scorer", "not-the-token")')
    (error,) = [o for o in refused.outputs if o.output_type == "error"]
    assert error.ename == "PredictException" and "refused the token" in error.evalue
    assert "not-the-token" not in error.evalue  # a token is never echoed
    live = _text(_cell(nb, "burst = [easlab.TFRequest"))
    assert "DEPTH" in live and "IN_FLIGHT" in live and "async_scorer/sink" in live


def _token_leaks(nb: Any, tokens: set[str]) -> list[str]:
    """Where a token shows in what a saved notebook keeps: every cell output (every
    MIME type, errors included) and the widget state nbclient stores, as JupyterLab
    does with "save widget state". A cell's source may hold one the reader wrote."""
    import json

    places = [("widget state", json.dumps(nb.metadata.get("widgets", {})))]
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            first = cell.source.splitlines()[0] if cell.source else ""
            places += [(f"cell {index} ({first})", json.dumps(o)) for o in cell.outputs]
    written = "\n".join(cell.source for cell in nb.cells)
    return [
        f"{where}: ...{token[-4:]}"
        for where, text in places
        for token in tokens
        if token in text and token not in written
    ]


CHECKS: dict[str, Callable[[Any], None]] = {
    "01-quickstart": _quickstart,
    "02-building-requests": _requests,
    "03-custom-processors": _processors,
    "04-latency-and-batching": _latency,
    "05-versions-and-blue-green": _versions,
    "06-gpu-and-pai-eas": _gpu,
    "07-aiges-wrappers": _aiges,
    "08-seldon-components": _seldon,
    "09-async-inference": _async,
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", SERIES)
def test_tutorial_runs_top_to_bottom(name: str, easlab_home: Path):
    tokens: set[str] = set()

    def collect_tokens(**_hook: Any) -> None:
        tokens.update(live_tokens(easlab_home))

    # raises on the first failing cell, with its traceback
    nb = execute(_path(name), easlab_home, on_cell_executed=collect_tokens)

    assert easlab_error_lines(nb) == []
    CHECKS[name](nb)
    assert tokens, "the tutorial's services and kernel have tokens"
    assert _token_leaks(nb, tokens) == []
    # the last cell deletes what the tutorial made; the one serving kernel stays, visible
    kernels = leftover_services(easlab_home)
    assert len(kernels) == 1, f"{name} should use the one serving kernel, found {kernels}"
    assert list(kernels.values()) == [[]], f"{name} left services running: {kernels}"
    assert (easlab_home / "kernel.json").exists()
