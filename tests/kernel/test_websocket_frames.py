"""Client websocket frames: unmasked as one int XOR, capped in size (audit E, defect 4).

A client's data frames are ignored by the watch; a large one used to be buffered
and unmasked byte by byte on the kernel's event loop, stalling every other caller.
"""

from __future__ import annotations

import base64
import os
import socket
import struct

import pytest

from easlab.kernel.websocket import MAX_CLIENT_FRAME, MAX_CONTROL_FRAME, unmask

TOKEN = "wsframes-" + "k" * 8
OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x2, 0x8, 0x9, 0xA


def _reference(mask: bytes, payload: bytes) -> bytes:
    return bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 125, 126, 4097, 65535, 65536])
def test_unmask_is_the_rfc_xor(n):
    mask, payload = os.urandom(4), os.urandom(n)
    assert unmask(mask, payload) == _reference(mask, payload)
    assert unmask(bytearray(mask), bytearray(payload)) == _reference(mask, payload)
    assert unmask(mask, b"\x00" * n) == (mask * n)[:n]  # leading zero bytes are kept


def _client_frame(opcode: int, payload: bytes, length: int | None = None) -> bytes:
    """A masked, final client frame; ``length`` claims another size (header only)."""
    n = len(payload) if length is None else length
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
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


@pytest.fixture
def watch(kernel):
    """A raw websocket watch on a fresh queue service."""
    spec = {"name": "ws_frames", "token": TOKEN, "metadata": {"type": "Queue"}}
    kernel.client._call("POST", "/services", {"spec": spec})
    host, port = kernel.endpoint.split("//")[1].rsplit(":", 1)
    socks: list[socket.socket] = []

    def connect() -> socket.socket:
        sock = socket.create_connection((host, int(port)), timeout=20)
        socks.append(sock)
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                "GET /api/predict/ws_frames?_watch_=true&_index_=0&_window_=1 HTTP/1.1\r\n"
                f"Host: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Authorization: {TOKEN}\r\n\r\n"
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
    kernel.client._call("DELETE", "/services/ws_frames")


def test_pings_of_any_size_up_to_125_come_back_unmasked(watch):
    sock = watch()
    for n in (0, 1, 5, 64, MAX_CONTROL_FRAME):
        payload = os.urandom(n)
        sock.sendall(_client_frame(OP_PING, payload))
        assert _read_frame(sock) == (OP_PONG, payload)
    # a data frame up to the cap is taken (and ignored): the connection carries on
    sock.sendall(_client_frame(OP_BINARY, os.urandom(MAX_CLIENT_FRAME)))
    sock.sendall(_client_frame(OP_PING, b"still here"))
    assert _read_frame(sock) == (OP_PONG, b"still here")


def test_a_frame_above_the_cap_is_refused_from_its_header_with_1009(watch):
    sock = watch()
    # only the header is sent: the kernel must not wait for (or buffer) a megabyte
    sock.sendall(_client_frame(OP_BINARY, b"", length=(1 << 20) - 1))
    opcode, payload = _read_frame(sock)
    assert opcode == OP_CLOSE and struct.unpack("!H", payload[:2])[0] == 1009
    assert sock.recv(1) == b""  # and the connection is closed


def test_a_control_frame_above_125_bytes_is_a_protocol_error(watch):
    sock = watch()
    sock.sendall(_client_frame(OP_PING, os.urandom(MAX_CONTROL_FRAME + 1)))
    opcode, payload = _read_frame(sock)
    assert opcode == OP_CLOSE and struct.unpack("!H", payload[:2])[0] == 1002
