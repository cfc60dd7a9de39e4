"""The ``/easlab/v1`` JSON control API as a route table (ARCHITECTURE.md).

Each route is a path pattern and the methods it answers, each with its
handler; a path that matches with another method answers 405 naming the ones
it takes, an unknown path 404. Errors answer ``{"error": message, "field":
dotted field or null}``. Who may call at all is decided before this, in
kernel/guard.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from easlab.errors import SpecError
from easlab.kernel.control import API, ControlError, Kernel
from easlab.kernel.monitor import HISTORY_S, WINDOWS

__all__ = ["API", "ROUTES", "handle"]


@dataclass(frozen=True)
class Call:
    """One control call, as the handlers see it."""

    kernel: Kernel
    params: dict[str, str]  # the {name} parts of the path
    query: str
    body: bytes

    def json(self) -> dict[str, Any]:
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except ValueError as exc:
            raise ControlError(400, f"the request body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ControlError(400, "the request body must be a JSON object")
        return data

    def service(self, doing: str | None = None) -> Any:
        """The named service; a queue service answers why ``doing`` does not apply to it."""
        return self.kernel.get(self.params["name"], doing)

    def queue_service(self) -> str | None:
        """The name, if it is a standalone queue service (``metadata.type: Queue``)."""
        name = self.params["name"]
        return name if name in self.kernel.queue_services else None


Handler = Callable[[Call], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Route:
    """A path pattern (``("services", "{name}", "logs")``) and its methods' handlers."""

    pattern: tuple[str, ...]
    methods: dict[str, Handler]

    def match(self, parts: list[str]) -> dict[str, str] | None:
        if len(parts) != len(self.pattern):
            return None
        params: dict[str, str] = {}
        for part, want in zip(parts, self.pattern, strict=True):
            if want.startswith("{"):
                params[want[1:-1]] = part
            elif part != want:
                return None
        return params


# -- handlers ---------------------------------------------------------------------------


async def _info(call: Call) -> dict[str, Any]:
    return call.kernel.info()


async def _shutdown(call: Call) -> dict[str, Any]:
    call.kernel.loop.call_soon(call.kernel.shutdown_requested.set)
    return {"ok": True}


async def _gpu(call: Call) -> dict[str, Any]:
    report = await asyncio.to_thread(call.kernel.gpus.report)
    return report.to_dict()  # type: ignore[no-any-return]


async def _list(call: Call) -> dict[str, Any]:
    kernel = call.kernel
    return {"services": kernel.describe_all()}


async def _create(call: Call) -> dict[str, Any]:
    return await call.kernel.create(call.json())


async def _describe(call: Call) -> dict[str, Any]:
    queue = call.queue_service()
    if queue is not None:
        return call.kernel.describe_queue(queue)
    if call.params["name"] in call.kernel.unrestored:
        return call.kernel.describe_unrestored(call.params["name"])
    if call.params["name"] in call.kernel.restoring.keys() - call.kernel.services.keys():
        return call.kernel.describe_restoring(call.params["name"])
    return call.kernel.describe(call.service())


async def _modify(call: Call) -> dict[str, Any]:
    return await call.kernel.modify(call.service("modify"), call.json())


async def _delete(call: Call) -> dict[str, Any]:
    queue = call.queue_service()
    if queue is not None:
        return call.kernel.delete_queue(queue)
    if call.params["name"] in call.kernel.unrestored:
        return call.kernel.forget_unrestored(call.params["name"])
    return await call.kernel.delete(call.service())


async def _workers(call: Call) -> dict[str, Any]:
    kernel = call.kernel
    return {"workers": call.service("w").workers(kernel.host_for_clients(), kernel.port)}


async def _logs(call: Call) -> dict[str, Any]:
    service = call.service("logs")
    raw = (parse_qs(call.query).get("n") or ["50"])[0]
    try:
        n = int(raw)
    except ValueError:
        n = -1
    if n < 0:
        raise ControlError(400, f"n must be a number of lines (0 for all), got {raw!r}", "n")
    lines = list(service.lines)
    return {"lines": lines[-n:] if n > 0 else lines}


async def _stop(call: Call) -> dict[str, Any]:
    return await call.kernel.stop_service(call.service("stop"))


async def _start(call: Call) -> dict[str, Any]:
    return await call.kernel.start_service(call.service("start"))


async def _version(call: Call) -> dict[str, Any]:
    return await call.kernel.switch_version(call.service("version"), call.json())


async def _release(call: Call) -> dict[str, Any]:
    return await call.kernel.release(call.service("release"), call.json())


def _window(call: Call) -> int:
    raw = (parse_qs(call.query).get("window") or ["60"])[0]
    try:
        window = int(raw)
    except ValueError:
        window = 0
    if not 1 <= window <= HISTORY_S:
        raise ControlError(
            400, f"window must be whole seconds from 1 to {HISTORY_S}, got {raw!r}", "window"
        )
    return window


def service_metrics(kernel: Kernel, service: Any, window: int) -> dict[str, Any]:
    """The monitor's view of one service: windows, versions, instances, per-second series."""
    kernel.fold_all()
    stats = service.stats
    windows = {f"{w}s": stats.window(w) for w in WINDOWS}
    versions = {
        str(v): {f"{w}s": stats.window(w, version=v) for w in WINDOWS}
        for v in sorted(set(stats.instance_version.values()))
    }
    live = {inst.index: inst for inst in service.instances}
    latest = stats.buckets[-1].resources if stats.buckets else {}
    instances = []
    for index in sorted(stats.instance_name):
        inst = live.get(index)
        recent = stats.window(window, instance=index)
        if inst is None and not recent["requests"]:
            continue  # an instance gone before this window
        instances.append(
            {
                "name": stats.instance_name[index],
                "version": stats.instance_version[index],
                "pid": inst.pid if inst is not None else None,
                "ready": bool(inst is not None and inst.ready),
                "in_flight": inst.busy if inst is not None else 0,
                "windows": {f"{w}s": stats.window(w, instance=index) for w in WINDOWS},
                "resources": latest.get(index, {}),
            }
        )
    return {
        "name": service.name,
        "status": service.status,
        "time": time.time(),
        "window": window,
        "totals": {
            "requests": stats.requests,
            "by_status": {str(k): v for k, v in sorted(stats.by_status.items())},
            "batches": stats.batches,
            "batch_sizes": {str(k): v for k, v in sorted(stats.batch_sizes.items())},
            # why batches closed: full, timeout (waited rpc.max_batch_timeout), idle, next
            # (batching.py)
            "batch_closes": dict(service.queue.closes),
        },
        "queue_depth": service.queue_depth(),
        "windows": windows,
        "versions": versions,
        "instances": instances,
        "series": stats.series(window),
        "resources": stats.resource_series(window),
    }


async def _metrics(call: Call) -> dict[str, Any]:
    return service_metrics(call.kernel, call.service("monitor"), _window(call))


async def _all_metrics(call: Call) -> dict[str, Any]:
    """Every service's short summary (the panel's list), with the last ``window`` s series."""
    kernel = call.kernel
    window = _window(call)
    kernel.fold_all()
    out = {}
    for name, service in kernel.services.items():
        stats = service.stats
        out[name] = {
            "windows": {f"{w}s": stats.window(w) for w in WINDOWS},
            "series": [
                {"t": r["t"], "qps": r["qps"], "p99_ms": r["p99_ms"]} for r in stats.series(window)
            ],
        }
    return {"time": time.time(), "window": window, "services": out}


ROUTES: tuple[Route, ...] = (
    Route(("kernel",), {"GET": _info}),
    Route(("shutdown",), {"POST": _shutdown}),
    Route(("gpu",), {"GET": _gpu}),
    Route(("services",), {"GET": _list, "POST": _create}),
    Route(("services", "{name}"), {"GET": _describe, "PATCH": _modify, "DELETE": _delete}),
    Route(("services", "{name}", "workers"), {"GET": _workers}),
    Route(("services", "{name}", "logs"), {"GET": _logs}),
    Route(("services", "{name}", "metrics"), {"GET": _metrics}),
    Route(("metrics",), {"GET": _all_metrics}),
    Route(("services", "{name}", "stop"), {"POST": _stop}),
    Route(("services", "{name}", "start"), {"POST": _start}),
    Route(("services", "{name}", "version"), {"POST": _version}),
    Route(("services", "{name}", "release"), {"POST": _release}),
)


async def handle(
    kernel: Kernel, method: str, path: str, query: str, body: bytes
) -> tuple[int, dict[str, Any]]:
    """Answer one control call: ``(status, JSON object)``."""
    parts = [unquote(p) for p in path[len(API) :].strip("/").split("/") if p]
    try:
        for route in ROUTES:
            params = route.match(parts)
            if params is None:
                continue
            handler = route.methods.get(method)
            if handler is None:
                allowed = ", ".join(sorted(route.methods))
                raise ControlError(405, f"{path} takes {allowed}, not {method}")
            return 200, await handler(Call(kernel, params, query, body))
        raise ControlError(404, f"no control call {method} {path}")
    except ControlError as exc:
        return exc.status, {"error": exc.message, "field": exc.field}
    except SpecError as exc:
        return 400, {"error": str(exc), "field": exc.field or None}
