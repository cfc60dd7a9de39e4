"""A Seldon service from the notebook: its signature says ``"format": "seldon"``, so
``%%eas predict`` and ``PredictClient.predict`` send a DataFrame or array as a Seldon
``data.ndarray`` with ``names`` and read the answer back as a DataFrame."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

COMPONENTS = Path(__file__).resolve().parent / "components"
TOKEN = "tok-seldon-notebook"


def create(kernel, name: str, cls: str):
    service = kernel.create(
        {
            "name": name,
            "processor": "seldon",
            "processor_path": str(COMPONENTS),
            "processor_mainclass": cls,
            "token": TOKEN,
            "metadata": {"instance": 1},
        }
    )
    assert service.status == "Running", service.message
    return service


@pytest.fixture(scope="module")
def shell(kernel):
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "easlab")
    ip.run_line_magic("config", f"EasMagic.target = {kernel.endpoint!r}")
    yield ip
    ip.run_line_magic("unload_ext", "easlab")


def test_signature_says_seldon(kernel):
    service = create(kernel, "sn_meta", "GoodMeta")
    sig = requests.get(service.url, headers={"Authorization": TOKEN}, timeout=30).json()
    assert sig["format"] == "seldon" and isinstance(sig["inputs"], list)
    assert sig["metadata"]["name"]  # GoodMeta's init_metadata()
    # the seldon paths below are untouched: GET /predict?json= is still a prediction
    q = {"json": json.dumps({"data": {"ndarray": [[1]]}})}
    got = requests.get(service.url + "/predict", params=q, headers={"Authorization": TOKEN})
    assert got.status_code == 200 and got.json()["data"]["ndarray"] == [[1]]


def test_magic_sends_dataframe_as_ndarray_and_returns_dataframe(kernel, shell):
    create(kernel, "sn_double", "ClassNames")
    shell.user_ns["df"] = pd.DataFrame({"x": [1.0, 3.0], "y": [2.0, 4.0]})
    shell.run_cell_magic("eas", "predict sn_double out", "df")
    out = shell.user_ns["out"]
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["a", "b"]  # class_names()
    assert out.to_numpy().tolist() == [[2.0, 4.0], [6.0, 8.0]]


def test_magic_sends_array_and_names_reach_the_component(kernel, shell):
    create(kernel, "sn_identity", "MyModel")
    shell.user_ns["arr"] = np.array([[1, 2], [3, 4]])
    shell.run_cell_magic("eas", "predict sn_identity out2", "arr")
    out = shell.user_ns["out2"]
    assert isinstance(out, pd.DataFrame) and out.to_numpy().tolist() == [[1, 2], [3, 4]]
    assert list(out.columns) == ["t:0", "t:1"]  # seldon-core's names for the old predict()


def test_predict_client_gets_a_seldon_answer(kernel):
    from easlab.client.predict_client import PredictClient
    from easlab.wire.seldon import SeldonAnswer, SeldonRequest

    service = create(kernel, "sn_client", "ClassNames")
    client = PredictClient(service.endpoint, service.name)
    client.set_token(TOKEN)
    df = pd.DataFrame({"p": [1.0], "q": [2.0]})
    answer = client.predict(df)
    assert isinstance(answer, SeldonAnswer)
    assert answer.to_dataframe().to_dict("records") == [{"a": 2.0, "b": 4.0}]
    # a dict is a SeldonMessage, sent as written
    answer = client.predict({"data": {"names": ["p"], "ndarray": [[5]]}})
    assert answer.data["data"]["ndarray"] == [[10.0]]
    from easlab.wire.build import to_request

    sent = to_request(df, {"format": "seldon", "inputs": []})
    assert isinstance(sent, SeldonRequest)
    assert json.loads(sent.to_string()) == {"data": {"names": ["p", "q"], "ndarray": [[1.0, 2.0]]}}


@pytest.mark.parametrize(
    ("answer", "columns", "rows"),
    [
        ({"data": {"names": ["a", "b"], "ndarray": [[1, 2]]}}, ["a", "b"], [[1, 2]]),
        ({"data": {"names": ["t:0", "t:1", "t:2"], "ndarray": [1, 2, 3]}}, ["t:0", "t:1", "t:2"], [[1, 2, 3]]),
        ({"data": {"names": [], "ndarray": [1, 2]}}, [0], [[1], [2]]),
        ({"data": {"names": ["x", "y"], "tensor": {"shape": [2, 2], "values": [1, 2, 3, 4]}}}, ["x", "y"], [[1, 2], [3, 4]]),
    ],
)  # fmt: skip
def test_answer_to_dataframe(answer, columns, rows):
    from easlab.wire.seldon import SeldonAnswer

    answer["meta"] = {"tags": {"t": 1}}
    frame = SeldonAnswer(json.dumps(answer).encode()).to_dataframe()
    assert list(frame.columns) == columns and frame.to_numpy().tolist() == rows
    assert frame.attrs["meta"] == {"tags": {"t": 1}}
