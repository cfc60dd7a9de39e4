"""Seldon components through the kernel: the service path, its token, isolation."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests
from cors_check import cors
from exact_cases import (
    EXACT,
    EXECUTOR_PATHS,
    GO_SNIFFED_TEXT,
    executor_passes_on,
    own_headers,
)

from easlab.errors import SpecError

COMPONENTS = Path(__file__).resolve().parent / "components"

PREDICT = "/api/v1.0/predictions"
META = {"metadata": {"instance": 1}}


def seldon_service(kernel, name: str, cls: str, parameters=None, token="tok-seldon-1234"):
    spec = {
        "name": name,
        "processor": "seldon",
        "processor_path": str(COMPONENTS),
        "processor_mainclass": cls,
        "token": token,
        "metadata": {"instance": 1},
        "seldon": {"service_type": "MODEL", "parameters": parameters or []},
    }
    service = kernel.create(spec)
    assert service.status == "Running", service.message
    return service


def canon(response: requests.Response) -> tuple[int, str]:
    """The status and the body, JSON read as its value: the executor's error answers are
    JSON too, sent as text/plain (exact_cases.executor_passes_on)."""
    ctype = response.headers.get("Content-Type", "")
    if "json" not in ctype and not (ctype == GO_SNIFFED_TEXT and response.content[:1] == b"{"):
        return response.status_code, response.text
    return response.status_code, json.dumps(response.json(), sort_keys=True)


@pytest.mark.parametrize(
    ("cls", "method", "path", "payload"),
    [
        ("MyModel", "POST", PREDICT, {"data": {"names": ["a", "b"], "ndarray": [[1, 2]]}}),
        ("MyModel", "POST", "/predict", {"data": {"tensor": {"shape": [2], "values": [1, 2]}}}),
        ("MyModel", "GET", "/health/status", None),
        ("MyModel", "GET", "/metadata", None),
        ("MyModel", "POST", "/route", {"data": {"ndarray": [1]}}),
        ("TagsMetrics", "POST", PREDICT, {"data": {"ndarray": [[1, 2]]}}),
        ("CustomError", "POST", PREDICT, {"data": {"ndarray": [[1]]}}),
        ("BadMeta", "GET", "/metadata", None),
        # the custom metrics are on the microservice's metrics port, not its HTTP port (nor
        # the executor's: its own are /prometheus); the kernel's /metrics has them
        ("MyModel", "GET", "/metrics", None),
    ],
)
def test_same_answers_as_seldon_core(kernel, real_seldon, cls, method, path, payload):
    service = (
        seldon_service(kernel, f"sk_{cls.lower()}", cls)
        if not hasattr(kernel, f"_svc_{cls}")
        else getattr(kernel, f"_svc_{cls}")
    )
    setattr(kernel, f"_svc_{cls}", service)
    headers = {"Authorization": service.token}
    ours = requests.request(method, service.url + path, json=payload, headers=headers, timeout=30)
    theirs = requests.request(method, real_seldon.url(cls) + path, json=payload, timeout=30)
    assert canon(ours) == canon(theirs)


def test_plain_post_is_a_prediction(kernel):
    service = seldon_service(kernel, "sk_plain", "MyModel")
    answer = requests.post(
        service.url, json={"data": {"ndarray": [[1]]}}, headers={"Authorization": service.token}
    )
    assert answer.status_code == 200
    assert answer.json()["data"] == {"names": ["t:0"], "ndarray": [[1]]}
    slash = requests.post(  # the service root with its "/": the same prediction
        service.url + "/", json={"data": {"ndarray": [[1]]}},
        headers={"Authorization": service.token},
    )  # fmt: skip
    assert slash.status_code == 200 and slash.content == answer.content
    assert (
        requests.get(service.url + "/health/ping", headers={"Authorization": service.token}).text
        == "pong"
    )


def test_without_token_401_and_component_never_runs(kernel, tmp_path):
    calls = tmp_path / "calls.txt"
    service = seldon_service(
        kernel, "sk_counter", "Counter", [{"name": "path", "value": str(calls), "type": "STRING"}]
    )
    body = {"data": {"ndarray": [1]}}
    assert requests.post(service.url + PREDICT, json=body).status_code == 401
    wrong = {"Authorization": "wrong"}
    assert requests.post(service.url + PREDICT, json=body, headers=wrong).status_code == 401
    assert not calls.exists()
    ok = requests.post(service.url + PREDICT, json=body, headers={"Authorization": service.token})
    assert ok.status_code == 200 and calls.read_text() == "call\n"


PREFLIGHT = {"Origin": "http://nb.example", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "Content-Type,Authorization"}  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "headers", "token"),
    [
        # a browser's preflight: no credentials, so no token
        ("OPTIONS", "/predict", PREFLIGHT, False),
        ("OPTIONS", "", PREFLIGHT, False),
        ("OPTIONS", "/health/ping", {**PREFLIGHT, "Access-Control-Request-Method": "GET"}, False),
        ("OPTIONS", "/predict", {**PREFLIGHT, "Access-Control-Request-Method": "TRACE"}, False),
        ("OPTIONS", "/nowhere", PREFLIGHT, False),
        ("OPTIONS", "/predict", {}, True),
        ("OPTIONS", "/send-feedback", {"Origin": "http://nb.example"}, True),
        ("POST", "/predict", {"Origin": "http://nb.example"}, True),
        ("POST", "/predict", {}, True),
        ("GET", "/health/status", {"Origin": "http://nb.example"}, True),
        # the component's own 405 (as JSON, 500), not the kernel's: its paths, its methods
        ("DELETE", "/predict", {"Origin": "http://nb.example"}, True),
        ("PUT", "/predict", {}, True),
    ],
)  # fmt: skip
def test_cors_same_as_seldon_core(kernel, real_seldon, method, path, headers, token):
    """seldon-core's ``CORS(app)`` through the kernel on the microservice's own paths (the
    executor's have its headers: test_the_executors_paths_carry_the_executors_headers): a
    preflight answers 200 with the CORS headers (without the token: a browser sends none
    with it), and every answer echoes the Origin. The kernel answered the preflight 401,
    and no answer had them."""
    service = getattr(kernel, "_svc_cors", None) or seldon_service(kernel, "sk_cors", "MyModel")
    kernel._svc_cors = service
    body = {"json": {"data": {"ndarray": [[1]]}}} if method == "POST" else {}
    auth = {"Authorization": service.token} if token else {}
    ours = requests.request(
        method, service.url + path, headers={**headers, **auth}, timeout=30, **body
    )
    theirs = requests.request(
        method, real_seldon.url("MyModel") + (path or PREDICT), headers=headers, timeout=30, **body
    )
    assert canon(ours) == canon(theirs)
    assert cors(ours) == cors(theirs)
    if method == "OPTIONS":
        assert ours.headers["Content-Type"] == theirs.headers["Content-Type"]


#: what seldon-core 1.18.2's executor's middlewares write on every answer of its routes
#: (executor/api/rest/middlewares.go; CORS_ALLOWED_ORIGINS and CORS_ALLOWED_HEADERS unset)
EXECUTOR_CORS = {
    "X-Content-Type-Options": "nosniff",
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Accept, Accept-Encoding, Authorization, Content-Length, "
    "Content-Type, X-CSRF-Token",
}


def test_the_executors_paths_carry_the_executors_headers(kernel):
    """seldon-core's executor, which fronts every SeldonDeployment, writes the same headers
    on every answer of its routes (its middlewares, in executor/api/rest/middlewares.go and
    server.go of seldon-core 1.18.2, the reference: the executor is Go and does not run
    here): ``Seldon-Puid``, the request's or a new UUID; ``X-Content-Type-Options``; its own
    CORS (any origin, not echoed; a fixed header list) and, from gorilla/mux's
    CORSMethodMiddleware, the methods of a route that names them. It answers any OPTIONS
    200 with no body. A method the route does not take is mux's bare 405: no header. easlab
    answered all of them with the microservice's flask-cors headers and no Seldon-Puid."""
    import uuid

    service = seldon_service(kernel, "sk_executor", "MyModel")
    token = {"Authorization": service.token}
    origin = {"Origin": "http://nb.example"}
    body = {"data": {"ndarray": [[1]]}}

    def executor_headers(answer: requests.Response, methods: str | None) -> None:
        for name, value in EXECUTOR_CORS.items():
            assert answer.headers.get(name) == value, (name, answer.headers)
        assert answer.headers.get("Access-Control-Allow-Methods") == methods
        assert "Vary" not in answer.headers and "Allow" not in answer.headers

    url = service.url + PREDICT
    first = requests.post(url, json=body, headers={**token, **origin}, timeout=30)
    second = requests.post(url, json=body, headers=token, timeout=30)
    assert first.status_code == second.status_code == 200
    executor_headers(first, "OPTIONS,POST")
    puids = {first.headers["Seldon-Puid"], second.headers["Seldon-Puid"]}
    assert len(puids) == 2 and all(str(uuid.UUID(p)) == p for p in puids)  # a new one each
    # the caller's own puid is the answer's; the body's meta.puid is the request's, which
    # the microservice echoes (the executor writes none into the body)
    given = requests.post(
        url, json={**body, "meta": {"puid": "p-1"}}, headers={**token, "Seldon-Puid": "abc"},
        timeout=30,
    )  # fmt: skip
    assert given.headers["Seldon-Puid"] == "abc" and given.json()["meta"]["puid"] == "p-1"
    assert "puid" not in second.json().get("meta", {})
    # a preflight: no token needed, 200, no body, the same headers
    preflight = requests.options(url, headers=PREFLIGHT, timeout=30)
    assert (preflight.status_code, preflight.content) == (200, b"")
    executor_headers(preflight, "OPTIONS,POST")
    assert preflight.headers["Seldon-Puid"]
    for path, methods in [("/api/v1.0/metadata", "GET,OPTIONS"),
                          ("/api/v0.1/status/sk_executor", "GET,OPTIONS"), ("/ready", None),
                          ("/prometheus", None)]:  # fmt: skip
        answer = requests.get(service.url + path, headers={**token, **origin}, timeout=30)
        assert answer.status_code == 200, path
        executor_headers(answer, methods)
    # its 405: no header of the middlewares'
    refused = requests.get(url, headers={**token, **origin}, timeout=30)
    assert (refused.status_code, refused.content) == (405, b"")
    assert not {"Seldon-Puid", "Access-Control-Allow-Origin"} & set(refused.headers)
    # the kernel's own 401 there has the executor's CORS too, so that a page reads it
    unauthorized = requests.post(url, json=body, headers=origin, timeout=30)
    assert unauthorized.status_code == 401
    assert unauthorized.headers["Access-Control-Allow-Origin"] == "*"
    # the microservice's own paths keep its flask-cors headers
    ping = requests.get(service.url + "/health/ping", headers={**token, **origin}, timeout=30)
    assert ping.headers["Access-Control-Allow-Origin"] == "http://nb.example"
    assert ping.headers["Vary"] == "Origin" and "Seldon-Puid" not in ping.headers


def test_a_preflight_without_a_token_never_runs_the_component(kernel, tmp_path):
    calls = tmp_path / "calls.txt"
    service = seldon_service(
        kernel, "sk_preflight", "Counter", [{"name": "path", "value": str(calls), "type": "STRING"}]
    )
    url = service.url + PREDICT
    for data in (None, b"{}"):  # one with a body is screened from its head: the same answer
        answer = requests.options(url, headers=PREFLIGHT, data=data, timeout=30)
        assert answer.status_code == 200 and answer.content == b"", data
        assert answer.headers["Access-Control-Allow-Origin"] == "*"  # the executor's path
    # only a preflight: any other request without the token is refused, OPTIONS included
    for method, headers in (
        ("POST", {"Origin": "http://nb.example"}),
        ("OPTIONS", {"Origin": "http://nb.example"}),
        ("OPTIONS", {"Access-Control-Request-Method": "POST"}),
    ):
        refused = requests.request(method, url, headers=headers, data=b"{}", timeout=30)
        assert refused.status_code == 401, (method, headers)
    assert not calls.exists()


@pytest.mark.parametrize(
    ("data", "auth"),
    [
        (b"{}", None),  # refused from its head, the body never read
        (b"{}", "not-the-token"),
        (None, None),  # no body: refused once the request is whole
        (b"{}", "EAS x:y"),  # a signature without Content-MD5: refused after its body
    ],
)
def test_a_401_is_readable_by_the_page_that_sent_it(kernel, tmp_path, data, auth):
    """A page calling a seldon service with no or a wrong token gets the kernel's 401 with
    the CORS headers every other answer of the component has, so its script reads
    "missing token for service ..." (and the status) instead of an opaque network
    error: the 401 had none. The component still never runs without the token."""
    calls = tmp_path / "calls.txt"
    service = getattr(kernel, "_svc_cors401", None) or seldon_service(
        kernel, "sk_cors401", "Counter", [{"name": "path", "value": str(calls), "type": "STRING"}]
    )
    kernel._svc_cors401 = service
    headers = {"Origin": "http://nb.example", "Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = auth
    refused = requests.post(service.url + PREDICT, headers=headers, data=data, timeout=30)
    assert refused.status_code == 401
    # the executor's CORS, on its path (the microservice's echo the Origin)
    assert refused.headers.get("Access-Control-Allow-Origin") == "*"
    assert refused.headers.get("Access-Control-Allow-Methods") == "OPTIONS,POST"
    assert "token for service 'sk_cors401'" in refused.text
    assert not calls.exists()


def test_failing_component_leaves_other_services_alone(kernel):
    good = seldon_service(kernel, "sk_good", "MyModel")
    bad = seldon_service(kernel, "sk_dies", "Dies")
    body = {"data": {"ndarray": [1]}}
    raised = requests.post(bad.url + PREDICT, json=body, headers={"Authorization": bad.token})
    assert raised.status_code == 500
    assert raised.json()["status"]["reason"] == "MICROSERVICE_INTERNAL_ERROR"
    died = requests.post(
        bad.url + PREDICT, json={"data": {"ndarray": [2]}}, headers={"Authorization": bad.token}
    )
    assert died.status_code >= 500
    answer = requests.post(good.url + PREDICT, json=body, headers={"Authorization": good.token})
    assert answer.status_code == 200 and answer.json()["data"]["ndarray"] == [1]


@pytest.mark.parametrize(("cls", "method", "path", "kw"), EXACT)
def test_answer_bytes_same_as_seldon_core(kernel, real_seldon, cls, method, path, kw):
    """Status, content type and body byte for byte as seldon-core sends them. The content
    type is the component's (processors/http.py's HttpAnswer): the kernel sent every
    answer as application/json (``pong`` included), and took a 408, 450 or 503 whose body
    did not start with ``{`` for its own (text/plain, the connection closed). JSON is
    written as flask's jsonify writes it (compact, keys sorted, ASCII): it had spaces
    and the component's key order. A sub-path with a trailing "/" is no route, as in
    flask: it was served as the path without it."""
    service = getattr(kernel, f"_svc_ct_{cls}", None) or seldon_service(
        kernel, f"sk_ct_{cls.lower()}", cls
    )
    setattr(kernel, f"_svc_ct_{cls}", service)
    kw = dict(kw or {})
    auth = {**kw.pop("headers", {}), "Authorization": service.token}
    ours = requests.request(method, service.url + path, headers=auth, timeout=30, **kw)
    theirs = requests.request(method, real_seldon.url(cls) + path, headers=auth, timeout=30, **kw)
    expected = (theirs.status_code, theirs.headers["Content-Type"], theirs.content)
    executors = path in EXECUTOR_PATHS  # the microservice's answer as the executor passes it on
    if executors:
        expected = executor_passes_on(*expected)
    assert (ours.status_code, ours.headers["Content-Type"], ours.content) == expected
    assert ours.headers.get("Connection", "").lower() != "close"  # only the kernel's close
    # an error handler's own headers (TextError's Retry-After) were dropped; the executor
    # passes on none
    assert own_headers(ours) == ({} if executors else own_headers(theirs))
    if "Seldon-Puid" in auth:  # the executor's path: the caller's puid is the answer's
        assert ours.headers["Seldon-Puid"] == auth["Seldon-Puid"]


def test_the_kernels_own_answers_are_text_with_cors(kernel):
    """The kernel's own 408, 502 and 503 on a seldon service: its text, as text/plain, with
    the CORS headers every answer there has (a browser reads the message, not a CORS
    error). The 502 of an instance that died went out as application/json."""
    origin = "http://nb.example"

    def call(service, values):
        headers = {"Authorization": service.token, "Origin": origin}
        body = {"data": {"ndarray": values}}
        return requests.post(service.url + PREDICT, json=body, headers=headers, timeout=30)

    def kernels(answer, status, text):
        assert answer.status_code == status, answer.text
        assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
        # the executor's CORS, on its path (the microservice's paths echo the origin)
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert text in answer.text

    dies = seldon_service(kernel, "sk_own_dies", "Dies")
    kernels(call(dies, [2]), 502, "while processing this request")
    spec = {"name": "sk_own_slow", "processor": "seldon", "processor_path": str(COMPONENTS),
            "processor_mainclass": "Concurrency", "token": "tok-seldon-1234",
            "metadata": {"instance": 1, "rpc.keepalive": 150}}  # fmt: skip
    slow = kernel.create(spec)
    assert slow.status == "Running", slow.message
    timed_out = call(slow, [1])
    kernels(timed_out, 408, "rpc.keepalive")
    assert timed_out.headers["Connection"].lower() == "close"  # SPEC §1
    kernel.client.stop("sk_own_slow")
    kernels(call(slow, [1]), 503, "is Stopped")


def test_spec_needs_path_and_class():
    from easlab.errors import SpecError
    from easlab.spec import parse_spec

    with pytest.raises(SpecError) as err:
        parse_spec({"name": "x", "processor": "seldon", "processor_path": ".", **META})
    assert err.value.field == "processor_mainclass"
    with pytest.raises(SpecError) as err:
        parse_spec({"name": "x", "processor": "seldon", "processor_mainclass": "M", **META})
    assert err.value.field == "processor_path"
    spec = parse_spec(
        {"name": "x", "processor": "seldon", "processor_path": ".", "processor_mainclass": "M",
         "seldon": {"service_type": "MODEL"}, **META}
    )  # fmt: skip
    assert not [w for w in spec.warnings if "seldon" in w]


def _peak(url: str, headers: dict[str, str] | None = None, calls: int = 6) -> int:
    """The most calls Concurrency.predict saw at once during ``calls`` parallel requests."""
    from concurrent.futures import ThreadPoolExecutor

    def one(_: int) -> requests.Response:
        return requests.post(url, json={"data": {"ndarray": [1]}}, headers=headers, timeout=60)

    with ThreadPoolExecutor(calls) as pool:
        answers = list(pool.map(one, range(calls)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    return max(a.json()["jsonData"]["peak"] for a in answers)


def test_component_called_one_at_a_time_as_seldon_core(kernel, real_seldon):
    """seldon-core's microservice (one gunicorn worker, GUNICORN_THREADS=1) never runs two
    calls of a component at once; nor does the service, although the kernel has
    rpc.worker_threads (5) threads per instance."""
    assert _peak(real_seldon.url("Concurrency") + PREDICT) == 1
    service = seldon_service(kernel, "sk_serial", "Concurrency")
    assert _peak(service.url + PREDICT, {"Authorization": service.token}) == 1


def test_seldon_threads_opts_into_concurrent_calls(kernel):
    spec = {
        "name": "sk_threads",
        "processor": "seldon",
        "processor_path": str(COMPONENTS),
        "processor_mainclass": "Concurrency",
        "token": "tok-threads-1234",
        "metadata": {"instance": 1},
        "seldon": {"threads": 3},
    }
    service = kernel.create(spec)
    assert service.status == "Running", service.message
    assert 1 < _peak(service.url + PREDICT, {"Authorization": "tok-threads-1234"}) <= 3


def test_seldon_threads_must_be_a_whole_number(kernel):
    spec = {
        "name": "sk_threads_bad",
        "processor": "seldon",
        "processor_path": str(COMPONENTS),
        "processor_mainclass": "Concurrency",
        "metadata": {"instance": 1},
        "seldon": {"threads": 0},
    }
    # refused when the description is read, before any instance starts (the client
    # reads it first; the kernel reads it again)
    with pytest.raises(SpecError) as info:
        kernel.create(spec)
    assert info.value.field == "seldon.threads"
    assert "how many calls may run in the component at once" in str(info.value)
    with pytest.raises(SpecError) as refused:  # the kernel's 400 naming the field
        kernel.client._call("POST", "/services", {"spec": spec})
    assert refused.value.field == "seldon.threads"
    assert "sk_threads_bad" not in [s["name"] for s in kernel.client.list()]


def _typed_service(kernel, name: str, cls: str, kind: str):
    spec = {
        "name": name,
        "processor": "seldon",
        "processor_path": str(COMPONENTS),
        "processor_mainclass": cls,
        "token": "tok-typed-1234",
        "metadata": {"instance": 1},
        "seldon": {"service_type": kind},
    }
    service = kernel.create(spec)
    assert service.status == "Running", service.message
    return service


@pytest.mark.parametrize(
    ("cls", "kind", "expected"),
    [
        ("Transformer", "TRANSFORMER", [[2, 3]]),  # transform_input: +1
        ("Transformer", "OUTPUT_TRANSFORMER", [[10, 20]]),  # transform_output: *10
        ("Router", "ROUTER", [[1, 2]]),  # no children: passed through, as the executor does
        ("Combiner", "COMBINER", [[1, 2]]),
    ],
)
def test_service_type_at_the_service_root(kernel, cls, kind, expected):
    """``seldon.service_type`` runs the class as a one-node graph of that type: the
    service root (%%eas predict, PredictClient) and /api/v1.0/predictions both answer
    what a one-node ``seldon.graph`` does, not an empty predict."""
    name = f"sk_{kind.lower()}"
    service = _typed_service(kernel, name, cls, kind)
    graph = kernel.create(
        {
            "name": f"{name}_graph",
            "processor": "seldon",
            "processor_path": str(COMPONENTS),
            "token": "tok-typed-1234",
            "metadata": {"instance": 1},
            "seldon": {"graph": {"name": name, "type": kind, "class": cls}},
        }
    )
    assert graph.status == "Running", graph.message
    token = {"Authorization": "tok-typed-1234"}
    body = {"data": {"ndarray": [[1, 2]]}}
    root = requests.post(service.url, json=body, headers=token, timeout=30)
    assert root.status_code == 200, root.text
    assert root.json()["data"]["ndarray"] == expected
    assert root.json()["meta"]["requestPath"] == {name: cls}
    for url in (service.url + PREDICT, graph.url, graph.url + PREDICT):
        same = requests.post(url, json=body, headers=token, timeout=30)
        assert canon(same) == canon(root), url
    # the component's own paths answer as the microservice's do
    own = requests.post(service.url + "/transform-input", json=body, headers=token, timeout=30)
    assert own.status_code == 200
    for svc in (name, f"{name}_graph"):
        kernel.client.delete(svc)


def test_sys_exit_in_a_component_answers_and_the_instance_serves_on(kernel):
    """``sys.exit()`` in a component's predict ended the instance's worker thread without
    an answer: the caller waited for the 408, and after as many calls as the instance
    had threads it answered nothing at all. Now each is answered, and the next served."""
    seldon_service(kernel, "sk_exits", "Exits")
    url = kernel.endpoint + "/api/predict/sk_exits" + PREDICT
    headers = {"Authorization": "tok-seldon-1234"}
    for _ in range(6):  # more than the instance's worker threads (5)
        exited = requests.post(url, json={"data": {"ndarray": [0]}}, headers=headers, timeout=30)
        assert exited.status_code >= 400 and exited.status_code != 408, exited.text
        assert "SystemExit" in exited.text
    served = requests.post(url, json={"data": {"ndarray": [7]}}, headers=headers, timeout=30)
    assert served.status_code == 200 and served.json()["data"]["ndarray"] == [7]
    kernel.delete("sk_exits")


def test_an_async_seldon_service_answers_each_record_into_its_sink(kernel):
    """An async service (metadata.type Async) fed a Seldon component the raw record where
    it takes an HttpRequest: every record failed, and the sink held the processor's
    error. Now the record goes to the component as a POST of its data to the service
    path would, and the sink holds the component's JSON answer."""
    import easlab

    spec = {
        "name": "sk_async",
        "processor": "seldon",
        "processor_path": str(COMPONENTS),
        "processor_mainclass": "MyModel",
        "token": "tok-seldon-1234",
        "metadata": {"instance": 1, "type": "Async"},
        "seldon": {"service_type": "MODEL", "parameters": []},
    }
    kernel.client._call("POST", "/services", {"spec": spec, "wait": True}, timeout=120)
    try:
        source = easlab.QueueClient(kernel.endpoint, "sk_async")
        sink = easlab.QueueClient(kernel.endpoint, "sk_async/sink")
        for queue in (source, sink):
            queue.set_token("tok-seldon-1234")
            queue.init()
        _, request_id = source.put(json.dumps({"data": {"ndarray": [[1, 2]]}}).encode())
        deadline = time.monotonic() + 60
        while not (got := sink.get(length=1, auto_delete=False, timeout="0s")):
            assert time.monotonic() < deadline, "no answer in the sink"
            time.sleep(0.1)
        (record,) = got
        assert record.tags["requestId"] == request_id
        assert record.tags["status"] == "200", bytes(record.data)
        assert json.loads(bytes(record.data))["data"]["ndarray"] == [[1, 2]]
    finally:
        kernel.delete("sk_async")


def test_openapi_document_needs_the_token(kernel):
    """GET /seldon.json below a seldon service: the OpenAPI document (easlab answered a
    500 "404 Not Found" body), behind the token as every path of the service, naming the
    service's path and its token header."""
    service = seldon_service(kernel, "sk_openapi", "MyModel")
    url = service.url + "/seldon.json"
    assert requests.get(url, timeout=30).status_code == 401
    assert requests.get(url, headers={"Authorization": "wrong"}, timeout=30).status_code == 401
    answer = requests.get(url, headers={"Authorization": service.token}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    document = answer.json()
    assert document["servers"] == [{"url": "/api/predict/sk_openapi"}]
    assert document["security"] == [{"token": []}]
    scheme = document["components"]["securitySchemes"]["token"]
    assert (scheme["in"], scheme["name"]) == ("header", "Authorization")
    assert set(document["paths"]["/api/v1.0/predictions"]) == {"post"}
    assert service.token not in answer.text


@pytest.mark.parametrize(
    ("seldon", "main", "missing"),
    [
        ({}, "Nope", "Nope.py"),
        ({"graph": {"name": "m", "class": "MyModel",
                    "children": [{"name": "x", "class": "parts.Nope"}]}}, None, "parts.py"),
    ],
)  # fmt: skip
def test_a_class_without_its_file_says_where_it_was_looked_for(kernel, seldon, main, missing):
    """processor_mainclass (or a graph node's class) whose file is not in processor_path:
    the service failed with importlib's traceback ending "No module named 'Nope'", not
    saying where the file was looked for, nor which file."""
    spec = {"name": f"sk_missing_{missing[:-3].lower()}", "processor": "seldon",
            "processor_path": str(COMPONENTS), "token": "tok-missing-1234",
            "metadata": {"instance": 1}, "seldon": seldon}  # fmt: skip
    if main:
        spec["processor_mainclass"] = main
    service = kernel.create(spec)
    assert service.status == "Failed"
    message = service.desc["message"]
    assert f"no {missing} in {COMPONENTS}" in message, message
    assert "importlib" not in message


def test_a_single_class_serves_the_executors_paths_for_its_one_node(kernel):
    """A service of one class runs as a one-node SeldonDeployment, its node named as the
    service: the executor's own paths answer for it (/api/v1.0/metadata/{node} and
    /api/v{1.0,0.1}/status/{node} the node's own /metadata and /health/status, /ready
    and /live, /prometheus), those the microservice has too as well: seldon-core's
    executor fronts every SeldonDeployment, one MODEL included, so /api/v1.0/metadata is
    the graph's metadata and /api/v1.0/health/status its readiness (they answered as the
    microservice). easlab answered the executor's paths with the microservice's 500
    "404 Not Found"."""
    service = seldon_service(kernel, "sk_one", "GoodMeta")
    token = {"Authorization": service.token}

    def get(path: str, headers: dict[str, str] | None = token) -> requests.Response:
        return requests.get(service.url + path, headers=headers, timeout=30)

    own = get("/metadata")
    assert own.status_code == 200 and own.json()["name"] == "model-name"
    for version in ("v1.0", "v0.1"):
        node = get(f"/api/{version}/metadata/sk_one")
        assert (node.status_code, node.content) == (200, own.content), version
        status = get(f"/api/{version}/status/sk_one")
        assert (status.status_code, status.content) == (200, get("/health/status").content)
    missing = get("/api/v1.0/metadata/GoodMeta")  # the node is the service, not the class
    assert missing.status_code == 500
    assert missing.json()["status"]["info"].startswith("Failed to find model GoodMeta")
    assert "sk_one" in missing.json()["status"]["info"]
    for path in ("/ready", "/live", "/api/v1.0/status"):
        answer = get(path)
        assert (answer.status_code, answer.content) == (200, b""), path
    # the paths both have answer as the executor: the graph's metadata, its readiness
    graph, node = get("/api/v1.0/metadata").json(), own.json()
    del node["custom"]  # empty: the executor's ModelMetadata leaves it out
    assert graph == {"name": "sk_one", "models": {"sk_one": node},
                     "graphinputs": node["inputs"], "graphoutputs": node["outputs"]}  # fmt: skip
    answer = get("/api/v1.0/health/status")
    assert (answer.status_code, answer.content) == (200, b"")
    predicted = requests.post(
        service.url + "/api/v1.0/predictions", json={"data": {"ndarray": [[1]]}}, headers=token,
        timeout=30,
    )  # fmt: skip
    assert predicted.status_code == 200
    scrape = get("/prometheus")
    assert scrape.status_code == 200
    assert 'model_name="sk_one"' in scrape.text and 'service="/predict"' in scrape.text
    paths = get("/seldon.json").json()["paths"]
    assert {"/ready", "/api/v1.0/metadata/{model}", "/prometheus"} <= set(paths)
    assert set(paths["/api/v1.0/health/status"]["get"]["responses"]) == {"200", "503"}
    assert paths["/api/v1.0/metadata"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"] == {"$ref": "#/components/schemas/GraphMetadata"}  # fmt: skip
    # behind the token like every path
    for path in ("/api/v1.0/metadata/sk_one", "/ready", "/live", "/prometheus"):
        assert get(path, None).status_code == 401, path
        assert get(path, {"Authorization": "wrong"}).status_code == 401, path


#: a CloudEvents request's header fields (binary content mode)
CLOUDEVENT = {"Ce-Specversion": "1.0", "Ce-Id": "req-1", "Ce-Source": "my-client",
              "Ce-Type": "my.request"}  # fmt: skip


def test_a_cloudevent_gets_the_executors_cloudevent_headers(kernel, real_seldon):
    """seldon-core's executor answers a request carrying ``Ce-Specversion`` (a CloudEvent,
    as Knative eventing sends one) with CloudEvents headers of its own (its
    CloudeventHeaderMiddleware, executor/api/rest/middlewares.go in 1.18.2): ``Ce-Id``
    the Seldon-Puid, ``Ce-Specversion: 0.3``, ``Ce-Path`` the request's path,
    ``Ce-Type: seldon.<deployment>.<namespace>.response`` and ``Ce-Source:
    seldon.<deployment>``, the deployment being the service and its namespace
    ``default``. easlab wrote none. The microservice's own paths, as seldon-core-microservice,
    write none (nor does it read them: the body is the same)."""
    service = getattr(kernel, "_svc_ce", None) or seldon_service(kernel, "sk_ce", "MyModel")
    kernel._svc_ce = service
    token = {"Authorization": service.token}
    body = {"data": {"ndarray": [[1]]}}

    def ce(answer: requests.Response) -> dict[str, str]:
        return {k: v for k, v in answer.headers.items() if k.lower().startswith("ce-")}

    expected = {"Ce-Specversion": "0.3", "Ce-Type": "seldon.sk_ce.default.response",
                "Ce-Source": "seldon.sk_ce"}  # fmt: skip
    for path in (PREDICT, "/api/v0.1/predictions"):
        answer = requests.post(
            service.url + path, json=body, headers={**token, **CLOUDEVENT}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        assert ce(answer) == {**expected, "Ce-Id": answer.headers["Seldon-Puid"],
                              "Ce-Path": path}, answer.headers  # fmt: skip
    given = requests.post(
        service.url + PREDICT, json=body, timeout=30,
        headers={**token, "ce-specversion": "1.0", "Seldon-Puid": "p-7"},
    )  # fmt: skip
    assert ce(given)["Ce-Id"] == "p-7"  # the request's puid; the header's name in any case
    # a GET of the executor's, and a preflight (no token): the same headers
    meta = requests.get(service.url + "/api/v1.0/metadata", headers={**token, **CLOUDEVENT})
    assert ce(meta) == {**expected, "Ce-Id": meta.headers["Seldon-Puid"],
                        "Ce-Path": "/api/v1.0/metadata"}  # fmt: skip
    preflight = requests.options(service.url + PREDICT, headers={**PREFLIGHT, **CLOUDEVENT})
    assert preflight.status_code == 200 and ce(preflight)["Ce-Path"] == PREDICT
    # no CloudEvent, no such header; the microservice's paths: none, as seldon-core's
    assert ce(requests.post(service.url + PREDICT, json=body, headers=token, timeout=30)) == {}
    for path in ("/predict", "/health/ping"):
        ours = requests.post(
            service.url + path, json=body, headers={**token, **CLOUDEVENT}, timeout=30
        )
        theirs = requests.post(
            real_seldon.url("MyModel") + path, json=body, headers=CLOUDEVENT, timeout=30
        )
        assert ce(ours) == ce(theirs) == {}
        assert canon(ours) == canon(theirs)


@pytest.mark.parametrize(
    ("cls", "path", "kw"),
    [
        ("MyModel", PREDICT, {"json": {"strData": "a<b> & c\u2028"}}),
        ("MyModel", "/api/v0.1/predictions", {"json": {"data": {"ndarray": [["<i>", "&"]]}}}),
        ("MyModel", PREDICT, {"data": b"{bad", "headers": {"Content-Type": "application/json"}}),
        ("MyModel", PREDICT, {"json": {"data": {"ndarray": "<b>"}}}),
        ("CustomError", PREDICT, {"json": {"data": {"ndarray": [[1]]}}}),
        ("TextError", PREDICT, {"json": {"data": {"ndarray": [503]}}}),
        ("Raw", PREDICT, {"json": {"data": {"ndarray": "fail"}}}),
        ("MyModel", "/api/v1.0/feedback", {"json": {"request": {"strData": "<x>"}, "reward": 1}}),
        ("MyModel", "/api/v1.0/feedback", {"json": {"reward": "high"}}),
    ],
)
def test_the_executors_paths_pass_answers_on_as_the_executor(kernel, real_seldon, cls, path, kw):
    """At the executor's predictions and feedback paths, the microservice's answer as
    seldon-core's executor passes it on (executor/api/rest/server.go and client.go in
    1.18.2): every body through Go's json.HTMLEscape (``<`` as ``\\u003c``, ``&``, ``>``,
    U+2028, U+2029), an error (not 200) with its status and body but Go's sniffed
    ``text/plain; charset=utf-8`` (respondWithError sets the content type after
    WriteHeader, where Go ignores it) and none of the component's own headers. easlab
    answered the microservice's bytes, content type and headers. The microservice's own
    ``/predict`` still answers as seldon-core-microservice."""
    service = getattr(kernel, f"_svc_pass_{cls}", None) or seldon_service(
        kernel, f"sk_pass_{cls.lower()}", cls
    )
    setattr(kernel, f"_svc_pass_{cls}", service)
    headers = {**kw.pop("headers", {}), "Authorization": service.token}
    ours = requests.post(service.url + path, headers=headers, timeout=30, **kw)
    theirs = requests.post(real_seldon.url(cls) + path, headers=headers, timeout=30, **kw)
    expected = executor_passes_on(
        theirs.status_code, theirs.headers["Content-Type"], theirs.content
    )
    assert (ours.status_code, ours.headers["Content-Type"], ours.content) == expected
    assert own_headers(ours) == {}
    if "predictions" in path:  # the microservice's path: its own answer, byte for byte
        own = requests.post(service.url + "/predict", headers=headers, timeout=30, **kw)
        mine = (own.status_code, own.headers["Content-Type"], own.content, own_headers(own))
        assert mine == (theirs.status_code, theirs.headers["Content-Type"], theirs.content,
                        own_headers(theirs))  # fmt: skip
