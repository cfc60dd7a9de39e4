"""Copy-as generators: valid code, the right calls, the body sent byte for byte."""

from __future__ import annotations

import ast
import shlex
import subprocess
from pathlib import Path

import numpy as np

from easlab.notebook import snippets


def _run_in_empty_dir(command: str, tmp_path: Path, stdin_server: str) -> bytes:
    """Run ``command`` with bash in a new empty folder, curl replaced by a recorder."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "curl"
    # a stand-in curl that writes its stdin (for @-) or its last argument to stdout
    fake.write_text(stdin_server)
    fake.chmod(0o755)
    work = tmp_path / "empty"
    work.mkdir()
    proc = subprocess.run(
        ["bash", "-c", command],
        cwd=work,
        capture_output=True,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


FAKE_CURL = """#!/bin/sh
last=""
for a in "$@"; do last="$a"; done
if [ "$last" = "@-" ]; then cat; else printf %s "$last"; fi
"""


def test_curl_carries_binary_bodies_as_base64(tmp_path):
    body = bytes(range(256)) * 5 + b"\x00@'\""
    cmd = snippets.curl_command("http://127.0.0.1:8080/api/predict/echo", "tok en", body)
    assert "base64 --decode" in cmd and cmd.endswith("--data-binary @-")
    assert "/tmp" not in cmd and "easlab-body" not in cmd  # no file a colleague lacks
    curl_part = cmd.split(" | ")[-1]
    argv = shlex.split(curl_part)
    assert argv[:5] == ["curl", "-sS", "-X", "POST", "http://127.0.0.1:8080/api/predict/echo"]
    assert "Authorization: tok en" in argv
    assert _run_in_empty_dir(cmd, tmp_path, FAKE_CURL) == body


def test_short_text_bodies_go_inline_and_others_as_base64(tmp_path):
    assert snippets.inline_text(b'{"a": [1, 2]}\n') == '{"a": [1, 2]}\n'
    assert snippets.inline_text("héllo wörld".encode()) == "héllo wörld"
    for body in (b"\x00\x01binary", b"\xff\xfe", b"@/etc/passwd", b"x" * 5000, b"a\rb"):
        assert snippets.inline_text(body) is None, body
    cmd = snippets.curl_command("http://h:1/api/predict/e", None, b"it's {1}")
    assert shlex.split(cmd)[-2:] == ["--data-binary", "it's {1}"]
    # text curl would take for a file name goes as base64
    cmd = snippets.curl_command("http://h:1/api/predict/e", None, b"@/etc/passwd")
    assert _run_in_empty_dir(cmd, tmp_path, FAKE_CURL) == b"@/etc/passwd"


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


def test_large_arrays_are_carried_inline_as_base64():
    x = (np.arange(1000, dtype=np.int64) * 3 - 7).reshape(10, 100)
    code = snippets.python_easlab("http://h:1", "m", None, b"", inputs={"x": x})
    assert "np.load" not in code and code.startswith("import base64\n")
    ns: dict = {}
    exec(code.split("client =")[0] + code.split("client.init()\n")[1].split("resp =")[0], ns)
    assert np.array_equal(ns["x"], x) and ns["x"].dtype == np.int64


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


def test_python_official_other_formats_send_the_same_bytes():
    body = bytes(range(256)) * 3
    code = snippets.python_official(
        "http://h:1", "m", None, body, inputs={"x": np.zeros(1)}, fmt="blade"
    )
    ast.parse(code)
    assert "open(" not in code
    source = code.split("client.predict(StringRequest(", 1)[1].rsplit("))", 1)[0]
    import base64

    assert eval(source, {"base64": base64}) == body


def test_input_names_that_clean_to_one_variable_or_a_keyword_each_send_their_array():
    """``a-b`` and ``a_b`` (or ``input.1`` and ``input_1``) were one variable: the snippet
    sent the last array for both; ``class`` was a SyntaxError."""
    from easlab.wire.tf import TFRequest

    from .echo_server import EchoServer

    names = ["a-b", "a_b", "class", "x²", "input.1", "input_1"]
    inputs = {n: np.full((1, 2), i, np.float32) for i, n in enumerate(names)}
    signature = {
        "signature_name": "serving_default",
        "inputs": [{"name": n, "shape": [-1, 2], "type": "DT_FLOAT"} for n in names],
        "outputs": [{"name": "y", "shape": [-1], "type": "DT_FLOAT"}],
    }
    expected = TFRequest.from_numpy("serving_default", inputs).to_string()
    with EchoServer(signature=signature, reply=b"") as server:
        endpoint = server.url.split("/api/predict/")[0]
        code = snippets.python_easlab(endpoint, "echo", server.token, b"", inputs=inputs)
        exec(compile(code, "<snippet>", "exec"), {})
        official = snippets.python_official(
            endpoint, "echo", server.token, b"", inputs=inputs, fmt="tf", signature=signature
        )
        ast.parse(official)
    assert [body for method, body in server.received if method == "POST"] == [expected]
