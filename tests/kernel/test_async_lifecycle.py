"""An async service as a whole, through its lifecycle: scaled to zero and back, the
monitor's counts of what it answered, ... (audit of async inference end to end)."""

from __future__ import annotations

from typing import Any

import requests
from kernel_helpers import ECHO_APP, app_spec, wait_for

import easlab

TOKEN = "asylife-" + "t" * 8


def _create(kernel, make_app, name: str, code: str = ECHO_APP, **metadata: Any) -> None:
    spec = app_spec(name, make_app(name, code), type="Async", **metadata)
    spec["token"] = TOKEN
    kernel.client._call("POST", "/services", {"spec": spec, "wait": True}, timeout=120)


def _put(kernel, name: str, data: bytes) -> str:
    """A request to the service's path, as curl sends it; its request id."""
    resp = requests.post(
        f"{kernel.endpoint}/api/predict/{name}",
        data=data,
        headers={"Authorization": TOKEN},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return resp.headers["X-Eas-Queueservice-Request-Id"]


def _sink(kernel, name: str) -> dict[str, tuple[str, bytes]]:
    sink = easlab.QueueClient(kernel.endpoint, f"{name}/sink")
    sink.set_token(TOKEN)
    sink.init()
    got = sink.get(length=100, auto_delete=False, timeout="0s")
    return {r.tags["requestId"]: (r.tags["status"], bytes(r.data)) for r in got}


def test_an_async_service_scaled_to_zero_keeps_its_requests_until_scaled_up(kernel, make_app):
    """Before: a request put while no instance ran hung the kernel (the feeder's 503 and
    its record went round in one loop pass, forever) and a restart hung again."""
    name = "asy_zero"
    _create(kernel, make_app, name, instance=0)
    try:
        first, second = _put(kernel, name, b"one"), _put(kernel, name, b"two")
        desc = easlab.desc(name, kernel=kernel.client)  # the kernel still answers
        assert desc["queues"][name]["length"] == 2
        assert _sink(kernel, name) == {}
        kernel.client.modify(name, set={"metadata.instance": 1})
        answers = wait_for(
            lambda: (r := _sink(kernel, name)) and len(r) == 2 and r, 60, "two answers"
        )
        assert answers == {first: ("200", b"one"), second: ("200", b"two")}
    finally:
        easlab.delete(name, kernel=kernel.client)
