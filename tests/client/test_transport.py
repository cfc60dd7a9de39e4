"""The transport cut: PredictClient keeps the policy, a Transport sends; MockTransport needs no network."""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import threading

import numpy as np
import pytest
from stub_http import Reply, Seen

from easlab import PredictClient, PredictException
from easlab.client.auth import EasAuth
from easlab.client.transport import (
    Headers,
    HTTPTransport,
    MockTransport,
    Request,
    Response,
    TransportError,
)
from easlab.wire.proto import tf_predict_pb2
from easlab.wire.tf import TFRequest

SIGNATURE = {
    "signature_name": "serving_default",
    "inputs": [{"name": "x", "shape": [-1, 4], "type": "DT_FLOAT"}],
    "outputs": [],
}


def tensor_service(request: Request) -> Response:
    """GET: the signature; POST: an empty (valid) TF PredictResponse."""
    if request.method == "GET":
        return Response(200, json.dumps(SIGNATURE).encode())
    return Response(200, b"")


def test_a_mock_transport_replaces_the_network():
    transport = MockTransport(tensor_service)
    client = PredictClient("http://eas.test", "m", transport=transport)
    client.set_token("secret-token")
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    resp = client.predict({"x": x})
    assert resp.status_code == 200 and resp.latency.attempts == 1
    get, post = transport.requests
    assert (get.method, get.url) == ("GET", "http://eas.test/api/predict/m")
    assert get.headers["Authorization"] == "secret-token"  # plain token: GET carries no body
    assert post.body == TFRequest.from_numpy("serving_default", {"x": x}).to_string()
    assert post.headers["authorization"].startswith("EAS ")  # case-insensitive headers
    assert post.headers["Content-MD5"] == hashlib.md5(post.body).hexdigest()
    client.predict({"x": x[:1]})
    assert [r.method for r in transport.requests] == ["GET", "POST", "POST"]  # read once


def test_a_dict_for_a_service_without_a_signature_is_json_and_asked_once():
    def python_service(request: Request) -> Response:
        if request.method == "GET":  # the GET reaches the processor: no signature
            return Response(200, b"hello from a python processor")
        return Response(200, request.body)

    transport = MockTransport(python_service)
    client = PredictClient("http://eas.test", "py", transport=transport)
    assert client.predict({"q": [1, 2]}).data == {"q": [1, 2]}
    assert client.predict({"q": np.array([3])}).data == {"q": [3]}
    assert [r.method for r in transport.requests] == ["GET", "POST", "POST"]
    assert client.get_signature(required=False) is None
    with pytest.raises(PredictException, match="has no tensor signature.*no JSON signature"):
        client.get_signature()


def test_the_signature_read_says_when_the_token_is_wrong():
    transport = MockTransport(lambda request: Response(401, b"wrong token for service 'm'"))
    client = PredictClient("http://eas.test", "m", transport=transport)
    with pytest.raises(PredictException) as info:
        client.get_signature(required=False)
    assert info.value.code == 401


def test_transport_errors_are_retried_then_reported_with_the_url():
    calls = []

    def refuse(request: Request) -> Response:
        calls.append(request)
        raise TransportError(request, ConnectionRefusedError(111, "Connection refused"))

    client = PredictClient("http://eas.test", "m", transport=MockTransport(refuse))
    client.set_retry_count(3)
    with pytest.raises(PredictException) as info:
        client.predict(b"x")
    assert info.value.code == 500 and len(calls) == 3
    assert "url: http://eas.test/api/predict/m" in info.value.message
    assert "Connection refused" in info.value.message and "after 3 attempts" in info.value.message
    assert "easlab kernel" not in info.value.message  # not this machine: no kernel to look for
    assert isinstance(info.value.__cause__, TransportError)


def test_a_refused_local_connection_says_to_look_for_the_kernel():
    import socket

    with socket.socket() as sock:  # a port that nothing listens on once it is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = PredictClient(f"http://127.0.0.1:{port}", "m")
    client.set_retry_count(2)
    with pytest.raises(PredictException) as info:
        client.predict(b"x")
    message = info.value.message
    assert "Connection refused: nothing listens there" in message
    assert "`easlab kernel status`" in message and "after 2 attempts" in message


def test_send_is_one_attempt_whatever_the_status():
    transport = MockTransport(lambda request: Response(503, b"busy"))
    client = PredictClient("http://eas.test", "m", transport=transport)
    client.set_retry_count(5)
    resp = client.send(b"x")
    assert (resp.status, resp.body, len(transport.requests)) == (503, b"busy", 1)
    assert resp.request is transport.requests[0]


def debug_lines(client: PredictClient) -> list[str]:
    """The templates of the lines ``client`` logs from now on, at any level."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(str(record.msg))

    logger = logging.getLogger(f"test_transport.{id(client)}")
    logger.addHandler(Keep())
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    client.logger = logger
    return lines


def test_a_url_that_is_not_http_is_not_retried():
    client = PredictClient(custom_url="ftp://eas.test/predict")
    client.set_retry_count(5)
    calls = debug_lines(client)
    with pytest.raises(PredictException, match="not an http") as info:
        client.predict(b"x")
    assert calls == ["Request to url: %s"]  # one attempt, no retry
    assert "attempts" not in info.value.message


@pytest.mark.parametrize(
    ("endpoint", "custom_url"),
    [
        ("http://127.0.0.1:9\n", ""),  # read from a file with its line break
        (" http://127.0.0.1:9", ""),
        ("", "http://127.0.0.1:9 /api/predict/m"),
        ("", "http://[::1/api/predict/m"),
    ],
)
def test_a_url_with_a_space_or_line_break_is_a_predict_exception_not_retried(endpoint, custom_url):
    """The official client answers such a URL with PredictException(500); easlab let
    urllib3's LocationParseError, http.client's InvalidURL or urlsplit's ValueError out."""
    import easlab

    client = PredictClient(endpoint, "m", custom_url)
    client.set_retry_count(5)
    calls = debug_lines(client)
    with pytest.raises(PredictException, match="invalid URL") as info:
        client.predict(b"x")
    assert info.value.code == 500 and "attempts" not in info.value.message
    assert "check the endpoint, service name or custom_url" in info.value.message
    assert calls == ["Request to url: %s"]  # one attempt, no retry
    queue = easlab.QueueClient(endpoint, "jobs", custom_url)
    with pytest.raises(PredictException, match="invalid URL"):
        queue.put(b"x")


def test_auth_is_decided_in_one_place():
    post = EasAuth("tok-123456789", "svc").apply(Request("POST", "http://h/api/predict/svc"))
    assert post.headers["Authorization"].startswith("EAS ")
    assert post.headers["Content-Type"] == "application/octet-stream"
    plain = EasAuth("tok-123456789", "svc", signed=False).apply(Request("POST", "http://h/x"))
    assert plain.headers["Authorization"] == "tok-123456789" and "Content-MD5" not in plain.headers
    assert dict(EasAuth(None, "svc").apply(Request("POST", "http://h/x")).headers) == {}
    assert "123456789" not in repr(EasAuth("tok-123456789", "svc"))


def test_headers_are_case_insensitive_and_keep_their_spelling():
    h = Headers([("X-Served-By", "a"), ("set-cookie", "1"), ("Set-Cookie", "2")])
    assert h["x-served-by"] == "a" and h["SET-COOKIE"] == "1, 2"
    h["content-type"] = "text/plain"
    h["Content-Type"] = "application/json"
    assert list(h) == ["X-Served-By", "Set-Cookie", "Content-Type"] and len(h) == 3


def test_http_transport_times_the_exchange(stub_server):
    server = stub_server(lambda seen: Reply(200, b"y" * 10, body_delay_s=0.05))
    with HTTPTransport() as transport:
        resp = transport.send(Request("POST", f"{server.url}/api/predict/e", body=b"x"), 5.0)
    assert resp.status == 200 and resp.body == b"y" * 10 and resp.reason == "OK"
    assert resp.timing.read_ms >= 45
    assert resp.timing.total_ms == pytest.approx(
        resp.timing.send_ms + resp.timing.first_byte_ms + resp.timing.read_ms
    )


def test_http_transport_sends_get_without_a_body(stub_server):
    server = stub_server(lambda seen: Reply(200, seen.method.encode()))
    with HTTPTransport() as transport:
        resp = transport.send(Request("GET", f"{server.url}/api/predict/e"), 5.0)
    assert resp.body == b"GET" and "Content-Length" not in server.seen[0].headers


def test_a_pooled_connection_the_server_closed_is_replaced():
    """A server that answers each connection once (keep-alive announced) then closes it."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with HTTPTransport() as transport:
            for _ in range(3):
                request = Request("GET", f"http://127.0.0.1:{port}/api/predict/e")
                assert transport.send(request, 5.0).body == b"ok"
        assert len(accepted) == 3
    finally:
        listener.close()
        thread.join(timeout=5)


def test_http_transport_reports_refused_and_timeouts(closed_port, stub_server):
    with HTTPTransport() as transport:
        with pytest.raises(TransportError) as info:
            transport.send(Request("POST", f"http://127.0.0.1:{closed_port}/x"), 5.0)
        assert not info.value.timeout and "refused" in str(info.value).lower()

        def hang(seen: Seen) -> Reply:
            server.release.wait(10)
            return Reply(200)

        server = stub_server(hang)
        with pytest.raises(TransportError) as info:
            transport.send(Request("POST", f"{server.url}/x"), 0.2)
        assert info.value.timeout and info.value.request.url == f"{server.url}/x"


def test_official_tf_answers_parse_through_the_mock():
    answer = tf_predict_pb2.PredictResponse()
    out = answer.outputs["y"]
    out.dtype = tf_predict_pb2.DT_FLOAT
    out.array_shape.dim.extend([1])
    out.float_val.append(2.5)

    def service(request: Request) -> Response:
        if request.method == "GET":
            return Response(200, json.dumps(SIGNATURE).encode())
        return Response(200, answer.SerializeToString(), Headers({"X-Served-By": "mock"}))

    client = PredictClient("http://eas.test", "m", transport=MockTransport(service))
    resp = client.predict([[1, 2, 3, 4]])  # a list, converted by the signature
    assert resp["y"].tolist() == [2.5] and resp.headers["x-served-by"] == "mock"


def test_the_transport_names_resolve_from_easlab_client():
    import easlab.client
    from easlab.client import transport

    assert easlab.client.MockTransport is transport.MockTransport
    assert easlab.client.HTTPTransport is HTTPTransport
    assert easlab.client.EasAuth is EasAuth
    assert {"Transport", "TransportError"} <= set(easlab.client.__all__)


def test_an_interrupted_call_closes_its_connection_and_the_next_call_works(
    stub_server, monkeypatch
):
    """Ctrl-C in a notebook while waiting for an answer: the connection, with an answer
    maybe still to come on it, is closed then and there (before, it was dropped open, a
    socket left to the garbage collector), and the next call opens a fresh one."""
    import http.client

    server = stub_server(lambda seen: Reply(200, b"ok"))
    request = Request("GET", f"{server.url}/api/predict/e")
    interrupted = []
    real = http.client.HTTPConnection.getresponse

    def interrupt(conn: http.client.HTTPConnection) -> http.client.HTTPResponse:
        interrupted.append(conn)
        raise KeyboardInterrupt

    with HTTPTransport() as transport:
        assert transport.send(request, 5.0).body == b"ok"
        monkeypatch.setattr(http.client.HTTPConnection, "getresponse", interrupt)
        with pytest.raises(KeyboardInterrupt):
            transport.send(request, 5.0)
        monkeypatch.setattr(http.client.HTTPConnection, "getresponse", real)
        assert len(interrupted) == 1 and interrupted[0].sock is None  # closed
        assert transport.idle_connections() == 0
        assert transport.send(request, 5.0).body == b"ok"


def test_a_signature_read_that_met_a_server_error_is_not_kept():
    """The first numpy call meets the service still starting (503 after a kernel restart):
    that call fails, but the next one reads the signature again. Before, the 503 was
    kept as 'no tensor signature' and every later numpy call failed until refresh."""
    starting = [True]

    def service(request: Request) -> Response:
        if starting[0]:
            return Response(503, b"service 'm' is Creating (its instances are starting)")
        return tensor_service(request)

    transport = MockTransport(service)
    client = PredictClient("http://eas.test", "m", transport=transport)
    client.set_retry_count(1)
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    with pytest.raises(PredictException) as info:
        client.predict({"x": x})
    assert info.value.code == 503 and "Creating" in info.value.message
    starting[0] = False
    assert client.predict({"x": x}).status_code == 200
    assert [r.method for r in transport.requests] == ["GET", "POST", "GET", "POST"]
    sent = transport.requests[-1].body  # a tensor request, not the dict as JSON
    assert sent == TFRequest.from_numpy("serving_default", {"x": x}).to_string()


def test_numpy_inputs_to_a_service_that_cannot_answer_yet_say_so():
    """A list of arrays needs the signature; a service being restored after a kernel
    restart answers its GET with a 503. The error said the service 'has no tensor
    signature' and to send a dict instead; it now says why the signature could not
    be read and to try again."""
    restoring = b"service 'm' is being restored: the kernel restarted. Try again"
    transport = MockTransport(lambda request: Response(503, restoring))
    client = PredictClient("http://eas.test", "m", transport=transport)
    client.set_retry_count(0)
    with pytest.raises(PredictException) as info:
        client.predict([np.zeros((1, 4), np.float32)])
    assert info.value.code == 503
    assert "being restored" in info.value.message and "try again" in info.value.message
    assert "has no tensor signature" not in info.value.message
