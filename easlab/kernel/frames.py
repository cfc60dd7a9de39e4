"""The frames the kernel and its instance processes exchange over a socket pair.

Both directions: a ``!BIiI`` header (kind, request id, status, payload length),
then the payload. No pickling: bodies travel as raw bytes. A kind with
shm.py's ``SHM`` flag (0x80) carries, instead of a body of 64 KiB or more,
that body's place in a shared-memory ring. Shared by the
kernel (instance.py) and the instance process (worker.py), which import this
and nothing of each other.
"""

from __future__ import annotations

import socket
import struct

#: socket buffers (a 600 KB body crosses in one send; capped by the system's wmem_max)
SOCKET_BUFFER = 4 * 1024 * 1024
#: environment variable naming the kernel's pid (set by the kernel for its instances)
KERNEL_PID_ENV = "EASLAB_KERNEL_PID"

HEADER = struct.Struct("!BIiI")
_HEADER_SIZE = HEADER.size

CONFIG = 1  # kernel -> worker: JSON worker config (first frame)
REQUEST = 2  # kernel -> worker: one request body
BATCH = 3  # kernel -> worker: !I count, count x !II (id, length), then the bodies
RESPONSE = 4  # worker -> kernel: status + body for one request id
READY = 5  # worker -> kernel: JSON {"signature", "request_format", "pid"}
FAILED = 6  # worker -> kernel: the traceback of a failed start


def encode_frame(kind: int, rid: int, status: int, payload: bytes) -> bytes:
    return HEADER.pack(kind, rid, status, len(payload)) + payload


def encode_batch_index(ids: list[int], sizes: list[int]) -> bytes:
    """The start of a BATCH payload; the bodies follow it, in order, uncopied."""
    return struct.pack("!I", len(ids)) + b"".join(
        struct.pack("!II", rid, size) for rid, size in zip(ids, sizes, strict=True)
    )


def encode_batch(ids: list[int], bodies: list[bytes]) -> bytes:
    """Payload of a BATCH frame."""
    return encode_batch_index(ids, [len(body) for body in bodies]) + b"".join(bodies)


def decode_batch(payload: bytes) -> tuple[list[int], list[bytes]]:
    (count,) = struct.unpack_from("!I", payload, 0)
    pos = 4
    ids: list[int] = []
    sizes: list[int] = []
    for _ in range(count):
        rid, size = struct.unpack_from("!II", payload, pos)
        ids.append(rid)
        sizes.append(size)
        pos += 8
    view = memoryview(payload)
    bodies: list[bytes] = []
    for size in sizes:
        bodies.append(bytes(view[pos : pos + size]))
        pos += size
    return ids, bodies


def tune_socket(sock: socket.socket) -> None:
    """Large socket buffers for the kernel-instance channel (both ends)."""
    for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
        except OSError:
            pass
