"""The debug widget on a Seldon service, through a real kernel: the form comes from the
service's ``/metadata``, each answer shows its data as a table and its ``meta``."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from easlab.notebook.debug import debug
from easlab.notebook.seldon_debug import SeldonDebugSession, SeldonDebugWidget
from tests.notebook.widget_state import where_in_page

COMPONENTS = Path(__file__).resolve().parent / "components"
TOKEN = "tok-seldon-widget"
GRAPH = {
    "name": "input",
    "type": "TRANSFORMER",
    "class": "Transformer",
    "children": [
        {
            "name": "router",
            "type": "ROUTER",
            "class": "Router",
            "children": [
                {"name": "identity", "type": "MODEL", "class": "MyModel"},
                {
                    "name": "combine",
                    "type": "COMBINER",
                    "class": "Combiner",
                    "children": [
                        {"name": "m1", "type": "MODEL", "class": "MyModel"},
                        {"name": "m2", "type": "MODEL", "class": "ClassNames"},
                    ],
                },
            ],
        }
    ],
}


def create(kernel, name: str, cls: str, **extra):
    spec = {
        "name": name,
        "processor": "seldon",
        "processor_path": str(COMPONENTS),
        "processor_mainclass": cls,
        "token": TOKEN,
        "metadata": {"instance": 1},
        **extra,
    }
    service = kernel.create(spec)
    assert service.status == "Running", service.message
    return service


@pytest.fixture(scope="module")
def metaform(kernel):
    return create(kernel, "sw_metaform", "MetaForm")


def test_debug_routes_a_seldon_service_to_its_form(metaform):
    w = debug(metaform, namespace={})
    assert isinstance(w, SeldonDebugWidget)
    session = w.session
    assert session.metadata is not None and session.metadata["name"] == "metaform"
    assert session.metadata_error is None  # read from GET {service}/metadata
    (field,) = session.seldon_fields
    assert field.columns == ["x", "y"] and field.shape == [2] and field.dtype == "ndarray"
    (row,) = w.editor.rows
    assert "x, y" in row.children[0].value and "ndarray [2]" in row.children[0].value


def test_send_shows_the_table_and_the_meta(metaform):
    frame = pd.DataFrame({"x": [1.0, 3.0], "y": [2.0, 4.0]})
    w = debug(metaform, namespace={"frame": frame, "wrong": pd.DataFrame({"q": [1]})})
    (row,) = w.editor.rows
    assert "variable frame" in row.source.options and "variable wrong" not in row.source.options
    row.source.value = "variable frame"
    row.fill()
    assert json.loads(row.text.value) == [[1.0, 2.0], [3.0, 4.0]]
    w.send_button.click()
    assert "HTTP 200" in w.status_line.value, w.status_line.value
    record = w.session.last
    sent = json.loads(record.sent.body)
    assert sent == {"data": {"names": ["x", "y"], "ndarray": [[1.0, 2.0], [3.0, 4.0]]}}
    table = w.session.answer_table()
    assert isinstance(table, pd.DataFrame) and list(table.columns) == ["a", "b"]
    assert table.to_numpy().tolist() == [[2.0, 4.0], [6.0, 8.0]]
    meta = w.session.answer_meta()
    assert meta["tags"] == {"model": "metaform", "runtime": "yes"}
    assert {"type": "COUNTER", "key": "rows", "value": 2} in meta["metrics"]
    pane = w.decoded_pane.value
    assert "<table" in pane and "seldon-tags" in pane and "metaform" in pane
    assert "seldon-metrics" in pane and "rows" in pane and "COUNTER" in pane
    # the shared panes: the request went out with the token (masked), the body as JSON
    text = w.session.request_text(record)
    assert "POST /api/predict/sw_metaform" in text and '"ndarray"' in text
    assert TOKEN not in text
    assert len(w.session.history_df()) == 1


def test_typed_rows_and_random_fill(metaform):
    w = debug(metaform, namespace={})
    (row,) = w.editor.rows
    row.text.value = "[[5, 6]]"
    w.send_button.click()
    assert json.loads(w.session.last.sent.body)["data"]["ndarray"] == [[5, 6]]
    assert w.session.answer_table().to_numpy().tolist() == [[10.0, 12.0]]
    row.source.value = "random data"
    row.fill()
    assert len(json.loads(row.text.value)[0]) == 2
    w.send_button.click()
    assert "HTTP 200" in w.status_line.value
    with pytest.raises(ValueError, match="2 value"):
        row.field.set_rows("[[1, 2, 3]]")


def test_v2_inputs_fill_named_columns(kernel):
    svc = create(kernel, "sw_goodmeta", "GoodMeta")  # inputs: [{"name": "input", BYTES, [1]}]
    w = debug(svc, namespace={})
    (field,) = w.session.seldon_fields
    assert (field.name, field.dtype, field.shape, field.columns) == (
        "input",
        "BYTES",
        [1],
        ["input"],
    )
    w.send_button.click()  # an unfilled input is filled with random data on Send
    assert "HTTP 200" in w.status_line.value, w.status_line.value
    assert json.loads(w.session.last.sent.body) == {
        "data": {"names": ["input"], "ndarray": [["text"]]}
    }


def test_no_declared_inputs_gives_a_json_box_and_meta(kernel):
    svc = create(kernel, "sw_tags", "TagsMetrics")  # no init_metadata
    w = debug(svc, namespace={})
    assert w.editor.rows == [] and w.editor.raw in w.editor.children
    w.editor.raw.value = '{"data": {"names": ["p"], "ndarray": [[1], [2]]}}'
    w.send_button.click()
    assert "HTTP 200" in w.status_line.value, w.status_line.value
    meta = w.session.answer_meta()
    assert meta["tags"] == {"static": "tag", "shared": "right one", "runtime": "tag"}
    keys = {m["key"] for m in meta["metrics"]}
    assert keys == {"mycounter", "mygauge", "mytimer", "instance_counter"}
    assert "mytimer" in w.decoded_pane.value and "right one" in w.decoded_pane.value
    w.editor.raw.value = "not json"
    w.send_button.click()
    assert "not JSON" in w.status_line.value


def test_graph_answer_shows_the_request_path(kernel):
    svc = create(kernel, "sw_graph", "MyModel", seldon={"graph": GRAPH})
    w = debug(svc, namespace={})
    w.editor.raw.value = '{"data": {"ndarray": [[9, 1]]}}'
    w.send_button.click()
    assert "HTTP 200" in w.status_line.value, w.status_line.value
    path = w.session.answer_meta()["requestPath"]
    assert set(path) == {"input", "router", "combine", "m1", "m2"}
    assert "seldon-path" in w.decoded_pane.value and "combine" in w.decoded_pane.value


def test_error_answer_shows_the_seldon_status(kernel):
    svc = create(kernel, "sw_error", "CustomError")
    w = debug(svc, namespace={})
    w.editor.raw.value = '{"data": {"ndarray": [[1]]}}'
    w.send_button.click()
    assert "HTTP 402" in w.status_line.value or "HTTP 4" in w.status_line.value


def test_wrong_token_then_the_form_comes_back(metaform):
    w = debug(metaform.url, token="wrong", namespace={})
    # a 401 on the signature: the format is not known yet; the token field fixes it
    assert "token is wrong" in w.status_line.value and w.editor.rows == []
    assert w.token_box.token == "wrong" and w.token_box.value == ""  # the page holds none
    w.token_box.hidden.value = TOKEN  # Enter in the token field
    assert "token applied" in w.status_line.value
    assert w.token_box.token == TOKEN and w.token_box.value == ""  # the field is cleared
    assert isinstance(w.session, SeldonDebugSession)  # the signature says seldon now
    (row,) = w.editor.rows
    assert row.field.columns == ["x", "y"]
    row.text.value = "[[1, 1]]"
    w.send_button.click()
    assert "HTTP 200" in w.status_line.value and "seldon-tags" in w.decoded_pane.value


def test_token_field_rebuilds_the_seldon_form(metaform):
    session = SeldonDebugSession(metaform.url, token="wrong")
    assert session.seldon_fields == [] and session.target.signature_error is not None
    w = SeldonDebugWidget(session)
    assert w.editor.rows == []
    w.token_box.hidden.value = TOKEN
    assert "token applied" in w.status_line.value
    assert w.session.target.token == TOKEN and w.token_box.value == ""
    (row,) = w.editor.rows
    assert row.field.columns == ["x", "y"]
    w.send_button.click()
    assert "HTTP 200" in w.status_line.value


def test_copy_as_curl_gets_the_same_answer(metaform):
    w = debug(metaform, namespace={})
    (row,) = w.editor.rows
    row.text.value = "[[1, 2]]"
    assert not w.copy_buttons["curl"].disabled, w.copy_buttons["curl"].hint
    w.send_button.click()
    command = w.copy_as("curl")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EASLAB_HOME")}
    with tempfile.TemporaryDirectory() as fresh:
        out = subprocess.run(
            ["bash", "-c", command], capture_output=True, timeout=60, cwd=fresh, env=env
        )
    assert out.returncode == 0, out.stderr.decode()
    answer = json.loads(out.stdout)
    assert answer["data"] == json.loads(w.session.last.response.body)["data"]
    assert not w.copy_buttons["easlab"].disabled, w.copy_buttons["easlab"].hint
    assert w.copy_buttons["curl"].simulate_click(ok=True) == command  # what a click copies


def test_the_seldon_widget_holds_no_token_in_the_page(metaform):
    w = debug(metaform, namespace={})
    assert isinstance(w, SeldonDebugWidget)
    assert where_in_page(w, TOKEN) == []  # created
    (row,) = w.editor.rows
    row.text.value = "[[1, 2]]"
    w.send_button.click()
    assert "HTTP 200" in w.status_line.value and where_in_page(w, TOKEN) == []  # sent
    assert TOKEN in w.copy_as("curl")
    assert TOKEN in w.copy_buttons["official"].simulate_click(ok=True)
    assert where_in_page(w, TOKEN) == []  # copied as
    w.token_box.toggle.value = True  # the eye: an explicit reveal
    assert {"Text.value", "Textarea.value"} <= set(where_in_page(w, TOKEN))
    w.token_box.toggle.value = False
    assert where_in_page(w, TOKEN) == [] and w.session.target.token == TOKEN


@pytest.mark.timeout(180)
def test_stopped_kernel_shows_the_start_state(tmp_path, monkeypatch):
    from easlab.client.local import LocalKernel

    own = LocalKernel(port=0, state_dir=tmp_path / "own")
    try:
        svc = create(own, "sw_gone", "MetaForm")
        w = debug(svc, namespace={})
        w.editor.rows[0].text.value = "[[1, 2]]"
        w.send_button.click()
        assert "HTTP 200" in w.status_line.value
        assert w.kernel_banner.layout.display == "none"
    finally:
        own.stop()
    monkeypatch.delenv("EASLAB_ENDPOINT", raising=False)
    monkeypatch.setenv("EASLAB_HOME", str(tmp_path / "no-kernel-here"))
    w.send_button.click()
    assert "kernel is not running" in w.status_line.value
    assert w.kernel_banner.layout.display == "flex"
    assert isinstance(w.session, SeldonDebugSession)  # the form stays the Seldon one
