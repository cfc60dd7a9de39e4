"""The data plane over real HTTP: python processors, auth, status codes, bad HTTP."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import requests
from kernel_helpers import ECHO_APP, post

from easlab._auth import signed_headers
from easlab.errors import KernelError

TOKEN = "tok-" + "x" * 8

# Records every call it processes in calls.log (in its folder = its cwd), so
# tests can prove that a refused request was never processed.
RECORDING_APP = """
import allspark

class Recorder(allspark.BaseProcessor):
    def initialize(self):
        self.log = open("calls.log", "ab", buffering=0)

    def process(self, data):
        self.log.write(data + b"\\n")
        if data == b"raise":
            raise ValueError("cannot handle 'raise'")
        if data.startswith(b"status "):
            return b"custom", int(data.split()[1])
        if data == b"str":
            return "a str answer", 0
        return b"got " + data, 200
"""


@pytest.fixture(scope="module")
def echo(python_service):
    return python_service("srv_echo", ECHO_APP)


@pytest.fixture(scope="module")
def recorder(python_service):
    return python_service("srv_recorder", RECORDING_APP)


def calls_of(service) -> list[bytes]:
    folder = Path(service.desc["spec"]["processor_path"])
    path = folder / "calls.log"
    return path.read_bytes().splitlines() if path.exists() else []


def raw(kernel, data: bytes, read_until_close: bool = True) -> bytes:
    host, port = kernel.endpoint.replace("http://", "").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        if not read_until_close:
            return sock.recv(65536)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_python_processor_echoes_with_plain_token(echo):
    assert echo.status == "Running"
    resp = post(echo.url, b"hello", TOKEN)
    assert resp.status_code == 200
    assert resp.content == b"hello"


def test_signature_auth_is_accepted_and_checked_against_the_body(echo):
    body = b"signed body"
    headers = signed_headers(TOKEN, body, "srv_echo")
    resp = requests.post(echo.url, data=body, headers=headers, timeout=10)
    assert resp.status_code == 200 and resp.content == body
    # the same signature over another body is refused
    resp = requests.post(echo.url, data=b"tampered", headers=headers, timeout=10)
    assert resp.status_code == 401


def test_wrong_or_missing_token_is_401_and_nothing_is_processed(recorder):
    before = calls_of(recorder)
    for token in (None, "wrong", "EAS bm90LWEtc2lnbmF0dXJl"):
        resp = post(recorder.url, b"secret", token)
        assert resp.status_code == 401, token
        assert "token" in resp.text
    assert calls_of(recorder) == before
    assert post(recorder.url, b"ok", TOKEN).content == b"got ok"
    assert calls_of(recorder)[-1] == b"ok"


def test_generated_token_when_spec_has_none(python_service):
    svc = python_service("srv_gen_token", ECHO_APP, token=None)
    assert svc.token and len(svc.token) >= 20
    assert post(svc.url, b"x", svc.token).status_code == 200
    assert post(svc.url, b"x").status_code == 401


def test_processor_status_codes(recorder):
    resp = post(recorder.url, b"raise", TOKEN)
    assert resp.status_code == 400
    assert "cannot handle 'raise'" in resp.text
    assert post(recorder.url, b"status 0", TOKEN).status_code == 200
    assert post(recorder.url, b"status 404", TOKEN).status_code == 404
    assert post(recorder.url, b"status 503", TOKEN).status_code == 503
    assert post(recorder.url, b"status 999", TOKEN).status_code == 400  # unknown -> 400
    resp = post(recorder.url, b"str", TOKEN)
    assert resp.status_code == 200 and resp.content == b"a str answer"


def test_unknown_service_is_404_listing_known_ones_to_the_admin_only(kernel, echo):
    """The data plane answers anyone who can reach the kernel: a caller without the
    admin token (a service's token is not it) is told where the list is, not the names."""
    for token in (TOKEN, None, "wrong"):
        resp = post(kernel.endpoint + "/api/predict/nope", b"x", token)
        assert resp.status_code == 404
        assert "service 'nope' not found" in resp.text and "`easlab ls`" in resp.text
        assert "srv_echo" not in resp.text, token
    resp = post(kernel.endpoint + "/api/predict/nope", b"x", f"Bearer {kernel.admin_token}")
    assert resp.status_code == 404
    assert "service 'nope' not found" in resp.text and "srv_echo" in resp.text
    assert kernel.admin_token not in resp.text
    assert "did you mean" not in resp.text  # 'nope' is near no name


def test_a_typod_service_name_is_told_the_name_meant(kernel, echo):
    """A near miss of a service's name says which one was meant, to the admin, on the
    prediction path and on the control plane alike (one message); a caller without the
    admin token is still told no name."""
    typo = "srv_ecoh"
    resp = post(kernel.endpoint + f"/api/predict/{typo}", b"x", f"Bearer {kernel.admin_token}")
    assert resp.status_code == 404
    assert f"service '{typo}' not found: did you mean 'srv_echo'?" in resp.text, resp.text
    with pytest.raises(KernelError) as info:
        kernel.client.describe(typo)  # the control plane's 404
    assert "did you mean 'srv_echo'?" in str(info.value)
    resp = post(kernel.endpoint + f"/api/predict/{typo}", b"x", TOKEN)
    assert resp.status_code == 404 and "srv_echo" not in resp.text


def test_sub_path_routes_to_the_service(echo):
    resp = post(echo.url + "/extra/path", b"sub", TOKEN)
    assert resp.status_code == 200 and resp.content == b"sub"


def test_body_above_max_body_is_413_without_reading_it(kernel, echo):
    # 100 MB announced, nothing sent: the kernel refuses from the headers alone.
    head = (
        b"POST /api/predict/srv_echo HTTP/1.1\r\nHost: x\r\nAuthorization: "
        + TOKEN.encode()
        + b"\r\nContent-Length: 104857600\r\n\r\n"
    )
    answer = raw(kernel, head)
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"--max-body" in answer
    # a chunked body that grows past the limit is refused as well
    chunk = b"x" * 600_000
    chunked = (
        b"POST /api/predict/srv_echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(chunk)
        + chunk
        + b"\r\n"
        + b"%x\r\n" % len(chunk)
        + chunk
        + b"\r\n0\r\n\r\n"
    )
    assert raw(kernel, chunked).startswith(b"HTTP/1.1 413")
    assert post(echo.url, b"still fine", TOKEN).status_code == 200


def test_chunked_body_and_large_body(echo):
    def gen():
        yield b"part1-"
        yield b"part2"

    resp = requests.post(echo.url, data=gen(), headers={"Authorization": TOKEN}, timeout=10)
    assert resp.status_code == 200 and resp.content == b"part1-part2"
    big = bytes(range(256)) * 2400  # 600 KB
    resp = post(echo.url, big, TOKEN)
    assert resp.status_code == 200 and resp.content == big


def test_garbage_and_truncated_http_do_not_hurt_the_kernel(kernel, echo):
    assert raw(kernel, b"\x00\x01garbage that is not HTTP\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw(kernel, b"GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n").startswith(b"HTTP/1.1 400")
    # truncated: announces 100 bytes, sends 10, hangs up
    host, port = kernel.endpoint.replace("http://", "").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST /api/predict/srv_echo HTTP/1.1\r\nContent-Length: 100\r\n\r\n0123456789"
        )
    assert post(echo.url, b"alive", TOKEN).content == b"alive"


def test_keep_alive_and_pipelining_answer_in_order(kernel, echo):
    one = b"POST /api/predict/srv_echo HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n%s"
    reqs = b"".join(one % (TOKEN.encode(), len(b), b) for b in (b"first", b"second", b"third"))
    last = b"GET /api/builtin/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = raw(kernel, reqs + last)
    assert answer.count(b"HTTP/1.1 200") == 4
    assert (
        answer.index(b"first")
        < answer.index(b"second")
        < answer.index(b"third")
        < answer.index(b"pong")
    )
    with requests.Session() as session:
        for i in range(5):
            resp = session.post(echo.url, data=b"%d" % i, headers={"Authorization": TOKEN})
            assert resp.content == b"%d" % i


def test_builtin_and_discovery_endpoints(kernel, echo):
    assert requests.get(kernel.endpoint + "/api/builtin/ping", timeout=5).text == "pong"
    post(echo.url, b"count me", TOKEN)
    monitor = requests.get(kernel.endpoint + "/api/builtin/monitor", timeout=5).json()
    assert monitor["srv_echo"]["requests"] >= 1
    assert (
        requests.get(kernel.endpoint + "/api/builtin/realtime_metrics", timeout=5).status_code
        == 200
    )
    assert (
        requests.get(kernel.endpoint + "/api/builtin/prop", timeout=5).json()["pid"] == kernel.pid
    )
    port = int(kernel.endpoint.rsplit(":", 1)[1])
    for path in (
        "/api/v1/servicediscovery/upstreams/srv_echo",
        "/exported/apis/eas.alibaba-inc.k8s.io/v1/upstreams/srv_echo",
    ):
        data = requests.get(kernel.endpoint + path, timeout=5).json()
        assert data["correlative"] == ["srv_echo"]
        assert data["endpoints"]["items"] == [
            {"app": "srv_echo", "ip": "127.0.0.1", "port": port, "weight": 100}
        ]
    assert (
        requests.get(
            kernel.endpoint + "/api/v1/servicediscovery/upstreams/nope", timeout=5
        ).status_code
        == 404
    )


def test_control_api_errors_are_json_with_field(kernel):
    resp = requests.post(
        kernel.endpoint + "/easlab/v1/services",
        json={"spec": {"metadata": {}}},
        headers=kernel.admin_headers(),
        timeout=10,
    )
    assert resp.status_code == 400
    assert resp.json()["field"] == "name"
    resp = requests.post(
        kernel.endpoint + "/easlab/v1/services",
        json={
            "spec": {
                "name": "bad_proc",
                "processor": "caffe_cpu",
                "model_path": "/tmp",
                "metadata": {"instance": 1},
            }
        },
        headers=kernel.admin_headers(),
        timeout=10,
    )
    assert resp.status_code == 400 and "caffe_cpu" in resp.json()["error"]
    resp = requests.get(
        kernel.endpoint + "/easlab/v1/services/nope", headers=kernel.admin_headers(), timeout=5
    )
    assert resp.status_code == 404 and "not found" in resp.json()["error"]
    info = requests.get(
        kernel.endpoint + "/easlab/v1/kernel", headers=kernel.admin_headers(), timeout=5
    ).json()
    assert info["pid"] == kernel.pid and info["endpoint"] == kernel.endpoint
    assert json.loads(
        requests.get(
            kernel.endpoint + "/easlab/v1/gpu", headers=kernel.admin_headers(), timeout=30
        ).text
    )["source"]


def test_lone_keep_alive_client_is_read_between_answers(kernel, echo):
    """The next request of a client alone at work may be read right after its answer (server.py,
    HttpConnection._await_next): whole, split across writes, or refused, each is
    answered in order on the same connection."""
    host, port = kernel.endpoint.replace("http://", "").split(":")
    head = b"POST /api/predict/srv_echo HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n"

    def answer_of(sock: socket.socket, size: int) -> bytes:
        data = b""
        while not data.endswith(b"\r\n\r\n" + b"x" * size if size else b"\r\n\r\n"):
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {data!r}"
            data += chunk
        return data

    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(1, 301):
            body = b"x" * i
            if i % 3:
                sock.sendall(head % (TOKEN.encode(), i) + body)
            else:  # the head alone first: the kernel may read half a request
                sock.sendall(head % (TOKEN.encode(), i))
                sock.sendall(body)
            answer = answer_of(sock, i)
            assert answer.startswith(b"HTTP/1.1 200") and b"Content-Length: %d\r\n" % i in answer
        sock.sendall(head % (b"wrong", 1) + b"x")
        assert sock.recv(65536).startswith(b"HTTP/1.1 401")
        sock.sendall(b"\x00garbage\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 400")


def test_an_http_aware_request_round_trips():
    from easlab.kernel.processors.http import HttpRequest

    req = HttpRequest("POST", "/api/v1.0/predictions", "a=1", "application/json", b'{"x"\n: 1}')
    assert HttpRequest.decode(req.encode()) == req
    assert HttpRequest.decode(HttpRequest("GET", "", "", None, b"").encode()).content_type is None


def test_an_http_aware_answer_round_trips():
    from easlab.kernel.processors.http import TEXT_PLAIN, HttpAnswer, error_answer

    answer = HttpAnswer(503, 'text/html; charset="utf-8"; name=\u00e9', b"busy\n\n{")
    assert HttpAnswer.decode(503, answer.encode()) == answer
    assert HttpAnswer.decode(503, bytearray(answer.encode())) == answer
    failed = HttpAnswer.decode(400, error_answer(b"ValueError: no"))
    assert (failed.content_type, failed.body) == (TEXT_PLAIN, b"ValueError: no")


@pytest.mark.parametrize(
    "content_type", ["text/html\r\nSet-Cookie: a=b", "text/plain\n", "text/plain; n=\u4e2d"]
)
def test_an_http_aware_answer_whose_content_type_is_no_header_value_is_refused(content_type):
    """The content type becomes a header line: a line break would start another header
    (the kernel answers 500 saying so, routes.py), a character latin-1 lacks cannot be sent."""
    from easlab.kernel.processors.http import HttpAnswer

    with pytest.raises(ValueError, match="is no header value"):
        HttpAnswer.decode(200, HttpAnswer(200, content_type, b"{}").encode())


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ((("Retry-After", "3\r\nSet-Cookie: a=b"),), "is no header value"),
        ((("Bad Name", "1"),), "is no HTTP field name"),
        ((("", "1"),), "is no HTTP field name"),
        ((("Content-Length", "1"),), "is the kernel's to write"),
        ((("connection", "close"),), "is the kernel's to write"),
    ],
)
def test_an_http_aware_answers_own_headers_are_checked_before_they_go_out(headers, why):
    """A Seldon error handler's own headers (Retry-After) go out with its answer; one the
    kernel could not write as it came, or that would change the framing, is refused."""
    from easlab.kernel.processors.http import HttpAnswer

    kept = HttpAnswer(503, "text/plain", b"busy", (("Retry-After", "3"), ("X-A", "\u00e9")))
    assert HttpAnswer.decode(503, kept.encode()) == kept
    with pytest.raises(ValueError, match=why):
        HttpAnswer.decode(503, HttpAnswer(503, "text/plain", b"", headers).encode())


def test_a_control_path_with_the_wrong_method_answers_405(kernel):
    api = kernel.endpoint + "/easlab/v1"
    resp = requests.put(api + "/services", json={}, headers=kernel.admin_headers(), timeout=5)
    assert resp.status_code == 405 and "takes GET, POST, not PUT" in resp.json()["error"]
    resp = requests.get(api + "/shutdown", headers=kernel.admin_headers(), timeout=5)
    assert resp.status_code == 405 and "POST" in resp.json()["error"]
    resp = requests.get(api + "/nothing/here", headers=kernel.admin_headers(), timeout=5)
    assert resp.status_code == 404


def test_a_transfer_coding_other_than_chunked_is_501(kernel, recorder):
    # "gzip, chunked" was framed by its chunks and the still-coded bytes went to the model
    before = len(calls_of(recorder))
    head = b"POST /api/predict/srv_recorder HTTP/1.1\r\nHost: x\r\nAuthorization: " + TOKEN.encode()
    answer = raw(
        kernel, head + b"\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 501 Not Implemented")
    assert b"Transfer-Encoding 'gzip, chunked' is not supported" in answer
    assert len(calls_of(recorder)) == before
    plain = raw(
        kernel,
        head + b"\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    )
    assert plain.startswith(b"HTTP/1.1 200") and plain.endswith(b"\r\n\r\ngot ok")


def test_an_absolute_form_target_is_served_like_its_path(kernel, recorder):
    # RFC 9112 3.2.2: a server must accept http://host/path (what a client sends via
    # a proxy); the kernel answered 404 "no route http://127.0.0.1:PORT/api/predict/..."
    origin = kernel.endpoint.encode()
    answer = raw(
        kernel,
        b"POST %s/api/predict/srv_recorder?x=1 HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
        b"Content-Length: 2\r\nConnection: close\r\n\r\nok" % (origin, TOKEN.encode()),
    )
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\r\n\r\ngot ok"), answer
    answer = raw(kernel, b"GET %s HTTP/1.1\r\nConnection: close\r\n\r\n" % origin)
    assert answer.startswith(b"HTTP/1.1 404") and b"no route /;" in answer, answer
    # its host, not the Host header, is the one the control API's lock checks
    auth = kernel.admin_headers()["Authorization"].encode()
    answer = raw(
        kernel,
        b"GET HTTP://evil.example:80/easlab/v1/services HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: %s\r\nConnection: close\r\n\r\n" % auth,
    )
    assert answer.startswith(b"HTTP/1.1 403") and b"evil.example" in answer, answer


def test_an_http_1_0_keep_alive_client_is_told_its_connection_is_kept(kernel, echo):
    # An HTTP/1.0 client keeps its connection only when the answer says so (RFC 9112
    # 9.3 and appendix C.2.2); the kernel kept it without saying, so such a client
    # (ab -k) waited for the close that ends a 1.0 answer, for keepalive_timeout.
    host, port = kernel.endpoint.replace("http://", "").split(":")
    one = (
        b"POST /api/predict/srv_echo HTTP/1.0\r\nConnection: keep-alive\r\n"
        b"Authorization: %s\r\nContent-Length: 2\r\n\r\n%s"
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        for body, token in ((b"k1", TOKEN), (b"k2", "wrong-token"), (b"k3", TOKEN)):
            sock.sendall(one % (token.encode(), body))
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            assert b"\r\nConnection: keep-alive" in head, head
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            while len(rest) < length:
                rest += sock.recv(65536)
            assert (rest == body) == (token == TOKEN), rest
    # without keep-alive a 1.0 client's connection is closed after its answer, as before
    answer = raw(
        kernel,
        b"POST /api/predict/srv_echo HTTP/1.0\r\nAuthorization: %s\r\nContent-Length: 2"
        b"\r\n\r\nk4" % TOKEN.encode(),
    )
    assert b"\r\nConnection: close\r\n" in answer and answer.endswith(b"\r\n\r\nk4")
    # an HTTP/1.1 answer says nothing of it (keep-alive is the default)
    answer = raw(
        kernel,
        b"GET /api/builtin/ping HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
        read_until_close=False,
    )
    assert b"Connection" not in answer and answer.endswith(b"pong"), answer


def test_bytes_after_a_connection_close_request_do_not_replace_its_answer(kernel, recorder):
    # A client sent more than its Content-Length (or another request) after a request
    # with "Connection: close": the kernel answered 400 "Data after `Connection: close`"
    # in place of that request's answer, while its model processed it all the same.
    before = len(calls_of(recorder))
    head = b"POST /api/predict/srv_recorder HTTP/1.1\r\nHost: x\r\nAuthorization: " + TOKEN.encode()
    answer = raw(
        kernel, head + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\nokay, and more\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\r\n\r\ngot ok"), answer
    # what came after it is not read as a request (RFC 9112 9.6)
    answer = raw(
        kernel,
        head + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\nc1"
        b"POST /api/predict/srv_recorder HTTP/1.1\r\nAuthorization: %s\r\n"
        b"Content-Length: 2\r\n\r\nc2" % TOKEN.encode(),
    )
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\r\n\r\ngot c1"), answer
    assert calls_of(recorder)[before:] == [b"ok", b"c1"]


@pytest.mark.parametrize(
    "bad, status",
    [
        (b"POST /api/predict/srv_recorder HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413),
        (b"\x00garbage\r\n\r\n", 400),
        (b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n", 414),
    ],
)
def test_a_bad_request_behind_a_good_one_is_answered_in_its_turn(kernel, recorder, bad, status):
    # The error for a request the kernel cannot read went out at once and closed the
    # connection, so the client read it as the answer to the request before it (whose
    # model ran, and whose answer was lost): answers must keep the requests' order.
    before = len(calls_of(recorder))
    good = (
        b"POST /api/predict/srv_recorder HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
        b"Content-Length: 5\r\n\r\nfirst" % TOKEN.encode()
    )
    answer = raw(kernel, good + bad + good)
    first, _, rest = answer.partition(b"got first")
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and b"Connection" not in first, answer
    assert rest.startswith(b"HTTP/1.1 %d " % status) and b"Connection: close" in rest, rest
    assert b"got first" not in rest  # nothing after the bad request is read
    assert calls_of(recorder)[before:] == [b"first"]


@pytest.mark.parametrize("method", [b"post", b"FROB"])
def test_an_unknown_method_is_501_naming_it(kernel, recorder, method):
    # was 400 "malformed HTTP request: Invalid method encountered" (RFC 9110 9.1: 501)
    answer = raw(
        kernel,
        method + b" /api/predict/srv_recorder HTTP/1.1\r\nAuthorization: %s\r\n"
        b"Content-Length: 2\r\n\r\nok" % TOKEN.encode(),
    )
    assert answer.startswith(b"HTTP/1.1 501 Not Implemented"), answer
    assert b"HTTP method '%s' not recognised" % method in answer
    assert b"case-sensitive" in answer and b"POST" in answer


def test_a_head_refused_from_its_head_has_no_body(kernel, echo):
    # A HEAD with a body, refused from its head (no token), was answered with the error
    # text as a body on a kept connection: its client, which reads no body after a HEAD,
    # took that text for the start of its next answer.
    answer = raw(
        kernel,
        b"HEAD /api/predict/srv_echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nxx"
        b"GET /api/builtin/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401") and b"Content-Length: " in head, answer
    assert rest.startswith(b"HTTP/1.1 200 OK") and rest.endswith(b"pong"), answer


def test_an_http2_preface_is_505_saying_http_1_1(kernel, echo):
    # "400 malformed HTTP request: Pause on PRI/Upgrade" said nothing to an h2c client
    answer = raw(kernel, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 505 HTTP Version Not Supported\r\n")
    assert b"this kernel speaks HTTP/1.1 only" in answer
    assert post(echo.url, b"alive", TOKEN).status_code == 200


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_at_a_service_path_are_405_and_never_processed(recorder, method):
    # they reached process() as predictions: a DELETE ran the model on its body
    before = calls_of(recorder)
    auth = {"Authorization": TOKEN}
    resp = requests.request(method, recorder.url, data=b"body", headers=auth, timeout=10)
    assert resp.status_code == 405
    assert resp.headers["Allow"] == "POST, GET, HEAD, OPTIONS"
    assert resp.text.startswith(
        f"{method} is not served at /api/predict/srv_recorder: send the request to it with POST"
    )
    resp = requests.request(method, recorder.url + "/sub", headers=auth, timeout=10)
    assert resp.status_code == 405  # a sub-path is the same service path
    # the token first: without it the answer is a POST's 401, whatever the method
    for headers in ({}, {"Authorization": "wrong"}):
        refused = requests.request(method, recorder.url, data=b"body", headers=headers, timeout=10)
        post_refused = requests.post(recorder.url, data=b"body", headers=headers, timeout=10)
        assert (refused.status_code, refused.text) == (401, post_refused.text)
        assert "Allow" not in refused.headers
    assert calls_of(recorder) == before
    assert post(recorder.url, b"still", TOKEN).content == b"got still"


def test_options_at_a_service_path_names_the_methods(recorder):
    before = calls_of(recorder)
    resp = requests.options(recorder.url, headers={"Authorization": TOKEN}, timeout=10)
    assert resp.status_code == 200 and resp.content == b""
    assert resp.headers["Allow"] == "POST, GET, HEAD, OPTIONS"
    assert resp.headers["Content-Length"] == "0"  # RFC 9110 9.3.7
    # EAS services answer no CORS: a browser's preflight needs the token, as any call
    assert "Access-Control-Allow-Origin" not in resp.headers
    preflight = {"Origin": "http://nb.example", "Access-Control-Request-Method": "POST"}
    resp = requests.options(recorder.url, headers=preflight, timeout=10)
    assert resp.status_code == 401 and "Allow" not in resp.headers
    assert calls_of(recorder) == before
