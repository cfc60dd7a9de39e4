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
from collections.abc import Sequence

from easlab.kernel.packed import Packed

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
ANSWERS = 7  # worker -> kernel: a BATCH's answers: !I count, count x !IiI (id, status,
#   length), then the bodies (one frame for the batch: one header for the kernel to read)
METRICS = 8  # worker -> kernel: JSON, the processor's custom metrics as they stand now
#   (its take_metrics(); sent only after a call that changed them, ahead of its answer)

#: a REQUEST frame's status: the caller is alone (a client at concurrency 1, nothing
#: else in flight in the kernel) and the instance had nothing else to do, so the next
#: frame comes after this one's answer: worker.py keeps its reader (set only where idle
#: CPUs wake fast: awake.wakes_fast)
ALONE = 1

_COUNT = struct.Struct("!I")
_BATCH_ENTRY = struct.Struct("!II")
_ANSWER_ENTRY = struct.Struct("!IiI")


def encode_frame(kind: int, rid: int, status: int, payload: bytes) -> bytes:
    return HEADER.pack(kind, rid, status, len(payload)) + payload


def encode_batch_index(ids: list[int], sizes: list[int]) -> bytes:
    """The start of a BATCH payload; the bodies follow it, in order, uncopied."""
    entry = _BATCH_ENTRY.pack
    return _COUNT.pack(len(ids)) + b"".join(
        entry(rid, size) for rid, size in zip(ids, sizes, strict=True)
    )


def encode_batch(ids: list[int], bodies: list[bytes]) -> bytes:
    """Payload of a BATCH frame."""
    return encode_batch_index(ids, [len(body) for body in bodies]) + b"".join(bodies)


def read_batch(payload: bytes) -> tuple[list[int], Packed]:
    """A BATCH payload's request ids and bodies (the bodies in place, uncopied)."""
    (count,) = _COUNT.unpack_from(payload, 0)
    entries = list(_BATCH_ENTRY.iter_unpack(memoryview(payload)[4 : 4 + 8 * count]))
    start = 4 + 8 * count
    return [rid for rid, _ in entries], Packed(
        [memoryview(payload)[start:]], [size for _, size in entries]
    )


def answers_index(ids: Sequence[int], statuses: Sequence[int], sizes: Sequence[int]) -> bytes:
    """The start of an ANSWERS payload; the bodies follow it, in order, uncopied."""
    entry = _ANSWER_ENTRY.pack
    return _COUNT.pack(len(ids)) + b"".join(
        entry(rid, status, size) for rid, status, size in zip(ids, statuses, sizes, strict=True)
    )


def read_answers(payload: bytes | bytearray | memoryview) -> list[tuple[int, int, bytes]]:
    """An ANSWERS payload's ``(request id, status, body)``, each body its own ``bytes``.

    Raises ValueError when the index and the bodies do not add up to the payload.
    """
    view = memoryview(payload)
    if len(view) < 4:
        raise ValueError(f"an ANSWERS frame of {len(view)} bytes has no count")
    (count,) = _COUNT.unpack_from(view, 0)
    pos = 4 + 12 * count
    if pos > len(view):
        raise ValueError(f"an ANSWERS frame of {len(view)} bytes cannot index {count} answers")
    entries = list(_ANSWER_ENTRY.iter_unpack(view[4:pos]))
    if pos + sum(size for _, _, size in entries) != len(view):
        raise ValueError(f"the {count} answers' sizes do not add up to their frame")
    answers = []
    for rid, status, size in entries:
        answers.append((rid, status, bytes(view[pos : pos + size])))
        pos += size
    return answers


def tune_socket(sock: socket.socket) -> None:
    """Large socket buffers for the kernel-instance channel (both ends)."""
    for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
        except OSError:
            pass
