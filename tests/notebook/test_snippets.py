"""Copy-as generators: valid code, the right calls, the body sent byte for byte."""

from __future__ import annotations

import ast
import shlex
from pathlib import Path

import numpy as np
import pytest

from easlab.notebook import snippets


def test_curl_sends_the_file_with_the_plain_token(tmp_path):
    path = snippets.write_body(b"\x00\x01binary", directory=str(tmp_path))
    assert Path(path).read_bytes() == b"\x00\x01binary"
    cmd = snippets.curl_command(
        "http://127.0.0.1:8080/api/predict/echo", "tok en", path, "application/json"
    )
    argv = shlex.split(cmd)
    assert argv[:5] == ["curl", "-sS", "-X", "POST", "http://127.0.0.1:8080/api/predict/echo"]
    assert "Authorization: tok en" in argv and "Content-Type: application/json" in argv
    assert argv[-2:] == ["--data-binary", "@" + path]


def test_short_text_bodies_go_inline_and_binary_ones_through_a_file():
    assert snippets.inline_text(b'{"a": [1, 2]}\n') == '{"a": [1, 2]}\n'
    assert snippets.inline_text("héllo wörld".encode()) == "héllo wörld"
    for body in (b"\x00\x01binary", b"\xff\xfe", b"@/etc/passwd", b"x" * 5000, b"a\rb"):
        assert snippets.inline_text(body) is None, body
    cmd = snippets.curl_command("http://h:1/api/predict/e", None, None, inline="it's {1}")
    assert shlex.split(cmd)[-2:] == ["--data-binary", "it's {1}"]
    with pytest.raises(ValueError):
        snippets.curl_command("http://h:1/api/predict/e", None, None)


def test_python_easlab_raw_body_is_valid_python():
    code = snippets.python_easlab("http://h:1", "echo", "t", b"hello")
    ast.parse(code)
    assert "PredictClient('http://h:1', 'echo')" in code
    assert "client.set_token('t')" in code
    assert "StringRequest(b'hello')" in code


def test_python_easlab_numpy_inputs_round_trip():
    x = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    code = snippets.python_easlab("http://h:1", "m", None, b"", inputs={"in-put": x}, fetch=["y"])
    ast.parse(code)
    assert "set_token" not in code
    ns: dict = {}
    exec(code.split("client =")[0] + code.split("client.init()\n")[1].split("resp =")[0], ns)
    assert np.array_equal(ns["in_put"], x) and ns["in_put"].dtype == np.float32
    assert "client.predict({'in-put': in_put}, fetch=['y'])" in code


def test_large_arrays_go_to_a_npy_file(tmp_path):
    x = np.ones((10, 100), dtype=np.int64)
    code = snippets.python_easlab(
        "http://h:1", "m", None, b"", inputs={"x": x}, data_dir=str(tmp_path)
    )
    (npy,) = tmp_path.glob("*.npy")
    assert f"np.load({str(npy)!r})" in code
    assert np.array_equal(np.load(npy), x)


def test_python_official_tf_uses_add_feed():
    x = np.array([[1, 2]], dtype=np.int32)
    sig = {"signature_name": "serving_default", "inputs": [{"name": "x"}], "format": "tf"}
    code = snippets.python_official(
        "http://h:1", "m", "t", b"", inputs={"x": x}, fmt="tf", signature=sig, fetch=["y"]
    )
    ast.parse(code)
    assert "req = TFRequest('serving_default')" in code
    assert "req.add_feed('x', list(x.shape), TFRequest.DT_INT32, x.ravel().tolist())" in code
    assert "req.add_fetch('y')" in code


def test_python_official_torch_feeds_by_position():
    sig = {"inputs": [{"name": "a"}, {"name": "b"}], "format": "torch"}
    code = snippets.python_official(
        "http://h:1",
        "m",
        None,
        b"",
        fmt="torch",
        signature=sig,
        inputs={"b": np.zeros((1,), np.float32), "a": np.zeros((1,), np.float64)},
    )
    ast.parse(code)
    assert "req.add_feed(1, list(b.shape), TorchRequest.DT_FLOAT" in code
    assert "req.add_feed(0, list(a.shape), TorchRequest.DT_DOUBLE" in code


def test_python_official_other_formats_send_the_same_bytes(tmp_path):
    body = bytes(range(256)) * 3
    path = snippets.write_body(body, directory=str(tmp_path))
    code = snippets.python_official(
        "http://h:1", "m", None, body, inputs={"x": np.zeros(1)}, fmt="blade", body_path=path
    )
    ast.parse(code)
    assert f"StringRequest(open({path!r}, 'rb').read())" in code
