"""The control plane's state: ``Kernel`` owns the services, the router and the GPUs.

Its operations (create, modify, version, release, stop, start, delete) are
what the ``/easlab/v1`` JSON API (kernel/api.py) calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import os
import secrets
import sqlite3
import sys
import time
import traceback
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

from easlab.errors import SpecError
from easlab.kernel.async_inference import Feeder
from easlab.kernel.gpu_ledger import GpuLedger, held_by
from easlab.kernel.queue import QueueError, QueueHub, queue_desc, queue_kind, settings_of
from easlab.kernel.router import Router
from easlab.kernel.service import Service, Version, iso
from easlab.kernel.state import ServiceRecords
from easlab.runtime import client_host

API = "/easlab/v1"
#: how often the monitor reads the instances' CPU, memory and GPU use and the queue
#: depth, in seconds. Answers are counted as they are recorded (monitor.py): this tick
#: is the monitor's only work in the event loop, once a second.
SAMPLE_S = 1.0


def _max_instances() -> int:
    """``$EASLAB_MAX_INSTANCES`` as the kernel starts, else 8 per CPU core and at least 64."""
    default = max(64, 8 * (os.cpu_count() or 1))
    raw = os.environ.get("EASLAB_MAX_INSTANCES", "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        print(
            f"easlab kernel: EASLAB_MAX_INSTANCES={raw!r} is not a whole number > 0; "
            f"using {default}",
            file=sys.stderr,
            flush=True,
        )
        return default
    return value


#: instance processes one kernel runs, all services together. EAS keeps a service
#: Pending until its cluster has room; here every instance is a process on this
#: machine, and a typo (``"instance": 1000`` for 10) started a thousand of them and
#: ran the machine out of memory, kernel and all.
MAX_INSTANCES = _max_instances()
#: worker threads one instance runs (``rpc.worker_threads``): EAS's default is 5, and an
#: instance started every thread it was given (100000 took gigabytes before it answered)
MAX_WORKER_THREADS = 1024


class ControlError(Exception):
    """A control call refused with an HTTP status."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


class RecordNotSaved(ControlError):
    """A change was made, but its service's record could not be written (a full disk,
    a state dir made read-only): a restarted kernel would not bring the change back."""

    def __init__(self, name: str, folder: Path, exc: OSError) -> None:
        self.why = f"{exc.strerror or exc}"
        super().__init__(
            500,
            f"the kernel could not save the record of service '{name}' in {folder}: "
            f"{self.why}. The service is as this call left it, but a restarted kernel would "
            "bring it back as it was before the call: free disk space there (or make the "
            "folder writable) and run the call again, which saves the record",
        )


def _whole_number(body: dict[str, Any], field: str, expected: str) -> int:
    """``body[field]`` as a whole number: an int, an integral float (``30.0``) or its
    digits as a string. Anything else (``30.5``, ``true``, ``"abc"``, missing) is a 400
    naming the field, what came and what is expected; it was truncated (``30.5`` sent
    30 %, ``true`` switched to version 1)."""
    value = body.get(field)
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        number = int(value)
    if number is None:
        came = "nothing" if field not in body else json.dumps(value)[:40]
        raise ControlError(
            400, f'"{field}" must be {expected}, got {came}; send e.g. {{"{field}": 1}}', field
        )
    return number


def _entry_missing(entry: str, spec: Any, folder: Path) -> str:
    """Why ``processor_entry`` is not in the package, naming the archive (not the cache
    folder it was extracted to) and what its root holds; an archive made with ``tar czf
    demo.tgz demo/`` holds one folder, where EAS reads ``ENV/`` and the code at the root."""
    from easlab.kernel.fetch import is_archive

    path = str(spec.processor_path)
    where = f"the archive {path}" if is_archive(path.rsplit("?", 1)[0]) else str(folder)
    roots = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    roots = [name for name in roots if not name.startswith(".easlab")]
    top = folder / roots[0] if len(roots) == 1 and roots[0].endswith("/") else None
    if top is not None and (top / entry).is_file():
        return (
            f"{entry!r} is not at the root of {where}, which holds one folder, {roots[0]}: "
            "the package's root must hold the code and ENV/ (as `tar czf demo.tgz demo/` "
            "does not). Repack from inside the folder: `easlab pysdk pack "
            f"{roots[0].rstrip('/')}` or `cd {roots[0].rstrip('/')} && tar czf ../"
            f"{Path(path).name} .`"
        )
    shown = ", ".join(roots[:8]) + (", ..." if len(roots) > 8 else "") or "nothing"
    return f"{entry!r} not found in {where} (it holds {shown}); check processor_entry"


def not_found_message(name: str, known: list[str]) -> str:
    """The 404 for a service name this kernel does not have: its services, and the one
    meant when the name is a near miss (``mnist-serivce``), for the control plane and the
    prediction path alike (the notebook and the CLI show this text)."""
    names = sorted(set(known))
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    guess = f"did you mean '{close[0]}'? " if close else ""
    return f"service '{name}' not found: {guess}(services: {', '.join(names) or 'none'})"


class Kernel:
    """Services, routes and GPUs of one kernel process."""

    def __init__(self, state_dir: Path, loop: asyncio.AbstractEventLoop) -> None:
        self.state_dir = state_dir
        self.loop = loop
        self.services: dict[str, Service] = {}
        self.router = Router()
        self.host = "127.0.0.1"
        self.port = 0
        self.endpoint = ""
        self.started_at = time.time()
        self.idle_timeout = 0.0  # seconds without services and requests before it stops
        self.shutdown_requested = asyncio.Event()
        self.gpus = GpuLedger()  # the devices each service's instances hold (gpu_ledger.py)
        self._locks: dict[str, asyncio.Lock] = {}  # one per service name (see _lock)
        self._tasks: set[asyncio.Task[None]] = set()  # background starts
        self.closing = False  # stop_all has begun: no new service or instance
        self.queues = QueueHub(state_dir / "queues")  # queue services and async services' queues
        #: standalone queue services (metadata.type Queue): name -> create time
        self.queue_services: dict[str, float] = {}
        self._queue_warnings: dict[str, list[str]] = {}  # a queue service's spec warnings
        #: recorded services a restart could not bring back (their model folder gone, ...):
        #: name -> (create time, why); listed as Failed until created again or deleted
        self.unrestored: dict[str, tuple[float, str]] = {}
        #: recorded services a restart is still building (restore()): name -> record.
        #: A control call on one answers 503 (try again), a create of that name 409: it
        #: was a 404, and a create replaced the record of the service being restored
        self.restoring: dict[str, dict[str, Any]] = {}
        self.records = ServiceRecords(state_dir)  # what a restarted kernel brings back (state.py)
        #: the request monitor (monitor.py); EASLAB_MONITOR=0 keeps only the totals
        self.monitor = os.environ.get("EASLAB_MONITOR", "1").strip() not in ("0", "false", "no")
        self._sampler: Any = None
        self._tick: asyncio.TimerHandle | None = None

    # -- monitoring --------------------------------------------------------------------

    def start_monitor(self) -> None:
        """Read every service's queue depth and its instances' resources every SAMPLE_S."""
        if self.monitor and self._tick is None:
            self._tick = self.loop.call_later(SAMPLE_S, self._monitor_tick)

    def _monitor_tick(self) -> None:
        self._tick = self.loop.call_later(SAMPLE_S, self._monitor_tick)
        try:
            self.fold_all()
        except Exception:  # never let the monitor stop the kernel
            traceback.print_exc()

    def fold_all(self) -> None:
        """Bring every service's buckets up to date, with its queue depth and its
        instances' resources read now (before a read of the monitor, and every SAMPLE_S)."""
        from easlab.kernel.resources import ResourceSampler

        if self._sampler is None:
            self._sampler = ResourceSampler()
        live: set[int] = set()
        for service in self.services.values():
            resources = {}
            for inst in service.instances:
                if inst.pid is not None:
                    live.add(inst.pid)
                    resources[inst.index] = sample = self._sampler.sample(inst.pid, inst.gpus)
                    service.check_memory(inst, sample.get("rss_bytes"))
            service.stats.fold(service.queue_depth(), resources)
        self._sampler.forget(live)

    def check_instances(self, spec: Any, replacing: Service | None = None) -> None:
        """SpecError when ``spec``'s instances would take the kernel past ``MAX_INSTANCES``,
        or one instance past ``MAX_WORKER_THREADS`` threads.

        ``replacing``: the service these instances replace (a modify), whose own do
        not count. Stopped and failed services hold no instances.
        """
        threads = int(spec.metadata.worker_threads)
        if threads > MAX_WORKER_THREADS:
            raise SpecError(
                "metadata.rpc.worker_threads",
                f"service '{spec.name}' asks for {threads} worker threads in each instance; "
                f"an instance here runs at most {MAX_WORKER_THREADS} (EAS's default is 5). "
                "For more concurrency, add instances (metadata.instance)",
            )
        others = sum(
            int(service.spec.metadata.instance)
            for service in self.services.values()
            if service is not replacing and service.status in ("Creating", "Running", "Updating")
        )
        asked = int(spec.metadata.instance)
        if others + asked <= MAX_INSTANCES:
            return
        held = f", {others} of them held by other services" if others else ""
        raise SpecError(
            "metadata.instance",
            f"service '{spec.name}' asks for {asked} instance(s), each a process on this "
            f"machine; this kernel runs at most {MAX_INSTANCES}{held}. Lower "
            "metadata.instance, stop or scale down another service, or start the kernel "
            "with EASLAB_MAX_INSTANCES set higher",
        )

    # -- helpers ---------------------------------------------------------------------

    def host_for_clients(self) -> str:
        """The address clients reach this kernel at (discovery answers, ``w``)."""
        return client_host(self.host)

    def get(self, name: str, doing: str | None = None) -> Service:
        """The service ``name``; 404 naming the known ones, or why ``doing`` skips a queue."""
        service = self.services.get(name)
        if service is None:
            if name in self.queue_services:
                what = f"`{doing}`" if doing else "this call"
                raise ControlError(
                    400,
                    f"'{name}' is a queue service (metadata.type Queue): it has no instances "
                    f"or versions, so {what} does not apply to it. `desc {name}` describes it, "
                    f"`queue {name}` shows its depth, `delete {name}` removes it and its records",
                )
            if name in self.unrestored:
                raise ControlError(409, self.unrestored_message(name))
            if name in self.restoring:
                raise ControlError(503, self.restoring_message(name))
            raise ControlError(404, not_found_message(name, [*self.services, *self.queue_services]))
        return service

    def unrestored_message(self, name: str, why: bool = True) -> str:
        """Why ``name`` is not served; ``why=False`` leaves the reason out (it may name
        the owner's files), for the data plane, which answers without a token."""
        if not why:
            return (
                f"service '{name}' was not restored when the kernel restarted; "
                f"`desc {name}` says why"
            )
        reason = self.unrestored[name][1]
        if name in self.records.bad:  # its reason says how to fix its record
            return f"service '{name}' was not restored when the kernel restarted: {reason}"
        return (
            f"service '{name}' was not restored when the kernel restarted: "
            f"{reason}. Fix that and create it again (its record is "
            f"replaced), or `delete {name}` to forget it"
        )

    def restoring_message(self, name: str) -> str:
        return (
            f"service '{name}' is being restored: the kernel restarted and is building its "
            "versions again. Try again in a moment; `ls` shows it Running (or why not) "
            "once it is back"
        )

    def describe_restoring(self, name: str) -> dict[str, Any]:
        """A recorded service a restart is still bringing back, as ``ls``/``desc`` show it:
        Creating, or Stopped where its record says it was stopped (it was shown Creating,
        then Stopped), with the versions and weight its record gives."""
        record = self.restoring[name]
        latest = max((int(n) for n in record.get("versions") or {}), default=1)
        return {
            **self.describe_unrestored(name),
            "status": "Creating" if record.get("running", True) else "Stopped",
            "current_version": record.get("current") or latest,
            "latest_version": latest,
            "weight": record.get("weight", 100),
        }

    def describe_unrestored(self, name: str) -> dict[str, Any]:
        """A recorded service the restart could not bring back, as ``ls``/``desc`` show it."""
        restoring = name in self.restoring and name not in self.unrestored
        created = iso(
            float(self.restoring[name]["created"]) if restoring else self.unrestored[name][0]
        )
        path = f"/api/predict/{name}"
        return {
            "name": name,
            "status": "Failed",
            "type": "Standard",
            "message": self.restoring_message(name) if restoring else self.unrestored_message(name),
            "endpoint": self.endpoint,
            "service_path": path,
            "url": self.endpoint + path,
            "total_instance": 0,
            "running_instance": 0,
            "pending_instance": 0,
            "weight": 100,
            "create_time": created,
            "update_time": created,
        }

    def forget_unrestored(self, name: str) -> dict[str, Any]:
        """``delete`` of a service the restart could not bring back: its record goes."""
        self.unrestored.pop(name)
        self.records.remove(name)
        return {"deleted": name}

    def describe(self, service: Service) -> dict[str, Any]:
        route = self.router.entry_of(service)
        if route is None:
            desc = service.describe(self.endpoint)
        else:
            weights = route.weights()
            traffic = weights if route.name == service.name else None
            desc = service.describe(self.endpoint, weights.get(service.name, 100), traffic)
            if traffic is not None:  # a GET on the entry goes to either side of the pair
                desc["get_answered_by"] = _get_answered_by(
                    [svc for svc, weight in route.backends if weight > 0]
                )
        feeder = getattr(service, "feeder", None)
        if feeder is not None:
            desc["get_answered_by"] = "queue"  # its path is the input queue's (routes.py)
            desc["type"] = "Async"
            desc["queues"] = {q.name: q.stats() for q in (feeder.source, feeder.sink)}
            desc["queues"][feeder.sink.name]["answers_waiting"] = len(feeder.waiting)
            note = feeder.sink_note()
            if note and not desc.get("message"):
                desc["message"] = note  # why its input queue does not move
        else:
            desc["type"] = "Standard"
        return desc

    def describe_all(self) -> list[dict[str, Any]]:
        """Every service and queue service (``ls``), oldest first."""
        out = [self.describe(s) for s in self.services.values()]
        for name in self.queue_services:
            out.append(self.describe_queue(name))
        out.extend(self.describe_unrestored(name) for name in self.unrestored)
        out.extend(
            self.describe_restoring(name)
            for name in self.restoring
            if name not in self.services and name not in self.unrestored
        )
        return out

    def describe_queue(self, name: str) -> dict[str, Any]:
        queue = self.queues.get(name)
        if queue is None or name not in self.queue_services:
            raise ControlError(404, f"queue service '{name}' not found")
        desc = queue_desc(queue, self.endpoint, iso(self.queue_services[name]))
        return {**desc, "warnings": self._queue_warnings.get(name, [])}

    def delete_queue(self, name: str) -> dict[str, Any]:
        """Remove a queue service, its SQLite files and its record."""
        if self.queue_services.pop(name, None) is None:
            raise ControlError(404, f"queue service '{name}' not found")
        self._queue_warnings.pop(name, None)
        self.queues.remove(name, drop=True)
        self.records.remove(name)
        return {"deleted": name}

    async def _build_version(self, spec: Any, number: int) -> Version:
        from easlab.kernel.fetch import local_fingerprint, packed_from, resolve_path
        from easlab.kernel.packaged_env import check_python, package_python
        from easlab.kernel.processors import (
            PYTHON,
            check_runtime,
            processor_target,
            version_warning,
        )

        target = processor_target(spec.processor, spec.processor_type, spec.processor_entry)
        check_runtime(target, spec.processor)
        # pytorch_cpu_1.0 is served by this Python's torch: the create's answer says so
        _warn(spec, await asyncio.to_thread(version_warning, spec.processor))
        cache = self.state_dir / "cache"
        base = spec.base_dir
        model_path: Path | None = None
        processor_path: Path | None = None
        # the processor first: a wrong processor_path or processor_entry (a typo, usually)
        # is said before a model of many GB is downloaded for nothing
        if spec.processor_path:
            processor_path = await asyncio.to_thread(
                resolve_path, spec.processor_path, cache, base, field="processor_path"
            )
        entry = spec.processor_entry
        processor_dir = processor_path
        if processor_path is not None and processor_path.is_file():
            processor_dir = processor_path.parent
            entry = entry or processor_path.name
        if entry and processor_dir is not None and not (processor_dir / entry).is_file():
            raise SpecError("processor_entry", _entry_missing(entry, spec, processor_dir))
        if spec.model_path:
            model_path = await asyncio.to_thread(
                resolve_path, spec.model_path, cache, base, field="model_path"
            )
        if model_path is not None:
            model_entry: Path | None = (
                model_path / spec.model_entry
                if spec.model_entry and model_path.is_dir()
                else model_path
            )
        else:
            model_entry = Path(spec.model_entry) if spec.model_entry else None
        config = {
            "service": spec.name,
            "target": target,
            "spec": spec.to_dict(),
            "model_path": str(model_path) if model_path else None,
            "model_entry": str(model_entry) if model_entry else None,
            "model_config": spec.model_config,
            "processor_path": str(processor_dir) if processor_dir else None,
            # an archive runs from its copy in the cache; tracebacks name the user's files
            "processor_sources": [str(p) for p in packed_from(spec.processor_path, base)]
            if spec.processor_path
            else [],
            "processor_entry": entry,
            "worker_threads": spec.metadata.worker_threads,
            # a local model or processor is loaded from where it lies (not copied): what
            # its files were when this version was built, to tell a model saved again
            # to the same path (_files_changed)
            "local_files": {
                field: await asyncio.to_thread(local_fingerprint, path)
                for field, path in (("model_path", model_path), ("processor_path", processor_path))
                if path is not None and not path.is_relative_to(cache)
            },
        }
        python = None
        if target == PYTHON and entry and processor_dir is not None:
            from easlab.kernel.processors.python import (
                app_worker_threads,
                worker_processes_warning,
            )

            found = await asyncio.to_thread(app_worker_threads, processor_dir / entry)
            if found is not None:
                config["app_worker_threads"] = [*found, Path(entry).as_posix()]
                _adopt_app_threads(spec, config)
            # worker_processes=3: EAS's 3 processes per instance are one here; say so
            _warn(
                spec,
                await asyncio.to_thread(
                    worker_processes_warning, processor_dir / entry, Path(entry).as_posix()
                ),
            )
        if target == PYTHON:
            # a package with ENV/ runs with that environment's Python (packaged_env.py)
            python = package_python(processor_dir)
            if python is not None:
                version = await asyncio.to_thread(check_python, python)
                config["python"] = f"{python} (Python {version})"
        return Version(number, spec, target, config, processor_dir, python=python)

    # -- serialization -----------------------------------------------------------------
    #
    # Every control call that changes a service (create, modify, version, release,
    # start, stop, delete) holds that name's lock for its whole length, so no two
    # interleave. Two exceptions keep the API responsive while an instance hangs in
    # initialize(): stop and delete first abort the start under way (Service.abort
    # kills its starting instances, so the call holding the lock returns at once),
    # and a modify that only changes live settings during Creating is applied without
    # waiting (the start reaches the new instance count when it is done). After every
    # await, a call checks that its service is still the registered one: a service
    # deleted meanwhile never gets new instances.

    def _lock(self, name: str) -> asyncio.Lock:
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = asyncio.Lock()
        return lock

    def _check_current(self, service: Service, doing: str) -> None:
        """ControlError unless ``service`` is still the one registered under its name."""
        if self.services.get(service.name) is not service:
            raise ControlError(
                409,
                f"service '{service.name}' was deleted while {doing} was under way; "
                "nothing was changed (create it again if you need it)",
            )

    @contextlib.asynccontextmanager
    async def _locked(self, service: Service, doing: str) -> AsyncIterator[None]:
        async with self._lock(service.name):
            self._check_current(service, doing)
            yield

    def _closing_check(self) -> None:
        if self.closing:
            raise ControlError(
                503, "the kernel is shutting down; start it again to create services"
            )

    # -- operations --------------------------------------------------------------------

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        from easlab.spec import NAME_MAX, local_refusal, parse_spec

        self._closing_check()
        raw = body.get("spec")
        if not isinstance(raw, dict):
            raise ControlError(400, 'the body needs "spec": the service.json as an object')
        kind = queue_kind(raw)
        allow_unknown_keys = bool(body.get("allow_unknown_keys"))
        if kind == "queue":
            return self.create_queue(raw, allow_unknown_keys=allow_unknown_keys)
        if kind == "async":
            for which in ("source", "sink"):  # refused before anything is built
                try:
                    settings_of(raw, which)
                except QueueError as exc:
                    raise ControlError(exc.status, exc.message, "queue") from None
        # with its queue block: a mistyped queue setting is named as other keys are
        spec = parse_spec(raw, allow_unknown_keys=allow_unknown_keys)
        refusal = local_refusal(spec)
        if refusal is not None:
            raise refusal
        # the queue limits are the queues' (queue.py), not the version's
        spec.raw.pop("queue", None)
        raw = {k: v for k, v in raw.items() if k != "queue"}
        original: Service | None = None
        if body.get("blue_green"):
            if spec.name not in self.services and spec.name not in self.queue_services:
                from easlab.spec import blue_green_without_base

                known = [*self.services, *self.queue_services]
                raise ControlError(404, blue_green_without_base(spec.name, known))
            original = self.get(spec.name)
            if self._entry_of(original) is not None:
                # was: its sibling's release split the sibling's own route, which a
                # release had closed, and so opened it again
                raise ControlError(
                    409,
                    f"name: '{spec.name}' is itself the blue-green sibling of "
                    f"'{original.blue_green_of}'; a sibling comes from the entry: set name "
                    f"to '{original.blue_green_of}' in the file and create -r again",
                    "name",
                )
            if len(spec.name) + 5 > NAME_MAX:
                raise ControlError(
                    400,
                    f"name: the blue-green sibling of '{spec.name}' would be named "
                    f"'{spec.name}_xxxx', {len(spec.name) + 5} characters, past the "
                    f"{NAME_MAX} a service name may have; a service whose name has at most "
                    f"{NAME_MAX - 5} characters can have one",
                    "name",
                )
            new_name = f"{spec.name}_{secrets.token_hex(2)}"
            while new_name in self.services:
                new_name = f"{spec.name}_{secrets.token_hex(2)}"
            spec = parse_spec({**raw, "name": new_name}, allow_unknown_keys=True)
        self._check_free(spec.name)
        self._check_not_restoring(spec.name)
        lock = self._lock(spec.name)
        await lock.acquire()
        handed_over = False
        reserved: list[int] = []  # devices set aside for this create, not yet its service's
        service: Service | None = None
        try:
            self._check_free(spec.name)  # created while this call waited
            self.check_instances(spec)
            cpu_fallback = self.gpus.check(
                spec, spec.metadata.instance, bool(body.get("allow_cpu_fallback"))
            )
            # taken in the same step as the check: a create of another name that runs
            # while this one builds its version sees them taken (was: both passed the
            # check, and the second failed at its start, short of devices)
            reserved = self.gpus.reserve(spec, spec.metadata.instance, cpu_fallback)
            version = await self._build_version(spec, 1)
            self._closing_check()
            self._check_free(spec.name)
            if original is not None:
                self._check_current(original, f"creating its blue-green sibling {spec.name}")
            token = spec.token or secrets.token_urlsafe(30)
            # The record first, then the tables: a save that fails (a full disk, a name
            # the file system refuses) leaves no service half-made, stuck in Creating.
            try:
                self.records.save(
                    spec.name,
                    {**body["spec"], "name": spec.name},
                    token,
                    base_dir=str(spec.base_dir) if spec.base_dir else None,
                    blue_green_of=original.name if original is not None else None,
                )
            except OSError as exc:
                raise ControlError(
                    500,
                    f"cannot save the record of service '{spec.name}' in "
                    f"{self.records.folder}: {exc.strerror or exc}; nothing was created",
                ) from None
            self.unrestored.pop(spec.name, None)  # its record is this one now
            service = Service(
                self,
                spec.name,
                token,
                version,
                cpu_fallback,
                original.name if original is not None else None,
            )
            if reserved:  # its instances take them first (GpuLedger.allocate)
                self.gpus.promise(service, reserved)
                reserved = []
            had_queues = {
                q: self.queues.get(q) is not None for q in (spec.name, f"{spec.name}/sink")
            }
            try:
                self.services[spec.name] = service
                self.router.open(service)
                self._record(service)
                if kind == "async":
                    self.attach_queues(service, body["spec"])
            except Exception as exc:
                self._unmake(service, [q for q, had in had_queues.items() if not had])
                if isinstance(exc, RecordNotSaved):
                    raise ControlError(
                        500,
                        f"cannot save the record of service '{spec.name}' in "
                        f"{self.records.folder}: {exc.why}; nothing was created",
                    ) from None
                raise
            for warning in spec.warnings:
                service.log("kernel", f"warning: {warning}")
            app_threads = service.current.worker_config.get("app_worker_threads")
            if app_threads and not spec.writes("worker_threads"):
                threads, line, entry = app_threads
                service.log(
                    "kernel",
                    f"worker_threads {threads}, as {entry} line {line} passes it "
                    "(the processor's constructor, as EAS runs the app); "
                    "metadata.rpc.worker_threads sets another",
                )
            if cpu_fallback:
                service.log("kernel", "not enough GPUs: running on CPU (allow_cpu_fallback)")
            if not body.get("wait", True):
                # The start goes on in the background and keeps the lock until it is done.
                self._background(self._start_then_release(service, lock))
                handed_over = True
                return self.describe(service)
            await service.start()
            self._check_current(service, "its start")
            self._record(service)  # the devices it runs on
            self._feed(service)
            return self.describe(service)
        finally:
            if not handed_over:
                self.gpus.release(reserved)
                if service is not None:
                    self.gpus.release_promise(service)  # what a failed start did not take
                lock.release()

    def _unmake(self, service: Service, queues: list[str]) -> None:
        """Undo a create that failed before its service started: out of the tables,
        its record and the queues it opened (``queues``) gone."""
        if self.services.get(service.name) is service:
            del self.services[service.name]
        self.router.forget(service)
        with contextlib.suppress(OSError):  # the error being raised is the one to report
            self.records.remove(service.name)
        for name in queues:
            self.queues.remove(name)
        service.close_log()

    # -- queue services (queue.py, async_inference.py) ---------------------------------

    def create_queue(
        self, raw: dict[str, Any], created: float | None = None, allow_unknown_keys: bool = False
    ) -> dict[str, Any]:
        """A standalone queue service (``metadata.type: Queue``); ``created``: restored."""
        from easlab.spec import check_name, parse_spec

        try:
            name = check_name(raw.get("name"))
        except SpecError as exc:
            raise ControlError(400, f"a queue service's {exc}", "name") from None
        # a new one's keys are checked as a service's are; a restored one's were then, so
        # its unknown keys come back as the warnings they were, and a check added since
        # does not keep it away
        warnings: list[str] = []
        try:
            unknown_ok = allow_unknown_keys or created is not None
            warnings = parse_spec(raw, allow_unknown_keys=unknown_ok).warnings
        except SpecError:
            if created is None:
                raise
        if name in self.services or self.queues.get(name) is not None:
            raise ControlError(
                409, f"service '{name}' already exists; delete it first or pick another name"
            )
        if created is None:
            self._check_not_restoring(name)
        file = self.queues.file_for(name)
        if created is None and file.exists():
            # no service owns it (a delete removes its file): adopting it would show
            # this queue another queue's records
            raise ControlError(
                409,
                f"the state dir already has a queue file for '{name}' ({file}) that no "
                "service owns; move or delete that file, or pick another name",
                "name",
            )
        token = raw.get("token") or secrets.token_urlsafe(30)
        try:
            self.queues.open(name, token, settings_of(raw, "source"))
        except QueueError as exc:
            raise ControlError(
                exc.status, exc.message, "queue" if exc.status == 400 else "name"
            ) from None
        except (sqlite3.Error, OSError) as exc:  # a full disk, a read-only state dir
            if created is not None:
                raise
            for suffix in ("", "-wal", "-shm"):  # what the failed open made: not adopted later
                with contextlib.suppress(OSError):
                    Path(str(file) + suffix).unlink(missing_ok=True)
            raise ControlError(
                500,
                f"cannot open the file of queue service '{name}' ({file}): {exc}; nothing "
                "was created. Free disk space there (or make the folder writable) and "
                "create it again",
            ) from None
        self.queue_services[name] = created if created is not None else time.time()
        self._queue_warnings[name] = list(warnings)  # `desc` repeats them, as a service's
        if created is None:
            try:
                self.records.save(name, raw, token)
            except OSError as exc:  # a full disk: no queue service without its record
                self.queue_services.pop(name, None)
                self._queue_warnings.pop(name, None)
                self.queues.remove(name, drop=True)
                raise ControlError(
                    500,
                    f"cannot save the record of queue service '{name}' in "
                    f"{self.records.folder}: {exc.strerror or exc}; nothing was created",
                ) from None
            self.unrestored.pop(name, None)  # its record is this one now
        return self.describe_queue(name)

    async def restore(self) -> None:
        """Create again the services a previous kernel on this state dir had (state.py).

        Each comes back with its versions, current version, token, blue-green weights
        and status (Running where it ran, Stopped where it was stopped); an async
        service's feeder carries on from its group's saved cursor (queue.py).
        """
        records = self.records.load()
        self._note_bad_records()
        self._mark_restoring(records)
        self.restore_queues(records)
        starts = []
        for record in records:
            spec = record.get("spec") or {}
            if queue_kind(spec) == "queue":
                continue
            try:
                service = await self._restore_service(record)
                if record.get("running", True):
                    starts.append(service)
            except Exception as exc:  # one broken record must not keep the others away
                print(f"easlab kernel: could not restore {spec.get('name')!r}: {exc}", flush=True)
                self._unrestored(record, exc)
            finally:
                self.restoring.pop(str(spec.get("name")), None)
        starts = self.gpus.fit(self._fit_cap(starts), records)
        for record in records:
            sibling = self.services.get(str((record.get("spec") or {}).get("name")))
            entry = self.services.get(str(record.get("released_into")))
            if sibling is not None and entry is not None:
                self.router.release(entry, sibling, int(record.get("weight") or 0))
                sibling.released_into = entry.name
        for record in records:
            # the entry of a pair whose other side was deleted goes on to the survivor
            survivor = self.services.get(str((record.get("spec") or {}).get("name")))
            for entry_name, token in (record.get("entries") or {}).items():
                taken = (self.services, self.queue_services, self.router.routes, self.unrestored)
                if survivor is not None and not any(entry_name in t for t in taken):
                    self.router.serve_as(entry_name, token, survivor)
        await asyncio.gather(*(self._restart(service) for service in starts))

    def _mark_restoring(self, records: list[dict[str, Any]]) -> None:
        """The recorded services (not queue services) a restart is about to build."""
        for record in records:
            spec = record["spec"]
            if queue_kind(spec) != "queue" and spec["name"] not in self.services:
                self.restoring.setdefault(spec["name"], record)

    def _note_bad_records(self) -> None:
        """List the records ``load`` could not use as not restored, each saying why and
        how to fix it, and say so in the kernel's log (their files stay as they are)."""
        if self.records.unreadable is not None:
            print(f"easlab kernel: {self.records.unreadable}", flush=True)
        for bad in self.records.bad.values():
            if bad.name in self.services or bad.name in self.queue_services:
                continue
            if bad.name not in self.unrestored:
                print(f"easlab kernel: could not restore {bad.name!r}: {bad.why}", flush=True)
            self.unrestored[bad.name] = (bad.created, bad.why)

    def _unrestored(self, record: dict[str, Any], exc: Exception) -> None:
        name = (record.get("spec") or {}).get("name")
        if isinstance(name, str) and name not in self.services:
            self.unrestored[name] = (float(record.get("created") or time.time()), str(exc))

    def _fit_cap(self, services: list[Service]) -> list[Service]:
        """The services, in order, whose instances fit under ``MAX_INSTANCES``; each other
        one stays Stopped and says why (its record still says running, so a kernel
        with a higher cap starts it)."""
        fit: list[Service] = []
        held = 0
        for service in services:
            asked = int(service.spec.metadata.instance)
            if held + asked <= MAX_INSTANCES:
                fit.append(service)
                held += asked
                continue
            service.message = (
                f"not started after the kernel restarted: its {asked} instance(s) would take "
                f"this kernel past its cap of {MAX_INSTANCES} ({held} already started). "
                "Stop or scale down another service and start this one, or restart the "
                "kernel with EASLAB_MAX_INSTANCES set higher"
            )
            service.log("kernel", service.message)
        return fit

    def restore_queues(self, records: list[dict[str, Any]] | None = None) -> None:
        """Open the queues of the recorded services at once (before the kernel listens):
        queue clients are answered from the first request, while services still build."""
        if records is None:
            records = self.records.load()
            self._note_bad_records()
            self._mark_restoring(records)  # from before the kernel listens
        for record in records:
            spec = record.get("spec") or {}
            name = spec.get("name")
            kind = queue_kind(spec)
            try:
                if kind == "queue" and name not in self.queue_services:
                    self.create_queue(spec, created=float(record.get("created") or time.time()))
                elif kind == "async" and self.queues.get(str(name)) is None:
                    token = record.get("token") or spec.get("token") or ""
                    source = self.queues.open(str(name), token, settings_of(spec, "source"))
                    sink = self.queues.open(f"{name}/sink", token, settings_of(spec, "sink"))
                    # its answers consumed before the service is back are remembered
                    sink.answers_for = source
            except Exception as exc:  # one broken record must not keep the others away
                print(f"easlab kernel: could not restore queue {name!r}: {exc}", flush=True)
                if kind == "queue":  # an async service's own restore says whether it came back
                    self._unrestored(record, exc)

    async def _restore_service(self, record: dict[str, Any]) -> Service:
        from easlab.spec import parse_spec

        raw = record["spec"]
        name = raw["name"]
        self._check_free(name)
        base = record.get("base_dir")
        first = {k: v for k, v in raw.items() if k != "queue"}
        versions_raw = record.get("versions") or {"1": first}
        versions: dict[int, Version] = {}
        for number, version_raw in sorted(versions_raw.items(), key=lambda kv: int(kv[0])):
            spec = parse_spec({**version_raw, "name": name}, allow_unknown_keys=True)
            spec.base_dir = Path(base) if base else None
            versions[int(number)] = await self._build_version(spec, int(number))
        current = versions.get(int(record.get("current") or 0)) or versions[max(versions)]
        service = Service(
            self,
            name,
            record.get("token") or raw.get("token") or secrets.token_urlsafe(30),
            current,
            bool(record.get("cpu_fallback")),
            record.get("blue_green_of"),
        )
        service.versions = versions
        service.entry_deleted = bool(record.get("entry_deleted"))
        service.create_time = float(record.get("created") or service.create_time)
        service.status = "Stopped"
        self._check_free(name)
        self.services[name] = service
        self.router.open(service)
        if queue_kind(raw) == "async":
            self.attach_queues(service, raw)
        return service

    async def _restart(self, service: Service) -> None:
        try:
            async with self._lock(service.name):
                if self.services.get(service.name) is service and service.status == "Stopped":
                    await service.start()
                    if self.services.get(service.name) is service:
                        self._record(service)  # the devices it runs on now
                    self._feed(service)
        finally:
            self.gpus.release_promise(service)  # a start aborted, or one that never began

    def _record(self, service: Service) -> None:
        """Write down what a restart needs: versions, current one, weights, running (state.py)."""
        route = self.router.entry_of(service)
        weight = route.weights().get(service.name, 100) if route is not None else 100
        self._update_record(
            service.name,
            versions={str(n): v.spec.raw for n, v in service.versions.items()},
            current=service.current.number,
            base_dir=str(service.spec.base_dir) if service.spec.base_dir else None,
            blue_green_of=service.blue_green_of,
            entry_deleted=service.entry_deleted,
            released_into=service.released_into,
            weight=weight,
            cpu_fallback=service.cpu_fallback,
            # the devices its instances hold, which a restart gives it again (GpuLedger.fit)
            gpus=sorted({g for inst in service.instances for g in inst.gpus}),
            token=service.token,  # modify may change it
            entries=self.router.entries_of(service),
            running=service.status != "Stopped",
        )

    def _update_record(self, name: str, **fields: Any) -> None:
        """``records.update``, or RecordNotSaved: the call that changed the service
        answers a clear 500 (was: "kernel fault: OSError", or no answer at all)."""
        try:
            self.records.update(name, **fields)
        except OSError as exc:
            raise RecordNotSaved(name, self.records.folder, exc) from None

    def _feed(self, service: Service) -> None:
        """An async service consumes its input queue while it serves (async_inference.py)."""
        feeder = getattr(service, "feeder", None)
        if feeder is not None and service.status in ("Running", "Updating"):
            feeder.start()

    def attach_queues(self, service: Service, raw: dict[str, Any]) -> None:
        """An async service's input queue (its own path) and sink (``NAME/sink``), and its feeder."""
        # already open when restored (restore_queues); the service's token guards them
        source = self.queues.get(service.name) or self.queues.open(
            service.name, service.token, settings_of(raw, "source")
        )
        sink = self.queues.get(service.name + "/sink") or self.queues.open(
            service.name + "/sink", service.token, settings_of(raw, "sink")
        )
        source.token = sink.token = service.token
        sink.answers_for = source
        spec = service.spec
        meta = spec.metadata
        # enough in flight to keep every worker busy, never past the service's own queue (450)
        window = min(max(meta.instance, 1) * meta.worker_threads * 2, meta.max_queue_size)
        service.feeder = Feeder(service, source, sink, window)  # type: ignore[attr-defined]

    def _entry_of(self, sibling: Service) -> Service | None:
        """The service a blue-green sibling was created from (``create -r``), while it
        exists: None once it was deleted, a new service of its name being another one."""
        if sibling.blue_green_of is None or sibling.entry_deleted:
            return None
        return self.services.get(sibling.blue_green_of)

    def _check_not_restoring(self, name: str) -> None:
        """409 for a create of a name whose recorded service a restart still builds: the
        create would replace its record (versions, token, weights) with a new service."""
        if name in self.restoring and name not in self.services:
            raise ControlError(
                409,
                f"service '{name}' already exists: the kernel restarted and is restoring it. "
                "Wait until `ls` shows it, then change it with `modify` or delete it first",
                "name",
            )

    def _check_free(self, name: str) -> None:
        for path in (name, f"{name}/sink"):  # the queues an async service would open
            other = self.queues.clash(path)
            if other is not None:
                raise ControlError(
                    409,
                    f"service '{name}' would keep its queue '{path}' in the file of queue "
                    f"'{other}'; pick another name",
                    "name",
                )
        if name in self.services or name in self.queue_services:
            entry = self.services.get(name)
            # a create that failed left its service: the usual next step is to fix the
            # cell and run it again, which meets this
            state = (
                " (it failed to start: desc and logs say why)"
                if entry and entry.status == "Failed"
                else ""
            )
            raise ControlError(
                409,
                f"service '{name}' already exists{state}; delete it first, change it with "
                "`modify`, or create a blue-green sibling with `create -r`",
                "name",
            )

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(work)
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    async def _start_then_release(self, service: Service, lock: asyncio.Lock) -> None:
        try:
            if self.services.get(service.name) is service:
                await service.start()
                if self.services.get(service.name) is service:
                    self._record(service)  # the devices it runs on
                self._feed(service)
        except Exception as exc:  # a bug must not leave the name locked forever
            service.status, service.message = "Failed", f"start failed: {exc!r}"
            service.log("kernel", service.message)
        finally:
            self.gpus.release_promise(service)  # what create set aside and the start did not take
            lock.release()

    async def modify(self, service: Service, body: dict[str, Any]) -> dict[str, Any]:
        self._closing_check()
        if service.status == "Creating":
            plan = self._plan_modify(service, body)
            if plan[1] == "live":
                # A start is under way (it holds the lock, perhaps for minutes): take the
                # new settings now; the start reaches the new instance count when done.
                self._apply_live(service, plan[0])
                self._record(service)
                return self.describe(service)
        async with self._locked(service, "this modify"):
            spec, kind = self._plan_modify(service, body)  # against the state now
            if kind != "version" and await asyncio.to_thread(self._files_changed, service, body):
                kind = "version"
            if kind == "version":
                number = max(service.versions) + 1
                cpu = False
                if service.status != "Stopped":  # a stopped one is checked at its start
                    self.check_instances(spec, replacing=service)
                    cpu = self.gpus.check(
                        spec,
                        spec.metadata.instance,
                        service.cpu_fallback,
                        held=held_by(service),
                    )
                    # the free devices the check counted, set aside for the new version
                    # while it builds (a download can take minutes): was, a create
                    # meanwhile passed the same check and took them, and this modify,
                    # checked first, failed at its start
                    reserved = self.gpus.reserve(
                        spec, spec.metadata.instance, service.cpu_fallback or cpu
                    )
                    self.gpus.promise(service, reserved)
                try:
                    version = await self._build_version(spec, number)
                    self._check_current(service, "this modify")
                    service.cpu_fallback = service.cpu_fallback or cpu
                    service.versions[number] = version
                    failure = await self._switch_to(service, version)
                finally:
                    self.gpus.release_promise(service)  # what its instances did not take
                self._check_current(service, "this modify")
                self._record(service)
                self._feed(service)
                return self._outcome(service, failure)
            self._take_token(service, spec)
            if kind == "restart" and service.status == "Running":
                self.check_instances(spec, replacing=service)
                self.gpus.check(
                    spec,
                    spec.metadata.instance,
                    service.cpu_fallback,
                    held=held_by(service),
                )
                failure = await service.roll_to(self._same_version(service, spec))
                self._check_current(service, "this modify")
                self._record(service)
                return self._outcome(service, failure)
            self._apply_live(service, spec)
            failure = None
            if service.status == "Running":
                failure = await self._scale(service, spec.metadata.instance)
                self._check_current(service, "this modify")
            self._record(service)
            return self._outcome(service, failure)

    def _outcome(self, service: Service, failure: str | None) -> dict[str, Any]:
        """A change's answer: the service's description, and under ``failed`` what the
        change could not do while the service went on as before (a new version that
        did not start, a scale-up short of instances), so that a caller can tell
        (the CLI's [FAILED] and exit code 1, a notebook cell that fails)."""
        desc = self.describe(service)
        if failure is not None and service.status != "Failed":
            desc["failed"] = service.message or failure
        return desc

    def _plan_modify(self, service: Service, body: dict[str, Any]) -> tuple[Any, str]:
        """The new spec and what it takes: "version" (new version), "restart" or "live"."""
        from easlab.spec import (
            apply_overrides,
            check_typos,
            local_refusal,
            makes_new_version,
            merge_specs,
            overridden_fields,
            parse_spec,
            renamed_in_modify,
        )

        old_raw = service.spec.raw
        if isinstance(body.get("set"), dict):
            overrides = {str(k): v for k, v in body["set"].items()}
            named = overrides.get("name")
            new_raw = apply_overrides(old_raw, overrides)
            changes: dict[str, Any] = overridden_fields(new_raw, overrides)
        elif isinstance(body.get("spec"), dict):
            changes = dict(body["spec"])
            named = changes.get("name")
            new_raw = merge_specs(old_raw, changes)
        else:
            raise ControlError(400, 'the body needs "set" ({"metadata.instance": "2"}) or "spec"')
        if named not in (None, service.name):
            # -Dname=OTHER was taken: the service went on as its name while its spec, desc
            # and messages named the other; one refusal for -D and -s, as the dry run's
            raise ControlError(400, renamed_in_modify(named, service.name), "name")
        if not body.get("allow_unknown_keys"):
            # only what this call changes: keys the service was created with were accepted then
            check_typos(
                apply_overrides({}, overrides) if isinstance(body.get("set"), dict) else changes
            )
        spec = parse_spec(new_raw, allow_unknown_keys=True)
        refusal = local_refusal(spec)
        if refusal is not None:
            raise refusal
        spec.base_dir = service.spec.base_dir
        if makes_new_version(service.status, old_raw, changes):
            return spec, "version"
        old_meta, new_meta = service.spec.metadata, spec.metadata
        restart = any(
            getattr(old_meta, key) != getattr(new_meta, key)
            # what an instance takes at its start (threads, devices, limits; batching
            # sizes its model runtime's threads, processors/base.py model_threads)
            for key in (
                "worker_threads",
                "model_threads",
                "batching",
                "gpu",
                "cpu",
                "memory",
                "cuda",
            )
        )
        return spec, "restart" if restart else "live"

    @staticmethod
    def _files_changed(service: Service, body: dict[str, Any]) -> bool:
        """Whether a modify names the current version's local model or processor path
        (``-s``, ``-D``, or ``create --exist-ok`` of the same description), whose files
        changed since the version was built: the same path string but a new model (saved
        again after training) or new code (``pysdk pack`` again after editing app.py).
        That makes a new version, as a new path does; was: "updated", the old model
        still serving, and an instance restarted later loading the new one beside them."""
        from easlab.kernel.fetch import is_archive, local_fingerprint, sha256_file

        changes = body.get("spec") if isinstance(body.get("spec"), dict) else body.get("set")
        if not isinstance(changes, dict):
            return False
        current = service.current.worker_config
        for field in ("processor_path", "model_path"):
            location, loaded = changes.get(field), current.get(field)
            if not isinstance(location, str) or not loaded or "://" in location:
                continue
            path = Path(location).expanduser()
            if not path.is_absolute():
                path = (service.spec.base_dir or Path.cwd()) / path
            if path.is_file() and is_archive(path.name):
                if Path(loaded).name != sha256_file(path):  # the cache folder's name
                    return True
                continue
            built = current.get("local_files", {}).get(field)
            if built is not None and local_fingerprint(path.resolve()) != built:
                return True
        return False

    @staticmethod
    def _same_version(service: Service, spec: Any) -> Version:
        """The current version with a changed spec (no new model or processor)."""
        current = service.current
        config = {**current.worker_config, "spec": spec.to_dict()}
        _adopt_app_threads(spec, config)  # the app's own number, unless the new spec sets one
        config["worker_threads"] = spec.metadata.worker_threads
        version = Version(
            current.number,
            spec,
            current.target,
            config,
            current.processor_dir,
            current.created,
            current.signature,
            current.request_format,
            current.python,
            current.reported,
        )
        service.versions[version.number] = version
        return version

    def _take_token(self, service: Service, spec: Any) -> None:
        if spec.token and spec.token != service.token:
            service.token = spec.token
            route = self.router.routes.get(service.name)
            if route is not None:
                route.token = spec.token
            feeder = getattr(service, "feeder", None)
            if feeder is not None:  # an async service's queues take the service's token
                feeder.source.token = feeder.sink.token = spec.token

    def _apply_live(self, service: Service, spec: Any) -> None:
        """Take settings that need no restart (instance count, ``rpc.*``, token, timeout).

        The instance count itself is reached by ``_scale`` (Running) or by the start
        under way (Creating).
        """
        have = (
            len(service.instances)
            if service.status == "Running"
            else service.spec.metadata.instance
        )
        extra = spec.metadata.instance - have
        more_threads = spec.metadata.worker_threads > service.spec.metadata.worker_threads
        if (extra > 0 or more_threads) and service.status in ("Running", "Creating"):
            self.check_instances(spec, replacing=service)
        if extra > 0 and service.status in ("Running", "Creating"):
            self.gpus.check(spec, extra, service.cpu_fallback)
        self._take_token(service, spec)
        service.current = self._same_version(service, spec)
        service.apply_rpc()
        service.update_time = time.time()

    async def _scale(self, service: Service, count: int) -> str | None:
        failure = await service.scale(count)
        service.message = f"scaling failed: {failure}" if failure else ""
        service.update_time = time.time()
        return failure

    async def switch_version(self, service: Service, body: dict[str, Any]) -> dict[str, Any]:
        number = _whole_number(body, "version", "a version number (a whole number)")
        self._closing_check()
        async with self._locked(service, "this version switch"):
            version = service.versions.get(number)
            if version is None:
                known = ", ".join(str(n) for n in sorted(service.versions))
                raise ControlError(
                    404,
                    f"service '{service.name}' has no version {number} (versions: {known})",
                    "version",
                )
            if number == service.current.number and not body.get("force"):
                return self.describe(service)
            failure = await self._switch_to(service, version)
            self._check_current(service, "this version switch")
            self._record(service)
            self._feed(service)
            return self._outcome(service, failure)

    async def _switch_to(self, service: Service, version: Version) -> str | None:
        """Serve ``version``: a running service rolls to it, a failed one starts on it (a
        new version is its retry), a stopped one stays stopped with it as its current
        version, which ``start`` serves (its message says so). A failure message when a
        running service stays on its version.

        EAS's manuals do not say what a new version of a stopped service does; a stopped
        service started here, taking instances and GPUs nobody asked for."""
        if service.status == "Stopped":
            service.current = version
            service.apply_rpc()
            service.message = (
                f"stopped: version {version.number} is its current version now and was not "
                f"started; `start {service.name}` serves it"
            )
            service.log("kernel", service.message)
            service.update_time = time.time()
            return None
        if service.status == "Failed":
            self._check_gpus_to_start(service, version.spec)
            service.current = version
            service.apply_rpc()
            await service.start()
            return None  # a start that fails leaves the service Failed: its status says so
        return await service.roll_to(version)

    def _check_gpus_to_start(self, service: Service, spec: Any) -> None:
        """SpecError when the devices a stopped or failed service gave back are taken: an
        instance given none would see every GPU, those of other services too."""
        if service.cpu_fallback or service.instances:
            return
        # those a modify set aside for it are its own (modify)
        self.gpus.check(spec, spec.metadata.instance, False, held=self.gpus.promised(service))

    async def start_service(self, service: Service) -> dict[str, Any]:
        """``POST .../start``: start a Stopped or Failed service (else nothing to do)."""
        self._closing_check()
        async with self._locked(service, "this start"):
            if service.status in ("Stopped", "Failed"):
                # a stopped service holds no instances: starting it takes them again
                self.check_instances(service.spec, replacing=service)
                self._check_gpus_to_start(service, service.spec)
                await service.start()
            self._check_current(service, "this start")
            self._record(service)  # running, on the devices it has now
            self._feed(service)
            return self.describe(service)

    async def stop_service(self, service: Service) -> dict[str, Any]:
        """``POST .../stop``: abort a start under way at once, then stop every instance."""
        reason = "the service was stopped"
        service.abort(reason)
        try:
            async with self._locked(service, "this stop"):
                feeder = getattr(service, "feeder", None)
                if feeder is not None:
                    feeder.stop()  # its records at the service go back to the queue
                await service.stop()
                self._update_record(service.name, running=False)
                return self.describe(service)
        finally:
            service.abort_done(reason)

    async def delete(self, service: Service) -> dict[str, Any]:
        """Unregister the service at once, abort its start, stop its instances."""
        if self.services.get(service.name) is not service:
            raise ControlError(404, f"service '{service.name}' not found")
        # Its record goes now, with its name: a kernel killed while the instances stop
        # (up to STOP_GRACE_S) must not bring back a service the API no longer had. First:
        # a record that cannot be removed (a read-only state dir) leaves the service as it
        # was, where it was taken out of the tables while it ran on.
        try:
            self.records.remove(service.name)
        except OSError as exc:
            raise ControlError(
                500,
                f"cannot remove the record of service '{service.name}' from "
                f"{self.records.folder}: {exc.strerror or exc}; nothing was deleted (the "
                "service still serves). Make the folder writable and delete it again",
            ) from None
        self.services.pop(service.name)
        # Its siblings have no entry now: a new service of its name is another one, which
        # their `release` must not split (they were paired by name, so it did)
        for sibling in list(self.services.values()):
            if sibling.blue_green_of == service.name and not sibling.entry_deleted:
                sibling.entry_deleted = True
                try:
                    self._record(sibling)
                except RecordNotSaved as exc:  # the delete goes on; the sibling says why
                    sibling.log("kernel", exc.message)
        # Routes it was the only backend of go; a blue-green entry keeps serving the other side.
        for survivor in self.router.forget(service):
            survivor.released_into = None
            if survivor.name not in self.router.routes:
                self.router.open(survivor)
            try:
                self._record(survivor)
            except RecordNotSaved as exc:  # the delete goes on: its instances must stop
                survivor.log("kernel", exc.message)
        service.abort("the service was deleted")  # never cleared: it gets no instance again
        feeder = getattr(service, "feeder", None)
        if feeder is not None:
            feeder.stop()  # before the instances stop: a backlog is not fed to a dying service
        async with self._lock(service.name):
            await service.stop()
        service.remove_log()  # a new service of this name starts a log of its own
        if feeder is not None:
            self.queues.remove(service.name)
            self.queues.remove(service.name + "/sink")
        return {"deleted": service.name}

    async def release(self, service: Service, body: dict[str, Any]) -> dict[str, Any]:
        weight = _whole_number(body, "weight", "a whole percentage 0-100")
        if not 0 <= weight <= 100:
            raise ControlError(
                400,
                f'"weight" must be a whole percentage between 0 and 100, got {weight}: the '
                "share of the entry's traffic this sibling takes (0 sends it none)",
                "weight",
            )
        if service.blue_green_of is None:
            raise ControlError(
                400,
                f"service '{service.name}' is not a blue-green sibling; create one with "
                "`create -r` (blue_green: true) and release that",
            )
        async with self._locked(service, "this release"):
            entry = self._entry_of(service)
            if entry is None:
                # was: 404 "service '<entry>' not found", as if the name given were wrong
                entry_name = service.blue_green_of
                route = self.router.routes.get(entry_name)
                serves = (
                    f"it already answers all of /api/predict/{entry_name}"
                    if route is not None and route.single is service
                    else f"'{entry_name}' now is another service, created after"
                    if entry_name in self.services
                    else "there is no entry to split"
                )
                raise ControlError(
                    409,
                    f"'{entry_name}', the service '{service.name}' is the blue-green sibling "
                    f"of, was deleted: {serves}, so there is nothing to release. To try "
                    f"another version, `create -r` a sibling of '{service.name}' and release that",
                )
            route = self.router.routes.get(entry.name)
            others = [
                svc.name
                for svc, _ in (route.backends if route is not None else [])
                if svc is not entry and svc is not service
            ]
            if others:
                # a second split would drop the released sibling from every route
                raise ControlError(
                    409,
                    f"'{entry.name}' already splits its traffic with '{others[0]}'; an entry "
                    f"has one blue-green pair at a time: `delete {others[0]}` first (its "
                    f"share goes back to '{entry.name}'), then release '{service.name}'",
                    "weight",
                )
            self.router.release(entry, service, weight)
            service.released_into = entry.name
            self._record(service)
            self._record(entry)
            return self.describe(service)

    async def stop_all(self) -> None:
        """Stop every service (kernel shutdown): starts under way are killed at once."""
        self.closing = True
        services = list(self.services.values())
        for svc in services:
            feeder = getattr(svc, "feeder", None)
            if feeder is not None:
                feeder.stop()
            svc.abort("the kernel is shutting down")
        await asyncio.gather(*(svc.stop() for svc in services))
        for svc in services:
            svc.close_log()
        self.queues.close()  # saves every group's cursor

    def info(self) -> dict[str, Any]:
        """The kernel and its environment: which Python, which easlab, which runtimes load."""
        import sys

        from easlab import __version__
        from easlab.kernel.processors import available_runtimes, runtime_versions

        return {
            "pid": os.getpid(),
            "endpoint": self.endpoint,
            "version": __version__,
            "python": sys.executable,
            "prefix": sys.prefix,  # the environment: venvs share one interpreter binary
            "runtimes": available_runtimes(),
            # the framework versions serving tensorflow_*/pytorch_* codes, for a dry run
            "runtime_versions": runtime_versions(),
            "state_dir": str(self.state_dir),
            "started_at": iso(self.started_at),
            "idle_timeout": self.idle_timeout,
            # check_instances' limits, for a dry run to name the refusal a change would meet
            "max_instances": MAX_INSTANCES,
            "max_worker_threads": MAX_WORKER_THREADS,
        }


def _get_answered_by(services: list[Service]) -> str | None:
    """``get_answered_by`` of a blue-green entry, whose GET goes to either side: "model"
    when it may reach one side's model, else the sides' one answer (None when they
    differ or one does not know yet)."""
    answers = {svc.get_answered_by() for svc in services}
    if "model" in answers:
        return "model"
    return answers.pop() if len(answers) == 1 else None


def _warn(spec: Any, warning: str) -> None:
    """Add ``warning`` to the spec's (the create's answer and ``desc`` give them, the
    create logs them), once: a version built again from the same spec says it once."""
    if warning and warning not in spec.warnings:
        spec.warnings.append(warning)


def _adopt_app_threads(spec: Any, config: dict[str, Any]) -> None:
    """A python app's own ``worker_threads=N`` (``app_worker_threads``) is the service's,
    as on EAS, where the file sets no ``metadata.rpc.worker_threads`` (that one wins)."""
    found = config.get("app_worker_threads")
    if found and not spec.writes("worker_threads"):
        threads, line, entry = found
        if threads > MAX_WORKER_THREADS:  # as check_instances refuses the field's
            raise SpecError(
                "processor_entry",
                f"{entry} line {line} asks for worker_threads={threads}; an instance here "
                f"runs at most {MAX_WORKER_THREADS} (EAS's default is 5): pass fewer, and "
                "for more concurrency add instances (metadata.instance)",
            )
        spec.metadata.worker_threads = int(threads)
        config["worker_threads"] = int(threads)
