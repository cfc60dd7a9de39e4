"""Instance processes: spawn, supervise and talk to ``easlab.kernel.worker``.

Each instance is one worker process connected to the kernel by a socket pair.
Requests travel as length-prefixed frames (see worker.py); answers are matched
by request id. An instance that dies while serving is restarted with backoff;
the calls it held are put back on the service's queue once (then 502). A
request still unanswered after twice ``rpc.keepalive`` means the processor is
stuck: the caller got its 408 at one keepalive, and the instance is killed and
restarted so its threads come back.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import signal
import socket
import sys
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from easlab.kernel import awake
from easlab.kernel.allocator import for_the_log
from easlab.kernel.call import Call
from easlab.kernel.frames import (
    ALONE,
    ANSWERS,
    BATCH,
    CONFIG,
    FAILED,
    HEADER,
    METRICS,
    READY,
    REQUEST,
    RESPONSE,
    encode_batch_index,
    encode_frame,
    read_answers,
    tune_socket,
)
from easlab.kernel.shm import RING_SIZE, SHM, SHM_MIN, SLOT, Ring

if TYPE_CHECKING:
    from easlab.kernel.service import Service, Version


def _default_startup_timeout() -> float:
    raw = os.environ.get("EASLAB_STARTUP_TIMEOUT", "").strip()
    if not raw:
        return 300.0
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (value > 0 and math.isfinite(value)):
        print(
            f"easlab kernel: EASLAB_STARTUP_TIMEOUT={raw!r} is not a number of seconds > 0; "
            "using 300",
            file=sys.stderr,
            flush=True,
        )
        return 300.0
    return value


#: seconds an instance may take to start (spawn + ``initialize()``) before it is killed
#: and its start counts as failed, unless its service.json sets metadata.startup_timeout:
#: ``$EASLAB_STARTUP_TIMEOUT`` as the kernel starts, default 300
STARTUP_TIMEOUT_S = _default_startup_timeout()
#: bytes of one line of an instance's output kept in its service's log (the rest of a
#: longer line is counted, not kept: the log holds LOG_RING lines, service.py)
LOG_LINE_MAX = 8192
_LOG_READ = 64 * 1024
_HEADER_SIZE = HEADER.size
_RID_MASK = 0xFFFFFFFF
#: an answer within this many seconds of its frame's send marks the processor quick:
#: frames may then wait inside the instance, behind its busy threads (see Service)
QUICK_S = 0.002
#: how long the kernel waits awake for the answer of a frame sent to an idle instance
#: whose last answer came back within PROMPT_S (see Instance.awake_wait); after two
#: waits in a row that ended without the answer, it waits only now and then (awake.py)
POLL_S = 50e-6
PROMPT_S = 200e-6
#: frames waiting behind a call and no answer for this long: nudge the instance, whose
#: thread may have kept the reading through a call that turned out slow (worker.py
#: ``Worker._hear_nudges``); at most once until the next answer
NUDGE_S = 0.002


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "exited"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


#: bytes of the read buffer; a frame that does not fit gets a buffer of its own
_READ_BUFFER = 256 * 1024
#: buffers per sendmsg call (the system's IOV_MAX is 1024)
_IOV_MAX = 512


class _Channel:
    """The kernel's end of an instance socket, driven by the event loop's reader/writer.

    Not an asyncio transport, on purpose: frames leave with ``sendmsg`` (header and
    body are never concatenated, an unsent rest is kept as memoryviews, not copied
    into a growing buffer), and frames arrive with ``recv_into`` (a payload larger
    than the read buffer is received straight into a buffer of its own size).
    Frames written while the instance is busy are gathered and leave together at
    the end of the event loop's pass (one system call for many requests at high
    concurrency; no delay, since the pass ends before the loop waits again).
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, instance: Instance
    ) -> None:
        sock.setblocking(False)
        tune_socket(sock)
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.instance = instance
        self.closed = False
        self._eof_pending = False
        self._buf = bytearray(_READ_BUFFER)
        self._view = memoryview(self._buf)
        self._start = 0
        self._end = 0
        self._big: bytearray | None = None  # payload of a large frame being received
        self._big_view: memoryview | None = None
        self._big_got = 0
        self._big_head = (0, 0, 0)
        self._out: deque[memoryview] = deque()  # unsent rest, waiting for the writer
        self._gather: list[bytes | bytearray | memoryview] = []
        self._flush_scheduled = False
        #: the shared-memory rings of large bodies (shm.py): requests out, answers in
        self.tx: Ring | None = None
        self.rx: Ring | None = None
        loop.add_reader(self.fd, self._readable)

    # -- writing -------------------------------------------------------------------

    def write(self, *parts: bytes | bytearray | memoryview, gather: bool = False) -> None:
        """Send ``parts`` as they are; ``gather=True`` lets them wait for the pass's end."""
        if self.closed:
            return
        if gather or self._gather:
            self._gather.extend(parts)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self.loop.call_soon(self._flush)
            return
        self._send(list(parts))

    def _flush(self) -> None:
        self._flush_scheduled = False
        parts, self._gather = self._gather, []
        if parts and not self.closed:
            self._send(parts)

    def _send(self, parts: list[bytes | bytearray | memoryview]) -> None:
        if self._out:
            self._out.extend(memoryview(p) for p in parts)
            return
        for first in range(0, len(parts), _IOV_MAX):
            chunk = parts[first : first + _IOV_MAX]
            try:
                sent = self.sock.sendmsg(chunk)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self.close()  # the process is gone; its supervisor takes it from here
                return
            for i, part in enumerate(chunk):
                size = len(part)
                if sent >= size:
                    sent -= size
                    continue
                # The socket is full: keep the rest as views (no copy) for the writer.
                self._out.append(memoryview(part)[sent:])
                self._out.extend(memoryview(p) for p in chunk[i + 1 :])
                self._out.extend(memoryview(p) for p in parts[first + _IOV_MAX :])
                self.loop.add_writer(self.fd, self._writable)
                return

    def _writable(self) -> None:
        out = self._out
        while out:
            try:
                sent = self.sock.sendmsg(list(itertools.islice(out, _IOV_MAX)))
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.close()
                return
            while sent and out:
                head = out[0]
                if sent >= len(head):
                    sent -= len(head)
                    out.popleft()
                else:
                    out[0] = head[sent:]
                    sent = 0
        self.loop.remove_writer(self.fd)
        if self._eof_pending:
            self._shutdown_write()

    def write_eof(self) -> None:
        """No more frames: the worker finishes what it holds and exits."""
        self._flush()
        if self._out:
            self._eof_pending = True
        else:
            self._shutdown_write()

    def _shutdown_write(self) -> None:
        self._eof_pending = False
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.loop.remove_reader(self.fd)
        self.loop.remove_writer(self.fd)
        self._out.clear()
        self._gather.clear()
        self.sock.close()
        # unmap our side of the rings; the memory goes once the instance's side is gone
        for ring in (self.tx, self.rx):
            if ring is not None:
                ring.close()

    # -- reading -------------------------------------------------------------------

    def poll(self, seconds: float) -> None:
        """Wait up to ``seconds`` for an answer without sleeping (see Instance.send)."""
        if self.closed or self._big_view is not None or self._end != self._start:
            return
        instance = self.instance
        instance.awake_waits += 1
        end = time.perf_counter() + seconds
        recv_into = self.sock.recv_into
        view = self._view
        while True:
            try:
                got = recv_into(view)
            except (BlockingIOError, InterruptedError):
                if time.perf_counter() >= end:
                    instance.poll_misses += 1  # slower than the wait: stop waiting awake
                    return
                # Let a process sharing this core (the instance, the client) run now
                # rather than at the end of the wait.
                os.sched_yield()
                continue
            except OSError:
                got = 0
            if got == 0:
                self.close()
                return
            instance.poll_misses = 0
            instance.awake_answers += 1
            self._start, self._end = 0, got
            self._frames()
            return

    def _readable(self) -> None:
        if self._big_view is not None:
            self._read_big()
            return
        buf = self._buf
        if self._start == self._end:
            self._start = self._end = 0
        elif self._end == len(buf):  # a partial frame sits at the end: move it to the front
            rest = self._end - self._start
            buf[:rest] = self._view[self._start : self._end]
            self._start, self._end = 0, rest
        try:
            got = self.sock.recv_into(self._view[self._end :])
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            got = 0
        if got == 0:
            self.close()
            return
        self._end += got
        self._frames()

    def _frames(self) -> None:
        view = self._view
        on_frame = self.instance.on_frame
        while self._end - self._start >= _HEADER_SIZE and not self.closed:
            start = self._start
            kind, rid, status, size = HEADER.unpack_from(view, start)
            begin = start + _HEADER_SIZE
            have = self._end - begin
            if have >= size:
                self._start = begin + size
                payload = bytes(view[begin : begin + size])
                if kind & SHM:  # the body waits in the answers' ring (shm.py)
                    if self.rx is None:
                        self.close()
                        return
                    kind &= ~SHM
                    payload = self.rx.take(payload)
                    self.instance.shm_answers += 1
                on_frame(kind, rid, status, payload)
                continue
            if size + _HEADER_SIZE > len(self._buf):
                # Too large for the read buffer: it gets a buffer of its own size.
                big = bytearray(size)
                big[:have] = view[begin : self._end]
                self._big, self._big_view, self._big_got = big, memoryview(big), have
                self._big_head = (kind, rid, status)
                self._start = self._end = 0
            return

    def _read_big(self) -> None:
        assert self._big is not None and self._big_view is not None
        try:
            got = self.sock.recv_into(self._big_view[self._big_got :])
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            got = 0
        if got == 0:
            self.close()
            return
        self._big_got += got
        if self._big_got == len(self._big):
            payload, (kind, rid, status) = self._big, self._big_head
            self._big = self._big_view = None
            self.instance.on_frame(kind, rid, status, payload)


class Instance:
    """One worker process of a service, restarted when it dies."""

    def __init__(self, service: Service, index: int, version: Version, gpus: list[int]) -> None:
        self.service = service
        self.index = index
        self.version = version
        self.gpus = gpus
        self.name = f"{service.name}-{index}"
        self.status = "Pending"
        self.ready = False
        self.reason = ""
        self._killed_for = ""  # why the kernel killed the process, when it did (check_stuck)
        self.restarts = 0
        self.pid: int | None = None
        #: this process was seen resident beyond metadata.memory (Service.check_memory)
        self.over_memory = False
        self.start_time: float | None = None
        self.busy = 0  # frames being processed (a batch is one frame)
        self.batch_rows = 0  # calls in the last frame sent (Service._running_batch)
        # Whether the last answer came back within QUICK_S of its send; until one has,
        # the instance takes no more frames than it has threads.
        self.quick = False
        self.answer_s: float | None = None  # its last REQUEST frame's send to answer (awake_wait)
        self.poll_misses = 0  # awake waits in a row that ended without the answer
        self._sends = 0
        self._answers = 0  # answer frames heard (the nudge's silence check)
        self._nudges: socket.socket | None = None  # the kernel's end of the nudge pair
        self._nudge_timer: asyncio.TimerHandle | None = None
        self._nudged_at = -1  # self._answers when the last nudge went (one per silence)
        self.calls: dict[int, Call] = {}
        self.stopping = False
        self.started: asyncio.Future[str | None] | None = None  # None = ready, str = failure
        self.recent: deque[str] = deque(maxlen=40)
        self._rid = 0
        self._channel: _Channel | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._ready: asyncio.Future[str | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._started_at = 0.0  # monotonic time the current process was spawned
        self._cancelled: str | None = None  # why its start was aborted (cancel_start)
        #: the model runtime's threads, as the processor reported them at READY
        self.threads: dict[str, Any] | None = None
        self.malloc: str | None = None  # the worker's allocator note (allocator.py)
        #: whether its processor answers a batch of one as a plain request (READY)
        self.lone_batch_is_process = False
        #: bodies that crossed in shared memory (shm.py), since the instance was made
        self.shm_requests = 0
        self.shm_answers = 0
        #: waits awake for an answer (Instance.awake_wait), and those it came in
        self.awake_waits = 0
        self.awake_answers = 0
        #: its processor's custom metrics (frames.METRICS, JSON), read when /metrics is
        #: scraped (prometheus.py); None until its current process sends some
        self.custom_metrics: bytes | None = None

    # -- lifecycle -------------------------------------------------------------

    @property
    def starting(self) -> bool:
        """Its process is being spawned or is still in ``initialize()``."""
        return self.status in ("Pending", "Starting")

    def launch(self) -> asyncio.Future[str | None]:
        """Start supervising; the future resolves at the first start (None = ready)."""
        loop = asyncio.get_running_loop()
        self.started = loop.create_future()
        self._task = loop.create_task(self._supervise())
        return self.started

    async def _supervise(self) -> None:
        try:
            await self._supervise_loop()
        except asyncio.CancelledError:
            # stop() gave up waiting for this task: never leave the process behind.
            self.kill()
            raise
        except Exception as exc:  # a bug here must not leave a process nobody supervises
            self.kill()
            self.status = "Failed"
            self.reason = f"kernel fault while supervising the instance: {exc!r}"
            self.service.log(self.name, self.reason)
            self._resolve_started(self.reason)
            raise
        finally:
            # Whoever awaits the first start gets an answer, whatever ended this task
            # (e.g. a stop before the loop ever ran).
            self._resolve_started(self._aborted())

    def _resolve_started(self, failure: str | None) -> None:
        if self.started is not None and not self.started.done():
            self.started.set_result(failure)

    async def _supervise_loop(self) -> None:
        delay = 0.2
        assert self.started is not None
        while not self.stopping:
            failure = await self._start_once()
            if failure is not None:
                self.ready = False
                self.status = "Failed"
                self.reason = failure
                await self._reap()
                if not self.started.done():
                    self.started.set_result(failure)
                    return  # a failed first start fails the service; no retry loop
                if self.stopping:
                    return
                self.service.log(self.name, f"restart failed, retrying in {delay:.1f}s")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                self.restarts += 1
                continue
            delay = 0.2
            self.quick = False  # a fresh process: its speed is not known yet
            self.answer_s = None
            self.poll_misses = 0
            self.ready = True
            self.status = "Running"
            # Like eascmd's `w`, a restarted instance keeps its last termination reason.
            if self.reason and not self.reason.startswith("last exit: "):
                self.reason = "last exit: " + self.reason
            if not self.started.done():
                self.started.set_result(None)
            self.service.on_instance_ready(self)
            assert self._proc is not None
            code = await self._proc.wait()
            self.ready = False
            if self.stopping:
                break
            reason = self._killed_for or _exit_reason(code)
            self._killed_for = ""
            self.status = "Restarting"
            self.reason = reason
            self.service.log(self.name, f"instance {reason}; restarting")
            self._channel_close()
            self._orphan_calls(reason)
            self.restarts += 1
            await asyncio.sleep(0.05)
        self.status = "Stopped"

    def _aborted(self) -> str:
        return f"start aborted: {self._cancelled or 'instance stopped'}"

    async def _start_once(self) -> str | None:
        """Spawn the worker and wait for READY; a failure message otherwise."""
        if self.stopping:
            return self._aborted()
        loop = asyncio.get_running_loop()
        parent, child = socket.socketpair()
        nudges, nudges_child = socket.socketpair()
        nudges.setblocking(False)
        # large bodies cross in shared memory (shm.py): one ring each way
        rings = [Ring.create(f"easlab-{self.name}-{way}") for way in ("requests", "answers")]
        shared = [made for made in rings if made is not None]
        if len(shared) == 2:
            config_shm: dict[str, int] | None = {
                "requests": shared[0][1],
                "answers": shared[1][1],
                "size": RING_SIZE,
            }
        else:
            config_shm = None
            for ring, _ in shared:
                ring.close()
            shared = []
        config = dict(self.version.worker_config)
        config["instance_index"] = self.index
        config["gpu_devices"] = self.gpus
        config["shm"] = config_shm
        # for the model runtime's thread count (processors/base.py model_threads); an
        # instance keeps what it chose at its start when the service is scaled later
        config["instance_count"] = self.version.spec.metadata.instance
        config["model_threads"] = self.version.spec.metadata.model_threads
        config["batching"] = self.version.spec.metadata.batching
        self.status = "Pending"
        self.pid = None
        self.custom_metrics = None  # a new process starts its metrics from nothing
        self.start_time = None
        try:
            proc = await asyncio.create_subprocess_exec(
                # a package that brings ENV/ runs under its Python (kernel/packaged_env.py)
                str(self.version.python or sys.executable),
                "-m",
                "easlab.kernel.worker",
                str(child.fileno()),
                str(nudges_child.fileno()),
                pass_fds=(child.fileno(), nudges_child.fileno(), *(fd for _, fd in shared)),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=self.service.instance_env(self),
                cwd=str(self.service.work_dir),
            )
        except OSError as exc:
            parent.close()
            nudges.close()
            for ring, _ in shared:
                ring.close()
            return f"cannot start the instance process: {exc}"
        finally:
            child.close()
            nudges_child.close()
            for _, fd in shared:
                os.close(fd)  # the mappings stay; the instance has its own descriptors
        self._proc = proc
        self.pid = proc.pid
        self.over_memory = False
        self.start_time = time.time()
        self._started_at = time.monotonic()
        self.status = "Starting"
        self._ready = loop.create_future()
        channel = _Channel(loop, parent, self)
        self._nudges = nudges
        if shared:
            channel.tx, channel.rx = shared[0][0], shared[1][0]
        self._channel = channel
        if self.stopping:  # stopped or aborted while the process was being spawned
            self.kill()
            self._ready.set_result(self._aborted())
        channel.write(encode_frame(CONFIG, 0, 0, json.dumps(config).encode()))
        assert proc.stdout is not None
        loop.create_task(self._pump_logs(proc.stdout))
        exited = loop.create_task(proc.wait())
        waiting: set[asyncio.Future[Any]] = {self._ready, exited}
        limit = self.service.startup_timeout_s(self.version)
        while True:
            # Re-read the limit each second: `modify -Dmetadata.startup_timeout=...`
            # applies to a start already under way.
            limit = self.service.startup_timeout_s(self.version)
            left = self._started_at + limit - time.monotonic()
            if left <= 0:
                break
            done, _ = await asyncio.wait(
                waiting, timeout=min(left, 1.0), return_when=asyncio.FIRST_COMPLETED
            )
            if done:
                break
        if self._ready.done():
            exited.cancel()
            return self._ready.result()
        if exited.done():
            # Give the pipe a moment to deliver the last lines (an import error's traceback).
            await asyncio.sleep(0.05)
            tail = "\n".join(self.recent)
            return f"instance {_exit_reason(exited.result())} during start" + (
                f"; last output:\n{tail}" if tail else ""
            )
        exited.cancel()
        self.kill()
        self.service.log(
            self.name,
            f"initialize() still running after {limit:g} s (startup timeout); "
            f"killing instance pid {proc.pid}",
        )
        tail = "\n".join(list(self.recent)[-10:])
        return (
            f"initialize() of instance {self.name} (pid {proc.pid}) did not finish within "
            f"{limit:g} s, so it was killed. If the model needs longer to load, raise "
            f"metadata.startup_timeout (seconds; the kernel's default is "
            f"{STARTUP_TIMEOUT_S:g} s, from $EASLAB_STARTUP_TIMEOUT); otherwise see where "
            f"initialize() hangs with `easlab logs {self.service.name}`"
            + (f"; last output:\n{tail}" if tail else "")
        )

    async def _pump_logs(self, stream: asyncio.StreamReader) -> None:
        """The instance's output, line by line, into its service's log.

        Read in chunks, not ``readline``: a line longer than the reader's 64 KiB limit
        (a model printing a large array) made ``readline`` raise, which ended this
        task; the pipe then filled, and the instance hung in its next ``print`` until
        it was killed as stuck. A line keeps its first ``LOG_LINE_MAX`` bytes.
        """
        pending = b""  # the start of a line whose end has not come yet
        dropped = 0  # bytes of that line past LOG_LINE_MAX, not kept
        while True:
            chunk = await stream.read(_LOG_READ)
            if not chunk:
                if pending or dropped:
                    self._log_line(pending, dropped)
                return
            start = 0
            while True:
                newline = chunk.find(b"\n", start)
                end = len(chunk) if newline < 0 else newline
                room = LOG_LINE_MAX - len(pending)
                if room > 0:
                    pending += chunk[start : min(end, start + room)]
                dropped += max(0, end - start - max(room, 0))
                if newline < 0:
                    break
                self._log_line(pending, dropped)
                pending, dropped = b"", 0
                start = newline + 1

    def _log_line(self, line: bytes, dropped: int) -> None:
        text = line.decode("utf-8", "replace").rstrip("\r")
        if dropped:
            text += f" ... ({dropped} more bytes of this line not kept)"
        self.recent.append(text)
        self.service.log(self.name, text)

    async def _reap(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self.kill()
            await self._proc.wait()
        self._channel_close()

    def kill(self) -> None:
        """SIGKILL the worker (the supervisor restarts it unless stopping)."""
        if self._proc is not None and self._proc.returncode is None:
            try:
                self._proc.kill()
            except ProcessLookupError:
                pass

    def cancel_start(self, reason: str) -> None:
        """Abort this instance's start at once (stop, delete, kernel shutdown).

        Kills the process, even in the middle of ``initialize()``, and ends the
        wait for it: the start reports ``start aborted: <reason>`` and nothing is
        restarted. The caller still ``stop()``s the instance to reap it.
        """
        self.stopping = True
        if self._cancelled is None:
            self._cancelled = reason
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(self._aborted())
        self.kill()

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop taking calls, let in-flight calls finish, then end the process.

        An instance still starting has nothing to finish (and its ``initialize()``
        may never return): it is killed at once.
        """
        if self.starting:
            self.cancel_start("instance stopped")
        self.stopping = True
        self.ready = False
        if self._channel is not None:
            self._channel.write_eof()  # the worker drains its frames and exits
        proc = self._proc
        if proc is not None and proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), grace_s)
            except asyncio.TimeoutError:
                self.kill()
                await proc.wait()
        self._channel_close()
        self._orphan_calls("was stopped")
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 2.0)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._task.cancel()
        # the task may have spawned a process while we waited (a restart): end it too
        proc = self._proc
        if proc is not None and proc.returncode is None:
            self.kill()
            await proc.wait()
        self._resolve_started("instance stopped before it was ready")
        self.status = "Stopped"

    def _channel_close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._nudge_timer is not None:
            self._nudge_timer.cancel()
            self._nudge_timer = None
        if self._nudges is not None:
            self._nudges.close()
            self._nudges = None

    def _orphan_calls(self, reason: str) -> None:
        calls = list(self.calls.values())
        self.calls.clear()
        self.busy = 0
        self.service.on_calls_orphaned(self, calls, reason)

    # -- frames ----------------------------------------------------------------

    def _next_rid(self) -> int:
        self._rid = (self._rid + 1) & _RID_MASK
        return self._rid

    def send(self, call: Call) -> None:
        rid = self._next_rid()
        call.rid = rid
        call.instance = self
        call.batch = None
        call.sent = time.perf_counter()
        self.calls[rid] = call
        self.batch_rows = 1
        channel = self._channel
        assert channel is not None
        # An idle instance gets the frame at once (latency); a busy one gets the frames
        # of this loop pass together (throughput: one send, one wake-up for many).
        body = call.body
        alone = ALONE if call.alone and not self.busy and awake.wakes_fast() else 0
        slot = channel.tx.put((body,)) if len(body) >= SHM_MIN and channel.tx else None
        if slot is None:
            channel.write(HEADER.pack(REQUEST, rid, alone, len(body)), body, gather=self.busy > 0)
        else:
            self.shm_requests += 1
            channel.write(
                HEADER.pack(REQUEST | SHM, rid, alone, SLOT.size), slot, gather=self.busy > 0
            )
        self.busy += 1
        self._sends += 1
        if self.busy > 1 and self._nudge_timer is None and self._nudges is not None:
            self._watch_silence()
        if self.busy == 1 and awake.due(self.poll_misses, self._sends):
            # A lone request: at the end of this loop pass, wait for its answer awake
            # rather than in the event loop's poll. Falling asleep and being woken costs
            # more than the wait (~20% of a request at concurrency 1); at high
            # concurrency the instance is never idle.
            wait = self.awake_wait(call)
            if wait:
                self.service.kernel.loop.call_soon(channel.poll, wait)

    def _watch_silence(self) -> None:
        """Nudge the instance if it stays silent with frames waiting (``NUDGE_S``).

        One timer per instance while frames wait behind others, none at concurrency
        1: under load answers keep coming and the check only looks at a counter."""
        self._nudge_timer = self.service.kernel.loop.call_later(
            NUDGE_S, self._check_silence, self._answers
        )

    def _check_silence(self, answers: int) -> None:
        self._nudge_timer = None
        if self.busy < 2 or self._nudges is None:
            return  # nothing waits behind a call: nothing to run beside it
        if answers == self._answers and self._nudged_at != answers:
            self._nudged_at = answers
            try:
                self._nudges.send(b"!")
            except OSError:  # full (nudges already wait) or the instance is ending
                pass
        self._watch_silence()

    def awake_wait(self, call: Call) -> float:
        """Seconds to wait awake for ``call``'s answer after sending it (0: do not).

        A processor that answers within microseconds: POLL_S, for every caller. A
        slower one, up to awake.LONG_WAIT_S: only for a caller alone in the kernel
        (awake.py), twice its last answer time plus POLL_S.
        """
        took = self.answer_s
        if took is None:
            return 0.0
        if took < PROMPT_S:
            return POLL_S
        if call.alone and took < awake.LONG_WAIT_S:
            return min(awake.LONG_WAIT_S, POLL_S + 2 * took)
        return 0.0

    def send_batch(self, calls: list[Call]) -> None:
        counter = [1]  # shared by the batch's calls: 1 while the batch is in the instance
        ids = []
        for call in calls:
            rid = self._next_rid()
            call.rid = rid
            call.instance = self
            call.batch = counter
            self.calls[rid] = call
            ids.append(rid)
        self.busy += 1
        if self.busy > 1 and self._nudge_timer is None and self._nudges is not None:
            self._watch_silence()  # behind a lone caller's request the worker may keep
        self.batch_rows = len(calls)
        channel = self._channel
        assert channel is not None
        index = encode_batch_index(ids, [len(call.body) for call in calls])
        parts = [index, *(call.body for call in calls)]
        size = sum(len(part) for part in parts)
        slot = channel.tx.put(parts) if size >= SHM_MIN and channel.tx else None
        if slot is None:
            channel.write(HEADER.pack(BATCH, 0, 0, size), *parts)
        else:
            self.shm_requests += 1
            channel.write(HEADER.pack(BATCH | SHM, 0, 0, SLOT.size), slot)

    def on_frame(self, kind: int, rid: int, status: int, payload: bytes | bytearray) -> None:
        if kind == ANSWERS:
            # A batch's answers, all in one frame once process_batch has returned
            try:
                answers = read_answers(payload)
            except ValueError as exc:  # not our worker's frame: the channel is unusable
                self.service.log(self.name, f"killing the instance: {exc}")
                self.kill()
                return
            for rid, status, body in answers:
                self._answer(rid, status, body)
        elif kind == RESPONSE:
            self._answer(rid, status, payload)
        elif kind == METRICS:
            self.custom_metrics = bytes(payload)
        elif kind == READY:
            info: dict[str, Any] = json.loads(payload)
            self.threads = info.get("threads")
            # the worker's allocator settings (allocator.py): shown by `w`; the log says
            # them only when they are not the usual ones, as the kernel's line (it read
            # "[NAME-0] malloc: ..." before the user's own prints, as if theirs)
            self.malloc = str(info["malloc"]) if info.get("malloc") else None
            note = for_the_log(self.malloc) if self.malloc else None
            if note:
                self.service.log("kernel", f"{self.name}: {note}")
            self.lone_batch_is_process = bool(info.get("lone_batch_is_process"))
            for note in info.get("notes") or []:
                self.service.note(self.version, self.name, str(note))
            self.service.record_signature(
                self.version, info.get("signature"), info.get("request_format")
            )
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
        elif kind == FAILED:
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(payload.decode("utf-8", "replace"))

    def _answer(self, rid: int, status: int, payload: bytes | bytearray) -> None:
        self._answers += 1
        call = self.calls.pop(rid, None)
        if call is None:
            return
        if call.batch is None:
            self.busy -= 1
            took = time.perf_counter() - call.sent
            self.quick = took < QUICK_S
            self.answer_s = took
            call.finish(status, payload)  # its answer reads call.instance (the monitor)
            call.instance = None
            self.service.pump()  # its slot is free
            return
        if call.batch[0]:
            # The first answer of a batch frees the instance. The next batch leaves
            # now, before this one's callers are answered, so that the model does not
            # wait for the kernel's HTTP writes (issue 16). The batch's other answers
            # free nothing: no pump for them (a pump that finds the next batch not
            # ready still costs ~2 µs, 8 times a batch).
            call.batch[0] = 0
            self.busy -= 1
            self.service.pump()
        call.finish(status, payload)
        call.instance = None

    def on_channel_closed(self) -> None:
        # The process's exit is what the supervisor acts on; nothing to do here.
        return

    def check_stuck(self, rid: int, pid: int | None) -> None:
        """Called one keepalive after a 408: still running means the processor hangs."""
        if rid in self.calls and pid == self.pid and not self.stopping:
            self.service.log(
                self.name,
                "a request is still running after 2x rpc.keepalive; killing the stuck instance",
            )
            # what `w` shows as its last exit (not just "killed by SIGKILL")
            self._killed_for = "killed as stuck: a request ran past 2x rpc.keepalive"
            self.kill()

    def waiting_for(self) -> str:
        """What a starting instance is waiting for, with how long it has waited; else ""."""
        if self.status == "Pending":
            text = "starting its process"
        elif self.status == "Starting" and self.start_time is not None:
            limit = self.service.startup_timeout_s(self.version)
            waited = time.time() - self.start_time
            text = f"in initialize() for {waited:.0f} s (killed after {limit:g} s)"
        else:
            return ""
        last = self.reason
        if last:
            text += "; " + (last if last.startswith("last exit: ") else "last exit: " + last)
        return text

    def describe(self, ip: str, port: int) -> dict[str, Any]:
        started = (
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.start_time))
            if self.start_time
            else None
        )
        elapsed = round(time.time() - self.start_time, 1) if self.start_time else None
        return {
            "name": self.name,
            "ip": ip,
            "port": port,
            "pid": self.pid,
            "start_time": started,
            "elapsed_s": elapsed,
            "restarts": self.restarts,
            "status": self.status,
            "ready": self.ready,
            "reason": self.waiting_for() or self.reason,
            "gpus": list(self.gpus),
            "version": self.version.number,
            "in_flight": len(self.calls),
            "threads": self.threads,
            "malloc": self.malloc,
            "shm": {"requests": self.shm_requests, "answers": self.shm_answers},
            "awake": {"waits": self.awake_waits, "answered": self.awake_answers},
            "python": str(self.version.python or sys.executable),
        }
