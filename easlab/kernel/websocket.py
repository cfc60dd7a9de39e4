"""Server side of RFC 6455 websockets: the handshake answer and frames.

Only what the queue service's watch needs (SPEC §4): the server pushes binary
frames, answers pings with pongs and closes cleanly; text and binary frames
from the client are handed to ``on_message``, a message (its fragments joined)
at a time. Client frames are masked (the RFC requires it), server frames are
not. A client message above MAX_CLIENT_MESSAGE closes the connection with 1009
(message too big) from the header of the frame that passes it: a big frame would
otherwise be buffered and unmasked on the kernel's one event loop.

Flow control as for HTTP answers (http.py, ``pause_writing``): while the client
reads slower than the kernel writes, no more of its frames are read (its pings
back up in its own socket) and nothing more is pushed to it (``on_flow``); one
that reads nothing for ``stall_timeout`` seconds (``--body-timeout``) is closed
with 1008, so a client that never reads holds about one read of frames past
asyncio's high-water mark, not every pong and record the kernel would write it.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import hashlib
import struct
from collections.abc import Callable

from easlab.kernel.http import LINGER_S

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: the one version RFC 6455 defines (Sec-WebSocket-Version), the one served
WS_VERSION = "13"
#: the largest data message (all its fragments) a client may send: the watch protocol
#: has it send pings, pongs and a close, and ignores its data; a larger one closes the
#: connection (1009)
MAX_CLIENT_MESSAGE = 64 * 1024
#: RFC 6455 §5.5: a control frame (close, ping, pong) carries at most 125 bytes
MAX_CONTROL_FRAME = 125

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

_utf8 = codecs.getincrementaldecoder("utf-8")


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value for a client's ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(key.strip().encode() + _GUID).digest()).decode()


def handshake(key: str) -> bytes:
    """The 101 answer that switches a connection to the websocket protocol."""
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept_key(key).encode()
    )


def unmask(mask: bytes | bytearray, payload: bytes | bytearray) -> bytes:
    """A client frame's payload XOR its 4-byte mask (RFC 6455 §5.3), as one int XOR.

    A loop in Python over the bytes would hold the event loop ~50 ms per MB.
    """
    n = len(payload)
    if not n:
        return b""
    key = (bytes(mask) * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final server frame."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


class WebSocket(asyncio.Protocol):
    """One upgraded connection; the transport is handed over by http.py.

    ``on_flow`` is called when ``write_paused`` changes (the client stopped reading,
    or has read what waited); ``stall_timeout`` (0: never) closes a client that
    reads nothing that long while the kernel's frames wait for it.
    """

    def __init__(
        self,
        transport: asyncio.Transport,
        on_close: Callable[[WebSocket], None],
        on_message: Callable[[WebSocket, bytes], None] | None = None,
        on_flow: Callable[[WebSocket], None] | None = None,
        stall_timeout: float = 0.0,
    ) -> None:
        self.transport = transport
        self.on_close = on_close
        self.on_message = on_message
        self.on_flow = on_flow
        self.stall_timeout = stall_timeout
        self.closed = False
        #: the client reads slower than frames are written (asyncio's high-water mark)
        self.write_paused = False
        self._stall: asyncio.TimerHandle | None = None
        self._buf = bytearray()
        self._message: int | None = None  # the opcode of a fragmented message begun
        self._size = 0  # ... and its bytes so far
        self._parts: list[bytes] = []  # ... and its fragments (for on_message)
        self._text: codecs.IncrementalDecoder | None = None  # ... its UTF-8 check if text

    def send_binary(self, payload: bytes) -> None:
        if not self.closed:
            self.transport.write(frame(OP_BINARY, payload))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame and end the connection (RFC 6455 7.1.1: the server first).

        Lingering, as http.py's refusals: the client may still be sending, and closing
        with its bytes unread would reset the connection and lose the close frame; after
        LINGER_S it goes, read or not (a client that reads nothing would hold it open).
        """
        if self.closed:
            return
        transport = self.transport
        # at most what a control frame holds, cut between characters: it must stay UTF-8
        said = reason.encode()[: MAX_CONTROL_FRAME - 2].decode("utf-8", "ignore").encode()
        transport.write(frame(OP_CLOSE, struct.pack("!H", code) + said))
        if transport.can_write_eof():
            transport.write_eof()
            asyncio.get_running_loop().call_later(LINGER_S, transport.abort)
        else:
            transport.close()
        self._lost()

    def _lost(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        if not self.closed:
            self.closed = True
            self.on_close(self)

    # -- flow control ----------------------------------------------------------------

    def pause_writing(self) -> None:
        """The client does not read as fast as frames come: read and push no more.

        Without this a client that sent pings and read no pongs (or watched a long
        queue and read nothing) made the kernel buffer every frame it wrote, without
        bound. Its own sends now back up in its socket.
        """
        self.write_paused = True
        if self.closed:
            return
        self.transport.pause_reading()
        if self.stall_timeout and self._stall is None:
            self._arm(self.transport.get_write_buffer_size())
        if self.on_flow is not None:
            self.on_flow(self)

    def resume_writing(self) -> None:
        self.write_paused = False
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        if self.closed:
            return
        self.transport.resume_reading()
        if self.on_flow is not None:
            self.on_flow(self)
        self._frames()  # those read before the pause and not yet answered

    def _arm(self, size: int) -> None:
        loop = asyncio.get_running_loop()
        self._stall = loop.call_later(self.stall_timeout, self._stalled, size)

    def _stalled(self, size: int) -> None:
        """``stall_timeout`` after a pause (or the last check): close if nothing was read.

        As http.py's sweep for answers: the wait restarts whenever the client reads
        some, so a slow reader is served; one that reads nothing is closed.
        """
        self._stall = None
        if self.closed or not self.write_paused:
            return
        now = self.transport.get_write_buffer_size()
        if now < size:
            self._arm(now)
            return
        self.close(1008, f"the client read nothing for {self.stall_timeout:g} s (--body-timeout)")

    # -- asyncio -------------------------------------------------------------------

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self._buf += data
        if not self.write_paused:
            self._frames()

    def _frames(self) -> None:
        """Act on the complete frames buffered, until the client stops reading (pause).

        A frame that breaks RFC 6455 closes the connection from its header, with the
        code of 7.4.1 and a reason naming the rule: 1002 for framing, 1009 for size.
        """
        buf = self._buf
        while not self.write_paused and not self.closed:
            if len(buf) < 2:
                return
            b0, b1 = buf[0], buf[1]
            opcode, n = b0 & 0x0F, b1 & 0x7F
            pos = 2
            if n == 126:
                if len(buf) < 4:
                    return
                (n,) = struct.unpack_from("!H", buf, 2)
                pos = 4
            elif n == 127:
                if len(buf) < 10:
                    return
                (n,) = struct.unpack_from("!Q", buf, 2)
                pos = 10
            if b0 & 0x70:
                self.close(
                    1002, "reserved bits RSV1-3 set, and no extension was agreed (RFC 6455 5.2)"
                )
                return
            if not b1 & 0x80:
                self.close(1002, "client frames must be masked (RFC 6455 5.1)")
                return
            if opcode >= OP_CLOSE:  # a control frame
                if opcode > OP_PONG:
                    self.close(1002, f"opcode {opcode:#x} is reserved (RFC 6455 5.2)")
                    return
                if n > MAX_CONTROL_FRAME:
                    self.close(1002, f"control frame of {n} bytes; at most {MAX_CONTROL_FRAME}")
                    return
                if not b0 & 0x80:
                    self.close(1002, "a control frame must not be fragmented (RFC 6455 5.5)")
                    return
            else:
                if opcode > OP_BINARY:
                    self.close(1002, f"opcode {opcode:#x} is reserved (RFC 6455 5.2)")
                    return
                if opcode == OP_CONT:
                    if self._message is None:
                        self.close(1002, "a continuation frame with no fragmented message begun")
                        return
                elif self._message is not None:
                    self.close(
                        1002, "a new message began before the fragmented one ended (continuation)"
                    )
                    return
                if self._size + n > MAX_CLIENT_MESSAGE:
                    # refused from its header, before its payload is buffered
                    self.close(
                        1009,
                        f"message of {self._size + n} bytes or more; "
                        f"a watch takes at most {MAX_CLIENT_MESSAGE}",
                    )
                    return
            end = pos + 4 + n
            if len(buf) < end:
                return
            if opcode < OP_CLOSE:
                self._data(opcode, b0 & 0x80, buf, pos, end)
                continue
            payload = unmask(buf[pos : pos + 4], buf[pos + 4 : end])
            del buf[:end]
            if opcode == OP_PING:
                self.transport.write(frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                self._close_received(payload)
                return

    def _close_received(self, payload: bytes) -> None:
        """The client's close frame: answered 1000, or 1002 / 1007 when it is malformed."""
        if len(payload) == 1:
            self.close(1002, "a close frame of 1 byte: its code takes 2 (RFC 6455 5.5.1)")
            return
        if payload:
            code = int.from_bytes(payload[:2], "big")
            # 1004-1006 and 1015 are reserved, never sent; 1012-1014 are IANA's since
            if not (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999):
                self.close(
                    1002, f"close code {code} is not one an endpoint may send (RFC 6455 7.4)"
                )
                return
            try:
                payload[2:].decode()
            except UnicodeDecodeError:
                self.close(1007, "the close frame's reason is not UTF-8 (RFC 6455 5.5.1)")
                return
        self.close()

    def _data(self, opcode: int, fin: int, buf: bytearray, pos: int, end: int) -> None:
        """A data frame, whole in ``buf[:end]`` (its mask at ``pos``): a message or a part.

        A text message must be UTF-8 (RFC 6455 8.1), checked as its fragments come (a
        character may span two), so that a bad one is refused at its first bad byte.
        """
        if opcode != OP_CONT:
            self._message = opcode
            self._text = _utf8() if opcode == OP_TEXT else None
        start = self._size
        self._size += end - pos - 4
        text = self._text
        if text is not None or self.on_message is not None:  # the watch ignores binary data
            payload = unmask(buf[pos : pos + 4], buf[pos + 4 : end])
            if text is not None:
                held = len(text.getstate()[0])  # the start of a character the last part cut
                try:
                    text.decode(payload, final=bool(fin))
                except UnicodeDecodeError as exc:
                    at = start - held + exc.start
                    self.close(1007, f"text message is not UTF-8 (RFC 6455 8.1) at its byte {at}")
                    return
            if self.on_message is not None:
                self._parts.append(payload)
        del buf[:end]
        if fin:
            self._message, self._size, self._text = None, 0, None
            if self.on_message is not None:
                message = b"".join(self._parts)
                self._parts.clear()
                self.on_message(self, message)
