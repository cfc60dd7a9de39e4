"""The instance's threads (worker.py ``Worker``), driven in-process over a socket pair.

Counted, not timed: how often the reading is handed between threads, and how
many requests a slow processor runs at once.
"""

from __future__ import annotations

import socket
import threading
import time

from easlab.kernel.frames import HEADER, REQUEST, RESPONSE
from easlab.kernel.worker import Worker, _Channel


class Quick:
    def __init__(self) -> None:
        self.threads: list[str] = []

    def process(self, data: bytes) -> tuple[bytes, int]:
        self.threads.append(threading.current_thread().name)
        return data, 200


class Slow:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def process(self, data: bytes) -> tuple[bytes, int]:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
        return data, 200


def _serve(processor, threads: int):
    kernel, child = socket.socketpair()
    worker = Worker(_Channel(child), processor, threads)
    server = threading.Thread(target=worker.serve, daemon=True)
    server.start()
    return kernel, worker, server


def _recv_answer(sock: socket.socket) -> tuple[int, bytes]:
    head = sock.recv(HEADER.size, socket.MSG_WAITALL)
    kind, rid, status, size = HEADER.unpack(head)
    assert kind == RESPONSE and status == 200
    return rid, sock.recv(size, socket.MSG_WAITALL) if size else b""


def test_a_quick_processor_at_concurrency_one_keeps_one_reading_thread():
    # Issue 16: handing the reading to another thread on every frame cost ~4.5
    # context switches per request at c=1 (a follower woken, the GIL passed around).
    processor = Quick()
    kernel, _, server = _serve(processor, threads=5)
    for rid in range(1, 201):
        body = b"req-%d" % rid
        kernel.sendall(HEADER.pack(REQUEST, rid, 0, len(body)) + body)
        assert _recv_answer(kernel) == (rid, body)
    kernel.shutdown(socket.SHUT_WR)
    server.join(10)
    assert not server.is_alive()  # every thread ended at the end of the stream
    # The first frame (speed unknown) is handed over; then one thread serves them. A
    # call that the machine pre-empts past _GATHER_S hands over once more (rare, but
    # seen under a loaded test run); handing over on every frame switches on most of them.
    names = processor.threads
    switches = sum(1 for a, b in zip(names, names[1:], strict=False) if a != b)
    assert switches <= 10, switches


def test_a_slow_processor_still_runs_requests_side_by_side():
    processor = Slow()
    kernel, _, server = _serve(processor, threads=4)
    frames = b"".join(HEADER.pack(REQUEST, rid, 0, 1) + b"x" for rid in range(1, 5))
    kernel.sendall(frames)
    assert sorted(_recv_answer(kernel)[0] for _ in range(4)) == [1, 2, 3, 4]
    assert processor.most == 4
    # A frame that comes while another is being processed is read at once by a
    # follower (the processor is known to be slow): both run side by side.
    processor.most = 0
    kernel.sendall(HEADER.pack(REQUEST, 6, 0, 1) + b"z")
    deadline = time.monotonic() + 10
    while processor.running == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    kernel.sendall(HEADER.pack(REQUEST, 7, 0, 1) + b"w")
    assert sorted(_recv_answer(kernel)[0] for _ in range(2)) == [6, 7]
    kernel.shutdown(socket.SHUT_WR)
    server.join(10)
    assert not server.is_alive()
    assert processor.most == 2
