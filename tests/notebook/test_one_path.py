"""One request path: the same value gives the same bytes through PredictClient.predict,
%%eas predict, easlab.bench, the debug widget and its "copy as" snippets (issue 10)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell

from easlab import PredictClient
from easlab.notebook.loadtest import bench
from easlab.notebook.widget_session import DebugSession
from easlab.wire.tf import TFRequest

from .echo_server import EchoServer

NOTEBOOK = Path(__file__).resolve().parents[2] / "easlab" / "notebook"
SIGNATURE = {
    "signature_name": "serving_default",
    "inputs": [{"name": "x", "shape": [-1, 4], "type": "DT_FLOAT"}],
    "outputs": [{"name": "y", "shape": [-1, 2], "type": "DT_FLOAT"}],
}
X = np.arange(8, dtype=np.float32).reshape(2, 4) / 3


@pytest.fixture()
def shell():
    ip = InteractiveShell.instance()
    # the shell is one per process: leave easlab loaded for the session's fixture if it was
    was_loaded = "easlab" in ip.extension_manager.loaded
    ip.run_line_magic("load_ext", "easlab")
    yield ip
    if not was_loaded:
        ip.run_line_magic("unload_ext", "easlab")


def posts(server: EchoServer) -> list[bytes]:
    return [body for method, body in server.received if method == "POST"]


def through_every_path(server: EchoServer, shell, value, cell: str) -> list[bytes]:
    """Send ``value`` (``cell`` in the magic) every way; return the bodies the server got."""
    endpoint = server.url.split("/api/predict/")[0]
    client = PredictClient(endpoint, "echo")
    client.set_token(server.token)
    client.predict(value)
    client.destroy()

    shell.user_ns["svc"] = SimpleNamespace(url=server.url, name="echo", token=server.token)
    shell.user_ns["x"] = X
    shell.run_cell_magic("eas", "predict svc out", cell)
    assert "out" in shell.user_ns, "the magic failed"

    result = bench(server.url, value, n=2, concurrency=1, token=server.token, progress=False)
    assert result.ok == 2
    return posts(server)


def test_a_dict_of_arrays_for_a_tensor_service_is_one_tensor_request(shell):
    expected = TFRequest.from_numpy("serving_default", {"x": X}).to_string()
    # an empty body is a valid (empty) TF PredictResponse
    with EchoServer(signature=SIGNATURE, reply=b"") as server:
        bodies = through_every_path(server, shell, {"x": X}, '{"x": x}')

        session = DebugSession(server.url, token=server.token)
        assert session.is_tensor and [f.name for f in session.fields] == ["x"]
        session.set_value("x", X)
        record = session.send()
        assert record.status == 200 and record.inputs is not None
        bodies.append(posts(server)[-1])
        assert record.sent.body == bodies[-1]

        # "copy as": the easlab snippet runs PredictClient.predict with the same arrays
        code = session.python_easlab()
        ast.parse(code)
        exec(compile(code, "<snippet>", "exec"), {})
        bodies.append(posts(server)[-1])
        # the curl snippet, run as a user would paste it (the body travels inline)
        subprocess.run(["bash", "-c", session.curl()], check=True, capture_output=True, timeout=30)
        bodies.append(posts(server)[-1])
    assert len(bodies) == 7
    assert all(body == expected for body in bodies), [len(b) for b in bodies]


def test_a_list_body_is_converted_the_same_everywhere(shell):
    expected = TFRequest.from_numpy("serving_default", {"x": np.float32([[1, 2, 3, 4]])})
    with EchoServer(signature=SIGNATURE, reply=b"") as server:
        bodies = through_every_path(server, shell, {"x": [[1, 2, 3, 4]]}, '{"x": [[1, 2, 3, 4]]}')
    assert bodies == [expected.to_string()] * 4


def test_a_dict_for_a_service_without_a_signature_is_json_everywhere(shell):
    value = {"x": X, "n": 3}
    with EchoServer() as server:
        bodies = through_every_path(server, shell, value, '{"x": x, "n": 3}')
    assert len(bodies) == 4 and len(set(bodies)) == 1
    assert json.loads(bodies[0]) == {"x": X.tolist(), "n": 3}
    assert shell.user_ns["out"] == {"x": X.tolist(), "n": 3}  # the echo, read as JSON


def test_no_http_library_is_imported_under_easlab_notebook():
    """The notebook layer calls the client; only easlab/client speaks HTTP."""
    banned = {"http", "http.client", "requests", "urllib3", "httpx", "httpcore", "socket"}
    banned |= {"urllib.request", "aiohttp", "ssl", "select"}
    found = []
    for path in sorted(NOTEBOOK.rglob("*.py")):
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found += [f"{path.name}:{node.lineno} {n}" for n in names if n in banned]
        # imports by name, e.g. importlib.import_module("requests")
        for m in re.finditer(r"""(?:import_module|__import__)\(\s*["']([\w.]+)""", source):
            if m.group(1) in banned or m.group(1).split(".")[0] in banned:
                found.append(f"{path.name} {m.group(0)}")
    assert found == []
    assert not (NOTEBOOK / "_http.py").exists() and not (NOTEBOOK / "_call.py").exists()
