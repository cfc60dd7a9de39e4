"""What a caller is told when no instance can take its call.

``metadata.instance: 0`` is valid (a service scaled to zero), but its callers
waited rpc.keepalive for a 408 saying the call "took longer than rpc.keepalive",
although nothing ran. Now they get a 503 at once naming the fix; and a 408 says
whether the call ran in an instance or only waited in the queue.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

from kernel_helpers import ECHO_APP, HANG_APP, post, wait_for
from service_standin import call as _call
from service_standin import service as _service

from easlab.kernel.control import Kernel

TOKEN = "tok-" + "x" * 8


def test_a_service_scaled_to_zero_answers_503_at_once_with_the_fix(kernel, python_service):
    svc = python_service("zero_inst", ECHO_APP, instance=0)
    assert svc.status == "Running"
    started = time.monotonic()
    resp = post(svc.url, b"hello", TOKEN)
    assert time.monotonic() - started < 2  # not rpc.keepalive (5 s) later
    assert resp.status_code == 503
    assert resp.text == (
        "service 'zero_inst' has no instances (metadata.instance is 0); scale it up: "
        "easlab modify zero_inst -Dmetadata.instance=1"
    )
    kernel.client.modify("zero_inst", set={"metadata.instance": 1})
    wait_for(lambda: post(svc.url, b"up", TOKEN).status_code == 200, what="the scaled-up service")
    kernel.client.modify("zero_inst", set={"metadata.instance": 0})
    assert post(svc.url, b"down", TOKEN).status_code == 503
    kernel.delete("zero_inst")


def test_a_408_says_whether_the_call_ran_or_only_waited_in_the_queue(kernel, python_service):
    svc = python_service(
        "queued_408", HANG_APP, **{"rpc__keepalive": 600, "rpc__worker_threads": 1}
    )
    with ThreadPoolExecutor(2) as pool:
        hung = pool.submit(post, svc.url, b"hang", TOKEN)
        wait_for(
            lambda: kernel.client.workers("queued_408")[0]["in_flight"] == 1,
            what="the hanging call to reach the instance",
        )
        queued = pool.submit(post, svc.url, b"hello", TOKEN)
        ran, waited = hung.result(), queued.result()
    assert ran.status_code == waited.status_code == 408
    assert ran.text == (
        "request to service 'queued_408' took longer than rpc.keepalive (600 ms) "
        "in instance queued_408-0; for a slower model raise it: "
        "easlab modify queued_408 -Dmetadata.rpc.keepalive=1200"
    )
    assert waited.text.startswith(
        "request to service 'queued_408' waited in the queue for rpc.keepalive (600 ms) "
        "and never ran: every instance stayed busy"
    )
    kernel.delete("queued_408")


def test_calls_queued_when_the_service_scales_to_zero_get_the_503(tmp_path):
    """Scaled down to zero with calls waiting: they have no instance to wait for."""
    answers: list[tuple[str, int]] = []
    stopped: list[str] = []

    async def stop(grace_s: float) -> None:
        stopped.append("zero-0")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        svc = _service(Kernel(tmp_path, loop), tmp_path, "to_zero", max_batch_size=1)
        inst = SimpleNamespace(ready=True, busy=1, index=0, gpus=[], stop=stop)
        svc.instances = [inst]
        assert svc.queue.push(_call("waiting", answers), 0)
        svc.spec.metadata.instance = 0  # what `modify -Dmetadata.instance=0` sets
        assert await svc.scale(0) is None
        assert svc.instances == [] and not svc.queue and stopped == ["zero-0"]
        late: list[tuple[str, int]] = []
        svc.submit(_call("late", late))  # and a call that comes afterwards
        assert late == [("late", 503)]

    asyncio.run(main())
    assert answers == [("waiting", 503)]
