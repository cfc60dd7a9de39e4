"""``easlab seldon MyModel ...`` (the standalone server) against the real
``seldon-core-microservice`` started with the same arguments, through ``requests``
and through seldon-core's own ``SeldonClient`` (run in .venv-seldon by
client_driver.py), and the same client against a kernel service with its token."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from cors_check import cors
from exact_cases import AT_ROOT, EXACT, own_headers

HERE = Path(__file__).resolve().parent
COMPONENTS = HERE / "components"
ROOT = HERE.parents[1]
SELDON_VENV = ROOT / ".venv-seldon"
DRIVER = HERE / "client_driver.py"
PREDICT = "/api/v1.0/predictions"
PARAMS = json.dumps(
    [
        {"name": "i", "value": "3", "type": "INT"},
        {"name": "f", "value": "0.5", "type": "FLOAT"},
        {"name": "s", "value": "hi", "type": "STRING"},
        {"name": "b", "value": "0", "type": "BOOL"},
    ]
)


def canon(response: requests.Response) -> tuple[int, str, str]:
    ctype = response.headers.get("Content-Type", "")
    if "json" not in ctype:
        return response.status_code, ctype, response.text
    value = response.json()
    if isinstance(value, dict) and isinstance(value.get("meta"), dict):
        value["meta"].pop("puid", None)
    return response.status_code, ctype, json.dumps(value, sort_keys=True)


@pytest.mark.parametrize(
    ("cls", "method", "path", "kw"),
    [
        ("MyModel", "POST", PREDICT, {"json": {"data": {"names": ["a", "b"], "ndarray": [[1, 2]]}}}),
        ("MyModel", "POST", "/predict", {"json": {"data": {"tensor": {"shape": [2], "values": [1, 2]}}}}),
        ("MyModel", "POST", PREDICT, {"data": b"not json", "headers": {"Content-Type": "application/json"}}),
        ("MyModel", "GET", "/health/ping", {}),
        ("MyModel", "GET", "/health/status", {}),
        ("MyModel", "GET", "/metadata", {}),
        ("MyModel", "GET", "/nowhere", {}),
        ("MyModel", "POST", "/health/ping", {}),
        ("MyModel", "DELETE", PREDICT, {}),
        ("GoodMeta", "GET", "/metadata", {}),
        ("BadMeta", "GET", "/metadata", {}),
        ("ClassNames", "POST", PREDICT, {"json": {"data": {"ndarray": [[1, 2]]}}}),
        ("Payloads", "POST", PREDICT, {"data": {"json": json.dumps({"strData": "form"})}}),
        ("Payloads", "POST", PREDICT, {"files": {"binData": ("b.bin", b"\x00\x01")}}),
        ("TagsMetrics", "POST", PREDICT, {"json": {"data": {"ndarray": [[1, 2]]}}}),
        ("CustomError", "POST", PREDICT, {"json": {"data": {"ndarray": [[1]]}}}),
        ("Router", "POST", "/route", {"json": {"data": {"ndarray": [[9]]}}}),
        ("Transformer", "POST", "/transform-input", {"json": {"data": {"ndarray": [[1]]}}}),
    ],
)  # fmt: skip
def test_standalone_same_as_seldon_core_microservice(
    real_seldon, easlab_seldon, cls, method, path, kw
):
    theirs = requests.request(method, real_seldon.url(cls) + path, timeout=30, **kw)
    ours = requests.request(method, easlab_seldon.url(cls) + path, timeout=30, **kw)
    assert canon(ours) == canon(theirs)


@pytest.mark.parametrize(("cls", "method", "path", "kw"), EXACT + AT_ROOT)
def test_standalone_answer_bytes_same_as_seldon_core(
    real_seldon, easlab_seldon, cls, method, path, kw
):
    """Byte for byte, as through the kernel (test_kernel.py's EXACT): the JSON had spaces
    and the component's key order, where flask's jsonify writes it compact, keys sorted;
    a path with a trailing "/" was served as the path without it, and "/" as /predict."""
    kw = dict(kw or {})
    theirs = requests.request(method, real_seldon.url(cls) + path, timeout=30, **kw)
    ours = requests.request(method, easlab_seldon.url(cls) + path, timeout=30, **kw)
    assert (ours.status_code, ours.headers["Content-Type"], ours.content) == (
        theirs.status_code, theirs.headers["Content-Type"], theirs.content)  # fmt: skip
    assert own_headers(ours) == own_headers(theirs)  # an error handler's (TextError's)
    # the Seldon-Puid header is the executor's, which the microservice neither reads nor writes
    assert "Seldon-Puid" not in ours.headers and "Seldon-Puid" not in theirs.headers


def test_standalone_reads_a_chunked_body_as_seldon_core(real_seldon, easlab_seldon):
    """A body sent in chunks (``requests`` with a generator): seldon-core (gunicorn) reads
    it; the standalone server read Content-Length only, answered 400 'Can't find JSON'
    and took the chunks for the next request on the connection (a broken answer)."""

    def chunks():
        yield b'{"data":'
        yield b'{"ndarray":[7]}}'

    seen = []
    for base in (real_seldon.url("MyModel"), easlab_seldon.url("MyModel")):
        with requests.Session() as session:
            answer = session.post(base + PREDICT, data=chunks(), timeout=30,
                                  headers={"Content-Type": "application/json"})  # fmt: skip
            ping = session.get(base + "/health/ping", timeout=30)  # the same connection
            seen.append((answer.status_code, answer.content, ping.status_code, ping.content))
    assert seen[1] == seen[0]
    assert seen[0][0] == 200 and seen[0][2:] == (200, b"pong")


def test_standalone_parameters(real_seldon, easlab_seldon):
    body = {"data": {"ndarray": [1]}}
    theirs = requests.post(real_seldon.url("Params", PARAMS) + PREDICT, json=body, timeout=30)
    ours = requests.post(easlab_seldon.url("Params", PARAMS) + PREDICT, json=body, timeout=30)
    assert canon(ours) == canon(theirs)
    assert ours.json()["jsonData"]["i"] == ["int", 3]


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        # a browser's preflight before a JSON POST with a token
        ("OPTIONS", PREDICT, {"Origin": "http://nb.example", "Access-Control-Request-Method": "POST",
                              "Access-Control-Request-Headers": "Content-Type,Authorization"}),
        ("OPTIONS", PREDICT, {"Origin": "http://nb.example", "Access-Control-Request-Method": "post"}),
        ("OPTIONS", PREDICT, {"Origin": "http://nb.example", "Access-Control-Request-Method": "TRACE"}),
        ("OPTIONS", PREDICT, {}),
        ("OPTIONS", "/health/ping", {"Origin": "http://nb.example"}),
        ("OPTIONS", "/send-feedback", {"Access-Control-Request-Method": "POST"}),
        ("OPTIONS", "/nowhere", {"Origin": "http://nb.example", "Access-Control-Request-Method": "GET"}),
        ("POST", PREDICT, {"Origin": "http://nb.example"}),
        ("POST", PREDICT, {}),
        ("GET", "/health/ping", {"Origin": "http://nb.example"}),
        ("HEAD", "/health/ping", {}),
        ("HEAD", "/health/status", {}),
        ("HEAD", PREDICT, {}),  # flask's static route: 404
        ("GET", PREDICT, {}),
        ("POST", "/nowhere", {"Origin": "http://nb.example"}),  # the static route: 405
        # "/" is no route at all: its 404 (as a 500 body) has the preflight's CORS, no Allow
        ("OPTIONS", "/", {"Origin": "http://nb.example", "Access-Control-Request-Method": "POST"}),
    ],
)  # fmt: skip
def test_standalone_cors_same_as_seldon_core(real_seldon, easlab_seldon, method, path, headers):
    """seldon-core's ``CORS(app)``: a preflight answers 200 with the CORS headers, and
    every answer echoes the Origin (or ``*`` without one)."""
    body = {"json": {"data": {"ndarray": [[1]]}}} if method == "POST" else {}
    theirs = requests.request(
        method, real_seldon.url("MyModel") + path, headers=headers, timeout=30, **body
    )
    ours = requests.request(
        method, easlab_seldon.url("MyModel") + path, headers=headers, timeout=30, **body
    )
    if method == "HEAD":  # no body to compare
        assert (ours.status_code, ours.headers["Content-Type"], ours.content) == (
            theirs.status_code,
            theirs.headers["Content-Type"],
            theirs.content,
        )
    else:
        assert canon(ours) == canon(theirs)
    assert cors(ours) == cors(theirs)


def test_standalone_warns_ignored_arguments_and_stops_on_sigterm(tmp_path):
    import os
    import socket
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    pidfile = tmp_path / "pid"
    proc = subprocess.Popen(
        [sys.executable, "-m", "easlab.cli", "seldon", "MyModel", "--http-port", str(port),
         "--workers", "4", "--grpc-port", "5001", "--pidfile", str(pidfile)],
        cwd=COMPONENTS, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        for _ in range(300):
            try:
                requests.get(f"http://127.0.0.1:{port}/health/ping", timeout=1)
                break
            except requests.ConnectionError:
                assert proc.poll() is None
                time.sleep(0.1)
        assert pidfile.read_text().strip() == str(proc.pid)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert f"serving at http://127.0.0.1:{port}" in out
    assert "--workers ignored" in err and "--grpc-port ignored" in err
    assert not pidfile.exists()


# -- seldon_core.seldon_client.SeldonClient, in seldon-core's own virtualenv -------------


def seldon_client(calls: list[dict]) -> list[dict]:
    exe = SELDON_VENV / "bin" / "python"
    if not exe.exists():
        pytest.skip(".venv-seldon missing (make seldon-venv)")
    done = subprocess.run(
        [str(exe), str(DRIVER)],
        input=json.dumps(calls),
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


CLIENT_CALLS = [
    ("MyModel", {"method": "predict", "data": [[1.0, 2.0]], "names": ["a", "b"]}),
    ("MyModel", {"method": "predict", "data": [[1.0, 2.0]], "payload_type": "tensor"}),
    ("ClassNames", {"method": "predict", "data": [[1.0, 2.0], [3.0, 4.0]]}),
    ("Payloads", {"method": "predict", "str_data": "hello"}),
    ("Payloads", {"method": "predict", "json_data": {"k": [1, 2]}}),
    ("Payloads", {"method": "predict", "bin_data": "aGVsbG8="}),
    ("TagsMetrics", {"method": "predict", "data": [[1.0]]}),
    ("Transformer", {"method": "transform-input", "data": [[1.0, 2.0]]}),
    ("Router", {"method": "route", "data": [[9.0]]}),
    ("CustomError", {"method": "predict", "data": [[1.0]]}),
]


def test_seldon_client_microservice_same_answers(real_seldon, easlab_seldon):
    endpoint = lambda base: base.removeprefix("http://")  # noqa: E731
    calls = []
    for cls, call in CLIENT_CALLS:
        calls.append({"api": "microservice", "endpoint": endpoint(real_seldon.url(cls)), **call})
        calls.append({"api": "microservice", "endpoint": endpoint(easlab_seldon.url(cls)), **call})
    results = seldon_client(calls)
    for i, (cls, call) in enumerate(CLIENT_CALLS):
        theirs, ours = results[2 * i], results[2 * i + 1]
        assert ours == theirs, (cls, call)
    assert results[0]["success"] and results[0]["response"]["data"]["ndarray"] == [[1.0, 2.0]]
    assert not results[-1]["success"]  # the custom 402 comes back as a failure


def seldon_service(kernel, name: str, cls: str, token: str = "tok-seldon-client") -> str:
    spec = {
        "name": name,
        "processor": "seldon",
        "processor_path": str(COMPONENTS),
        "processor_mainclass": cls,
        "token": token,
        "metadata": {"instance": 1},
        "seldon": {"service_type": "MODEL"},
    }
    service = kernel.create(spec)
    assert service.status == "Running", service.message
    return str(service.url)


@pytest.mark.parametrize(
    ("cls", "call"),
    [
        ("MyModel", {"data": [[1.0, 2.0]], "names": ["a", "b"]}),
        ("ClassNames", {"data": [[1.0, 2.0]], "payload_type": "tensor"}),
        ("Payloads", {"str_data": "hello"}),
        ("TagsMetrics", {"data": [[3.0]]}),
    ],
)
def test_seldon_client_gateway_api_same_on_all_three(kernel, real_seldon, easlab_seldon, cls, call):
    """``SeldonClient.predict`` with ``gateway_prefix`` and ``headers``: the real
    microservice and easlab's at the root (prefix ""), the kernel service at
    ``/api/predict/{name}`` with its token in ``Authorization``."""
    url = urlsplit(seldon_service(kernel, f"sc_{cls.lower()}", cls))
    token = {"Authorization": "tok-seldon-client"}
    calls = [
        {"api": "predict", "endpoint": real_seldon.url(cls).removeprefix("http://"), **call},
        {"api": "predict", "endpoint": easlab_seldon.url(cls).removeprefix("http://"), **call},
        {"api": "predict", "endpoint": url.netloc, "prefix": url.path, "headers": token, **call},
        {"api": "predict", "endpoint": url.netloc, "prefix": url.path, **call},  # no token
    ]
    theirs, standalone, through_kernel, no_token = seldon_client(calls)
    assert theirs["success"], theirs
    assert standalone == theirs
    assert through_kernel == theirs
    assert not no_token["success"] and no_token["msg"].startswith("401")


METRICS_PREFLIGHT = {"Origin": "http://nb.example", "Access-Control-Request-Method": "GET",
                     "Access-Control-Request-Headers": "X-Scraper"}  # fmt: skip


@pytest.fixture(scope="module")
def own_servers():
    """A real and an easlab MyModel of this module's own: the session's real MyModel has
    feedback metrics when test_kernel.py ran first (its executor-path cases), which the
    session's easlab MyModel never got, and then their /metrics differed."""
    from tests.seldon.conftest import EaslabSeldon, RealSeldon

    servers = (RealSeldon(), EaslabSeldon())
    yield servers
    for server in servers:
        server.close()


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/metrics", {"Origin": "http://nb.example"}),
        ("GET", "/metrics?name[]=x", {}),
        ("HEAD", "/metrics", {}),
        ("OPTIONS", "/metrics", METRICS_PREFLIGHT),
        ("OPTIONS", "/metrics", {}),
        ("POST", "/metrics", {"Origin": "http://nb.example"}),
        ("PUT", "/metrics", {}),
        ("GET", "/prometheus", {}),  # the executor's path: none of the microservice's
        ("GET", "/metrics/", {}),
        ("DELETE", "/nowhere", {"Origin": "http://nb.example"}),
        ("OPTIONS", "/nowhere", {}),
        ("HEAD", "/nowhere", {}),
        ("GET", "/", {}),
        ("POST", "/", {"Origin": "http://nb.example"}),
        ("OPTIONS", "/", METRICS_PREFLIGHT),
    ],
)  # fmt: skip
def test_standalone_metrics_port_same_as_seldon_core(own_servers, method, path, headers):
    """The metrics port answers as seldon-core's metrics app (flask, its static route on
    every path but "/", CORS(app)): HEAD, OPTIONS (flask's empty 200 with Allow) and other
    methods (flask's 405 page with Allow) at /metrics, the Origin echoed with Vary, and
    the exposition's content type with flask's second charset. easlab answered only GET:
    HEAD, OPTIONS and POST were http.server's 501 page, and no answer had Vary."""
    answers = []
    for server in own_servers:
        base = server.metrics_url("MyModel").rpartition("/metrics")[0]
        answers.append(requests.request(method, base + path, headers=headers, timeout=30))
    theirs, ours = answers
    assert (ours.status_code, ours.headers["Content-Type"], ours.content) == (
        theirs.status_code, theirs.headers["Content-Type"], theirs.content)  # fmt: skip
    assert cors(ours) == cors(theirs)
