"""A service: its versions, its instances, its request queue, its log.

Requests arrive through ``submit`` (the hot path): they go straight to the
least-loaded ready instance with a free worker thread, else wait in the
service's ``BatchQueue`` (450 when ``rpc.max_queue_size`` already wait), and
are answered 408 once ``rpc.keepalive`` ms have passed since they arrived.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from easlab.kernel import packaged_env
from easlab.kernel.batching import BatchQueue
from easlab.kernel.call import Call
from easlab.kernel.frames import KERNEL_PID_ENV
from easlab.kernel.instance import STARTUP_TIMEOUT_S, Instance
from easlab.kernel.monitor import Stats
from easlab.kernel.processors.http import HTTP_AWARE
from easlab.runtime import ADMIN_TOKEN_ENV
from easlab.spec import own_env

if TYPE_CHECKING:
    from easlab.kernel.control import Kernel
    from easlab.spec import ServiceSpec

LOG_RING = 2000
#: a service's log file past this many bytes is kept as NAME.log.1 (replacing the one
#: before) and a new one begun: a model printing at every call filled the disk, since
#: only the in-memory ring (LOG_RING lines) was bounded
LOG_FILE_MAX = 64 * 1024 * 1024
#: frames an instance may hold beyond its worker threads while its processor is
#: quick (instance.QUICK_S): they wait in its socket instead of the kernel's queue,
#: so that many cross in one send and are answered in one (throughput at high
#: concurrency); they count against rpc.max_queue_size like the queue itself
PIPELINE = 32
#: the longest a stop or delete waits for the calls in flight (as Kubernetes'
#: terminationGracePeriodSeconds), whatever rpc.keepalive is; it then ends the
#: instances and their callers get a 502 saying the service was stopped
STOP_GRACE_S = 30.0


def iso(ts: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts else None


def _deadline_of(call: Call) -> float:
    return call.deadline


def _busy(inst: Instance) -> int:
    return inst.busy


# how many of a dead instance's requests the service log describes
_ORPHANS_LOGGED = 4


@dataclass
class Version:
    """One version of a service: its spec and how to build its processor."""

    number: int
    spec: ServiceSpec
    target: str  # "module:Class" of the processor
    worker_config: dict[str, Any]  # the CONFIG frame, less instance index and GPUs
    processor_dir: Path | None = None
    created: float = field(default_factory=time.time)
    signature: dict[str, Any] | None = None
    request_format: str | None = None
    #: the package's ENV/bin/python that runs its instances (None: the kernel's own)
    python: Path | None = None
    #: an instance has said its signature (None included): until then a GET's fate is unknown
    reported: bool = False


class Service:
    """A named service of the kernel."""

    def __init__(
        self,
        kernel: Kernel,
        name: str,
        token: str,
        version: Version,
        cpu_fallback: bool = False,
        blue_green_of: str | None = None,
    ) -> None:
        self.kernel = kernel
        self.name = name
        self.token = token
        self.versions: dict[int, Version] = {version.number: version}
        self.current = version
        self.status = "Creating"
        self.message = ""
        self.cpu_fallback = cpu_fallback
        self.blue_green_of = blue_green_of
        #: the service ``blue_green_of`` names was deleted: that name, if taken again, is
        #: another service's, no entry of this one (Kernel._entry_of)
        self.entry_deleted = False
        self.released_into: str | None = None  # entry service this one serves behind
        self.create_time = time.time()
        self.update_time = self.create_time
        self.instances: list[Instance] = []
        self.retiring: list[Instance] = []
        meta = version.spec.metadata
        self.queue = BatchQueue(
            meta.max_queue_size,
            meta.max_batch_size if meta.batching else 1,
            meta.max_batch_timeout_ms,
        )
        self.stats = Stats(getattr(kernel, "monitor", True))
        self.lines: deque[str] = deque(maxlen=LOG_RING)
        self.work_dir = kernel.state_dir
        self.log_path = kernel.state_dir / "logs" / f"{name}.log"
        self._log_file: Any = None
        # deleted: a late line (an instance's last output) stays in memory only
        self._log_removed = False
        self._log_bytes = 0  # the size of the log file being written
        self._batch_timer: asyncio.TimerHandle | None = None
        self._pump_scheduled = False
        #: batching on and the last batch held one call: callers come one at a time
        #: (see submit)
        self._lone_callers = True
        # Calls not yet answered, by deadline: one timer for the earliest 408 instead
        # of a timer per request (answered calls leave from the front as it advances).
        self._inflight: deque[Call] = deque()
        self._expiry: asyncio.TimerHandle | None = None
        self._next_index = 0
        self._lock = asyncio.Lock()
        #: instances launched and not yet serving (a start, a scale-up, a new version)
        self.starting: list[Instance] = []
        #: stop/delete calls under way: while any is, starts are aborted and none begins
        self._aborts: list[str] = []

    # -- configuration -----------------------------------------------------------

    @property
    def spec(self) -> ServiceSpec:
        return self.current.spec

    @property
    def keepalive_s(self) -> float:
        return self.spec.metadata.keepalive_ms / 1000.0

    def startup_timeout_s(self, version: Version | None = None) -> float:
        """Seconds an instance of ``version`` (default: the current one) may take to start."""
        spec = version.spec if version is not None else self.spec
        if version is not None and version.number == self.current.number:
            spec = self.spec  # a live `modify` of the timeout applies to its instances too
        return spec.metadata.startup_timeout or STARTUP_TIMEOUT_S

    def record_signature(
        self, version: Version, signature: dict[str, Any] | None, request_format: str | None
    ) -> None:
        """An instance of ``version`` is ready and told its signature and request format."""
        # `modify` may have replaced the version object while the instance started
        same = self.versions.get(version.number)
        for target in (version,) if same is None or same is version else (version, same):
            target.signature = signature
            target.request_format = request_format
            target.reported = True

    def note(self, version: Version, instance: str, note: str) -> None:
        """What an instance of ``version`` found its settings do for its model
        (``Processor.setting_notes``): a warning of that version, logged once."""
        if note not in version.spec.warnings:
            version.spec.warnings.append(note)
            self.log("kernel", f"{instance}: {note}")

    def check_memory(self, instance: Instance, rss: float | None) -> None:
        """An instance resident beyond ``metadata.memory``. PAI-EAS kills such an
        instance (OOMKilled) and restarts it, over and over while its model needs
        more; here it runs on, so that a model can be measured, but the service's
        warnings and its log say it, once per instance process (the monitor's
        once-a-second reading: a peak between two readings goes unseen)."""
        limit = instance.version.spec.metadata.memory
        if not limit or rss is None or rss <= limit * 2**20 or instance.over_memory:
            return
        instance.over_memory = True
        warning = (
            f"an instance was resident beyond metadata.memory ({limit} MB): PAI-EAS would "
            "kill it (OOMKilled) and restart it; raise metadata.memory, or make the model "
            f"smaller (`easlab w {self.name}` shows each instance's memory)"
        )
        if warning not in instance.version.spec.warnings:
            instance.version.spec.warnings.append(warning)
        self.log(
            "kernel",
            f"{instance.name}: {rss / 2**20:.0f} MB resident, beyond metadata.memory "
            f"({limit} MB): PAI-EAS would kill this instance (OOMKilled) and restart it",
        )

    def apply_rpc(self) -> None:
        """Take the current spec's kernel-side ``rpc.*`` settings (no restart needed)."""
        meta = self.spec.metadata
        self.queue.configure(
            meta.max_queue_size,
            meta.max_batch_size if meta.batching else 1,
            meta.max_batch_timeout_ms,
        )

    def instance_env(self, instance: Instance) -> dict[str, str]:
        env = dict(os.environ)
        spec = instance.version.spec
        # seldon.env / aiges.env: what a SeldonDeployment's container env or the
        # platform's loader sets (PAYLOAD_PASSTHROUGH, AIGES_PLUGIN_MODE, the code's
        # own), for this service's instances only
        env.update(own_env(spec.raw, spec.processor))
        # The processor is the user's code: it gets no key to the control plane.
        env.pop(ADMIN_TOKEN_ENV, None)
        env["PYTHONUNBUFFERED"] = "1"
        env["EASLAB_SERVICE"] = self.name
        env["EASLAB_INSTANCE"] = str(instance.index)
        # the worker dies with this process (worker.die_with_parent)
        env[KERNEL_PID_ENV] = str(os.getpid())
        folder = instance.version.processor_dir
        if folder is not None:
            # SPEC §6: the processor's folder is on LD_LIBRARY_PATH.
            old = env.get("LD_LIBRARY_PATH")
            env["LD_LIBRARY_PATH"] = str(folder) + (os.pathsep + old if old else "")
        python = instance.version.python
        if python is not None:
            env = packaged_env.instance_env(env, python, self.work_dir)
        if instance.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in instance.gpus)
        elif self.cpu_fallback:
            env["CUDA_VISIBLE_DEVICES"] = ""
        return env

    # -- log -----------------------------------------------------------------------

    def log(self, source: str, text: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} [{source}] {text}"
        self.lines.append(line)
        if self._log_removed:
            return
        try:
            if self._log_file is None:
                self.log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                # what a processor prints is its owner's business only (0600, like the records)
                fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                if hasattr(os, "fchmod"):  # a log made by an older easlab may be 0644
                    os.fchmod(fd, 0o600)
                self._log_file = open(fd, "a", buffering=1, encoding="utf-8")
                self._log_bytes = os.fstat(fd).st_size
            self._log_file.write(line + "\n")
            self._log_bytes += len(line) + 1  # characters: bytes for the ASCII most logs are
            if self._log_bytes > LOG_FILE_MAX:
                self.close_log()
                os.replace(self.log_path, self.log_path.with_name(self.log_path.name + ".1"))
        except OSError:
            pass  # the ring still has it; a full disk must not break serving

    def close_log(self) -> None:
        if self._log_file is not None:
            log, self._log_file = self._log_file, None
            with contextlib.suppress(OSError):  # lines a full disk did not take: dropped
                log.close()

    def remove_log(self) -> None:
        """Delete the log files (NAME.log and the rotated NAME.log.1): the service is gone."""
        self._log_removed = True
        self.close_log()
        for path in (self.log_path, self.log_path.with_name(self.log_path.name + ".1")):
            with contextlib.suppress(OSError):  # a delete is not failed by a log file
                path.unlink(missing_ok=True)

    # -- data plane (hot path) -----------------------------------------------------

    def submit(self, call: Call) -> None:
        """Send a call to a free instance, or queue it; answers 450/503 itself."""
        if self.status not in ("Running", "Updating"):
            call.refuse(503, self.not_serving_message().encode())
            return
        if not self.instances and self.spec.metadata.instance == 0:
            # scaled to zero: no instance will come for the call to wait for
            call.refuse(503, self.no_instances_message().encode())
            return
        self._track(call)
        queue = self.queue
        if not queue:
            if queue.batch_size == 1:
                inst = self._free_instance() or self._pipeline_instance()
                if inst is not None:
                    inst.send(call)
                    return
            elif self._lone_callers:
                # Batching, and callers come one at a time (the last batch held one):
                # an idle instance gets this call now, as the batch of one it would get
                # at the end of the loop pass, without the queue and the deferred pump.
                # Under load batches hold more than one call and this path is off.
                inst = self._idle_instance()
                if inst is not None:
                    queue.closed_idle()
                    self._dispatch(inst, [call])
                    return
        call.queued_at = time.monotonic()
        if not queue.push(call, self._waiting_in_instances()):
            call.refuse(
                450,
                f"request queue of service '{self.name}' is full "
                f"(rpc.max_queue_size={queue.max_size}); retry later".encode(),
            )
            return
        if queue.batch_size > 1:
            # Batching: the calls read in this pass of the event loop join one batch
            # (pump at the pass's end); a lone caller's batch then leaves at once for
            # an idle instance instead of waiting rpc.max_batch_timeout (batching.py).
            if not self._pump_scheduled:
                self._pump_scheduled = True
                self.kernel.loop.call_soon(self._scheduled_pump)
            return
        self.pump()

    def withdraw(self, call: Call) -> bool:
        """Take back a call that waits in the service's queue, unanswered (an async
        feeder makes room for an urgent record): False if an instance has it already."""
        return self.queue.withdraw(call)

    def _scheduled_pump(self) -> None:
        self._pump_scheduled = False
        self.pump()

    def _track(self, call: Call) -> None:
        """Give the call its 408 deadline and make sure a timer covers it."""
        inflight = self._inflight
        while inflight and inflight[0].done:
            inflight.popleft()
        loop = self.kernel.loop
        call.deadline = deadline = loop.time() + self.keepalive_s
        if not inflight or inflight[-1].deadline <= deadline:
            inflight.append(call)
        else:
            # rpc.keepalive was shortened: this call's 408 is due before older ones'.
            index = bisect.bisect_right(inflight, deadline, key=_deadline_of)
            inflight.insert(index, call)
        expiry = self._expiry
        if expiry is None:
            self._expiry = loop.call_at(inflight[0].deadline, self._expire)
        elif inflight[0] is call and expiry.when() > deadline:
            expiry.cancel()
            self._expiry = loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        """Answer 408 to every call past its deadline; re-arm for the next one."""
        self._expiry = None
        inflight = self._inflight
        now = self.kernel.loop.time()
        while inflight and (inflight[0].done or inflight[0].deadline <= now):
            call = inflight.popleft()
            if not call.done:
                self._timeout(call)
        if inflight:
            self._expiry = self.kernel.loop.call_at(inflight[0].deadline, self._expire)

    def _free_instance(self) -> Instance | None:
        best: Instance | None = None
        limit = self.spec.metadata.worker_threads
        for inst in self.instances:
            if inst.ready and inst.busy < limit and (best is None or inst.busy < best.busy):
                best = inst
        return best

    def _idle_instance(self) -> Instance | None:
        """A ready instance with nothing in flight (a batch need not wait for it)."""
        for inst in self.instances:
            if inst.ready and inst.busy == 0:
                return inst
        return None

    def _running_batch(self) -> Instance | None:
        """A ready instance running one batch of several calls, with nothing behind it:
        the next batch may wait there (batching.py)."""
        for inst in self.instances:
            if inst.ready and inst.busy == 1 and inst.batch_rows > 1:
                return inst
        return None

    def _pipeline_instance(self, new: bool = True) -> Instance | None:
        """A quick instance with room for a frame that waits behind its busy threads.

        ``new``: the call is not in the queue yet, so it needs room under
        ``rpc.max_queue_size`` (the queue is empty on that path).
        """
        limit = self.spec.metadata.worker_threads
        best: Instance | None = None
        waiting = 0
        for inst in self.instances:
            if inst.busy > limit:
                waiting += inst.busy - limit
            if (
                inst.ready
                and inst.quick
                and inst.busy < limit + PIPELINE
                and (best is None or inst.busy < best.busy)
            ):
                best = inst
        if best is None or (new and waiting >= self.queue.max_size):
            return None
        return best

    def queue_depth(self) -> int:
        """Calls waiting: in the kernel's queue and behind instances' busy threads."""
        return len(self.queue) + self._waiting_in_instances()

    def _waiting_in_instances(self) -> int:
        """Frames that instances hold beyond their threads (they count as queued)."""
        limit = self.spec.metadata.worker_threads
        return sum(inst.busy - limit for inst in self.instances if inst.busy > limit)

    def pump(self) -> None:
        """Move queued calls (or batches) to free instances."""
        queue = self.queue
        while queue:
            single = queue.batch_size == 1
            idle = not single and self._idle_instance() is not None
            running = None if single or idle else self._running_batch()
            if not queue.ready(idle=idle, behind=running.batch_rows if running else 0):
                self._arm_batch_timer()
                return
            # a batch closed while an instance runs one waits behind that one, whatever
            # closed it (next, full, timeout), as many worker threads as it has or not
            inst = running or self._free_instance()
            if inst is None and single:
                inst = self._pipeline_instance(new=False)
            if inst is None:
                return
            calls = queue.take()
            if not calls:
                continue
            if single:
                inst.send(calls[0])
            else:
                self._lone_callers = len(calls) == 1
                self._dispatch(inst, calls)

    def _dispatch(self, inst: Instance, calls: list[Call]) -> None:
        """Send a batch (batching on) to ``inst``, counted in the batch sizes."""
        self.stats.record_batch(len(calls))
        if len(calls) == 1 and inst.lone_batch_is_process:
            # a lone caller's batch of a processor that answers it as process()
            # does: a plain request, without the batch frame and its index
            inst.send(calls[0])
        else:
            inst.send_batch(calls)

    def _arm_batch_timer(self) -> None:
        deadline = self.queue.deadline()
        if deadline is None or self._batch_timer is not None:
            return
        delay = max(0.0, deadline - time.monotonic())
        self._batch_timer = self.kernel.loop.call_later(delay, self._batch_due)

    def _batch_due(self) -> None:
        self._batch_timer = None
        self.pump()

    def not_serving_message(self) -> str:
        """Why a call to a service that is not Running is answered 503, and what to do."""
        name, status = self.name, self.status
        if status == "Stopped":
            return f"service '{name}' is Stopped; start it: easlab start {name}"
        if status == "Creating":
            return (
                f"service '{name}' is Creating (its instances are starting); retry in a "
                f"moment, `easlab w {name}` shows them"
            )
        if status == "Failed":
            why = f": {self.message}" if self.message else ""
            return f"service '{name}' is Failed{why}; see `easlab logs {name}`"
        return f"service '{name}' is {status}"

    def no_instances_message(self) -> str:
        """Why a call to a service scaled to zero is answered 503 at once."""
        return (
            f"service '{self.name}' has no instances (metadata.instance is 0); scale it up: "
            f"easlab modify {self.name} -Dmetadata.instance=1"
        )

    def _timeout(self, call: Call) -> None:
        inst = call.instance
        keepalive = self.spec.metadata.keepalive_ms
        if inst is not None:
            text = (
                f"request to service '{self.name}' took longer than rpc.keepalive "
                f"({keepalive} ms) in instance {inst.name}; for a slower model raise it: "
                f"easlab modify {self.name} -Dmetadata.rpc.keepalive={max(2 * keepalive, 1000)}"
            )
        else:
            # It never reached an instance: say so, the processor is not what was slow.
            why = (
                "every instance stayed busy"
                if any(i.ready for i in self.instances)
                else "no instance was ready to take it"
            )
            text = (
                f"request to service '{self.name}' waited in the queue for rpc.keepalive "
                f"({keepalive} ms) and never ran: {why}; add instances "
                "(metadata.instance) or raise rpc.keepalive"
            )
        call.refuse(408, text.encode())
        if inst is not None:
            self.kernel.loop.call_later(self.keepalive_s, inst.check_stuck, call.rid, inst.pid)

    def on_calls_orphaned(self, instance: Instance, calls: list[Call], reason: str) -> None:
        """An instance died holding calls: retry each once on another instance, else 502.

        Never on the instance that died: one of its calls may be what killed it, and
        with one instance "elsewhere" would be that instance restarted, so one request
        would crash it twice. With no other ready instance the callers get
        the 502 at once.
        """
        others = [inst for inst in self.instances if inst is not instance and inst.ready]
        if calls:
            self._log_orphans(instance, calls, reason)
        for call in calls:
            call.instance = None
            if call.done:
                continue
            if call.retried or not others or self.status not in ("Running", "Updating"):
                call.orphaned = True
                call.refuse(
                    502,
                    f"instance {instance.name} of service '{self.name}' {reason} "
                    "while processing this request (what it printed before it exited is "
                    f"in its log: `easlab logs {self.name}`)".encode(),
                )
                continue
            call.retried = True
            # straight to the least busy other instance: through the queue, the
            # restarted instance could take it again
            target = min(others, key=_busy)
            if self.queue.batch_size > 1:
                self._dispatch(target, [call])
            else:
                target.send(call)
        self.pump()

    def _log_orphans(self, instance: Instance, calls: list[Call], reason: str) -> None:
        """Which requests the dead instance held, in the service log: one of them may
        be what crashed it (a model that aborts on some shape), and the caller's 502
        cannot say which. Up to ``_ORPHANS_LOGGED`` of them, by size and inputs."""
        from easlab.kernel.processors.tensor_codecs import describe_body

        fmt = self.current.request_format
        held = [describe_body(c.body, fmt) for c in calls[:_ORPHANS_LOGGED] if not c.done]
        if not held:
            return
        more = "; ..." if len(calls) > _ORPHANS_LOGGED else ""
        self.log(
            instance.name,
            f"instance {reason} holding {len(calls)} request(s): " + "; ".join(held) + more,
        )

    def on_instance_ready(self, instance: Instance) -> None:
        self.pump()

    # -- lifecycle -----------------------------------------------------------------

    def abort(self, reason: str) -> None:
        """A stop or delete is under way: kill every instance still starting, now.

        The start, scale-up or new version they belong to returns at once with
        ``start aborted: <reason>``, and no instance starts until ``abort_done``.
        """
        self._aborts.append(reason)
        for inst in list(self.starting):
            inst.cancel_start(reason)

    def abort_done(self, reason: str) -> None:
        """The stop or delete that called ``abort(reason)`` is over."""
        self._aborts.remove(reason)

    def _gpu_need(self, version: Version) -> int:
        """The devices each instance of ``version`` takes (its spec, not the current one's:
        a roll starts instances of a version that is not current yet)."""
        return self.kernel.gpus.need(version.spec, self.cpu_fallback)

    def _allocate_gpus(self, count: int, version: Version) -> tuple[list[list[int]], str | None]:
        """The devices of ``count`` new instances of ``version``, or none and why not.

        All or nothing: an instance given fewer devices than its version asks for would
        run on the wrong ones, and one given none has no CUDA_VISIBLE_DEVICES, so it
        would see every GPU, those of other services too."""
        per = self._gpu_need(version)
        if per == 0:
            return [[] for _ in range(count)], None
        chosen = [self.kernel.gpus.allocate(self, per) for _ in range(count)]
        if all(len(gpus) == per for gpus in chosen):
            return chosen, None
        free = sum(len(gpus) for gpus in chosen)
        for gpus in chosen:
            self.kernel.gpus.release(gpus)
        total = len(self.kernel.gpus.report().gpus)
        return [], (
            f"each of {count} instance(s) needs {per} GPU(s), but only {free} of "
            f"this host's {total} GPU(s) are free; no "
            "instance was started with fewer (it would run on the wrong devices, or with "
            "none on every GPU). Free GPUs (stop or scale down a service using them) or "
            "lower metadata.gpu/metadata.instance"
        )

    def _new_instance(self, version: Version, gpus: list[int]) -> Instance:
        index = self._next_index
        self._next_index += 1
        self.stats.add_instance(index, f"{self.name}-{index}", version.number)
        return Instance(self, index, version, gpus)

    async def _launch(self, count: int, version: Version) -> tuple[list[Instance], str | None]:
        """Start ``count`` instances of ``version``; the first failure message, if any.

        While they start they are listed in ``starting`` (``w`` shows them, with
        their pids; ``abort`` kills them).
        """
        if self._aborts:
            return [], f"start aborted: {self._aborts[-1]}"
        devices, short = self._allocate_gpus(count, version)
        if short is not None:
            return [], short
        new = [self._new_instance(version, gpus) for gpus in devices]
        self.starting.extend(new)
        failure: str | None = None
        try:
            waiting = {inst.launch(): inst for inst in new}
            while waiting:
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    inst = waiting.pop(future)
                    result = future.result()
                    if result is None or failure is not None:
                        continue
                    failure = result
                    # the start has failed: do not wait for the others' initialize()
                    for other in waiting.values():
                        other.cancel_start(f"instance {inst.name} failed to start")
        finally:
            self.starting = [inst for inst in self.starting if inst not in new]
        if failure is None and self._aborts:
            failure = f"start aborted: {self._aborts[-1]}"
        return new, failure

    async def _retire(self, instances: list[Instance], grace_s: float | None = None) -> None:
        """Stop ``instances``, each letting its calls finish for ``grace_s`` (default:
        rpc.keepalive, when they would be answered 408 anyway, plus a second)."""
        for inst in instances:
            inst.ready = False
        grace = self.keepalive_s + 1 if grace_s is None else grace_s
        await asyncio.gather(*(inst.stop(grace_s=grace) for inst in instances))
        for inst in instances:
            self.kernel.gpus.release(inst.gpus)

    async def start(self) -> None:
        """Start ``metadata.instance`` instances; Failed with the reason if any cannot start.

        A ``modify`` of the instance count while starting applies once the first
        instances run; a stop or delete (``abort``) ends the start at once, Stopped.
        """
        async with self._lock:
            self.status = "Creating"
            self.message = ""
            self.update_time = time.time()
            new, failure = await self._launch(self.spec.metadata.instance, self.current)
            if failure is not None:
                await self._retire(new)
                self.status = "Stopped" if self._aborts else "Failed"
                self.message = failure
                self.log("kernel", f"service did not start: {failure}")
            else:
                self.instances = new
                self.status = "Running"
                self.log("kernel", f"service running with {len(new)} instance(s)")
                await self._settle()
            self.update_time = time.time()

    async def _settle(self) -> None:
        """Reach the current spec's instance count (a scale asked for while starting)."""
        while not self._aborts and len(self.instances) != self.spec.metadata.instance:
            count = self.spec.metadata.instance
            failure = await self._scale_locked(count)
            if failure is not None:
                self.message = f"scaling to {count} instance(s) failed: {failure}"
                self.log("kernel", self.message)
                return

    async def stop(self) -> None:
        async with self._lock:
            old, self.instances = self.instances, []
            self.status = "Stopped"
            self.message = ""
            for call in self.queue.drain():
                call.refuse(503, f"service '{self.name}' was stopped".encode())
            # A stop or delete lets the calls in flight finish, but not for a long
            # rpc.keepalive (10 min is common for large models): the control call
            # would outlast its client's 60 s wait and the callers would hang on.
            await self._retire(old, min(self.keepalive_s + 1, STOP_GRACE_S))
            self.update_time = time.time()

    async def scale(self, count: int) -> str | None:
        """Add or remove instances without touching the others; a failure message if any."""
        async with self._lock:
            return await self._scale_locked(count)

    async def _scale_locked(self, count: int) -> str | None:
        running = list(self.instances)
        if count > len(running):
            new, failure = await self._launch(count - len(running), self.current)
            if failure is not None:
                await self._retire(new)
                return failure
            self.instances = self.instances + new
            self.pump()
        elif count < len(running):
            # remove the least busy ones (newest first on ties)
            order = sorted(running, key=lambda i: (i.busy, -i.index))
            gone = order[: len(running) - count]
            self.instances = [i for i in self.instances if i not in gone]
            if not self.instances:
                # scaled to zero: the queued calls have no instance to wait for
                for call in self.queue.drain():
                    call.refuse(503, self.no_instances_message().encode())
            await self._retire(gone)
        self.update_time = time.time()
        return None

    async def roll_to(self, version: Version) -> str | None:
        """Replace every instance by instances of ``version``; keep the old ones on failure.

        A rolling update: the new instances start beside the old ones, which serve until
        the new ones run. When the new version needs GPUs that only the old instances
        hold (``-Dmetadata.gpu=2`` on a host whose other devices are taken), it cannot
        start beside them: the old instances stop first, calls meanwhile wait in the
        queue, and the update is a restart, which the message and the log say. If the
        new version then fails to start, the old one is started again on its devices."""
        async with self._lock:
            previous_status = self.status
            self.status = "Updating"
            count = version.spec.metadata.instance
            need = self._gpu_need(version) * count
            held = sum(len(inst.gpus) for inst in self.instances)
            free = self.kernel.gpus.free_for(self)
            if free < need <= free + held:
                return await self._restart_to(version, free, previous_status)
            new, failure = await self._launch(count, version)
            if failure is not None:
                await self._retire(new)
                self._keep_current(version)
                self.status = previous_status if previous_status != "Updating" else "Running"
                if not self.instances:
                    self.status = "Failed"
                self.message = f"version {version.number} failed to start: {failure}"
                self.log("kernel", self.message)
                return failure
            old, self.instances = self.instances, new
            self._serve(version, "")
            await self._retire(old)
            self.log("kernel", f"now serving version {version.number}")
            return None

    def _keep_current(self, failed: Version) -> None:
        """``failed`` did not start: when it is the current version with a changed spec
        (a restart's ``-Dmetadata.rpc.worker_threads=3``), the current one is that
        version again, in ``versions`` too, which the record and a restarted kernel
        read (was: they kept the change that did not happen)."""
        if failed is not self.current and self.versions.get(failed.number) is failed:
            if failed.number == self.current.number:
                self.versions[failed.number] = self.current

    def _serve(self, version: Version, message: str) -> None:
        """``version``'s instances are ``self.instances`` now: it is the current one."""
        self.current = version
        self.apply_rpc()
        self.status = "Running"
        self.message = message
        self.update_time = time.time()
        self.pump()

    async def _restart_to(self, version: Version, free: int, previous_status: str) -> str | None:
        """``roll_to`` when the new version needs devices the old instances hold: stop
        them, then start ``version``'s (the old version's again if those fail)."""
        why = (
            f"version {version.number} needs {self._gpu_need(version)} GPU(s) per instance "
            f"x {version.spec.metadata.instance} instance(s), {free} free besides those of "
            "the running instances"
        )
        self.log("kernel", f"{why}: stopping them first (a restart, not a rolling update)")
        old, self.instances = self.instances, []
        await self._retire(old, min(self.keepalive_s + 1, STOP_GRACE_S))
        # _retire gives their devices back as it returns and _launch takes them before
        # it awaits anything: no other service's start can take them in between
        new, failure = await self._launch(version.spec.metadata.instance, version)
        if failure is None:
            self.instances = new
            self._serve(
                version,
                f"{why}: its old instances were stopped first (a restart, not a rolling update)",
            )
            self.log("kernel", f"now serving version {version.number}: {self.message}")
            return None
        await self._retire(new)
        self._keep_current(version)
        if self._aborts:
            # a stop or delete came while the new instances started: it is what the
            # caller asked for last, so the service is stopped, not Failed (was: Failed,
            # "did not start again: start aborted", until the stop took its turn)
            self.status = "Stopped"
            self.message = (
                f"stopped while it restarted for version {version.number} ({self._aborts[-1]}"
                f"); `start {self.name}` serves version {self.current.number} again"
            )
            self.update_time = time.time()
            for call in self.queue.drain():
                call.refuse(503, self.not_serving_message().encode())
            self.log("kernel", self.message)
            return failure
        self.message = f"version {version.number} failed to start: {failure}"
        self.log("kernel", self.message)
        back, again = await self._launch(len(old), self.current)
        if again is None:
            self.instances = back
            self.status = previous_status if previous_status != "Updating" else "Running"
            self.message += f"; version {self.current.number} was started again"
            self.update_time = time.time()
            self.pump()
        else:
            await self._retire(back)
            if self._aborts:
                # a stop or delete came while the old version started again (was: Failed,
                # "did not start again: start aborted", until the stop took its turn)
                self.status = "Stopped"
                self.message += (
                    f"; stopped before version {self.current.number} started again "
                    f"({self._aborts[-1]}); `start {self.name}` serves it"
                )
            else:
                self.status = "Failed"
                self.message += f"; version {self.current.number} did not start again: {again}"
            self.update_time = time.time()
            for call in self.queue.drain():
                call.refuse(503, self.not_serving_message().encode())
        self.log("kernel", self.message)
        return failure

    def startup_message(self) -> str:
        """What a start under way waits for: which instances, their pids, for how long."""
        waiting = [inst for inst in self.starting if inst.starting]
        if not waiting:
            return ""
        now = time.time()
        names = ", ".join(
            f"{inst.name} (pid {inst.pid}, {now - inst.start_time:.0f} s)"
            if inst.pid is not None and inst.start_time is not None
            else f"{inst.name} (process starting)"
            for inst in waiting
        )
        limit = self.startup_timeout_s(waiting[0].version)
        return (
            f"waiting for {len(waiting)} instance(s) to finish initialize(): {names}; "
            f"one still starting after {limit:g} s is killed (metadata.startup_timeout). "
            f"`easlab w {self.name}` lists them, `easlab logs {self.name}` shows their output, "
            f"`easlab stop {self.name}` or `easlab delete {self.name}` aborts the start"
        )

    # -- description ---------------------------------------------------------------

    def get_answered_by(self) -> str | None:
        """Who answers ``GET /api/predict/{name}`` (routes.py), for clients that GET to
        read a signature: ``"processor"`` (an HTTP-aware one, Seldon or aiges, answers its
        own GET without the user's code), ``"kernel"`` (the signature an instance
        reported), or ``"model"``: without a signature EAS passes the GET on to
        ``process()`` as an empty request, which runs the user's model (and counts as a
        request), so a client must not send it. None until an instance of the current
        version has said whether it has a signature."""
        current = self.current
        if current.target in HTTP_AWARE:
            return "processor"
        if current.signature is not None:
            return "kernel"
        return "model" if current.reported else None

    def describe(
        self, endpoint: str, weight: int = 100, traffic: dict[str, int] | None = None
    ) -> dict[str, Any]:
        spec = self.spec
        meta = spec.metadata
        running = sum(1 for i in self.instances if i.ready)
        total = meta.instance if self.status not in ("Stopped",) else 0
        path = f"/api/predict/{self.name}"
        message = self.message
        waiting = self.startup_message()
        if waiting:
            message = f"{waiting}. {message}" if message else waiting
        return {
            "name": self.name,
            "status": self.status,
            "message": message,
            "endpoint": endpoint,
            "service_path": path,
            "url": endpoint + path,
            "token": self.token,
            "processor": spec.processor or spec.processor_type,
            "request_format": self.current.request_format,
            "total_instance": total,
            "running_instance": running,
            "pending_instance": max(0, total - running),
            "cpu": meta.cpu,
            "gpu": meta.gpu,
            "memory": meta.memory,
            "startup_timeout": self.startup_timeout_s(),
            "latest_version": max(self.versions),
            "current_version": self.current.number,
            "weight": weight,
            "traffic": traffic,
            "cpu_fallback": self.cpu_fallback,
            "create_time": iso(self.create_time),
            "update_time": iso(self.update_time),
            "signature": self.current.signature,
            "get_answered_by": self.get_answered_by(),
            # the interpreter of the instances: a package's ENV, else the kernel's
            "python": str(self.current.python) if self.current.python else None,
            "warnings": list(spec.warnings),
            "spec": spec.to_dict(),
            "blue_green_of": self.blue_green_of,
            "entry_deleted": self.entry_deleted,
            "released_into": self.released_into,
            "stats": self.stats.to_dict(),
        }

    def workers(self, ip: str, port: int) -> list[dict[str, Any]]:
        """The serving instances, then those still starting (eascmd ``w``)."""
        listed = self.instances + [inst for inst in self.starting if inst not in self.instances]
        return [inst.describe(ip, port) for inst in listed]
