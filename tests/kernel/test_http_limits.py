"""HTTP limits over real loopback sockets (issue 17): stalled and idle connections are
closed, oversized heads are refused as they arrive, the connection cap answers 503,
and none of it stalls other clients or times out a request at a slow model."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from kernel_helpers import wait_for

from easlab.cli import build_parser
from easlab.client.local import LocalKernel
from easlab.kernel.limits import HttpLimits

TOKEN = "limits-token"
T = 1.0  # every timeout of the limited kernel, in seconds
LIMITS = HttpLimits(
    header_timeout=T,
    body_timeout=T,
    keepalive_timeout=T,
    max_url_size=1024,
    max_header_size=4096,
    max_headers=20,
    max_connections=500,
)
SLACK = 10.0  # generous: the machine may be busy; the limits are what is tested
PING = b"GET /api/builtin/ping HTTP/1.1\r\nHost: x\r\n\r\n"

SLOW_APP = """
import time
import allspark

class Slow(allspark.BaseProcessor):
    def initialize(self):
        pass

    def process(self, data):
        time.sleep(float(data))
        return b"slept " + data, 200
"""


def python_spec(name: str, folder: Path) -> dict:
    return {
        "name": name,
        "processor_type": "python",
        "processor_path": str(folder),
        "processor_entry": "app.py",
        "token": TOKEN,
        "metadata": {"instance": 1},
    }


@pytest.fixture(scope="module")
def limited(easlab_home, tmp_path_factory) -> Iterator[LocalKernel]:
    """A kernel whose timeouts are all 1 s and whose head limits are small."""
    with LocalKernel(port=0, state_dir=tmp_path_factory.mktemp("limited"), limits=LIMITS) as k:
        yield k


@pytest.fixture(scope="module")
def slow(limited, make_app):
    svc = limited.create(python_spec("limits_slow", make_app("limits_slow", SLOW_APP)))
    assert svc.status == "Running", svc.desc.get("message")
    return svc


def address(kernel: LocalKernel) -> tuple[str, int]:
    host, port = kernel.endpoint.replace("http://", "").rsplit(":", 1)
    return host, int(port)


def answer_of(sock: socket.socket) -> bytes:
    """One whole answer (head and Content-Length body) read from a keep-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        body += chunk
    return head + b"\r\n\r\n" + body


def ping(sock: socket.socket) -> bytes:
    sock.sendall(PING)
    answer = answer_of(sock)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"pong"), answer
    return answer


def until_closed(sock: socket.socket, deadline: float) -> bytes:
    """Everything the kernel sends until it closes the connection (fails at the deadline)."""
    data = b""
    while True:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        except TimeoutError:
            raise AssertionError(f"still open at the deadline; got {data!r}") from None
        if not chunk:
            return data
        data += chunk


class Pinger:
    """Another client at work meanwhile: pings on its own keep-alive connection, timing each."""

    def __init__(self, kernel: LocalKernel) -> None:
        self.sock = socket.create_connection(address(kernel), timeout=30)
        self.times: list[float] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                start = time.monotonic()
                ping(self.sock)
                self.times.append(time.monotonic() - start)
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def __enter__(self) -> Pinger:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        self.sock.close()
        if self.error is not None:
            raise AssertionError(f"the other client failed: {self.error!r}")


def test_stalled_clients_are_closed_while_others_are_served(limited):
    stalled: list[tuple[socket.socket, float]] = []
    try:
        for _ in range(300):
            sock = socket.create_connection(address(limited), timeout=10)
            sock.sendall(b"GET /api/builtin/pi")  # half a request line, then nothing
            stalled.append((sock, time.monotonic()))
        # While they stall, another client gets its answers.
        with Pinger(limited) as other:
            wait_for(lambda: len(other.times) >= 20, what="20 answers to the other client")
        assert max(other.times) < 2.0
        deadline = time.monotonic() + T + SLACK
        for sock, connected in stalled:
            answer = until_closed(sock, deadline)
            assert time.monotonic() - connected >= T  # not before its time
            assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
            assert b"--header-timeout" in answer
    finally:
        for sock, _ in stalled:
            sock.close()
    with socket.create_connection(address(limited), timeout=10) as sock:
        ping(sock)


def test_a_silent_connection_is_closed_without_an_answer(limited):
    with socket.create_connection(address(limited), timeout=10) as sock:
        connected = time.monotonic()
        assert until_closed(sock, connected + T + SLACK) == b""
        assert time.monotonic() - connected >= 0.9 * T


def test_a_stalled_body_is_answered_408(limited):
    # a path whose body is read: a missing service is answered from the head alone
    # (test_http_preauth.py), before any body
    with socket.create_connection(address(limited), timeout=10) as sock:
        sock.sendall(
            b"POST /api/builtin/ping HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123"
        )
        answer = until_closed(sock, time.monotonic() + T + SLACK)
    assert answer.startswith(b"HTTP/1.1 408") and b"--body-timeout" in answer


def test_idle_keep_alive_is_closed_but_a_busy_one_is_not(limited):
    with socket.create_connection(address(limited), timeout=10) as sock:
        # Requests 0.3 s apart for 2 s, past the 1 s idle timeout: the connection is
        # never idle that long, so it stays open (pacing the client, not synchronising).
        for _ in range(7):
            ping(sock)
            time.sleep(0.3)
        ping(sock)
        answered = time.monotonic()
        assert until_closed(sock, answered + T + SLACK) == b""  # closed quietly
        assert time.monotonic() - answered >= 0.9 * T


def test_a_request_at_a_slow_model_is_not_timed_out(limited, slow):
    """The model takes 2.5 s, past every 1 s timeout: the connection waits for it."""
    body = b"2.5"
    request = (
        b"POST /api/predict/limits_slow HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (TOKEN.encode(), len(body), body)
    )
    with socket.create_connection(address(limited), timeout=30) as sock:
        start = time.monotonic()
        sock.sendall(request)
        answer = answer_of(sock)
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"slept 2.5")
        assert time.monotonic() - start >= 2.5
        ping(sock)  # still the same open connection


def refused(kernel: LocalKernel, data: bytes) -> bytes:
    """Send ``data`` from a thread while reading what the kernel answers, until it closes."""
    sock = socket.create_connection(address(kernel), timeout=30)

    def send() -> None:
        try:
            view = memoryview(data)
            for i in range(0, len(view), 1 << 20):
                sock.sendall(view[i : i + (1 << 20)])
        except OSError:  # the kernel refused and closed: expected
            pass

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        return until_closed(sock, time.monotonic() + SLACK)
    finally:
        sender.join(SLACK)
        sock.close()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_oversized_heads_are_refused_as_they_arrive(limited):
    with Pinger(limited) as other:
        answer = refused(limited, b"GET /" + b"u" * 65536 + b" HTTP/1.1\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 414 URI Too Long\r\n"), answer[:200]
        assert b"limit of 1024 bytes" in answer and b"--max-url-size" in answer

        answer = refused(limited, b"GET / HTTP/1.1\r\nX-Big: " + b"h" * (1 << 20) + b"\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
        assert b"limit of 4096 bytes" in answer and b"--max-header-size" in answer

        many = b"".join(b"X-%d: 1\r\n" % i for i in range(10_000))
        answer = refused(limited, b"GET / HTTP/1.1\r\n" + many + b"\r\n")
        assert answer.startswith(b"HTTP/1.1 431") and b"--max-headers" in answer

        # 64 MB in one header is refused after the limit, not held: the kernel's
        # memory barely moves (before: about twice the header).
        before = rss_kb(limited.pid) if sys.platform.startswith("linux") else 0
        answer = refused(limited, b"GET / HTTP/1.1\r\nX-Huge: " + b"h" * (64 << 20) + b"\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 431") and b"--max-header-size" in answer
        if before:
            assert rss_kb(limited.pid) - before < 32 * 1024
        wait_for(lambda: len(other.times) >= 5, what="answers to the other client")
    assert max(other.times) < 2.0  # the other client was never held up for long


@pytest.mark.parametrize(
    "head",
    [
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"Content-Length: -1\r\n\r\n",
        b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    ],
    ids=["length-and-chunked", "negative-length", "two-lengths", "bad-chunk-size"],
)
def test_ambiguous_framing_is_still_400(limited, head):
    answer = refused(limited, b"POST /api/predict/x HTTP/1.1\r\nHost: x\r\n" + head)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer


def test_connections_past_the_cap_get_503(easlab_home, tmp_path):
    with LocalKernel(port=0, state_dir=tmp_path, limits=HttpLimits(max_connections=3)) as k:
        held = [socket.create_connection(address(k), timeout=10) for _ in range(3)]
        try:
            for sock in held:
                ping(sock)  # accepted and counted
            with socket.create_connection(address(k), timeout=10) as extra:
                extra.sendall(PING)
                answer = until_closed(extra, time.monotonic() + SLACK)
            assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), answer
            assert b"holds 3 connections" in answer and b"--max-connections" in answer
            held.pop().close()

            def served() -> bool:
                with socket.create_connection(address(k), timeout=10) as sock:
                    sock.sendall(PING)
                    return answer_of(sock).startswith(b"HTTP/1.1 200")

            wait_for(served, what="a connection once one was closed")
            for sock in held:
                ping(sock)
        finally:
            for sock in held:
                sock.close()


def test_limits_are_flags_of_easlab_serve():
    args = build_parser().parse_args(["serve", "--header-timeout", "5", "--max-headers", "50"])
    assert HttpLimits.from_args(args) == HttpLimits(header_timeout=5, max_headers=50)
    assert HttpLimits.from_args(build_parser().parse_args(["serve"])) == HttpLimits()
    # LocalKernel hands its limits to `python -m easlab.kernel` as the same flags
    args = build_parser().parse_args(["serve", *LIMITS.to_args()])
    assert HttpLimits.from_args(args) == LIMITS
    with pytest.raises(ValueError, match="max_headers must be a whole number >= 0"):
        HttpLimits(max_headers=-1)
    assert HttpLimits(max_connections=0).cap("max_connections") == sys.maxsize  # 0: off


@pytest.mark.parametrize("version", ["1.1", "1.0"])
def test_expect_100_continue_is_answered_to_http_1_1_only(limited, slow, version):
    # RFC 9110 §10.1.1: a server must not send a 100 (Continue) to an HTTP/1.0 client;
    # the kernel sent one to every client that asked
    with socket.create_connection(address(limited), timeout=SLACK) as sock:
        sock.sendall(
            f"POST /api/predict/limits_slow HTTP/{version}\r\nHost: x\r\n"
            f"Authorization: {TOKEN}\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n".encode()
        )
        sock.settimeout(0.3)
        try:
            interim = sock.recv(65536)
        except TimeoutError:
            interim = b""
        sock.settimeout(SLACK)
        assert interim == (b"HTTP/1.1 100 Continue\r\n\r\n" if version == "1.1" else b"")
        sock.sendall(b"0")
        answer = answer_of(sock)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"slept 0"), answer


BIG_APP = """
import allspark

class Big(allspark.BaseProcessor):
    def initialize(self):
        pass

    def process(self, data):
        if data == b"big":
            return b"x" * (8 * 1024 * 1024), 200
        return data, 200
"""


def big_calls(kernel: LocalKernel) -> int:
    url = kernel.endpoint + "/api/builtin/monitor"
    return requests.get(url, timeout=SLACK).json()["limits_big"]["requests"]


def test_a_client_that_reads_no_answers_stops_its_pipeline(limited, make_app):
    # A client pipelined requests for 8 MB answers and read none: the kernel answered
    # them all into its write buffer (60 such requests: +500 MB, unbounded), and
    # served the next one as soon as one was written. Now the pipeline waits for the
    # client to read (pause_writing): it holds about one answer, not all of them.
    svc = limited.create(python_spec("limits_big", make_app("limits_big", BIG_APP)))
    assert svc.status == "Running", svc.desc.get("message")
    one = (
        b"POST /api/predict/limits_big HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
        b"Content-Length: 3\r\n\r\nbig" % TOKEN.encode()
    )
    hog = socket.socket()
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.settimeout(SLACK)
    with hog:
        hog.connect(address(limited))
        hog.sendall(one * 12)
        wait_for(lambda: big_calls(limited) >= 1, what="the first big answer")
        # Another client's calls to the same one instance: each waits its turn behind
        # what the hog's pipeline has submitted, so the hog had a dozen turns meanwhile.
        with socket.create_connection(address(limited), timeout=SLACK) as other:
            for i in range(12):
                body = b"%d" % i
                other.sendall(
                    b"POST /api/predict/limits_big HTTP/1.1\r\nHost: x\r\nAuthorization: %s"
                    b"\r\nContent-Length: %d\r\n\r\n%s" % (TOKEN.encode(), len(body), body)
                )
                assert answer_of(other).endswith(b"\r\n\r\n" + body)
        assert big_calls(limited) - 12 <= 3  # the hog's answers: what its buffers hold


def test_connections_past_the_open_file_limit_get_503_not_a_silent_close(easlab_home, tmp_path):
    # A kernel whose hard open-file limit (ulimit -n, a container's) is below
    # --max-connections: past it accept() failed, and each further client's connection
    # was closed with no answer at all (libuv's EMFILE trick), where --max-connections
    # promises a 503 saying what to do. Now the cap comes down to fit the limit: every
    # client is answered, the served ones or the 503 naming the open-file limit.
    import resource
    import subprocess

    files = 128

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))

    kernel = subprocess.Popen(
        [sys.executable, "-m", "easlab.kernel", "--port", "0", "--state-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=low_limit,
        text=True,
    )
    try:
        said = []
        assert kernel.stdout is not None
        while not said or "listening on" not in said[-1]:
            line = kernel.stdout.readline()
            assert line, "".join(said)
            said.append(line)
        assert f"the open-file limit is {files}" in "".join(said), said
        where = ("127.0.0.1", int(said[-1].strip().rsplit(":", 1)[1]))
        held: list[socket.socket] = []
        answers = {"200": 0, "503": 0, "none": 0}
        answer = b""
        try:
            for _ in range(files + 30):
                sock = socket.create_connection(where, timeout=SLACK)
                sock.sendall(PING)
                data = b""
                while not data.endswith(b"pong"):
                    try:
                        chunk = sock.recv(65536)
                    except ConnectionResetError:
                        chunk = b""
                    if not chunk:
                        break
                    data += chunk
                if data.startswith(b"HTTP/1.1 200"):
                    answers["200"] += 1
                    held.append(sock)
                    continue
                if data.startswith(b"HTTP/1.1 503"):
                    answers["503"] += 1
                    answer = data
                else:
                    answers["none"] += 1
                sock.close()
            assert answers["none"] == 0 and answers["503"] >= 30, answers
            assert f"open-file limit of {files} (ulimit -n)".encode() in answer, answer
            for sock in held:  # the connections it took are still served
                ping(sock)
        finally:
            for sock in held:
                sock.close()
        assert kernel.poll() is None
    finally:
        kernel.terminate()
        kernel.wait(30)
