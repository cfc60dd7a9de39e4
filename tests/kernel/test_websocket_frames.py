"""Client websocket frames: unmasked as one int XOR, capped in size (audit E, defect 4),
and flow control: a client that reads nothing holds a bounded part of the kernel.

A client's data frames are ignored by the watch; a large one used to be buffered
and unmasked byte by byte on the kernel's event loop, stalling every other caller.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from kernel_helpers import wait_for

from easlab.client.local import LocalKernel
from easlab.kernel.limits import HttpLimits
from easlab.kernel.websocket import MAX_CLIENT_MESSAGE, MAX_CONTROL_FRAME, WebSocket, unmask

TOKEN = "wsframes-" + "k" * 8
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def _reference(mask: bytes, payload: bytes) -> bytes:
    return bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 125, 126, 4097, 65535, 65536])
def test_unmask_is_the_rfc_xor(n):
    mask, payload = os.urandom(4), os.urandom(n)
    assert unmask(mask, payload) == _reference(mask, payload)
    assert unmask(bytearray(mask), bytearray(payload)) == _reference(mask, payload)
    assert unmask(mask, b"\x00" * n) == (mask * n)[:n]  # leading zero bytes are kept


def _client_frame(
    opcode: int,
    payload: bytes,
    length: int | None = None,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
) -> bytes:
    """A masked, final client frame; ``length`` claims another size (header only),
    ``fin=False`` makes it a fragment, ``rsv`` sets reserved bits (0x40, 0x20, 0x10)."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | rsv | opcode
    m = 0x80 if masked else 0
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + _reference(mask, payload)


def _read_frame(sock: socket.socket) -> tuple[int, bytes]:
    def exactly(n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = sock.recv(n - len(out))
            if not chunk:
                raise AssertionError("connection closed without a close frame")
            out += chunk
        return out

    b0, b1 = exactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", exactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", exactly(8))
    return b0 & 0x0F, exactly(n)


def _watches(kernel: LocalKernel, name: str) -> Iterator[Callable[..., socket.socket]]:
    """Raw websocket watches on a fresh queue service ``name``; deleted at the end."""
    spec = {"name": name, "token": TOKEN, "metadata": {"type": "Queue"}}
    kernel.client._call("POST", "/services", {"spec": spec})
    host, port = kernel.endpoint.split("//")[1].rsplit(":", 1)
    socks: list[socket.socket] = []

    def connect(uid: str = "u", query: str = "_window_=1", rcvbuf: int = 0) -> socket.socket:
        sock = socket.socket()
        if rcvbuf:  # before connecting: it sets the window the kernel may fill
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(20)
        sock.connect((host, int(port)))
        socks.append(sock)
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                f"GET /api/predict/{name}?_watch_=true&_index_=0&{query} HTTP/1.1\r\n"
                f"Host: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Authorization: {TOKEN}\r\nX-EAS-QueueService-Redis-Uid: {uid}\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        return sock

    yield connect
    for sock in socks:
        sock.close()
    kernel.client._call("DELETE", f"/services/{name}")


@pytest.fixture
def watch(kernel):
    """Raw websocket watches (``watch(uid)``) on a fresh queue service of the session kernel."""
    yield from _watches(kernel, "ws_frames")


def test_pings_of_any_size_up_to_125_come_back_unmasked(watch):
    sock = watch()
    for n in (0, 1, 5, 64, MAX_CONTROL_FRAME):
        payload = os.urandom(n)
        sock.sendall(_client_frame(OP_PING, payload))
        assert _read_frame(sock) == (OP_PONG, payload)
    # a data frame up to the cap is taken (and ignored): the connection carries on
    sock.sendall(_client_frame(OP_BINARY, os.urandom(MAX_CLIENT_MESSAGE)))
    sock.sendall(_client_frame(OP_PING, b"still here"))
    assert _read_frame(sock) == (OP_PONG, b"still here")


# -- RFC 6455 conformance: a client that breaks the protocol is closed with the code
#    that says how (7.4.1) and a reason naming what was wrong; its neighbours carry on


def _closed_with(sock: socket.socket) -> tuple[int, str]:
    """The kernel's close frame (pongs before it skipped): its code and reason; then the
    connection must end."""
    while True:
        opcode, payload = _read_frame(sock)
        if opcode == OP_CLOSE:
            break
        assert opcode == OP_PONG, (opcode, payload)
    assert len(payload) >= 2, payload
    assert sock.recv(1) == b""
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode()


def _still_open(sock: socket.socket) -> None:
    sock.sendall(_client_frame(OP_PING, b"alive?"))
    assert _read_frame(sock) == (OP_PONG, b"alive?")


BAD_FRAMES = {
    "unmasked": (_client_frame(OP_BINARY, b"x", masked=False), 1002, "masked"),
    "rsv1": (_client_frame(OP_BINARY, b"x", rsv=0x40), 1002, "reserved bit"),
    "rsv2": (_client_frame(OP_TEXT, b"x", rsv=0x20), 1002, "reserved bit"),
    "rsv3": (_client_frame(OP_PING, b"x", rsv=0x10), 1002, "reserved bit"),
    **{f"opcode-{op:#x}": (_client_frame(op, b"x"), 1002, "opcode") for op in (0x3, 0x7, 0xB, 0xF)},
    "ping-above-125": (_client_frame(OP_PING, b"p" * 126), 1002, "125"),
    "fragmented-ping": (_client_frame(OP_PING, b"p", fin=False), 1002, "fragment"),
    "continuation-first": (_client_frame(OP_CONT, b"x"), 1002, "continuation"),
    "new-message-inside-one": (
        _client_frame(OP_TEXT, b"a", fin=False) + _client_frame(OP_BINARY, b"b"),
        1002,
        "continuation",
    ),
    # the cap is on a message, whatever its fragments: refused from the header that passes it
    "message-above-the-cap": (
        _client_frame(OP_BINARY, b"m" * (MAX_CLIENT_MESSAGE // 2 + 1), fin=False)
        + _client_frame(OP_CONT, b"", length=MAX_CLIENT_MESSAGE // 2),
        1009,
        "message",
    ),
    # only the header is sent: the kernel must not wait for (or buffer) a megabyte
    "frame-above-the-cap": (
        _client_frame(OP_BINARY, b"", length=(1 << 20) - 1),
        1009,
        "message",
    ),
    "text-not-utf8": (_client_frame(OP_TEXT, b"ok \xff"), 1007, "at its byte 3"),
    "text-ends-inside-a-character": (
        _client_frame(OP_TEXT, b"caf\xc3", fin=False) + _client_frame(OP_CONT, b""),
        1007,
        "byte 3",
    ),
    # refused at the fragment, not at the end of a message that may never end
    "text-fragment-not-utf8": (_client_frame(OP_TEXT, b"\xc0\xaf", fin=False), 1007, "UTF-8"),
    "text-surrogate": (_client_frame(OP_TEXT, b"\xed\xa0\x80"), 1007, "UTF-8"),
    "close-of-one-byte": (_client_frame(OP_CLOSE, b"\x03"), 1002, "1 byte"),
    **{
        f"close-code-{code}": (_client_frame(OP_CLOSE, struct.pack("!H", code)), 1002, str(code))
        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000)
    },
    "close-reason-not-utf8": (
        _client_frame(OP_CLOSE, struct.pack("!H", 1000) + b"bye \xff"),
        1007,
        "UTF-8",
    ),
}


@pytest.mark.parametrize("name", list(BAD_FRAMES))
def test_a_protocol_error_closes_with_its_code_and_reason(watch, name):
    data, code, word = BAD_FRAMES[name]
    neighbour = watch("neighbour")
    sock = watch()
    sock.sendall(data)
    got, reason = _closed_with(sock)
    assert (got, name) == (code, name) and word.lower() in reason.lower(), reason
    _still_open(neighbour)  # one bad client does not affect another


def test_a_fragmented_message_may_carry_pings_between_its_fragments(watch):
    sock = watch()
    # text split inside a character ("é" is c3 a9), pings between the fragments
    sock.sendall(
        _client_frame(OP_TEXT, b"caf\xc3", fin=False)
        + _client_frame(OP_PING, b"one")
        + _client_frame(OP_CONT, b"\xa9 ", fin=False)
        + _client_frame(OP_PING, b"two")
        + _client_frame(OP_CONT, "olé".encode())
    )
    assert _read_frame(sock) == (OP_PONG, b"one")
    assert _read_frame(sock) == (OP_PONG, b"two")
    # a message up to the cap in fragments is taken; then a new one may begin
    half = MAX_CLIENT_MESSAGE // 2
    sock.sendall(
        _client_frame(OP_BINARY, b"m" * half, fin=False)
        + _client_frame(OP_CONT, b"m" * (MAX_CLIENT_MESSAGE - half))
        + _client_frame(OP_TEXT, b"next")
    )
    _still_open(sock)


@pytest.mark.parametrize("code", [None, 1000, 1001, 1011, 1014, 3000, 4999])
def test_a_valid_close_is_answered_1000(watch, code):
    sock = watch()
    sock.sendall(
        _client_frame(OP_CLOSE, b"" if code is None else struct.pack("!H", code) + "bye ✓".encode())
    )
    assert _closed_with(sock) == (1000, "")


class _Written(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.data = b""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.data += bytes(data)

    def can_write_eof(self) -> bool:
        return False

    def close(self) -> None:
        pass


def test_the_kernels_own_close_reason_is_cut_between_characters():
    # a reason longer than a control frame holds was cut at a fixed byte, maybe
    # inside a character: a close reason that is not UTF-8, which the client must refuse
    transport = _Written()
    WebSocket(transport, lambda _ws: None).close(1011, "x" + "é" * 100)
    opcode, n = transport.data[0] & 0x0F, transport.data[1]
    reason = transport.data[4:]
    assert opcode == OP_CLOSE and n == len(reason) + 2 <= MAX_CONTROL_FRAME
    assert reason.decode() == "x" + "é" * 61


# -- flow control: a client that reads nothing, on a kernel whose --body-timeout is T

T = 1.0
SLACK = 20.0  # generous: the machine may be busy; the bounds are what is tested


@pytest.fixture(scope="module")
def flowing(easlab_home, tmp_path_factory) -> Iterator[LocalKernel]:
    limits = HttpLimits(body_timeout=T)
    with LocalKernel(port=0, state_dir=tmp_path_factory.mktemp("ws_flow"), limits=limits) as k:
        yield k


@pytest.fixture
def flow_watch(flowing):
    yield from _watches(flowing, "ws_flow")


def _attrs(kernel: LocalKernel, name: str) -> dict[str, str]:
    url = f"{kernel.endpoint}/api/predict/{name}"
    resp = requests.get(
        url, params={"_attrs_": "true"}, headers={"Authorization": TOKEN}, timeout=SLACK
    )
    return resp.json()


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _frames_until_closed(sock: socket.socket) -> list[tuple[int, bytes]]:
    """Every frame the kernel sends until the connection ends (read in bulk: the
    kernel lingers LINGER_S after its close frame, then resets the connection)."""
    data = b""
    sock.settimeout(SLACK)
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    frames, pos = [], 0
    while pos + 2 <= len(data):
        opcode, n = data[pos] & 0x0F, data[pos + 1] & 0x7F
        pos += 2
        if n == 126:
            (n,) = struct.unpack_from("!H", data, pos)
            pos += 2
        elif n == 127:
            (n,) = struct.unpack_from("!Q", data, pos)
            pos += 8
        frames.append((opcode, data[pos : pos + n]))
        pos += n
    return frames


class Flood:
    """Pings sent on ``sock`` from a thread, up to ``total`` bytes, until the kernel stops it."""

    def __init__(self, sock: socket.socket, total: int = 64 << 20) -> None:
        self.sock, self.total, self.sent = sock, total, 0
        self.error: OSError | None = None
        self.thread = threading.Thread(target=self._send, daemon=True)
        self.thread.start()

    def _send(self) -> None:
        ping = _client_frame(OP_PING, b"p" * MAX_CONTROL_FRAME)
        pings = ping * ((1 << 20) // len(ping))
        try:
            while self.sent < self.total:
                self.sock.sendall(pings)
                self.sent += len(pings)
        except OSError as exc:  # the kernel closed the connection (or a timeout)
            self.error = exc

    @property
    def done(self) -> bool:
        return self.sent >= self.total


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_client_that_reads_no_pongs_is_not_read_and_then_closed_1008(flowing, flow_watch):
    # It sent pings and read no pongs: the kernel read them all and buffered every
    # pong (64 MB of pings: +95 MB). Now it stops reading the client while its pongs
    # wait (the client's own sends back up), and closes it after --body-timeout.
    neighbour = flow_watch("neighbour")
    hog = flow_watch("hog")
    consumers = lambda: _attrs(flowing, "ws_flow")["stream.consumers"]  # noqa: E731
    before = _rss_kb(flowing.pid)
    flood = Flood(hog)
    wait_for(
        lambda: flood.done or consumers() == "1",
        timeout=SLACK,
        what="the pings all read, or the flooder closed",
    )
    grown_mb = (_rss_kb(flowing.pid) - before) / 1024
    assert grown_mb < 16, f"the kernel grew {grown_mb:.0f} MB for a client that reads nothing"
    assert not flood.done
    # it reads now (within LINGER_S of the close): its pongs, then the close frame
    frames = _frames_until_closed(hog)
    assert {op for op, _ in frames[:-1]} == {OP_PONG}
    opcode, payload = frames[-1]
    assert opcode == OP_CLOSE and struct.unpack("!H", payload[:2])[0] == 1008, frames[-1]
    assert b"read nothing" in payload and b"--body-timeout" in payload
    # and the kernel lets go of it (a close that waits for the flush would hold it, and
    # its unread pings, for ever): its blocked send fails, reset
    flood.thread.join(SLACK)
    assert isinstance(flood.error, ConnectionError), flood.error
    # the neighbour was served all along, and still is
    neighbour.sendall(_client_frame(OP_PING, b"still here"))
    assert _read_frame(neighbour) == (OP_PONG, b"still here")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def _put_records(kernel: LocalKernel, name: str, records: int, size: int) -> None:
    """``records`` records of ``size`` bytes into queue ``name``, record i all bytes i."""
    url = f"{kernel.endpoint}/api/predict/{name}"
    for i in range(records):
        resp = requests.post(
            url, data=bytes([i]) * size, headers={"Authorization": TOKEN}, timeout=SLACK
        )
        assert resp.status_code == 200, resp.text


def test_a_watch_that_reads_nothing_is_pushed_no_more_than_its_buffers_hold(flowing, flow_watch):
    # An auto-commit watcher (a large window does the same) that read nothing had
    # every record of the queue loaded and written to its socket's buffer at once
    # (and committed: gone with the connection). Now delivery waits while the
    # client does not read (pause_writing): the rest stays in the queue.
    connect = flow_watch  # creates the queue
    records, size = 48, 1 << 20
    _put_records(flowing, "ws_flow", records, size)
    before = _rss_kb(flowing.pid)
    connect("reads-nothing", query="_auto_commit_=true", rcvbuf=4096)
    neighbour = connect("neighbour", query="_window_=1")
    wait_for(
        lambda: _attrs(flowing, "ws_flow")["stream.consumers"] == "1",
        timeout=SLACK,
        what="the watcher that reads nothing closed after --body-timeout",
    )
    delivered = records - int(_attrs(flowing, "ws_flow")["stream.length"])
    grown_mb = (_rss_kb(flowing.pid) - before) / 1024
    # what the sockets' buffers held (the kernel's send buffer, a few MB on loopback),
    # plus one record past the high-water mark; the neighbour's one uncommitted record
    # is not consumed
    assert delivered <= 12, f"{delivered} of {records} records pushed to a client reading none"
    assert grown_mb < 16, f"the kernel grew {grown_mb:.0f} MB for a client that reads nothing"
    # the neighbour is served: a record comes (then, uncommitted with a window of 1, no more)
    opcode, first = _read_frame(neighbour)
    assert opcode == OP_BINARY and len(first) > size


def test_a_watch_that_reads_slowly_gets_every_record_and_stays_open(flowing, flow_watch):
    # The other side of the pause: delivery goes on as the client reads, and a client
    # that reads, however slowly, is not closed (the wait restarts as it reads).
    records, size = 24, 1 << 20
    _put_records(flowing, "ws_flow", records, size)
    sock = flow_watch("slow", query="_auto_commit_=true", rcvbuf=4096)
    got = []
    for i in range(records):
        if i < 8:
            time.sleep(T / 2)  # the behaviour tested (a slow reader), not a synchronisation
        opcode, payload = _read_frame(sock)
        assert opcode == OP_BINARY
        got.append(payload)
    assert [p.count(bytes([i]) * size) for i, p in enumerate(got)] == [1] * records
    sock.sendall(_client_frame(OP_PING, b"still here"))
    assert _read_frame(sock) == (OP_PONG, b"still here")


def test_watches_count_toward_max_connections(easlab_home, tmp_path):
    # An upgraded connection left the kernel's count: anyone with a queue's token
    # could hold any number of watches past --max-connections.
    limits = HttpLimits(max_connections=3)
    with LocalKernel(port=0, state_dir=tmp_path, limits=limits) as k:
        connect = _watches(k, "ws_capped")
        watch = next(connect)  # creates the queue service
        k.client.close()  # the control API's pooled connection counts too
        held = [watch(uid=f"u{i}") for i in range(3)]
        url = f"{k.endpoint}/api/predict/ws_capped"
        headers = {"Authorization": TOKEN, "Connection": "close"}
        answer = requests.get(url, params={"_index_": "0"}, headers=headers, timeout=10)
        assert answer.status_code == 503, answer.text
        assert "holds 3 connections" in answer.text
        held.pop().close()  # a watch that ends makes room

        def served() -> bool:
            again = requests.get(url, params={"_index_": "0"}, headers=headers, timeout=10)
            return again.status_code != 503

        wait_for(served, what="a connection once a watch closed")
        for sock in held:
            sock.close()
        next(connect, None)  # deletes the service


@pytest.mark.parametrize("version", ["8", "", "14"])
def test_a_websocket_version_other_than_13_is_426_naming_13(kernel, watch, version):
    # RFC 6455 4.2.2: refused before the upgrade, with the version the kernel speaks
    # (it upgraded whatever a client said)
    watch("first")  # creates the queue service
    host, port = kernel.endpoint.split("//")[1].rsplit(":", 1)
    line = f"Sec-WebSocket-Version: {version}\r\n" if version else ""
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(
            (
                "GET /api/predict/ws_frames?_watch_=true HTTP/1.1\r\n"
                f"Host: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n{line}"
                f"Authorization: {TOKEN}\r\n\r\n"
            ).encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"client sends"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 426 Upgrade Required\r\n"), answer
    assert b"\r\nSec-WebSocket-Version: 13" in head
    shown = version or "(none)"
    assert body.decode() == (
        f"Sec-WebSocket-Version {shown} is not served: the watch speaks websocket version 13 "
        "(RFC 6455), which every current websocket client sends"
    )
