"""The instance process: builds one processor and serves frames from the kernel.

Run as ``python -m easlab.kernel.worker FD [NUDGE_FD]`` where FD is one end of a
socket pair inherited from the kernel (NUDGE_FD: a second pair's, on which the
kernel says when frames wait behind a call that kept the reading: ``Worker``). The
kernel sends a CONFIG frame first; the worker builds the processor, calls
``initialize()`` once and answers READY (or FAILED with the traceback). Then it
serves REQUEST and BATCH frames with ``worker_threads`` threads in a leader/follower
pattern: the thread that reads a frame also processes it, so no request is handed
between threads; it hands the reading to a follower only when another frame is
already there or the processor is slow enough for the next one to come meanwhile
(``Worker._loop``).

Frame (both directions): ``!BIiI`` header = kind, request id, status, payload
length, then the payload. No pickling: bodies travel as raw bytes. A BATCH
frame's answers go back together as one ANSWERS frame (frames.py), made by the
processor's ``answer_batch`` from the bodies as the frame holds them.

A worker dies with its kernel in every state, ``initialize()`` included: on
Linux the kernel's death sends it SIGKILL (``PR_SET_PDEATHSIG``), armed before
any user code is imported; elsewhere a watchdog thread exits when the parent
process changes.
"""

from __future__ import annotations

import gc
import json
import math
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from easlab.allspark import AnswerError, as_bytes, normalize_status
from easlab.kernel.allocator import keep_model_memory
from easlab.kernel.frames import (
    _HEADER_SIZE,
    ALONE,
    ANSWERS,
    BATCH,
    CONFIG,
    FAILED,
    HEADER,
    KERNEL_PID_ENV,
    METRICS,
    READY,
    REQUEST,
    RESPONSE,
    answers_index,
    read_batch,
    tune_socket,
)
from easlab.kernel.own_files import own_file, use_package
from easlab.kernel.packed import Packed
from easlab.kernel.processors.http import error_answer as http_error_answer
from easlab.kernel.shm import SHM, SHM_MIN, SLOT, Ring

#: bytes of the worker's read buffer; a larger frame is received on its own
_READ_BUFFER = 256 * 1024
#: how often the watchdog (platforms without PR_SET_PDEATHSIG) checks the parent pid
WATCHDOG_S = 0.5
_PR_SET_PDEATHSIG = 1
#: answers wait for the next buffered frame only while processing takes less than this
_GATHER_S = 50e-6
#: and at most this many answers wait together
_GATHER_MAX = 64
#: a lone caller's frame (frames.ALONE) keeps its reader while processing takes less
#: than this: a request that comes meanwhile from a new client waits at most this long
_KEEP_ALONE_S = 1e-3


class _Channel:
    """The worker's side of the socket.

    Reading: ``recv_into`` a reusable buffer, which often holds several frames at
    once; a frame larger than the buffer has its payload received whole
    (``MSG_WAITALL``) into its own bytes object. Writing: answers are queued and
    leave with one ``sendmsg`` (header and body never concatenated); the queue is
    flushed before a reader blocks, so an answer never waits for a new request.
    """

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(True)
        tune_socket(sock)
        self.sock = sock
        self.read_lock = threading.Lock()
        self.write_lock = threading.Lock()
        self._buf = bytearray(_READ_BUFFER)
        self._view = memoryview(self._buf)
        self._start = 0
        self._end = 0
        self._out: list[bytes | memoryview] = []
        self._answers = 0
        #: the shared-memory rings of large bodies (shm.py): requests in, answers out
        self.rx: Ring | None = None
        self.tx: Ring | None = None

    def attach_rings(self, shm: dict[str, int] | None) -> None:
        """Map the rings the kernel made for this instance (the CONFIG frame's ``shm``)."""
        if shm:
            self.rx = Ring(int(shm["requests"]), int(shm["size"]))
            self.tx = Ring(int(shm["answers"]), int(shm["size"]))
            os.close(int(shm["requests"]))  # mapped: the descriptors are not needed
            os.close(int(shm["answers"]))

    # -- reading -----------------------------------------------------------------

    def buffered(self) -> bool:
        """True when a whole frame is already here (reading it will not block)."""
        have = self._end - self._start
        if have < _HEADER_SIZE:
            return False
        size = HEADER.unpack_from(self._view, self._start)[3]
        return have >= _HEADER_SIZE + size

    def read(self) -> tuple[int, int, int, bytes] | None:
        """The next frame, or None at the end of the stream."""
        with self.read_lock:
            frame = self._read()
            if frame is not None and frame[0] & SHM and self.rx is not None:
                # the body waits in the requests' ring; taking it in frame order (under
                # the read lock) frees the ring in order (shm.py)
                kind, rid, status, slot = frame
                return kind & ~SHM, rid, status, self.rx.take(slot)
            return frame

    def _read(self) -> tuple[int, int, int, bytes] | None:
        """The next frame as it came on the socket (read holds the lock)."""
        view = self._view
        while self._end - self._start < _HEADER_SIZE:
            if not self._fill():
                return None
        kind, rid, status, size = HEADER.unpack_from(view, self._start)
        begin = self._start + _HEADER_SIZE
        if size > len(self._buf) - _HEADER_SIZE:
            big = self._read_big(begin, size)
            return None if big is None else (kind, rid, status, big)
        while self._end - begin < size:
            if not self._fill():
                return None
            begin = self._start + _HEADER_SIZE  # _fill may move the frame to the front
        self._start = begin + size
        return kind, rid, status, bytes(view[begin : begin + size])

    def _fill(self) -> bool:
        """Receive more bytes (blocking); False at the end of the stream."""
        if self._start == self._end:
            self._start = self._end = 0
        elif self._start > 0:
            rest = self._end - self._start
            self._buf[:rest] = self._view[self._start : self._end]
            self._start, self._end = 0, rest
        self.flush()  # nothing may wait in the queue while we block
        got = self.sock.recv_into(self._view[self._end :])
        if got == 0:
            return False
        self._end += got
        return True

    def _read_big(self, begin: int, size: int) -> bytes | None:
        have = self._end - begin
        head = bytes(self._view[begin : self._end]) if have else b""
        self._start = self._end = 0
        self.flush()
        rest = self.sock.recv(size - have, socket.MSG_WAITALL) if size > have else b""
        if len(head) + len(rest) < size:
            return None  # the kernel closed the channel in the middle of a frame
        return head + rest if head else rest

    # -- writing -----------------------------------------------------------------

    def queue(self, kind: int, rid: int, status: int, payload: bytes) -> None:
        """Add an answer to the queue; ``flush`` sends it."""
        self._queue(kind, rid, status, (payload,) if payload else (), len(payload), 1)

    def queue_answers(self, ids: list[int], statuses: list[int], answers: Packed) -> None:
        """Add a batch's answers to the queue, as one ANSWERS frame (frames.py)."""
        index = answers_index(ids, statuses, answers.sizes)
        parts = (index, *answers.parts)
        self._queue(ANSWERS, 0, 0, parts, len(index) + answers.nbytes, len(ids))

    def _queue(
        self, kind: int, rid: int, status: int, parts: tuple[Any, ...], size: int, answers: int
    ) -> None:
        with self.write_lock:
            # A large frame goes into the answers' ring, in the order of the frames
            # (allocation and queueing under one lock: shm.py's one-reader order).
            slot = self.tx.put(parts) if size >= SHM_MIN and self.tx else None
            if slot is None:
                self._out.append(HEADER.pack(kind, rid, status, size))
                self._out.extend(parts)
            else:
                self._out.append(HEADER.pack(kind | SHM, rid, status, SLOT.size))
                self._out.append(slot)
            self._answers += answers

    def pending(self) -> int:
        return self._answers

    def flush(self) -> None:
        with self.write_lock:
            parts, self._out = self._out, []
            self._answers = 0
            _send_all(self.sock, parts)

    def send(self, kind: int, rid: int, status: int, payload: bytes) -> None:
        self.queue(kind, rid, status, payload)
        self.flush()


def _send_all(sock: socket.socket, parts: list[bytes | memoryview]) -> None:
    while parts:
        chunk = parts[:512]
        sent = sock.sendmsg(chunk)
        done = 0
        for part in chunk:
            if sent < len(part):
                break
            sent -= len(part)
            done += 1
        parts = parts[done:]
        if sent and parts:
            parts[0] = memoryview(parts[0])[sent:]


def _easlab_dirs() -> tuple[str, ...]:
    import allspark
    import easlab

    return tuple(
        os.path.dirname(os.path.abspath(module.__file__ or "")) + os.sep
        for module in (easlab, allspark)
    )


def _user_frames(exc: BaseException) -> list[traceback.FrameSummary]:
    """The frames of ``exc``'s traceback outside easlab and Python's import machinery
    (``<frozen importlib._bootstrap>``): the user's code."""
    ours = _easlab_dirs()
    return [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not os.path.abspath(f.filename).startswith(ours) and not f.filename.startswith("<")
    ]


def user_traceback(exc: BaseException, heading: str) -> str:
    """``exc``'s traceback with the user's frames only (their file and line), under ``heading``.

    easlab's own frames (the worker, the processor adapters) say nothing to the
    author of app.py; when the error is easlab's own, every frame is kept. A file
    of a package runs from its copy in the cache: the user's own file is named
    instead where it is the same (``own_file``).
    """
    last = traceback.format_exception_only(type(exc), exc)
    frames = _user_frames(exc)
    if isinstance(exc, SyntaxError) and not frames:
        # the file, line and caret are the exception's own, as `python app.py` shows them
        text = heading + "\n" + "".join(last)
    else:
        frames = frames or traceback.extract_tb(exc.__traceback__)
        shown = traceback.format_list(frames)
        text = heading + "\n" + "".join(["Traceback (most recent call last):\n", *shown, *last])
    files = {f.filename for f in frames}
    if isinstance(exc, SyntaxError) and exc.filename:
        files.add(exc.filename)
    for name in files:
        own = own_file(name)
        if own != name:
            text = text.replace(f'File "{name}"', f'File "{own}"')
    return text


def start_failure(exc: BaseException, heading: str, service: str) -> str:
    """What the caller of create sees when an instance cannot start.

    The user's own frames when their code raised (user_traceback). When only
    easlab's code did, a built-in processor refusing the model ("onnxruntime cannot
    load ..."), its frames say nothing to the user: the message alone, with the
    traceback left in the service log for a bug report.
    """
    if _user_frames(exc) or isinstance(exc, SyntaxError):
        return user_traceback(exc, heading)
    return f"{heading} {exc}\n(traceback in the service log: easlab logs {service})"


#: what the user's code may raise that the worker answers as a failed request: a
#: ``sys.exit()`` (SystemExit) in a worker thread would otherwise end the thread without
#: an answer: the caller waited for the 408 and the instance lost a thread for good
_USER_ENDED = (Exception, SystemExit, KeyboardInterrupt)


class _ErrorLog:
    """Tracebacks of failing requests into the service log, without flooding it.

    The first failure at each place (exception type, file, line) is logged with
    its traceback; repeats are counted, and logged as one line at 1, 10, 100 ...
    """

    def __init__(self, service: str) -> None:
        self.service = service
        self.seen: dict[tuple[str, str, int], int] = {}
        self.lock = threading.Lock()

    def answer(self, exc: BaseException, what: str) -> tuple[bytes, int]:
        from easlab.kernel.processors.base import ProcessorError

        if isinstance(exc, ProcessorError):  # the processor's own answer, on purpose
            return exc.message.encode("utf-8", "replace"), normalize_status(exc.status)
        frames = traceback.extract_tb(exc.__traceback__)
        where = frames[-1] if frames else None
        key = (
            type(exc).__name__,
            where.filename if where else "",
            where.lineno or 0 if where else 0,
        )
        with self.lock:
            count = self.seen[key] = self.seen.get(key, 0) + 1
        if count == 1 and isinstance(exc, AnswerError):
            text = str(exc)  # whole in one line: the SDK's frames would say nothing more
        elif count == 1:
            text = user_traceback(exc, f"{what} raised {type(exc).__name__}:")
        elif math.log10(count).is_integer():
            text = f"{what} raised {type(exc).__name__} again ({count} times so far): {exc}"
        else:
            text = ""
        if text:
            sys.stderr.write(text.rstrip("\n") + "\n")
            sys.stderr.flush()
        # The caller learns what went wrong and where the traceback is (SPEC §6: 400).
        message = str(exc) or type(exc).__name__
        if isinstance(exc, AnswerError):
            return f"TypeError: {message}".encode("utf-8", "replace"), 400
        return (
            f"{type(exc).__name__}: {message} (traceback in the service log: "
            f"easlab logs {self.service})"
        ).encode("utf-8", "replace"), 400


class Worker:
    """Serves frames for one processor until the kernel closes the socket."""

    def __init__(
        self,
        channel: _Channel,
        processor: Any,
        threads: int,
        service: str = "",
        nudges: socket.socket | None = None,
    ) -> None:
        self.channel = channel
        self.processor = processor
        self.threads = max(1, threads)
        self.errors = _ErrorLog(service or "SERVICE")
        # The lead: held by the one thread that reads the socket (the leader).
        self.lead = threading.Lock()
        # The kernel's nudges (a second socket; None: no nudges): a byte when frames
        # wait behind a call and the instance has been silent for a while. If that call
        # is one whose thread kept the reading (below), the reading is taken from it,
        # so that the frames behind a quick app's rare slow call run beside it.
        self.nudges = nudges if self.threads > 1 else None
        self._kept_lock = threading.Lock()
        # the thread (ident) that runs a call it kept the reading through, until it is
        # done or a nudge hands the reading to a follower (then None, or the follower's
        # own kept call: only a nudge lets another thread lead meanwhile)
        self._kept_by: int | None = None
        # How long the last frame took to process; until one was measured, assume
        # long (the reading is handed over, as always before).
        self.took = math.inf
        # A batch of this processor keeps the cores busy by itself (base.Processor)
        self.batch_fills_cores = bool(getattr(processor, "batch_fills_cores", False))
        # A processor with custom metrics (processors/seldon.py) hands them over after a
        # call that changed them; one without has no take_metrics and costs nothing here.
        self.take_metrics: Callable[[], bytes | None] | None = getattr(
            processor, "take_metrics", None
        )
        self.metrics_lock = threading.Lock()
        # an HTTP-aware processor answers HttpAnswers: its failures are wrapped as one
        self.http_aware = bool(getattr(processor, "http_aware", False))

    def serve(self) -> None:
        if self.nudges is not None:
            threading.Thread(target=self._hear_nudges, name="easlab-nudges", daemon=True).start()
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
        self.lead.acquire()
        try:
            self._serve_frames()
        finally:
            # the end of the stream, or an error that ends this thread: the next thread
            # reads on (the end of the stream again, so every thread ends)
            self.lead.release()

    def _serve_frames(self) -> None:
        """Read and process frames while holding the lead; returns holding it."""
        channel = self.channel
        lead = self.lead
        while True:
            frame = channel.read()
            if frame is None:
                channel.flush()
                return
            # Hand the reading to a follower only when it has work meanwhile: a frame
            # already here, or a processor slow enough that the next frame may come
            # before this one is done. A quick processor at low concurrency keeps its
            # thread as the reader: handing over on every frame woke a follower and
            # passed the GIL back and forth, ~4.5 context switches per request at
            # concurrency 1 instead of ~1, each a chance to be kept off a busy core
            # (a cause of the identity p99's jumps, issue 16).
            # A batch of a processor whose batch fills the cores keeps its reader even
            # when slow, and even with a frame already here: nothing could run beside it.
            # The batch the kernel sends meanwhile (batching.py: the next one, or a full
            # one) waits in the socket until this one is done, as it would for the cores,
            # and is read the moment it is.
            # A lone caller's frame (the kernel had nothing else in flight for this
            # instance: frames.ALONE) keeps its reader too, unless a frame is already
            # here or the processor is slow: the next frame comes after its answer, and
            # handing over on every such frame cost a served model at concurrency 1
            # 14-18% of its p50 where idle CPUs wake fast (the kernel marks frames
            # only there: awake.wakes_fast says why). A new client's request that
            # comes meanwhile waits at most _KEEP_ALONE_S, while the call is as quick
            # as the last one: a kept call that turns out slow (a quick app's rare long
            # request) holds the frames that come behind it for its whole length, other
            # threads idle, unless the kernel nudges (``_hear_nudges``): then the reading
            # is taken from the kept call and the frames behind it run beside it.
            kind, rid, status, payload = frame
            if kind == BATCH and self.batch_fills_cores:
                handed = False
            elif kind == REQUEST and status == ALONE and self.took < _KEEP_ALONE_S:
                handed = channel.buffered()
            else:
                handed = self.took > _GATHER_S or channel.buffered()
            kept = not handed and kind == REQUEST and self.nudges is not None
            if handed:
                lead.release()
            elif kept:
                me = self._kept_by = threading.get_ident()
            started = time.perf_counter()
            try:
                if kind == REQUEST:
                    self._one(rid, payload)
                elif kind == BATCH:
                    self._batch(payload)
            except BaseException:
                # the caller's finally releases the lead: take it back first
                if handed or (kept and self._taken_from(me)):
                    lead.acquire()
                raise
            if kept:
                handed = self._taken_from(me)  # taken meanwhile: back in line, as if handed
            self.took = time.perf_counter() - started
            # A quick processor's answer waits for the next frame already here, so that
            # both leave in one send; a slow one's answer leaves at once. (The reader
            # flushes before it blocks, so an answer never waits for a new request.)
            if (
                not channel.buffered()
                or time.perf_counter() - started > _GATHER_S
                or channel.pending() >= _GATHER_MAX
            ):
                channel.flush()
            if handed:
                lead.acquire()  # back in line to read (after the answer is out)

    def _taken_from(self, me: int) -> bool:
        """Thread ``me``'s kept call is done: whether a nudge took the reading from it."""
        with self._kept_lock:
            if self._kept_by == me:
                self._kept_by = None
                return False
            return True

    def _hear_nudges(self) -> None:
        """Take the reading from a kept call when the kernel says frames wait behind it.

        A thread keeps the reading through a call it expects to be quick (``_loop``):
        waking a follower for every frame cost more than the call. When the call turns
        out slow, nothing reads the frames behind it. The kernel sees that (frames in
        flight, no answer for ``instance.NUDGE_S``) and sends a byte here; releasing
        the lead for the kept call lets a follower read on (a ``threading.Lock`` may be
        released by any thread). Nothing else listens, so this costs the quick path
        one uncontended lock per kept call and no wake-up.
        """
        assert self.nudges is not None
        while True:
            try:
                data = self.nudges.recv(64)
            except OSError:
                return
            if not data:
                return  # the kernel closed its end: the instance is ending
            with self._kept_lock:
                if self._kept_by is not None:
                    self._kept_by = None
                    self.lead.release()

    def _one(self, rid: int, payload: bytes) -> None:
        try:
            body, status = self.processor.process(payload)
            answer = (as_bytes(body), normalize_status(status))
        except _USER_ENDED as exc:  # a bad request must never end the instance
            answer = self.errors.answer(exc, "process()")
            if self.http_aware:
                answer = (http_error_answer(answer[0]), answer[1])
        if self.take_metrics is not None:
            self._queue_metrics()
        self.channel.queue(RESPONSE, rid, answer[1], answer[0])

    def _batch(self, payload: bytes) -> None:
        ids, bodies = read_batch(payload)
        try:
            statuses, answers = self.processor.answer_batch(bodies)
        except _USER_ENDED as exc:
            body, status = self.errors.answer(exc, "process_batch()")
            if self.http_aware:
                body = http_error_answer(body)
            statuses, answers = [status] * len(ids), Packed.of([body] * len(ids))
        if self.take_metrics is not None:
            self._queue_metrics()
        self.channel.queue_answers(ids, statuses, answers)

    def _queue_metrics(self) -> None:
        """Queue the processor's custom metrics, if they changed, ahead of the answer:
        the kernel then has them when the caller has the answer. Taking and queueing
        under one lock keeps a thread whose change another thread took from sending its
        answer before that thread's METRICS frame."""
        take = self.take_metrics
        assert take is not None  # called only for a processor that has it
        with self.metrics_lock:
            try:
                payload = take()
            except Exception:  # metrics must never cost an answer
                traceback.print_exc()
                return
            if payload:
                self.channel.queue(METRICS, 0, 0, payload)


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
        instance_count=int(config.get("instance_count") or 1),
        model_threads=int(config["model_threads"]) if config.get("model_threads") else None,
        batching=bool(config.get("batching")),
    )
    cls = load_class(config["target"])
    return cls(ctx)


def _set_pdeathsig() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where it cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)) == 0
    except (OSError, AttributeError):  # no libc symbol, or a sandbox that forbids prctl
        return False


def watch_parent(parent: int, interval: float = WATCHDOG_S) -> threading.Thread:
    """Exit this process (code 70) as soon as its parent is no longer ``parent``.

    A daemon thread polling ``os.getppid()``: an orphan is re-parented (to init or a
    subreaper), so a changed parent pid means the kernel is gone.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(70)

    thread = threading.Thread(target=watch, name="easlab-parent-watchdog", daemon=True)
    thread.start()
    return thread


def die_with_parent(parent: int | None = None) -> str:
    """Make sure this worker does not outlive the kernel that started it.

    ``parent``: the kernel's pid (default: ``$EASLAB_KERNEL_PID``, else the current
    parent). Returns how: ``"pdeathsig"`` or ``"watchdog"``. Exits at once if the
    kernel died before the guard was armed.
    """
    if parent is None:
        try:
            parent = int(os.environ.get(KERNEL_PID_ENV) or os.getppid())
        except ValueError:
            parent = os.getppid()
    armed = _set_pdeathsig()
    if os.getppid() != parent:  # the kernel died before prctl took effect
        os._exit(70)
    if armed:
        return "pdeathsig"
    watch_parent(parent)
    return "watchdog"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print(
            "usage: python -m easlab.kernel.worker FD [NUDGE_FD] (started by the easlab kernel)",
            file=sys.stderr,
        )
        return 2
    # Ctrl-C in a terminal reaches the whole process group; the kernel decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = _Channel(socket.socket(fileno=int(args[0])))
    first = channel.read()
    if first is None or first[0] != CONFIG:
        print("easlab worker: the kernel sent no configuration", file=sys.stderr)
        return 2
    config = json.loads(first[3])
    use_package(str(config.get("processor_path") or ""), config.get("processor_sources") or [])
    channel.attach_rings(config.get("shm"))
    # before the model's first allocation: its buffers stay between calls; the kernel
    # logs what was done when the instance is ready (not output of the user's code)
    malloc = keep_model_memory()
    processor = None
    try:
        processor = build_processor(config)
        processor.initialize()
        ready = {
            "signature": processor.signature(),
            "request_format": getattr(processor, "request_format", None),
            "pid": os.getpid(),
            # the intra-op threads a model runtime chose (onnx, pytorch), shown by `w`
            "threads": getattr(processor, "threads", None),
            # a lone caller's batch may come as a plain request (base.Processor)
            "lone_batch_is_process": bool(getattr(processor, "lone_batch_is_process", False)),
            "malloc": malloc,
            "notes": processor.setting_notes(),
        }
        payload = json.dumps(ready).encode()
    except BaseException as exc:
        # what was under way: a python processor names loading its app.py apart
        step = getattr(processor, "start_step", None) or "initialize()"
        heading = f"{step} failed with {type(exc).__name__}:"
        sys.stderr.write(user_traceback(exc, heading))
        sys.stderr.flush()
        message = start_failure(exc, heading, str(config.get("service")))
        channel.send(FAILED, 0, 0, message.encode("utf-8", "replace"))
        return 1
    channel.send(READY, 0, 0, payload)
    # The processor and its model live as long as the process: keep them out of the
    # collector's full passes (a large model would otherwise pause requests).
    gc.freeze()
    try:
        Worker(
            channel,
            processor,
            int(config.get("worker_threads") or 5),
            str(config.get("service")),
            nudges=socket.socket(fileno=int(args[1])) if len(args) == 2 else None,
        ).serve()
    finally:
        try:
            processor.close()
        except Exception:
            traceback.print_exc()
    return 0


if __name__ == "__main__":
    # First of all, before any user code is imported (and may hang in initialize()):
    # an instance process must never outlive its kernel.
    die_with_parent()
    sys.exit(main())
