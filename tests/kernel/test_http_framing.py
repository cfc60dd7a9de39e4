"""HTTP/1.1 framing over real loopback sockets: repeated headers, versions other than 1.1,
100 Continue in a pipeline, trailers, and what llhttp refuses, each answered with what
was wrong and what to send instead."""

from __future__ import annotations

import socket
import time

import pytest
from kernel_helpers import ECHO_APP
from test_http_limits import SLOW_APP, address, until_closed
from test_http_preauth import body_of, sent_in_background

from easlab._auth import signed_headers

TOKEN = "tok-" + "x" * 8  # python_service's token
ECHO = "/api/predict/framing_echo"
SLACK = 10.0  # deadlines, generous for a busy machine


@pytest.fixture(scope="module")
def echo(python_service):
    svc = python_service("framing_echo", ECHO_APP)
    assert svc.status == "Running", svc.desc.get("message")
    return svc


@pytest.fixture(scope="module")
def slow(python_service):
    """Sleeps as many seconds as its body says, then answers "slept <body>"."""
    svc = python_service("framing_slow", SLOW_APP)
    assert svc.status == "Running", svc.desc.get("message")
    return svc


def exchange(kernel, data: bytes) -> bytes:
    """Send ``data`` and return all the kernel writes until it closes the connection."""
    with socket.create_connection(address(kernel), timeout=SLACK) as sock:
        sock.sendall(data)
        return until_closed(sock, time.monotonic() + SLACK)


def post(headers: bytes, body: bytes = b"hello", path: str = ECHO) -> bytes:
    """A POST of ``body`` with ``headers`` (CRLF-ended lines) after the request line."""
    return b"POST %s HTTP/1.1\r\n%s\r\n%s" % (path.encode(), headers, body)


AUTH = b"Authorization: %s\r\n" % TOKEN.encode()
HOST = b"Host: x\r\n"


# -- repeated headers ----------------------------------------------------------------


@pytest.mark.parametrize(
    "headers, name",
    [
        (b"Host: 127.0.0.1\r\nHost: evil.example\r\n" + AUTH + b"Content-Length: 5\r\n", b"Host"),
        (b"Host: x\r\nHost: x\r\n" + AUTH + b"Content-Length: 5\r\n", b"Host"),
        (
            b"Host: x\r\nAuthorization: wrong\r\n" + AUTH + b"Content-Length: 5\r\n",
            b"Authorization",
        ),
        (b"Host: x\r\n" + AUTH + b"Content-Length: 5\r\nContent-Length: 6\r\n", b"Content-Length"),
        (b"Host: x\r\n" + AUTH + b"Content-Length: 5\r\nContent-Length: 5\r\n", b"Content-Length"),
    ],
    ids=["two-hosts", "same-host-twice", "two-authorizations", "two-lengths", "same-length-twice"],
)
def test_a_repeated_single_header_is_400_saying_send_it_once(kernel, echo, headers, name):
    # Two Host or Authorization lines were read as their last one (a proxy before the
    # kernel may read the first); two Content-Lengths were 400 "malformed HTTP request:
    # Duplicate Content-Length", which said nothing of what to send
    answer = exchange(kernel, post(headers))
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
    assert b"Connection: close\r\n" in answer
    assert b"the %s header came more than once: send it once" % name in body_of(answer), answer


@pytest.mark.parametrize(
    "headers",
    [
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    ],
    ids=["length-first", "chunked-first"],
)
def test_content_length_with_transfer_encoding_is_400_saying_send_one(kernel, echo, headers):
    # llhttp refused it already (request smuggling), with "malformed HTTP request:
    # Transfer-Encoding can't be present with Content-Length"
    answer = exchange(kernel, post(b"Host: x\r\n" + AUTH + headers, b"5\r\nhello\r\n0\r\n\r\n"))
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
    assert b"both Content-Length and Transfer-Encoding" in answer, answer
    assert b"send one of them" in answer


def test_a_coding_before_chunked_on_its_own_line_is_501(kernel, echo):
    # "Transfer-Encoding: gzip, chunked" is 501, but the same on two lines was read as
    # its last line: chunked, and the still-gzipped bytes reached the model as the body
    answer = exchange(
        kernel,
        post(
            b"Host: x\r\n" + AUTH + b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
            b"5\r\nhello\r\n0\r\n\r\n",
        ),
    )
    assert answer.startswith(b"HTTP/1.1 501 Not Implemented\r\n"), answer
    assert b"Transfer-Encoding 'gzip, chunked' is not supported" in answer, answer


def test_a_repeated_header_behind_a_good_request_is_answered_in_its_turn(kernel, echo):
    good = post(b"Host: x\r\n" + AUTH + b"Content-Length: 5\r\n", b"first")
    bad = post(b"Host: x\r\nHost: y\r\n" + AUTH + b"Content-Length: 5\r\n")
    answer = exchange(kernel, good + bad + good)
    first, _, rest = answer.partition(b"\r\n\r\nfirst")
    assert first.startswith(b"HTTP/1.1 200 OK\r\n"), answer
    assert rest.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
    assert b"the Host header came more than once" in rest and b"first" not in rest


def test_an_http_1_1_request_without_host_is_400_and_a_1_0_one_is_served(kernel):
    # RFC 9112 3.2: an HTTP/1.1 request without Host is a 400 (as nginx, before EAS's
    # services, answers it); the kernel served it. HTTP/1.0 has no Host of its own.
    answer = exchange(kernel, post(AUTH + b"Content-Length: 5\r\n"))
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
    assert b"the request has no Host header: HTTP/1.1 requires one" in answer
    assert body_of(exchange(kernel, b"GET /api/builtin/ping HTTP/1.0\r\n\r\n")) == b"pong"
    # the absolute form's authority is its host (RFC 9112 3.2.2)
    absolute = b"GET http://127.0.0.1/api/builtin/ping HTTP/1.1\r\nConnection: close\r\n\r\n"
    assert body_of(exchange(kernel, absolute)) == b"pong"


# -- versions other than HTTP/1.1 and 1.0 ------------------------------------------------


@pytest.mark.parametrize("version", [b"2.0", b"3.0", b"0.9", b"1.2", b"3"])
def test_a_request_line_of_another_version_is_505_as_the_http2_preface(kernel, version):
    # "GET / HTTP/2.0" typed as text was answered as if it were 1.1, "HTTP/3.0" was 400
    # "malformed HTTP request: Invalid HTTP version"; HTTP/2's binary preface was 505 already
    answer = exchange(kernel, b"GET /api/builtin/ping HTTP/%s\r\nHost: x\r\n\r\n" % version)
    assert answer.startswith(b"HTTP/1.1 505 HTTP Version Not Supported\r\n"), answer
    shown = version if b"." in version else version + b".0"  # llhttp reads "3" as 3.0
    assert body_of(answer) == (
        b"this kernel speaks HTTP/1.1 only; HTTP/%s is not served: send HTTP/1.1 requests "
        b"(a request line ending in HTTP/1.1)" % shown
    )
    preface = exchange(kernel, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    assert body_of(preface).startswith(b"this kernel speaks HTTP/1.1 only; HTTP/2 ")


def test_http_2_behind_a_good_request_is_answered_in_its_turn(kernel, echo):
    good = post(b"Host: x\r\n" + AUTH + b"Content-Length: 5\r\n", b"first")
    answer = exchange(
        kernel,
        good
        + b"POST %s HTTP/2.0\r\nHost: x\r\n%sContent-Length: 5\r\n\r\nhello"
        % (ECHO.encode(), AUTH),
    )
    first, _, rest = answer.partition(b"\r\n\r\nfirst")
    assert first.startswith(b"HTTP/1.1 200 OK\r\n"), answer
    assert rest.startswith(b"HTTP/1.1 505 HTTP Version Not Supported\r\n"), answer
    assert b"Connection: close\r\n" in rest and b"hello" not in rest


# -- 100 Continue in a pipeline ----------------------------------------------------------

SLOW = "/api/predict/framing_slow"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def test_100_continue_waits_for_the_answers_before_it(kernel, slow):
    # The 100 went out as soon as the second request's head was read, before the first
    # request's answer: a client reading answers in order took it for the first one's
    first = post(HOST + AUTH + b"Content-Length: 3\r\n", b"0.5", SLOW)
    second = post(
        HOST + AUTH + b"Expect: 100-continue\r\nContent-Length: 1\r\nConnection: close\r\n",
        b"",
        SLOW,
    )
    with socket.create_connection(address(kernel), timeout=SLACK) as sock:
        sock.sendall(first + second)  # the second's body waits for its 100
        data = b""
        while CONTINUE not in data:
            chunk = sock.recv(65536)
            assert chunk, f"closed after {data!r}"
            data += chunk
        assert data.startswith(b"HTTP/1.1 200 OK\r\n"), data
        assert data.endswith(b"\r\n\r\nslept 0.5" + CONTINUE), data
        sock.sendall(b"0")
        answer = until_closed(sock, time.monotonic() + SLACK)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and body_of(answer) == b"slept 0", answer


def test_no_100_continue_once_the_body_has_come(kernel, slow):
    first = post(HOST + AUTH + b"Content-Length: 3\r\n", b"0.5", SLOW)
    second = post(
        HOST + AUTH + b"Expect: 100-continue\r\nContent-Length: 1\r\nConnection: close\r\n",
        b"0",
        SLOW,
    )
    answers = exchange(kernel, first + second)
    assert CONTINUE not in answers, answers
    one, _, two = answers.partition(b"slept 0.5")
    assert one.startswith(b"HTTP/1.1 200 OK\r\n") and two.startswith(b"HTTP/1.1 200 OK\r\n")
    assert two.endswith(b"\r\n\r\nslept 0"), answers


# -- trailers ------------------------------------------------------------------------


def _signed_without_content_type(body: bytes) -> bytes:
    """An EAS signature's headers for ``body``, signed for the default Content-Type, not sent."""
    signed = signed_headers(TOKEN, body, "framing_echo")
    return b"".join(
        b"%s: %s\r\n" % (k.encode(), v.encode())
        for k, v in signed.items()
        if k not in ("Content-Type", "Content-Length")
    )


@pytest.mark.parametrize(
    "head, trailers",
    [
        (AUTH, b"Authorization: wrong\r\nHost: y\r\n"),
        (_signed_without_content_type(b"hello"), b"Content-Type: text/plain\r\n"),
    ],
    ids=["replacing-a-header", "one-the-head-lacks"],
)
def test_a_trailer_never_stands_for_a_header(kernel, echo, head, trailers):
    # Trailer fields were stored with the headers: "Authorization: wrong" after the body
    # replaced the token its head had shown, a Content-Type the head lacked changed what
    # the signature was checked against (401 both)
    answer = exchange(
        kernel,
        post(
            b"Host: x\r\n" + head + b"Transfer-Encoding: chunked\r\nConnection: close\r\n",
            b"5\r\nhello\r\n0\r\n" + trailers + b"X-Checksum: 1\r\n\r\n",
        ),
    )
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and body_of(answer) == b"hello", answer


@pytest.mark.parametrize(
    "framing",
    [b"5\r\nhello\r\n0\r\nX-Trailer: " + b"t" * (1 << 20), b"5;" + b"e" * (1 << 20)],
    ids=["trailer", "chunk-extension"],
)
def test_chunk_framing_past_the_head_limit_is_431(kernel, echo, framing):
    # httptools keeps an unfinished trailer itself and copies it at every read: a 100 MB
    # one held 166 MB and stalled the kernel's loop for seconds, until --body-timeout
    head = b"Host: x\r\n" + AUTH + b"Transfer-Encoding: chunked\r\n"
    with socket.create_connection(address(kernel), timeout=SLACK) as sock:
        sender = sent_in_background(sock, post(head, framing))
        answer = until_closed(sock, time.monotonic() + SLACK)
        sender.join(SLACK)
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer
    assert b"chunk extensions or trailer fields" in answer and b"--max-header-size" in answer


# -- what llhttp refuses says what to send ------------------------------------------------

PING_LINE = b"GET /api/builtin/ping HTTP/1.1\r\n"


@pytest.mark.parametrize(
    "request_bytes, says",
    [
        (PING_LINE + b"Host: x\r\nX-A: a\r\n b\r\n\r\n", b"(obs-fold) is not accepted"),
        (PING_LINE + b"Host : x\r\n\r\n", b"such as a space before its colon"),
        (PING_LINE + b"Host: x\r\nX-A\t: a\r\n\r\n", b"such as a space before its colon"),
        (b"GET /api/builtin/ping HTTP/1.1\nHost: x\n\n", b"not a bare LF or CR"),
        (PING_LINE + b"Host: x\nX-A: a\r\n\r\n", b"not a bare LF or CR"),
        (PING_LINE + b"Host: x\r\nX-A: a\x01b\r\n\r\n", b"holds a control character"),
        (b"GET /api/builtin/ping me HTTP/1.1\r\nHost: x\r\n\r\n", b"percent-encode it as %20"),
        (b"GET /api/\x01ping HTTP/1.1\r\nHost: x\r\n\r\n", b"percent-encode spaces, control"),
        (b"GET /api/builtin/ping HTTP/1.x\r\nHost: x\r\n\r\n", b"a version other than HTTP/1.1"),
        (post(b"Host: x\r\nContent-Length: 5x\r\n"), b"in decimal digits"),
        (post(b"Host: x\r\nTransfer-Encoding: chunked\r\n", b"zz\r\nhello\r\n0\r\n\r\n"), b"hex"),
        (post(b"Host: x\r\nTransfer-Encoding: chunked, gzip\r\n"), b"name chunked once, and last"),
        (b"\x00garbage\r\n\r\n", b"send HTTP/1.1: a request line (METHOD /path HTTP/1.1)"),
    ],
    ids=[
        "obs-fold",
        "space-before-colon",
        "tab-before-colon",
        "bare-lf",
        "bare-lf-in-headers",
        "control-in-value",
        "space-in-target",
        "control-in-target",
        "bad-version",
        "bad-length",
        "bad-chunk-size",
        "chunked-not-last",
        "garbage",
    ],
)
def test_a_request_llhttp_refuses_is_400_saying_what_to_send(kernel, echo, request_bytes, says):
    # These were 400 "malformed HTTP request: Invalid header token" (llhttp's words alone)
    answer = exchange(kernel, request_bytes)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
    assert says in body_of(answer), answer


def test_transfer_encoding_in_http_1_0_is_400(kernel, echo):
    # RFC 9112 6.1: faulty framing; it was served (chunks read as in 1.1)
    answer = exchange(
        kernel,
        b"POST %s HTTP/1.0\r\n%sTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        % (ECHO.encode(), AUTH),
    )
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
    assert b"HTTP/1.0 has no chunked bodies" in answer and b"send HTTP/1.1" in answer


# -- Upgrade, ignored ----------------------------------------------------------------

H2C = b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"


def test_an_ignored_upgrade_is_answered_once_and_the_connection_goes_on(kernel):
    # What curl --http2 sends to an http:// URL: its answer was followed by an unasked-for
    # 400 "protocol upgrades (websocket) are not served here" (read as the next answer)
    ping = PING_LINE + b"Host: x\r\n"
    answer = exchange(
        kernel,
        ping
        + H2C
        + b"\r\n"
        + ping
        + b"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        + ping
        + b"Connection: close\r\n\r\n",
    )
    assert answer.count(b"HTTP/1.1 200 OK\r\n") == 3 and answer.count(b"pong") == 3, answer
    assert b"400" not in answer


@pytest.mark.parametrize(
    "framing, body",
    [
        (b"Content-Length: 5\r\n", b"hello"),
        (b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n"),
    ],
    ids=["length", "chunked"],
)
def test_the_body_of_an_upgrade_request_reaches_the_model(kernel, echo, framing, body):
    # httptools reads no body after an Upgrade head: curl --http2 -d hello (or a Java
    # RestClient, chunked) had the model process an empty body
    answer = exchange(
        kernel,
        post(b"Host: x\r\n" + AUTH + H2C + framing, body)
        + post(b"Host: x\r\n" + AUTH + b"Content-Length: 6\r\nConnection: close\r\n", b"second"),
    )
    first, _, second = answer.partition(b"\r\n\r\nhello")
    assert first.startswith(b"HTTP/1.1 200 OK\r\n"), answer
    assert second.startswith(b"HTTP/1.1 200 OK\r\n") and second.endswith(b"\r\n\r\nsecond"), answer
