"""The instance process: builds one processor and serves frames from the kernel.

Run as ``python -m easlab.kernel.worker FD`` where FD is one end of a socket
pair inherited from the kernel. The kernel sends a CONFIG frame first; the
worker builds the processor, calls ``initialize()`` once and answers READY (or
FAILED with the traceback). Then it serves REQUEST and BATCH frames with
``worker_threads`` threads in a leader/follower pattern: the thread that reads
a frame also processes it, so no request is handed between threads.

Frame (both directions): ``!BIiI`` header = kind, request id, status, payload
length, then the payload. No pickling: bodies travel as raw bytes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys
import threading
import traceback
from typing import Any

HEADER = struct.Struct("!BIiI")

CONFIG = 1  # kernel -> worker: JSON worker config (first frame)
REQUEST = 2  # kernel -> worker: one request body
BATCH = 3  # kernel -> worker: !I count, count x !II (id, length), then the bodies
RESPONSE = 4  # worker -> kernel: status + body for one request id
READY = 5  # worker -> kernel: JSON {"signature", "request_format", "pid"}
FAILED = 6  # worker -> kernel: the traceback of a failed start

# Bodies above this size are sent with a second sendall instead of being
# concatenated with their header (saves one copy of large payloads).
_CONCAT_LIMIT = 64 * 1024


def encode_frame(kind: int, rid: int, status: int, payload: bytes) -> bytes:
    return HEADER.pack(kind, rid, status, len(payload)) + payload


def encode_batch(ids: list[int], bodies: list[bytes]) -> bytes:
    """Payload of a BATCH frame."""
    index = struct.pack("!I", len(ids)) + b"".join(
        struct.pack("!II", rid, len(body)) for rid, body in zip(ids, bodies, strict=False)
    )
    return index + b"".join(bodies)


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


def normalize_status(status: Any) -> int:
    """0 and 200 are success; any other HTTP status passes; anything else is 400 (SPEC §6)."""
    try:
        code = int(status)
    except (TypeError, ValueError):
        return 400
    if code in (0, 200):
        return 200
    if 100 <= code <= 599:
        return code
    return 400


def _read_exact(reader: Any, size: int) -> bytes | None:
    data = reader.read(size)
    if data is None or len(data) < size:
        return None
    return data


def read_frame(reader: Any) -> tuple[int, int, int, bytes] | None:
    """One frame from a blocking reader, or None at end of stream."""
    head = _read_exact(reader, HEADER.size)
    if head is None:
        return None
    kind, rid, status, size = HEADER.unpack(head)
    payload = _read_exact(reader, size) if size else b""
    if payload is None:
        return None
    return kind, rid, status, payload


class _Channel:
    """The worker's side of the socket: a locked reader and a locked writer."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = sock.makefile("rb", buffering=256 * 1024)
        self.read_lock = threading.Lock()
        self.write_lock = threading.Lock()

    def read(self) -> tuple[int, int, int, bytes] | None:
        with self.read_lock:
            return read_frame(self.reader)

    def send(self, kind: int, rid: int, status: int, payload: bytes) -> None:
        head = HEADER.pack(kind, rid, status, len(payload))
        with self.write_lock:
            if len(payload) <= _CONCAT_LIMIT:
                self.sock.sendall(head + payload)
            else:
                self.sock.sendall(head)
                self.sock.sendall(payload)


def _as_bytes(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if body is None:
        return b""
    raise TypeError(f"a processor must answer bytes or str, got {type(body).__name__}")


def _error_answer(exc: BaseException) -> tuple[bytes, int]:
    from easlab.kernel.processors.base import ProcessorError

    if isinstance(exc, ProcessorError):
        return exc.message.encode("utf-8", "replace"), normalize_status(exc.status)
    # Any other exception is the request's fault as far as the caller can tell (SPEC §6: 400).
    message = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {message}".encode("utf-8", "replace"), 400


class Worker:
    """Serves frames for one processor until the kernel closes the socket."""

    def __init__(self, channel: _Channel, processor: Any, threads: int) -> None:
        self.channel = channel
        self.processor = processor
        self.threads = max(1, threads)

    def serve(self) -> None:
        pool = [
            threading.Thread(target=self._loop, name=f"easlab-worker-{i}", daemon=True)
            for i in range(self.threads - 1)
        ]
        for thread in pool:
            thread.start()
        self._loop()
        for thread in pool:
            thread.join()

    def _loop(self) -> None:
        while True:
            frame = self.channel.read()
            if frame is None:
                return
            kind, rid, _status, payload = frame
            if kind == REQUEST:
                self._one(rid, payload)
            elif kind == BATCH:
                self._batch(payload)

    def _one(self, rid: int, payload: bytes) -> None:
        try:
            body, status = self.processor.process(payload)
            answer = (_as_bytes(body), normalize_status(status))
        except Exception as exc:  # a bad request must never end the instance
            answer = _error_answer(exc)
        self.channel.send(RESPONSE, rid, answer[1], answer[0])

    def _batch(self, payload: bytes) -> None:
        ids, bodies = decode_batch(payload)
        try:
            results = self.processor.process_batch(bodies)
            if len(results) != len(bodies):
                raise RuntimeError(
                    f"process_batch answered {len(results)} results for {len(bodies)} requests"
                )
            answers = [(_as_bytes(body), normalize_status(status)) for body, status in results]
        except Exception as exc:
            answers = [_error_answer(exc)] * len(ids)
        for rid, (body, status) in zip(ids, answers, strict=False):
            self.channel.send(RESPONSE, rid, status, body)


def build_processor(config: dict[str, Any]) -> Any:
    """The processor described by a CONFIG frame, not yet initialized."""
    from pathlib import Path

    from easlab.kernel.processors import load_class
    from easlab.kernel.processors.base import ProcessorContext

    def path(key: str) -> Path | None:
        value = config.get(key)
        return Path(value) if value else None

    ctx = ProcessorContext(
        service_name=config["service"],
        spec=config.get("spec") or {},
        model_path=path("model_path"),
        model_entry=path("model_entry"),
        model_config=config.get("model_config"),
        processor_path=path("processor_path"),
        processor_entry=config.get("processor_entry"),
        worker_threads=int(config.get("worker_threads") or 5),
        instance_index=int(config.get("instance_index") or 0),
        gpu_devices=list(config.get("gpu_devices") or []),
    )
    cls = load_class(config["target"])
    return cls(ctx)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m easlab.kernel.worker FD (started by the easlab kernel)", file=sys.stderr)
        return 2
    # Ctrl-C in a terminal reaches the whole process group; the kernel decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = _Channel(socket.socket(fileno=int(args[0])))
    first = channel.read()
    if first is None or first[0] != CONFIG:
        print("easlab worker: the kernel sent no configuration", file=sys.stderr)
        return 2
    config = json.loads(first[3])
    try:
        processor = build_processor(config)
        processor.initialize()
        ready = {
            "signature": processor.signature(),
            "request_format": getattr(processor, "request_format", None),
            "pid": os.getpid(),
        }
        payload = json.dumps(ready).encode()
    except BaseException:
        text = traceback.format_exc()
        sys.stderr.write(text)
        sys.stderr.flush()
        channel.send(FAILED, 0, 0, text.encode("utf-8", "replace"))
        return 1
    channel.send(READY, 0, 0, payload)
    try:
        Worker(channel, processor, int(config.get("worker_threads") or 5)).serve()
    finally:
        try:
            processor.close()
        except Exception:
            traceback.print_exc()
    return 0


if __name__ == "__main__":
    sys.exit(main())
