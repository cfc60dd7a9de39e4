"""PredictClient in gateway mode against real HTTP servers: auth headers, retries, timeouts, latency."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import threading
import time
from datetime import datetime, timezone

import pytest
from stub_http import Reply, Seen, TextRequest, TextResponse, echo

import easlab
from easlab import PredictClient, PredictException

TOKEN = "YWFlMDYyZDNmNTc3M2I3MzMwYmY0MmYwM2Y2MTYxMTY4NzBkNzdjOQ=="


def expected_authorization(token: str, body: bytes, content_type: str, date: str, svc: str) -> str:
    """The EAS signature computed here from first principles (SPEC.md §1), not with easlab._auth."""
    md5 = hashlib.md5(body).hexdigest()
    msg = f"POST\n{md5}\n{content_type}\n{date}\n/api/predict/{svc}".strip()
    digest = hmac.new(token.encode(), msg.encode(), hashlib.sha1).digest()
    return "EAS " + base64.b64encode(digest).decode()


def signature_checker(token: str, svc: str):
    """A handler that answers 401 with the reason unless the request is signed exactly right."""

    def handle(seen: Seen) -> Reply:
        h = seen.headers
        problems = []
        if h.get("Content-MD5") != hashlib.md5(seen.body).hexdigest():
            problems.append(f"Content-MD5 {h.get('Content-MD5')!r}")
        want = expected_authorization(
            token, seen.body, h.get("Content-Type", ""), h.get("Date", ""), svc
        )
        if h.get("Authorization") != want:
            problems.append(f"Authorization {h.get('Authorization')!r} != {want!r}")
        if h.get("Content-Length") != str(len(seen.body)):
            problems.append(f"Content-Length {h.get('Content-Length')!r}")
        if problems:
            return Reply(401, "; ".join(problems).encode())
        return Reply(200, seen.body)

    return handle


def client_for(server, svc: str = "echo", **settings) -> PredictClient:
    client = PredictClient(server.url, svc)
    for name, value in settings.items():
        getattr(client, f"set_{name}")(value)
    client.init()
    return client


# -- authentication headers ------------------------------------------------------------


def test_signed_request_is_byte_exact(stub_server):
    server = stub_server(signature_checker(TOKEN, "echo"))
    client = client_for(server, token=TOKEN)
    body = b'[{"sex":0,"cp":1}]' * 10
    resp = client.predict(TextRequest(body))
    assert resp.data == body
    seen = server.seen[0]
    assert (seen.method, seen.path) == ("POST", "/api/predict/echo")
    assert seen.headers["Content-Type"] == "application/octet-stream"
    # Date: RFC 1123 in GMT, and easlab sends the real GMT time (SPEC.md §1).
    date = datetime.strptime(seen.headers["Date"], "%a, %d %b %Y %H:%M:%S GMT")
    skew = abs(date.replace(tzinfo=timezone.utc) - datetime.now(timezone.utc)).total_seconds()
    assert skew < 300
    client.destroy()


def test_content_type_from_setter_then_extra_headers(stub_server):
    server = stub_server(signature_checker(TOKEN, "svc_a"))
    client = client_for(server, "svc_a", token=TOKEN)
    client.add_extra_headers({"Content-Type": "application/json", "X-Trace": "t1"})
    client.predict(TextRequest("[1]"))
    assert server.seen[-1].headers["Content-Type"] == "application/json"
    assert server.seen[-1].headers["X-Trace"] == "t1"
    client.set_content_type("text/plain")
    client.predict(TextRequest("[2]"))
    assert server.seen[-1].headers["Content-Type"] == "text/plain"
    # The extra headers are never rewritten by a call (the official client adds its signature).
    assert client.headers == {"Content-Type": "application/json", "X-Trace": "t1"}
    client.destroy()


def test_extra_header_values_that_are_ints_are_sent_as_text(stub_server):
    # The official client (urllib3/http.client) sends an int header value as its
    # decimal text; requests alone would refuse it before sending.
    server = stub_server(signature_checker(TOKEN, "echo"))
    client = client_for(server, token=TOKEN)
    client.add_extra_headers({"X-Priority": 5})
    assert client.predict(TextRequest("x")).data == b"x"
    assert server.seen[-1].headers["X-Priority"] == "5"
    assert client.headers == {"X-Priority": 5}
    client.destroy()


def test_no_token_sends_no_auth_headers(stub_server):
    server = stub_server(echo)
    client = client_for(server)
    assert client.predict(TextRequest(b"abc")).data == b"abc"
    headers = server.seen[0].headers
    for name in ("Authorization", "Date", "Content-MD5", "Content-Type"):
        assert name not in headers, name


def test_custom_url_sends_plain_token(stub_server):
    server = stub_server(echo)
    client = PredictClient(custom_url=f"{server.url}/custom/path?x=1")
    client.set_token(TOKEN)
    client.init()
    client.predict(TextRequest(b"abc"))
    seen = server.seen[0]
    assert (seen.path, seen.query) == ("/custom/path", "x=1")
    assert seen.headers["Authorization"] == TOKEN
    assert "Content-MD5" not in seen.headers
    assert seen.headers["Content-Type"] == "application/octet-stream"
    assert seen.headers["Date"].endswith(" GMT")
    client.destroy()


def test_a_custom_url_without_a_scheme_is_sent_over_http(stub_server):
    """``PredictClient(custom_url='host:port/path')`` works with the official client
    (urllib3 reads a URL without a scheme as http); easlab refused it: 'not an http(s)
    URL'. The queue client's custom_url likewise."""
    import easlab

    server = stub_server(
        lambda seen: Reply(200, b"7", headers={"X-Eas-Queueservice-Request-Id": "r7"})
    )
    client = PredictClient(custom_url=f"{server.address}/custom/path?x=1")
    client.set_token(TOKEN)
    assert client.predict(TextRequest(b"abc")).data == b"7"
    seen = server.seen[-1]
    assert (seen.path, seen.query, seen.body) == ("/custom/path", "x=1", b"abc")
    assert seen.headers["Authorization"] == TOKEN
    client.destroy()
    queue = easlab.QueueClient(custom_url=f"{server.address}/api/predict/jobs")
    queue.init()
    assert queue.put(b"x") == ("7", "r7")
    assert server.seen[-1].path == "/api/predict/jobs"
    queue.destroy()


@pytest.mark.parametrize("pasted", [TOKEN + "\n", f"  {TOKEN}\r\n", f"\t{TOKEN} "])
def test_a_token_pasted_with_surrounding_whitespace_is_sent_without_it(stub_server, pasted):
    """A token read from a file or copied from a console keeps its line break: EAS tokens
    never hold whitespace, so it is cut off rather than sent (http.client refused it with a
    ValueError that printed the whole token; a signature over it gave a bare 401)."""
    server = stub_server(signature_checker(TOKEN, "echo"))
    client = client_for(server, token=pasted)
    assert client.predict(TextRequest(b"abc")).data == b"abc"  # signed with the clean token
    plain = stub_server(echo)
    custom = PredictClient(custom_url=f"{plain.url}/custom")
    custom.token = pasted  # the attribute, as code written for the official client sets it
    custom.predict(TextRequest(b"abc"))
    assert plain.seen[-1].headers["Authorization"] == TOKEN
    client.destroy()
    custom.destroy()


def test_a_token_with_a_line_break_inside_is_refused_without_showing_it(stub_server):
    server = stub_server(echo)
    client = client_for(server, token=f"{TOKEN[:20]}\n{TOKEN[20:]}", retry_count=1)
    for call in (lambda: client.predict(TextRequest(b"abc")), lambda: client.get_signature()):
        with pytest.raises(ValueError, match="token.*control character") as info:
            call()
        assert TOKEN[:20] not in str(info.value) and TOKEN[20:] not in str(info.value)
    assert server.seen == []  # nothing went out
    client.destroy()


# -- endpoints ----------------------------------------------------------------------------


def test_bare_host_port_endpoint(stub_server):
    server = stub_server(echo)
    client = PredictClient(server.address, "echo")
    client.init()
    assert client.endpoint.get() == server.url
    assert client.predict(TextRequest("x")).data == b"x"
    client.destroy()


def test_endpoint_forms():
    from easlab.client.endpoints import gateway_base

    assert gateway_base("https://eas.example.com/", "s", None) == ("https://eas.example.com")
    assert gateway_base("http://h:80", "s", None) == "http://h:80"
    assert gateway_base("h:8080", "s", None) == "http://h:8080"


@pytest.mark.parametrize("path", ["/api/predict/echo", "/api/predict/", "/api/predict/echo/"])
def test_an_endpoint_holding_the_service_path_is_refused_saying_what_to_pass(stub_server, path):
    """The service's URL (svc.url, a console's 'invoke URL') passed as the endpoint: the
    request went to /api/predict/echo/api/predict/echo and the kernel answered 401 'wrong
    token' (or 404 'service api/predict/echo not found') though the token was right."""
    server = stub_server(echo)
    client = PredictClient(server.url + path, "echo")
    client.set_token(TOKEN)
    with pytest.raises(PredictException) as info:
        client.predict(TextRequest(b"abc"))
    message = info.value.message
    assert f"PredictClient('{server.url}', 'echo')" in message and "custom_url" in message
    assert server.seen == []  # refused before sending


def test_gateway_without_endpoint_uses_namespace(monkeypatch):
    monkeypatch.setenv("NAMESPACE", "echo-test")
    client = PredictClient("", "echo_test")
    client.init()
    assert client.endpoint.get() == "http://echo-test.echo-test:8080"
    client.destroy()


def test_gateway_without_endpoint_outside_eas_fails(monkeypatch):
    monkeypatch.delenv("NAMESPACE", raising=False)
    with pytest.raises(PredictException) as info:
        PredictClient("", "echo").init()
    assert info.value.code == 500
    assert "set_endpoint" in info.value.message


def test_unsupported_endpoint_type():
    client = PredictClient("127.0.0.1:1", "echo")
    client.set_endpoint_type("GRPC")
    with pytest.raises(PredictException, match="Unsupported endpoint type: 'GRPC'"):
        client.init()


def test_endpoint_type_constants_match_official():
    assert easlab.ENDPOINT_TYPE_DEFAULT == "DEFAULT"
    assert easlab.ENDPOINT_TYPE_GATEWAY == easlab.ENDPOINT_TYPE_DEFAULT
    assert easlab.ENDPOINT_TYPE_DIRECT == "DIRECT"
    assert easlab.ENDPOINT_TYPE_VIPSERVER == "VIPSERVER"


# -- retries and errors -------------------------------------------------------------------


def test_two_503_then_success_takes_three_attempts(stub_server):
    def flaky(seen: Seen) -> Reply:
        if len(server.seen) <= 2:
            return Reply(503, b"warming up")
        return Reply(200, b"ok")

    server = stub_server(flaky)
    client = client_for(server)
    resp = client.predict(TextRequest(b"x"))
    assert resp.data == b"ok"
    assert len(server.seen) == 3
    assert resp.latency.attempts == 3
    client.destroy()


def test_503_retries_pause_as_retry_after_asks_else_back_off(stub_server, monkeypatch):
    # a restarting kernel must not be hammered: each retry of a 5xx waits, as its
    # Retry-After asks (capped), else 50 ms doubling to 1 s; pauses are recorded, not timed
    from easlab.client import predict_client

    pauses: list[float] = []
    monkeypatch.setattr(predict_client, "_pause", pauses.append)
    after: dict[str, str] = {"Retry-After": "1"}

    def starting(seen: Seen) -> Reply:
        if len(server.seen) <= 2:
            return Reply(503, b"service 'svc' is Creating", headers=after)
        return Reply(200, b"ok")

    server = stub_server(starting)
    assert client_for(server).predict(TextRequest(b"x")).data == b"ok"
    assert len(server.seen) == 3 and pauses == [1.0, 1.0]

    pauses.clear()
    down = stub_server(lambda seen: Reply(503, b"down"))
    with pytest.raises(PredictException):
        client_for(down, retry_count=6).predict(TextRequest(b"x"))
    assert len(down.seen) == 6 and pauses == [0.05, 0.1, 0.2, 0.4, 0.8]  # none after the last

    pauses.clear()
    long = stub_server(lambda seen: Reply(503, b"later", headers={"Retry-After": "3600"}))
    with pytest.raises(PredictException):
        client_for(long, retry_count=2).predict(TextRequest(b"x"))
    assert pauses == [predict_client.RETRY_AFTER_MAX_S]

    pauses.clear()
    refused = stub_server(lambda seen: Reply(401, b"wrong token", headers=after))
    with pytest.raises(PredictException):
        client_for(refused).predict(TextRequest(b"x"))
    assert len(refused.seen) == 1 and pauses == []


def test_retry_delay_reads_retry_after_as_seconds_or_a_date():
    from datetime import datetime, timedelta, timezone
    from email.utils import format_datetime

    from easlab.client.predict_client import BACKOFF_MAX_S, retry_delay

    assert retry_delay(1, "2") == 2.0
    assert retry_delay(1, "0") == 0.0
    soon = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=3), usegmt=True)
    assert 0 < retry_delay(1, soon) <= 3.0
    past = format_datetime(datetime.now(timezone.utc) - timedelta(seconds=30), usegmt=True)
    assert retry_delay(1, past) == 0.0
    assert retry_delay(2, "soon") == 0.1  # unreadable: the backoff
    assert retry_delay(30) == BACKOFF_MAX_S


def test_5xx_until_the_last_attempt_raises_the_server_status(stub_server):
    server = stub_server(lambda seen: Reply(502, b"bad gateway upstream"))
    client = client_for(server, retry_count=2)
    with pytest.raises(PredictException) as info:
        client.predict(TextRequest(b"x"))
    assert info.value.code == 502
    assert "bad gateway upstream" in info.value.message
    assert len(server.seen) == 2


def test_retry_count_zero_means_one_attempt(stub_server):
    server = stub_server(lambda seen: Reply(500, b"boom"))
    client = client_for(server, retry_count=0)
    with pytest.raises(PredictException) as info:
        client.predict(TextRequest(b"x"))
    assert info.value.code == 500
    assert len(server.seen) == 1


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, b"input 'images': expected shape [-1, 784]"),
        (401, b"invalid token"),
        (404, b"service 'nope' not found"),
        (408, b"processing took longer than 5000 ms"),
        (450, b"request queue is full"),  # gateway mode: raised at once
    ],
)
def test_non_retryable_status_raises_at_once(stub_server, status, message):
    server = stub_server(lambda seen: Reply(status, message))
    client = client_for(server)
    with pytest.raises(PredictException) as info:
        client.predict(TextRequest(b"x"))
    assert info.value.code == status
    assert info.value.message == message.decode()
    assert str(info.value) == f"Code: {status}, Message: {message.decode()}"
    assert len(server.seen) == 1
    client.destroy()


def test_connection_refused_raises_500_naming_the_url(closed_port):
    client = PredictClient(f"http://127.0.0.1:{closed_port}", "echo")
    client.set_retry_count(2)
    client.init()
    with pytest.raises(PredictException) as info:
        client.predict(TextRequest(b"x"))
    assert info.value.code == 500
    assert f"127.0.0.1:{closed_port}/api/predict/echo" in info.value.message
    assert "refused" in info.value.message.lower()
    assert "after 2 attempts" in info.value.message


def test_dropped_connections_are_retried_retry_count_times():
    """A server that accepts and hangs up: every attempt reaches it, then 500."""
    accepted = []
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        client = PredictClient(f"127.0.0.1:{port}", "echo")
        client.set_retry_count(3)
        client.init()
        with pytest.raises(PredictException) as info:
            client.predict(TextRequest(b"x"))
        assert info.value.code == 500
        assert len(accepted) == 3
        client.destroy()
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        listener.close()
        thread.join(timeout=5)


def test_timeout_raises_within_about_the_timeout(stub_server):
    def hang(seen: Seen) -> Reply:
        server.release.wait(10)
        return Reply(200, b"too late")

    server = stub_server(hang)
    client = client_for(server, timeout=200, retry_count=2)
    started = time.monotonic()
    with pytest.raises(PredictException) as info:
        client.predict(TextRequest(b"x"))
    elapsed = time.monotonic() - started
    assert info.value.code == 500
    assert "no answer within 200 ms" in info.value.message
    assert elapsed < 3.0  # two attempts of 0.2 s, generously bounded
    assert len(server.seen) == 2
    client.destroy()


def test_a_body_that_stops_midway_is_reported_as_a_timeout():
    """requests reports a body read timeout as a ConnectionError; it is still a timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            done.wait(5)  # the other 90 bytes never come
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    client = PredictClient(f"127.0.0.1:{port}", "slow")
    client.set_timeout(200)
    client.set_retry_count(1)
    client.init()
    try:
        with pytest.raises(PredictException) as info:
            client.predict(TextRequest(b"x"))
        assert info.value.code == 500
        assert "no answer within 200 ms" in info.value.message
    finally:
        done.set()
        listener.close()
        client.destroy()
        thread.join(5)


# -- responses: latency, status, headers --------------------------------------------------


def test_latency_is_measured_per_phase(stub_server):
    def slow(seen: Seen) -> Reply:
        time.sleep(0.05)  # the "server work": simulated, not synchronisation
        return Reply(200, b"y" * 1000, {"X-Served-By": "stub"}, body_delay_s=0.05)

    server = stub_server(slow)
    client = client_for(server)
    resp = client.predict(TextRequest(b"x"))
    lat = resp.latency
    assert resp.status_code == 200
    assert resp.headers["x-served-by"] == "stub"
    assert lat.attempts == 1
    for value in (lat.serialize_ms, lat.send_ms, lat.first_byte_ms, lat.read_ms, lat.parse_ms):
        assert value >= 0
    assert lat.first_byte_ms >= 45
    assert lat.read_ms >= 45
    parts = lat.serialize_ms + lat.send_ms + lat.first_byte_ms + lat.read_ms + lat.parse_ms
    assert lat.total_ms >= parts - 0.01
    assert lat.total_ms < parts + 250  # nothing big goes unaccounted (generous under load)
    assert client.last_latency == lat
    with pytest.raises(AttributeError):
        lat.total_ms = 0  # frozen
    assert "total" in str(lat)
    client.destroy()


def test_latency_on_a_response_that_takes_no_attributes(stub_server):
    class TupleRequest(TextRequest):
        def parse_response(self, data: bytes) -> tuple:  # type: ignore[override]
            return (data,)

    server = stub_server(echo)
    client = client_for(server)
    assert client.predict(TupleRequest(b"q")) == (b"q",)
    assert client.last_latency is not None and client.last_latency.total_ms > 0


def test_context_manager_and_lazy_init(stub_server):
    server = stub_server(echo)
    with PredictClient(server.url, "echo") as client:
        # init() is implied by the first predict.
        assert isinstance(client.predict(TextRequest(b"a")), TextResponse)
    assert client.endpoint is not None and client.stop is True
    # After destroy() a predict still answers, as the official client's.
    assert client.predict(TextRequest(b"b")).data == b"b"
    client.destroy()


def test_connections_are_reused(stub_server):
    server = stub_server(echo)
    client = client_for(server)
    for i in range(20):
        client.predict(TextRequest(str(i)))
    ports = {s.getpeername()[1] for s in server.connections}
    assert len(ports) == 1  # one keep-alive connection served all calls
    client.destroy()


def test_stop_and_connection_pool_as_the_official_client_has_them(stub_server):
    """REPORT D4: ``connection_pool`` holds the connections, ``stop`` is the official flag
    (False until ``destroy()``), and ``destroy()`` lets the connections go (the pool
    stays, as the official client's: a later call opens a new connection)."""
    server = stub_server(echo)
    client = PredictClient(server.url, "echo")
    assert client.connection_pool is None and client.stop is False
    client.init()
    pool = client.connection_pool
    client.predict(easlab.StringRequest("x"))
    assert pool is client.transport and pool.idle_connections() == 1
    answer = pool.request("POST", f"{server.url}/api/predict/echo", body=b"raw", retries=0)
    assert (answer.status, answer.data) == (200, b"raw")
    client.destroy()
    assert client.stop is True and client.connection_pool is pool
    assert pool.idle_connections() == 0
    client.predict(easlab.StringRequest("again"))
    assert client.stop is True and pool.idle_connections() == 1
    client.init()  # starts over
    assert client.stop is False and client.connection_pool is not pool
    client.predict(easlab.StringRequest("again"))
    client.connection_pool.clear()
    assert client.connection_pool.idle_connections() == 0
    client.destroy()


def test_setting_stop_ends_the_backend_refresh_as_officially():
    client = PredictClient("127.0.0.1:1", "svc")
    client.set_endpoint_type(easlab.ENDPOINT_TYPE_DIRECT)
    client.init()
    discovery = client._discovery
    assert discovery is not None and discovery._thread is not None
    client.stop = True
    assert client.stop is True and discovery._thread is None and discovery._stop.is_set()
    client.destroy()


def test_string_request_str_is_sent_utf8(stub_server):
    """REPORT D8: ``to_string()`` keeps a str as given; what is sent is its UTF-8 bytes."""
    server = stub_server(echo)
    client = client_for(server)
    request = easlab.StringRequest("héllo")
    assert request.to_string() == "héllo"
    assert client.predict(request).data == "héllo".encode()
    assert server.seen[-1].body == "héllo".encode()
    client.destroy()


def test_predict_rejects_what_it_cannot_send(stub_server):
    server = stub_server(echo)
    client = client_for(server)
    with pytest.raises(TypeError, match="cannot send a set"):
        client.predict({1, 2})
    assert server.seen == []


def test_one_client_serves_many_threads(stub_server):
    from concurrent.futures import ThreadPoolExecutor

    server = stub_server(echo)
    client = client_for(server, max_connection_count=4)
    assert client.transport.max_connections == 4
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda i: client.predict(TextRequest(str(i))), range(200)))
    assert [r.data for r in responses] == [str(i).encode() for i in range(200)]
    assert all(r.latency.attempts == 1 and r.latency.total_ms > 0 for r in responses)
    assert 1 <= client.transport.idle_connections() <= 4  # the pool keeps at most 4
    client.destroy()
