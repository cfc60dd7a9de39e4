"""Calls an instance held when it died (``Service.on_calls_orphaned``).

A call whose instance dies is retried once on *another* ready instance of the
service, never on the one that died: the call may be what killed it, and with
one instance the retry went to that instance restarted, so one request crashed
it twice (and every client retry of the 502 twice more). With no other instance
the caller gets the 502 at once.
"""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
from kernel_helpers import post, wait_for
from service_standin import call as _call
from service_standin import run as _run
from service_standin import service as _service

from easlab.kernel.call import Call
from easlab.kernel.control import Kernel
from easlab.wire.torch import TorchRequest

TOKEN = "tok-" + "x" * 8

# exits for the body "exit"; sleeps for "sleep"; answers its pid otherwise
CRASH_APP = """
import os, time
import allspark

class Crash(allspark.BaseProcessor):
    def process(self, data):
        if data == b"exit":
            os._exit(3)
        if data == b"sleep":
            time.sleep(0.5)
        return str(os.getpid()).encode(), 200
"""


def _workers(kernel, name):
    return kernel.client.workers(name)


def _crashes(kernel, name) -> int:
    return sum("exited with code 3; restarting" in line for line in kernel.client.logs(name, 200))


def test_one_request_that_kills_the_only_instance_crashes_it_once_and_gets_502(
    kernel, python_service
):
    svc = python_service("orphan_one", CRASH_APP, instance=1)
    pid = _workers(kernel, "orphan_one")[0]["pid"]
    resp = post(svc.url, b"exit", TOKEN)
    assert resp.status_code == 502
    assert resp.text == (
        "instance orphan_one-0 of service 'orphan_one' exited with code 3 "
        "while processing this request (what it printed before it exited is in its log: "
        "`easlab logs orphan_one`)"
    )
    wait_for(
        lambda: (w := _workers(kernel, "orphan_one")[0])["ready"] and w["pid"] != pid,
        what="the instance to come back",
    )
    assert _workers(kernel, "orphan_one")[0]["restarts"] == 1  # one request, one crash
    assert _crashes(kernel, "orphan_one") == 1
    # the log says which request the instance died holding (the 502 cannot say more)
    logs = kernel.client.logs("orphan_one", 200)
    assert any("exited with code 3 holding 1 request(s): 4 bytes" in line for line in logs)
    assert post(svc.url, b"after", TOKEN).status_code == 200
    assert _workers(kernel, "orphan_one")[0]["restarts"] == 1
    kernel.delete("orphan_one")


def test_a_killed_instances_call_is_retried_on_the_other_instance(kernel, python_service):
    svc = python_service("orphan_two", CRASH_APP, instance=2, rpc__worker_threads=1)
    pids = [w["pid"] for w in _workers(kernel, "orphan_two")]
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(post, svc.url, b"sleep", TOKEN)
        victim = wait_for(
            lambda: next((w for w in _workers(kernel, "orphan_two") if w["in_flight"] == 1), None),
            what="the call to reach an instance",
        )
        os.kill(victim["pid"], signal.SIGKILL)
        resp = future.result()
    assert resp.status_code == 200
    other = next(p for p in pids if p != victim["pid"])
    assert int(resp.text) == other  # answered by the instance that did not die
    kernel.delete("orphan_two")


def test_a_request_that_kills_every_instance_it_meets_runs_twice_with_two(kernel, python_service):
    svc = python_service("orphan_both", CRASH_APP, instance=2)
    resp = post(svc.url, b"exit", TOKEN)
    assert resp.status_code == 502 and "while processing this request" in resp.text
    # any client (curl, the Python client) is told where the instance's output went
    assert resp.text.endswith(
        "(what it printed before it exited is in its log: `easlab logs orphan_both`)"
    ), resp.text
    # once where it was sent, once on the other instance: never on the restarted first
    wait_for(
        lambda: all(w["ready"] for w in _workers(kernel, "orphan_both")),
        what="both instances to come back",
    )
    assert [w["restarts"] for w in _workers(kernel, "orphan_both")] == [1, 1]
    assert _crashes(kernel, "orphan_both") == 2
    kernel.delete("orphan_both")


# -- the decision alone, with instance stand-ins (no process, no timing) -------------


def _instance(name: str, ready: bool = True, busy: int = 0) -> SimpleNamespace:
    inst = SimpleNamespace(name=name, ready=ready, busy=busy, sent=[])
    inst.send = lambda call: inst.sent.append(call.body.decode())
    return inst


def _orphan(tmp_path, instances, dying, bodies):
    """``on_calls_orphaned`` of ``bodies`` held by ``dying``; the (body, status) answers."""
    answers: list[tuple[str, int]] = []

    def test(loop):
        svc = _service(Kernel(tmp_path, loop), tmp_path, "orphans", max_batch_size=1)
        svc.instances = instances
        calls = [_call(b, answers) for b in bodies]
        svc.on_calls_orphaned(dying, calls, "was killed by SIGKILL")
        assert not svc.queue  # nothing left that the restarted instance could take

    _run(test)
    return answers


def test_with_no_other_instance_each_call_is_answered_502_at_once(tmp_path):
    dying = _instance("orphans-0", ready=False)
    assert _orphan(tmp_path, [dying], dying, ["a", "b"]) == [("a", 502), ("b", 502)]
    assert dying.sent == []


def test_an_instance_that_is_not_ready_is_no_other_instance(tmp_path):
    dying, restarting = _instance("orphans-0", ready=False), _instance("orphans-1", ready=False)
    assert _orphan(tmp_path, [dying, restarting], dying, ["a"]) == [("a", 502)]
    assert restarting.sent == []


def test_the_calls_go_to_the_least_busy_other_instance(tmp_path):
    dying = _instance("orphans-0", ready=False)
    busy, idle = _instance("orphans-1", busy=3), _instance("orphans-2")
    assert _orphan(tmp_path, [dying, busy, idle], dying, ["a"]) == []
    assert idle.sent == ["a"] and busy.sent == [] and dying.sent == []


def test_the_log_names_the_inputs_of_the_tensor_requests_a_dead_instance_held(tmp_path):
    # A model that aborts on some shape: the callers get 502s that cannot say which
    # request did it; the service log says what each held request was.
    request = TorchRequest()
    request.add_feed(0, np.zeros((3, 5), np.float32))
    lines: list[str] = []

    def test(loop):
        svc = _service(Kernel(tmp_path, loop), tmp_path, "orphans", max_batch_size=1)
        svc.current.request_format = "torch"
        dying = _instance("orphans-0", ready=False)
        svc.instances = [dying]
        calls = [Call(request.to_string(), lambda *_: None), Call(b"\xff" * 7, lambda *_: None)]
        svc.on_calls_orphaned(dying, calls, "was killed by SIGSEGV")
        lines.extend(svc.lines)

    _run(test)
    [line] = [line for line in lines if "holding" in line]
    assert "[orphans-0] instance was killed by SIGSEGV holding 2 request(s): " in line
    assert "torch inputs '0' [3, 5] DT_FLOAT" in line
    assert line.endswith("; 7 bytes")  # a body no format reads: its size
