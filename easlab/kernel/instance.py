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
import json
import os
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from easlab.kernel.worker import (
    BATCH,
    CONFIG,
    FAILED,
    HEADER,
    READY,
    REQUEST,
    RESPONSE,
    encode_batch,
    encode_frame,
)

if TYPE_CHECKING:
    from easlab.kernel.service import Service, Version

#: seconds an instance may take in initialize() before its start counts as failed
STARTUP_TIMEOUT_S = float(os.environ.get("EASLAB_STARTUP_TIMEOUT", "300"))
_HEADER_SIZE = HEADER.size
_RID_MASK = 0xFFFFFFFF


class Call:
    """One request in flight through the kernel: its body and where its answer goes."""

    __slots__ = (
        "body",
        "respond",
        "done",
        "timer",
        "retried",
        "instance",
        "batch",
        "queued_at",
        "rid",
    )

    def __init__(self, body: bytes, respond: Callable[[int, bytes], None]) -> None:
        self.body = body
        self.respond = respond
        self.done = False
        self.timer: asyncio.TimerHandle | None = None
        self.retried = False
        self.instance: Instance | None = None
        self.batch: list[int] | None = None
        self.queued_at = 0.0
        self.rid = 0

    def finish(self, status: int, body: bytes) -> None:
        """Answer the caller once; later answers (after a 408) are dropped."""
        if self.done:
            return
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
        self.respond(status, body)


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "exited"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class _FrameProtocol(asyncio.Protocol):
    """Reads frames from an instance's socket and hands them to the instance."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        if not buf and len(data) >= _HEADER_SIZE:
            # Fast path: the chunk holds exactly one whole frame (the usual case).
            kind, rid, status, size = HEADER.unpack_from(data)
            if len(data) == _HEADER_SIZE + size:
                self.instance.on_frame(kind, rid, status, data[_HEADER_SIZE:])
                return
        buf += data
        while len(buf) >= _HEADER_SIZE:
            kind, rid, status, size = HEADER.unpack_from(buf)
            end = _HEADER_SIZE + size
            if len(buf) < end:
                return
            payload = bytes(buf[_HEADER_SIZE:end])
            del buf[:end]
            self.instance.on_frame(kind, rid, status, payload)

    def connection_lost(self, exc: Exception | None) -> None:
        self.instance.on_channel_closed()


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
        self.restarts = 0
        self.pid: int | None = None
        self.start_time: float | None = None
        self.busy = 0  # frames being processed (a batch is one frame)
        self.calls: dict[int, Call] = {}
        self.stopping = False
        self.started: asyncio.Future[str | None] | None = None  # None = ready, str = failure
        self.recent: deque[str] = deque(maxlen=40)
        self._rid = 0
        self._transport: asyncio.Transport | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._ready: asyncio.Future[str | None] | None = None
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------

    def launch(self) -> asyncio.Future[str | None]:
        """Start supervising; the future resolves at the first start (None = ready)."""
        loop = asyncio.get_running_loop()
        self.started = loop.create_future()
        self._task = loop.create_task(self._supervise())
        return self.started

    async def _supervise(self) -> None:
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
            self.ready = True
            self.status = "Running"
            self.reason = ""
            if not self.started.done():
                self.started.set_result(None)
            self.service.on_instance_ready(self)
            assert self._proc is not None
            code = await self._proc.wait()
            self.ready = False
            if self.stopping:
                break
            reason = _exit_reason(code)
            self.status = "Restarting"
            self.reason = reason
            self.service.log(self.name, f"instance {reason}; restarting")
            self._transport_close()
            self._orphan_calls(reason)
            self.restarts += 1
            await asyncio.sleep(0.05)
        self.status = "Stopped"

    async def _start_once(self) -> str | None:
        """Spawn the worker and wait for READY; a failure message otherwise."""
        loop = asyncio.get_running_loop()
        parent, child = socket.socketpair()
        config = dict(self.version.worker_config)
        config["instance_index"] = self.index
        config["gpu_devices"] = self.gpus
        self.status = "Pending"
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "easlab.kernel.worker",
                str(child.fileno()),
                pass_fds=(child.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=self.service.instance_env(self),
                cwd=str(self.service.work_dir),
            )
        except OSError as exc:
            parent.close()
            return f"cannot start the instance process: {exc}"
        finally:
            child.close()
        self._proc = proc
        self.pid = proc.pid
        self.start_time = time.time()
        self._ready = loop.create_future()
        transport, _ = await loop.create_connection(lambda: _FrameProtocol(self), sock=parent)
        self._transport = transport  # type: ignore[assignment]
        transport.write(encode_frame(CONFIG, 0, 0, json.dumps(config).encode()))
        assert proc.stdout is not None
        loop.create_task(self._pump_logs(proc.stdout))
        exited = loop.create_task(proc.wait())
        waiting: set[asyncio.Future[Any]] = {self._ready, exited}
        done, _ = await asyncio.wait(
            waiting, timeout=STARTUP_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        if self._ready in done:
            exited.cancel()
            return self._ready.result()
        if exited in done:
            # Give the pipe a moment to deliver the last lines (an import error's traceback).
            await asyncio.sleep(0.05)
            tail = "\n".join(self.recent)
            return f"instance {_exit_reason(exited.result())} during start" + (
                f"; last output:\n{tail}" if tail else ""
            )
        exited.cancel()
        self.kill()
        return f"initialize() did not finish within {STARTUP_TIMEOUT_S:.0f} s"

    async def _pump_logs(self, stream: asyncio.StreamReader) -> None:
        while True:
            line = await stream.readline()
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip("\n")
            self.recent.append(text)
            self.service.log(self.name, text)

    async def _reap(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self.kill()
            await self._proc.wait()
        self._transport_close()

    def kill(self) -> None:
        """SIGKILL the worker (the supervisor restarts it unless stopping)."""
        if self._proc is not None and self._proc.returncode is None:
            try:
                self._proc.kill()
            except ProcessLookupError:
                pass

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop taking calls, let in-flight calls finish, then end the process."""
        self.stopping = True
        self.ready = False
        if self._transport is not None and self._transport.can_write_eof():
            self._transport.write_eof()  # the worker drains its frames and exits
        proc = self._proc
        if proc is not None and proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), grace_s)
            except asyncio.TimeoutError:
                self.kill()
                await proc.wait()
        self._transport_close()
        self._orphan_calls("instance stopped")
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 2.0)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._task.cancel()
        if self.started is not None and not self.started.done():
            self.started.set_result("instance stopped before it was ready")
        self.status = "Stopped"

    def _transport_close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

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
        self.calls[rid] = call
        self.busy += 1
        assert self._transport is not None
        self._transport.write(HEADER.pack(REQUEST, rid, 0, len(call.body)) + call.body)

    def send_batch(self, calls: list[Call]) -> None:
        counter = [len(calls)]
        ids = []
        for call in calls:
            rid = self._next_rid()
            call.rid = rid
            call.instance = self
            call.batch = counter
            self.calls[rid] = call
            ids.append(rid)
        self.busy += 1
        assert self._transport is not None
        self._transport.write(
            encode_frame(BATCH, 0, 0, encode_batch(ids, [call.body for call in calls]))
        )

    def on_frame(self, kind: int, rid: int, status: int, payload: bytes) -> None:
        if kind == RESPONSE:
            call = self.calls.pop(rid, None)
            if call is None:
                return
            call.instance = None
            if call.batch is None:
                self.busy -= 1
            else:
                call.batch[0] -= 1
                if call.batch[0] == 0:
                    self.busy -= 1
            call.finish(status, payload)
            self.service.pump()
        elif kind == READY:
            info: dict[str, Any] = json.loads(payload)
            self.version.signature = info.get("signature")
            self.version.request_format = info.get("request_format")
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
        elif kind == FAILED:
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(payload.decode("utf-8", "replace"))

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
            self.kill()

    def describe(self, ip: str, port: int) -> dict[str, Any]:
        started = (
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.start_time))
            if self.start_time
            else None
        )
        return {
            "name": self.name,
            "ip": ip,
            "port": port,
            "pid": self.pid,
            "start_time": started,
            "restarts": self.restarts,
            "status": self.status,
            "ready": self.ready,
            "reason": self.reason,
            "gpus": list(self.gpus),
            "version": self.version.number,
            "in_flight": len(self.calls),
        }
