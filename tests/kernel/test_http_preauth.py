"""What a client without a token can make the kernel hold, over real
loopback sockets: a request its head already refuses is answered before its body, with
the answer it always had; the bodies held at once are capped; a body must keep coming;
a closed connection lets go of its buffers without the cyclic collector; the owner still
gets in when the connection cap is reached."""

from __future__ import annotations

import gc
import json
import socket
import threading
import time
import types
import weakref
from collections.abc import Iterator

import pytest
from kernel_helpers import ECHO_APP, wait_for
from test_http_limits import PING, address, answer_of, ping, until_closed

from easlab._auth import signed_headers
from easlab.cli import build_parser
from easlab.client.local import LocalKernel
from easlab.kernel.guard import ControlGuard
from easlab.kernel.http import DRAIN_MAX, HttpConnection
from easlab.kernel.limits import ADMIN_RESERVE, HttpLimits
from easlab.kernel.router import Route, Router
from easlab.kernel.routes import KernelServer

TOKEN = "preauth-token"
SERVICE = "preauth_echo"
MAX_BODY = 1 << 20  # well above DRAIN_MAX: a refused body this big is not read at all
BUFFER = 1536 << 10  # all bodies held at once: one of MAX_BODY fits, two do not
FAKE_SIGNATURE = b"EAS bm90LWEtc2lnbmF0dXJl"  # looks signed: only its body can tell
SLACK = 10.0  # deadlines, generous for a busy machine; nothing below is timed


@pytest.fixture(scope="module")
def guarded(easlab_home, tmp_path_factory) -> Iterator[LocalKernel]:
    """A kernel with a small --max-body and --max-body-buffer, the timeouts left as shipped."""
    with LocalKernel(
        port=0,
        state_dir=tmp_path_factory.mktemp("preauth"),
        max_body=MAX_BODY,
        limits=HttpLimits(max_body_buffer=BUFFER),
    ) as k:
        yield k


@pytest.fixture(scope="module")
def echo(guarded, make_app):
    svc = guarded.create(
        {
            "name": SERVICE,
            "processor_type": "python",
            "processor_path": str(make_app(SERVICE, ECHO_APP)),
            "processor_entry": "app.py",
            "token": TOKEN,
            "metadata": {"instance": 1},
        }
    )
    assert svc.status == "Running", svc.desc.get("message")
    return svc


@pytest.fixture(scope="module")
def tight(easlab_home, tmp_path_factory) -> Iterator[LocalKernel]:
    """A kernel whose bodies get 2 s before the rate counts, and only 3 connections."""
    limits = HttpLimits(body_timeout=2.0, min_body_rate=4096, max_connections=3)
    with LocalKernel(port=0, state_dir=tmp_path_factory.mktemp("tight"), limits=limits) as k:
        yield k


def head(path: str, length: int | None, auth: bytes | None = None, extra: bytes = b"") -> bytes:
    lines = [b"POST %s HTTP/1.1" % path.encode(), b"Host: 127.0.0.1"]
    if length is not None:
        lines.append(b"Content-Length: %d" % length)
    if auth is not None:
        lines.append(b"Authorization: " + auth)
    return b"\r\n".join(lines) + b"\r\n" + extra + b"\r\n"


def body_of(answer: bytes) -> bytes:
    return answer.partition(b"\r\n\r\n")[2]


def answers_of(sock: socket.socket, count: int) -> list[bytes]:
    """``count`` whole answers read from a connection, as the kernel wrote them in a row."""
    data = b""
    answers: list[bytes] = []
    while len(answers) < count:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            length = int(data[:end].lower().split(b"content-length: ", 1)[1].split(b"\r\n")[0])
            if len(data) >= end + 4 + length:
                answers.append(data[: end + 4 + length])
                data = data[end + 4 + length :]
                continue
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {answers!r} and {data!r}"
        data += chunk
    return answers


def sent_in_background(sock: socket.socket, data: bytes) -> threading.Thread:
    """Send ``data`` from a thread (the kernel may answer, and close, before it is all in)."""

    def send() -> None:
        try:
            sock.sendall(data)
        except OSError:  # refused and closed: expected for some
            pass

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


# -- D2 (a): refused from the head, before the body ----------------------------------


def _refusals(kernel: LocalKernel) -> list[tuple[str, bytes | None, bytes, int]]:
    """(path, Authorization, more headers, status) of requests a head alone refuses."""
    bearer = b"Bearer " + kernel.admin_token.encode()
    json_type = b"Content-Type: application/json\r\n"
    return [
        ("/api/predict/nosuch", None, b"", 404),
        (f"/api/predict/{SERVICE}", None, b"", 401),
        (f"/api/predict/{SERVICE}", b"wrong-token", b"", 401),
        # a signature that does not match the md5 it came with: no body can make it pass
        (f"/api/predict/{SERVICE}", FAKE_SIGNATURE, b"Content-MD5: %s\r\n" % (b"0" * 32), 401),
        ("/easlab/v1/services", None, json_type, 401),
        ("/easlab/v1/services", b"Bearer wrong", json_type, 401),
        ("/easlab/v1/services", bearer, b"Content-Type: text/plain\r\n", 415),
        ("/metrics", None, json_type, 401),
        ("/nowhere", None, b"", 404),
    ]


def test_a_request_its_head_refuses_is_answered_before_its_body(guarded, echo):
    """The kernel answers with nothing of a 1 MiB body sent, and closes rather than read it."""
    for path, auth, extra, status in _refusals(guarded):
        with socket.create_connection(address(guarded), timeout=SLACK) as sock:
            sock.sendall(head(path, MAX_BODY, auth, extra))  # the head, and no body at all
            answer = until_closed(sock, time.monotonic() + SLACK)
        assert answer.startswith(b"HTTP/1.1 %d" % status), (path, auth, answer)
        assert b"\r\nConnection: close\r\n" in answer, (path, answer)


def test_the_answer_from_the_head_is_the_one_given_after_the_body(guarded, echo):
    """Same status and message as the kernel gives a request that has no body to wait for."""
    for path, auth, extra, status in _refusals(guarded):
        if status == 415:  # only a body makes it 415
            continue
        with socket.create_connection(address(guarded), timeout=SLACK) as sock:
            sock.sendall(head(path, MAX_BODY, auth, extra))
            early = until_closed(sock, time.monotonic() + SLACK)
        with socket.create_connection(address(guarded), timeout=SLACK) as sock:
            sock.sendall(head(path, 0, auth, extra))  # no body: not screened, answered as always
            usual = answer_of(sock)
        assert usual.split(b"\r\n", 1)[0] == early.split(b"\r\n", 1)[0], (path, auth)
        assert body_of(usual) == body_of(early), (path, auth)
    # and the messages say what is wrong and how to fix it
    with socket.create_connection(address(guarded), timeout=SLACK) as sock:
        sock.sendall(head(f"/api/predict/{SERVICE}", MAX_BODY))
        answer = until_closed(sock, time.monotonic() + SLACK)
    assert (
        body_of(answer)
        == (
            f"missing token for service '{SERVICE}': send the service token as the "
            "Authorization header, or an EAS signature (client.set_token)"
        ).encode()
    )
    with socket.create_connection(address(guarded), timeout=SLACK) as sock:
        sock.sendall(
            head("/easlab/v1/services", MAX_BODY, None, b"Content-Type: application/json\r\n")
        )
        answer = until_closed(sock, time.monotonic() + SLACK)
    error = json.loads(body_of(answer))["error"]
    assert "missing admin token" in error and "Authorization: Bearer <token>" in error


def test_a_small_refused_body_is_dropped_and_the_connection_kept(guarded, echo):
    with socket.create_connection(address(guarded), timeout=SLACK) as sock:
        sock.sendall(head(f"/api/predict/{SERVICE}", 5, b"wrong-token") + b"hello")
        answer = answer_of(sock)
        assert answer.startswith(b"HTTP/1.1 401") and b"wrong token for service" in answer
        assert b"Connection: close" not in answer
        ping(sock)  # the dropped body was not read as the next request
        sock.sendall(head(f"/api/predict/{SERVICE}", 5, TOKEN.encode()) + b"hello")
        answer = answer_of(sock)
        assert answer.startswith(b"HTTP/1.1 200") and body_of(answer) == b"hello"
        # a refused chunked body too (its size is known only at its end)
        sock.sendall(
            head(f"/api/predict/{SERVICE}", None, None, b"Transfer-Encoding: chunked\r\n")
            + b"5\r\nhello\r\n0\r\n\r\n"
        )
        answer = answer_of(sock)
        assert answer.startswith(b"HTTP/1.1 401") and b"missing token" in answer
        ping(sock)


def test_refused_requests_behind_others_are_answered_in_order(guarded, echo):
    with socket.create_connection(address(guarded), timeout=SLACK) as sock:
        sock.sendall(
            head(f"/api/predict/{SERVICE}", 5, TOKEN.encode())
            + b"first"
            + head(f"/api/predict/{SERVICE}", 6)
            + b"second"
            + head("/api/predict/nosuch", 5, TOKEN.encode())
            + b"third"
            + PING
        )
        first, second, third, fourth = answers_of(sock, 4)
        assert first.startswith(b"HTTP/1.1 200") and body_of(first) == b"first"
        assert second.startswith(b"HTTP/1.1 401") and b"missing token" in second
        assert third.startswith(b"HTTP/1.1 404") and b"'nosuch' not found" in third
        assert body_of(fourth) == b"pong"
        ping(sock)  # answered in its turn, with the body dropped: the connection goes on


def test_a_signed_request_is_still_checked_on_its_body(guarded, echo):
    body = b"s" * (DRAIN_MAX + 1000)  # larger than what a refusal would read
    headers = signed_headers(TOKEN, body, SERVICE)
    extra = b"".join(
        b"%s: %s\r\n" % (k.encode(), v.encode())
        for k, v in headers.items()
        if k not in ("Authorization", "Content-Length")
    )
    request = head(f"/api/predict/{SERVICE}", len(body), headers["Authorization"].encode(), extra)
    with socket.create_connection(address(guarded), timeout=SLACK) as sock:
        sock.sendall(request + body)
        answer = answer_of(sock)
        assert answer.startswith(b"HTTP/1.1 200") and body_of(answer) == body
        sock.sendall(request + b"t" * len(body))  # the same signature over another body
        answer = answer_of(sock)
        assert answer.startswith(b"HTTP/1.1 401") and b"wrong token" in answer
        ping(sock)  # refused after its body was read: the connection goes on


# -- D2 (c): the bodies held at once are capped --------------------------------------


def test_bodies_held_at_once_are_capped_and_freed(guarded, echo):
    path = f"/api/predict/{SERVICE}"

    def refused_at_its_head() -> bytes | None:
        """The head of a second body of 800 KB: the kernel's answer, if it gives one at once."""
        with socket.create_connection(address(guarded), timeout=SLACK) as sock:
            sock.sendall(head(path, 800_000, FAKE_SIGNATURE))
            sock.settimeout(0.3)  # not refused: the kernel waits for the body; ask again
            try:
                answer = answer_of(sock)
            except TimeoutError:
                return None
        # While the kernel has read only part of the 900 KB below, the cap on unchecked
        # bodies (a quarter of the buffer, at least --max-body) refuses first; the
        # buffer's own cap is reached once the rest is in: ask again until then
        return None if b"whose EAS signature it can check" in answer else answer

    # 900 KB of a 1 MB body that looks signed: the kernel must keep it to check it
    with socket.create_connection(address(guarded), timeout=SLACK) as holder:
        holder.sendall(head(path, 1_000_000, FAKE_SIGNATURE) + b"h" * 900_000)
        refused = wait_for(refused_at_its_head, what="a second body refused at its head")
        assert refused.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), refused
        assert b"limit of %d bytes" % BUFFER in refused and b"--max-body-buffer" in refused

    def read_and_checked() -> bytes | None:
        with socket.create_connection(address(guarded), timeout=SLACK) as sock:
            sender = sent_in_background(sock, head(path, 800_000, FAKE_SIGNATURE) + b"a" * 800_000)
            answer = answer_of(sock)
            sender.join(SLACK)
        return answer if answer.startswith(b"HTTP/1.1 401") else None

    # the first body went with its connection: the second now fits, and is read (then
    # refused for its signature)
    answer = wait_for(read_and_checked, what="the second body read once the first is gone")
    assert b"wrong token" in answer


@pytest.fixture(scope="module")
def roomy(easlab_home, tmp_path_factory, make_app) -> Iterator[LocalKernel]:
    """A kernel whose buffer holds 8 bodies of --max-body, with the echo service."""
    with LocalKernel(
        port=0,
        state_dir=tmp_path_factory.mktemp("roomy"),
        max_body=MAX_BODY,
        limits=HttpLimits(max_body_buffer=8 * MAX_BODY),
    ) as k:
        svc = k.create(
            {
                "name": SERVICE,
                "processor_type": "python",
                "processor_path": str(make_app(SERVICE + "_roomy", ECHO_APP)),
                "processor_entry": "app.py",
                "token": TOKEN,
                "metadata": {"instance": 1},
            }
        )
        assert svc.status == "Running", svc.desc.get("message")
        yield k


def test_bodies_only_their_body_can_check_hold_a_quarter_of_the_buffer(roomy):
    """False signatures without Content-MD5 cannot take the buffer from callers with the token."""
    path = f"/api/predict/{SERVICE}"
    share = 2 * MAX_BODY  # a quarter of the buffer

    def refused_at_its_head(extra: bytes = b"") -> bytes | None:
        with socket.create_connection(address(roomy), timeout=SLACK) as sock:
            sock.sendall(head(path, 800_000, FAKE_SIGNATURE, extra))
            sock.settimeout(0.3)  # not refused: the kernel waits for the body; ask again
            try:
                return answer_of(sock)
            except TimeoutError:
                return None

    holders = [socket.create_connection(address(roomy), timeout=SLACK) for _ in range(2)]
    try:
        for sock in holders:  # 1.8 MB of bodies only their end can check: within the share
            sock.sendall(head(path, 1_000_000, FAKE_SIGNATURE) + b"h" * 900_000)
        refused = wait_for(refused_at_its_head, what="a third such body refused at its head")
        assert refused.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), refused
        assert b"limit of %d bytes for such bodies" % share in refused, refused
        assert b"send the Content-MD5 header" in refused
        # the same false signature with a Content-MD5 is refused for what it is, at once
        assert (refused_at_its_head(b"Content-MD5: %s\r\n" % (b"0" * 32)) or b"").startswith(
            b"HTTP/1.1 401"
        )
        # callers with the token still get the rest of the buffer: signed, and plain
        body = b"s" * 800_000
        signed = signed_headers(TOKEN, body, SERVICE)
        extra = b"".join(
            b"%s: %s\r\n" % (k.encode(), v.encode())
            for k, v in signed.items()
            if k not in ("Authorization", "Content-Length")
        )
        with socket.create_connection(address(roomy), timeout=SLACK) as sock:
            sock.sendall(head(path, len(body), signed["Authorization"].encode(), extra) + body)
            answer = answer_of(sock)
            assert answer.startswith(b"HTTP/1.1 200") and body_of(answer) == body
            sock.sendall(head(path, len(body), TOKEN.encode()) + body)
            answer = answer_of(sock)
            assert answer.startswith(b"HTTP/1.1 200") and body_of(answer) == body
    finally:
        for sock in holders:
            sock.close()


# -- D2 (b): a closed connection frees its buffers at once ---------------------------


class _Transport:
    """Just enough of an asyncio transport for a connection that is never answered."""

    def get_extra_info(self, name: str) -> None:
        return None

    def write(self, data: bytes) -> None:
        raise AssertionError(f"nothing is answered here, got {data[:80]!r}")


def test_a_closed_connections_body_is_freed_without_the_collector():
    kernel = types.SimpleNamespace(loop=None, queues={}, router=Router(), services={})
    kernel.router.routes["svc"] = Route("svc", TOKEN, [])
    off = HttpLimits(header_timeout=0, body_timeout=0, keepalive_timeout=0, min_body_rate=0)
    app = KernelServer(kernel, ControlGuard("a" * 32), max_body=MAX_BODY, limits=off)
    conn = HttpConnection(app)
    conn.connection_made(_Transport())
    # a body that looks signed: kept while it arrives
    conn.data_received(head("/api/predict/svc", MAX_BODY, FAKE_SIGNATURE) + b"x" * (512 << 10))
    assert app.body_bytes == app.unchecked_bytes == 512 << 10
    gone = weakref.ref(conn)
    gc.disable()  # what matters: freed by reference counting, at once
    try:
        conn.connection_lost(None)
        del conn
        assert gone() is None, "the closed connection (and its body) waits for the collector"
    finally:
        gc.enable()
    assert app.body_bytes == app.unchecked_bytes == 0 and not app.connections


class _LingeringTransport(_Transport):
    """A transport that records the answer and how the connection is closed."""

    def __init__(self) -> None:
        self.sent = b""
        self.eof = self.closed = False

    def write(self, data: bytes) -> None:
        self.sent += data

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


def _full_app() -> KernelServer:
    """A KernelServer at max_connections, with every connection kept for the owner taken."""
    kernel = types.SimpleNamespace(loop=None, queues={}, router=Router(), services={})
    off = HttpLimits(header_timeout=0, body_timeout=0, keepalive_timeout=0, min_body_rate=0)
    app = KernelServer(kernel, ControlGuard("a" * 32), max_body=MAX_BODY, limits=off)
    app.max_connections = 0
    owners = [_Owner() for _ in range(ADMIN_RESERVE)]
    app.connections.update(owners)  # type: ignore[arg-type]
    app.reserve.update(dict.fromkeys(owners))  # type: ignore[arg-type]
    return app


class _Owner:
    """A connection kept for the owner that has shown the admin token."""

    admin = True


@pytest.mark.parametrize(
    "request_parts",
    [
        [b"GET /api/predict/svc HTTP/1.1\r\nHost: x\r\n", b"\r\n"],
        [b"POST /api/predict/svc HTTP/1.1\r\nContent-Length: 10\r\n\r\nabcd", b"efghij"],
    ],
    ids=["no-body", "body-in-two-reads"],
)
def test_a_connection_refused_past_the_cap_goes_once_its_request_is_read(request_parts):
    # it was held for the whole lingering close (2 s) whatever the client did, an open
    # file per refused connection in a flood; now it goes once its request is read (the
    # 503 was written first, and closing with nothing unread sends no reset)
    app = _full_app()

    async def refused() -> _LingeringTransport:
        transport = _LingeringTransport()
        conn = HttpConnection(app)
        conn.connection_made(transport)
        assert transport.sent.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert transport.eof and not transport.closed  # lingering: the request may come
        first, last = request_parts
        conn.data_received(first)
        assert not transport.closed, "closed before the whole request was read"
        conn.data_received(last)
        return transport

    import asyncio

    assert asyncio.run(refused()).closed


def test_a_refused_connection_with_a_chunked_body_is_left_to_the_lingering_close():
    app = _full_app()

    async def refused() -> _LingeringTransport:
        transport = _LingeringTransport()
        conn = HttpConnection(app)
        conn.connection_made(transport)
        conn.data_received(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello")
        return transport

    import asyncio

    assert not asyncio.run(refused()).closed  # its end is unknown: LINGER_S ends it


# -- D3: a body must keep coming; the owner gets in past the cap ---------------------


def test_a_body_sent_a_byte_at_a_time_is_answered_408(tight):
    """One byte every 0.1 s never stalls 2 s (body_timeout), but is far below 4 KB/s."""
    length = 10_000
    with socket.create_connection(address(tight), timeout=SLACK) as sock:
        sock.sendall(head("/api/builtin/ping", length))
        sent = 0
        answer = b""
        deadline = time.monotonic() + SLACK
        sock.settimeout(0.1)  # the pace of the sender
        while time.monotonic() < deadline and sent < length:
            try:
                sock.sendall(b"b")
                sent += 1
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            answer += chunk
        assert answer, f"the slow body was never cut short ({sent} bytes in {SLACK:g} s)"
        answer += until_closed(sock, time.monotonic() + SLACK)
    assert sent < length
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
    assert b"request body too slow" in answer and b"--min-body-rate" in answer


def test_a_body_above_the_minimum_rate_is_served(tight):
    """8 KB every 0.1 s for 3 s, past the first 2: far above 4 KB/s, so it is read to the end."""
    pieces = 30
    with socket.create_connection(address(tight), timeout=SLACK) as sock:
        sock.sendall(head("/api/builtin/ping", pieces * 8192))
        for _ in range(pieces):
            sock.sendall(b"p" * 8192)
            time.sleep(0.1)  # pacing the client, not synchronising
        answer = answer_of(sock)
    assert answer.startswith(b"HTTP/1.1 200") and body_of(answer) == b"pong"


def test_the_owner_gets_in_past_the_connection_cap(tight):
    admin = b"GET /easlab/v1/kernel HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n"

    def served() -> socket.socket | None:
        """A connection the kernel serves (one from an earlier test may still be going)."""
        sock = socket.create_connection(address(tight), timeout=SLACK)
        sock.sendall(PING)
        if answer_of(sock).startswith(b"HTTP/1.1 200"):
            return sock
        sock.close()
        return None

    held: list[socket.socket] = []
    idle: list[socket.socket] = []
    try:
        for _ in range(3):
            held.append(wait_for(served, what="a connection under the cap"))

        def refused_past_the_cap() -> bytes | None:
            with socket.create_connection(address(tight), timeout=SLACK) as extra:
                extra.sendall(PING)
                answer = until_closed(extra, time.monotonic() + SLACK)
            return answer if answer.startswith(b"HTTP/1.1 503") else None

        # connections from earlier tests may still be going away: wait for the cap
        answer = wait_for(refused_past_the_cap, what="a client past the cap refused")
        assert b"holds 3 connections" in answer and b"admin token" in answer
        # a request with the admin token is served there
        with socket.create_connection(address(tight), timeout=SLACK) as owner:
            owner.sendall(admin % tight.admin_token.encode())
            answer = answer_of(owner)
            assert answer.startswith(b"HTTP/1.1 200"), answer
            assert json.loads(body_of(answer))["pid"] == tight.pid
        # even when connections that send nothing fill the ones kept for the owner
        idle = [
            socket.create_connection(address(tight), timeout=SLACK) for _ in range(ADMIN_RESERVE)
        ]
        with socket.create_connection(address(tight), timeout=SLACK) as owner:
            owner.sendall(admin % tight.admin_token.encode())
            assert answer_of(owner).startswith(b"HTTP/1.1 200")
        # the oldest of them made room, with the answer it would have had anyway
        answer = until_closed(idle[0], time.monotonic() + SLACK)
        assert answer.startswith(b"HTTP/1.1 503") and b"holds 3 connections" in answer
        for sock in held:
            ping(sock)  # the others were served all along
    finally:
        for sock in held + idle:
            sock.close()


def test_the_new_limits_are_flags_of_easlab_serve():
    args = build_parser().parse_args(
        ["serve", "--max-body-buffer", "1000000", "--min-body-rate", "0"]
    )
    assert HttpLimits.from_args(args) == HttpLimits(max_body_buffer=1_000_000, min_body_rate=0)
    assert HttpLimits(min_body_rate=0, header_timeout=0, body_timeout=0, keepalive_timeout=0)
    assert (
        HttpLimits(header_timeout=0, body_timeout=0, keepalive_timeout=0).sweep_interval == 1.0
    )  # the rate is still checked
