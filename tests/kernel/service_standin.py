"""The kernel's real Service, Kernel and queue around an instance stand-in that records
what it is sent: for tests of which calls leave when, with no process and no timing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from easlab.kernel.call import Call
from easlab.kernel.control import Kernel
from easlab.kernel.service import Service, Version
from easlab.spec import parse_spec

TOKEN = "tok-" + "x" * 8


def service(
    kernel: Kernel, folder: Any, name: str, max_batch_size: int = 16, max_queue_size: int = 64
) -> Service:
    """A Running python service with batching on (max_batch_timeout 2 s) and no instance."""
    spec = parse_spec(
        {
            "name": name,
            "token": TOKEN,
            "processor_type": "python",
            "processor_path": str(folder),
            "processor_entry": "app.py",
            "metadata": {
                "instance": 1,
                "rpc": {
                    "batching": True,
                    "max_batch_size": max_batch_size,
                    "max_batch_timeout": 2000,
                    "max_queue_size": max_queue_size,
                },
            },
        }
    )
    svc = Service(kernel, name, TOKEN, Version(1, spec, "app:P", {}))
    svc.status = "Running"
    return svc


def instance(sent: list[str], lone_batch_is_process: bool = True) -> SimpleNamespace:
    """An instance that appends ``request a`` / ``batch a,b`` to ``sent`` for each frame
    and counts its frames in ``busy`` (a test sets ``busy`` back when an answer comes)."""
    inst = SimpleNamespace(
        ready=True, busy=0, batch_rows=0, lone_batch_is_process=lone_batch_is_process
    )

    def send(call: Call) -> None:
        inst.busy += 1
        inst.batch_rows = 1
        sent.append(f"request {call.body.decode()}")

    def send_batch(calls: list[Call]) -> None:
        inst.busy += 1
        inst.batch_rows = len(calls)
        sent.append("batch " + ",".join(call.body.decode() for call in calls))

    inst.send, inst.send_batch = send, send_batch
    return inst


def call(name: str, answers: list[tuple[str, int]] | None = None) -> Call:
    """A call whose body is ``name``; ``answers`` collects (name, status) when answered."""

    def respond(status: int, body: bytes) -> None:
        if answers is not None:
            answers.append((name, status))

    return Call(name.encode(), respond)


def run(test: Callable[[asyncio.AbstractEventLoop], None]) -> None:
    """``test(loop)`` inside a running event loop (the Kernel needs one)."""

    async def main() -> None:
        test(asyncio.get_running_loop())

    asyncio.run(main())
