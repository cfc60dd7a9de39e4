"""The debug widget against live services: Send, the panes, history, and runnable snippets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from easlab import _auth
from easlab.notebook.debug import debug
from easlab.notebook.widget import DebugWidget
from easlab.wire.tf import TFResponse

from .conftest import B, W

ROOT = Path(__file__).resolve().parents[2]
OFFICIAL_PY = ROOT / ".venv-official" / "bin" / "python"


def run_python(python: Path | str, code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EASLAB_HOME")}
    proc = subprocess.run(
        [str(python), "-c", code],
        capture_output=True,
        timeout=120,
        env=env,
        cwd="/" if python == OFFICIAL_PY else str(ROOT),
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


def run_curl(command: str) -> bytes:
    """Run a copied curl command as a user would paste it: bash, in a new empty folder."""
    with tempfile.TemporaryDirectory(prefix="easlab-curl-") as fresh:
        proc = subprocess.run(
            ["bash", "-c", command], capture_output=True, timeout=60, cwd=fresh, env=_clean_env()
        )
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EASLAB_HOME")}


@pytest.fixture()
def tensor_widget(affine) -> DebugWidget:
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    return debug(affine, namespace={"x": x, "other": np.zeros((2, 7), np.float32), "n": 3})


def test_form_is_built_from_the_signature(tensor_widget):
    (row,) = tensor_widget.editor.rows
    assert row.field.name == "x" and row.field.shape == [-1, 4]
    assert "x  DT_FLOAT [batch, 4]" in row.children[0].value
    # only arrays that fit
    assert list(row.source.options) == [
        ("random data", "random data"),
        ("variable x", "variable x"),
    ]


def test_a_variable_of_another_dtype_is_labelled_and_refused_when_picked(affine):
    # a float64 array was offered for the float32 input as any other, taken by the
    # fill, and refused only at Send; %%eas predict refuses it too (a numpy array is
    # sent in its own dtype), so the list says so, and picking it says how to cast it
    namespace = {"x": np.ones((3, 4), np.float32), "x64": np.ones((3, 4)), "n": 3}
    w = debug(affine, namespace=namespace)
    row = w.editor.rows[0]
    assert list(row.source.options) == [
        ("random data", "random data"),
        ("variable x", "variable x"),
        ("variable x64 (float64, not float32)", "variable x64"),
    ]
    row.source.value = "variable x64"
    assert (
        "input &#x27;x&#x27;: expected DT_FLOAT (float32), received float64; cast it, e.g. "
        "x64.astype(np.float32)"
    ) in row.preview.value
    assert w.session.fields[0].value is None  # not filled with it
    # the same words as %%eas predict's refusal of the same value
    from easlab.errors import EaslabError

    with pytest.raises(EaslabError, match=r"expected DT_FLOAT \(float32\), received float64"):
        affine.client().predict({"x": namespace["x64"]})
    w.send_button.click()
    assert "✖" in w.status_line.value and "x64.astype(np.float32)" in w.status_line.value
    assert w.session.history == []  # nothing sent
    row.source.value = "variable x"
    w.send_button.click()
    assert w.session.last.status == 200


def test_send_fills_every_pane(tensor_widget, affine):
    w = tensor_widget
    row = w.editor.rows[0]
    row.source.value = "variable x"
    row.fill_button.click()
    w.send_button.click()
    x = np.arange(12, dtype=np.float32).reshape(3, 4)

    request = w.request_pane.value
    assert "POST /api/predict/nb_affine HTTP/1.1" in request
    record = w.session.last
    headers = record.sent.headers
    assert headers["Authorization"].startswith("EAS ")
    expected = _auth.signature(
        affine.token,
        headers["Content-MD5"],
        headers["Content-Type"],
        headers["Date"],
        "/api/predict/nb_affine",
    )
    assert headers["Authorization"] == expected
    assert f"Authorization: {expected}" in request
    assert "HTTP/1.1 200" in w.response_pane.value
    assert "float32[3, 2]" in w.decoded_pane.value
    np.testing.assert_allclose(record.value["y"], x @ W + B)
    assert "network + server" in w.latency_pane.value
    assert "HTTP 200" in w.status_line.value

    w.send_button.click()
    history = w.session.history_df()
    assert list(history["#"]) == [1, 2] and list(history["status"]) == [200, 200]
    assert list(history["body"]) == ["x[3, 4]", "x[3, 4]"]
    assert w.history_pane.value.count("</tr>") == 3  # header + two calls


def test_snippets_get_the_same_answer(tensor_widget):
    w = tensor_widget
    w.editor.rows[0].source.value = "variable x"
    w.editor.rows[0].fill()
    w.send_button.click()
    expected = w.session.last.value["y"]

    curl = w.copy_as("curl")
    assert curl.endswith("--data-binary @-") and "Authorization: affine-token-abcdef" in curl
    assert w.snippet.value == curl.replace("affine-token-abcdef", "••••••••cdef")  # the box
    assert "/tmp" not in curl  # the body travels in the command, not in a local file
    np.testing.assert_allclose(TFResponse(run_curl(curl))["y"], expected)

    code = w.copy_as("easlab")
    out = run_python(
        sys.executable,
        code + "\nimport json\nprint('JSON' + json.dumps("
        "{k: v.tolist() for k, v in outputs.items()}))\n",
    )
    got = json.loads(out.strip().splitlines()[-1][4:])
    np.testing.assert_allclose(np.array(got["y"]), expected)

    code = w.copy_as("official")
    assert "TFRequest(" in code and "add_feed('x'" in code
    if not OFFICIAL_PY.exists():
        pytest.fail(
            "the official client's venv (.venv-official) is missing: run make official-venv"
        )
    out = run_python(
        OFFICIAL_PY,
        code + "\nimport json\nprint('JSON' + json.dumps("
        "{n: [resp.get_tensor_shape(n), list(resp.get_values(n))] "
        "for n in resp.response.outputs}))\n",
    )
    shape, values = json.loads(out.strip().splitlines()[-1][4:])["y"]
    np.testing.assert_allclose(np.array(values).reshape(shape), expected)


def test_raw_text_service(echo):
    w = debug(echo, namespace={})
    assert w.editor.rows == [] and w.session.is_tensor is False
    w.editor.raw.value = '{"q": "hi"}'
    w.send_button.click()
    assert "HTTP/1.1 200" in w.response_pane.value
    assert w.session.last.value == 'echo:{"q": "hi"}'
    assert "Authorization: EAS " in w.request_pane.value

    assert run_curl(w.copy_as("curl")) == b'echo:{"q": "hi"}'
    out = run_python(sys.executable, w.copy_as("easlab"))
    assert out.strip() == 'b\'echo:{"q": "hi"}\''
    if OFFICIAL_PY.exists():
        out = run_python(OFFICIAL_PY, w.copy_as("official"))
        assert out.strip() == 'b\'echo:{"q": "hi"}\''


def test_wrong_token_shows_401_in_the_panes(echo):
    w = debug(echo.url, token="wrong-token-0000", namespace={})
    w.editor.raw.value = "x"
    w.send_button.click()
    assert "HTTP 401" in w.status_line.value
    assert "HTTP/1.1 401" in w.response_pane.value


def test_fill_errors_show_in_the_status_line(affine):
    w = debug(affine, namespace={})
    w.session.fields[0].value = None
    w.session.namespace["bad"] = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="expects"):
        w.session.fill_from("x", "bad")
    w.session.set_value("x", np.zeros((1, 3), np.float32))
    w.send_button.click()
    assert "✖" in w.status_line.value and "x" in w.status_line.value


def test_wrong_token_on_a_tensor_service_says_so(affine):
    # A 401 on the signature GET is a wrong token, not "a service without a signature".
    w = debug(affine.url, token="wrong-token-0000", namespace={})
    assert "401" in w.status_line.value and "token" in w.status_line.value


def test_picking_a_variable_is_what_send_sends(affine):
    # a first Send fills random data; picking "variable x" afterwards and pressing Send
    # sent the same random data again (only the fill button read the pick)
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    namespace = {"x": x}
    w = debug(affine, namespace=namespace)
    row = w.editor.rows[0]
    w.send_button.click()
    assert w.session.history_df()["body"].tolist() == ["x[1, 4]"]  # random, one row
    row.source.value = "variable x"
    assert "float32[3, 4] from variable x" in row.preview.value  # said at once, before Send
    w.send_button.click()
    np.testing.assert_allclose(w.session.last.value["y"], x @ W + B)
    # the notebook changed x after the pick: Send reads it again, as the cell would
    namespace["x"] = x + 1
    w.send_button.click()
    np.testing.assert_allclose(w.session.last.value["y"], (x + 1) @ W + B)
    # back to random data: a fresh sample of the input's shape
    row.source.value = "random data"
    w.send_button.click()
    assert w.session.history_df()["body"].tolist()[-1] == "x[1, 4]"
    # a variable that no longer fits is said next to the dropdown, and Send says it too
    namespace["x"] = np.zeros((2, 7), np.float32)
    row.source.value = "variable x"
    assert "✖" in row.preview.value and "x" in row.preview.value
    w.send_button.click()
    assert "✖" in w.status_line.value
    assert len(w.session.history) == 4  # nothing sent


def test_a_refused_send_does_not_leave_the_last_answer_under_it(affine):
    # seen in Chromium: a float64 variable refused before sending, and the Response tab
    # still showed the previous call's answer (all NaN) beneath the red line
    namespace = {"x": np.full((3, 4), np.nan, np.float32)}
    w = debug(affine, namespace=namespace)
    row = w.editor.rows[0]
    row.source.value = "variable x"
    w.send_button.click()
    assert "(all NaN)" in w.decoded_pane.value and "HTTP/1.1 200" in w.response_pane.value
    namespace["x"] = np.ones((3, 4))  # float64: refused by the signature check
    w.send_button.click()
    assert "✖" in w.status_line.value and "float64" in w.status_line.value
    assert (
        "nothing was sent" in w.response_pane.value and "nothing was sent" in w.request_pane.value
    )
    assert w.decoded_pane.value == "" and w.latency_pane.value == ""
    assert len(w.session.history) == 1 and "1" in w.history_pane.value  # kept
