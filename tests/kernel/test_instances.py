"""Instance processes: crashes, stuck processors, queue limits, scaling, failed starts."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from kernel_helpers import ECHO_APP, HANG_APP, post, wait_for

TOKEN = "tok-" + "x" * 8

PID_APP = """
import os, time
import allspark

class Pid(allspark.BaseProcessor):
    def process(self, data):
        if data.startswith(b"sleep "):
            time.sleep(float(data.split()[1]))
        return str(os.getpid()).encode(), 200
"""


def workers(kernel, name):
    return kernel.client.workers(name)


def test_sigkill_instance_is_restarted_and_requests_keep_succeeding(kernel, python_service):
    svc = python_service("inst_kill", PID_APP, instance=2)
    before = workers(kernel, "inst_kill")
    assert [w["ready"] for w in before] == [True, True]
    victim = before[0]["pid"]
    os.kill(victim, signal.SIGKILL)
    # requests sent right away all succeed (the other instance, or a retry)
    answers = [post(svc.url, b"x", TOKEN) for _ in range(20)]
    assert all(r.status_code == 200 for r in answers)

    def restarted():
        ws = workers(kernel, "inst_kill")
        return all(w["ready"] for w in ws) and ws[0]["pid"] != victim and ws[0]["restarts"] == 1

    wait_for(restarted, what="the killed instance to come back")
    ws = workers(kernel, "inst_kill")
    assert ws[1]["restarts"] == 0
    assert ws[0]["reason"] == "last exit: killed by SIGKILL" and ws[1]["reason"] == ""
    pids = {int(post(svc.url, b"x", TOKEN).text) for _ in range(20)}
    assert victim not in pids


def test_in_flight_request_of_the_only_killed_instance_gets_502(kernel, python_service):
    # Retried only on another instance, never on the restarted one: the request may
    # be what killed it (tests/kernel/test_service_orphans.py has the retry with
    # two instances).
    svc = python_service("inst_retry", PID_APP, instance=1)
    pid = workers(kernel, "inst_retry")[0]["pid"]
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(post, svc.url, b"sleep 0.5", TOKEN)
        wait_for(
            lambda: workers(kernel, "inst_retry")[0]["in_flight"] == 1, what="request in flight"
        )
        os.kill(pid, signal.SIGKILL)
        resp = future.result()
    assert resp.status_code == 502
    assert "killed by SIGKILL while processing this request" in resp.text
    wait_for(
        lambda: (w := workers(kernel, "inst_retry")[0])["ready"] and w["pid"] != pid,
        what="the instance to come back",
    )
    assert int(post(svc.url, b"x", TOKEN).text) != pid  # the restarted instance serves


def test_hanging_processor_gets_408_and_is_restarted_while_others_serve(kernel, python_service):
    hang = python_service(
        "inst_hang", HANG_APP, **{"rpc__keepalive": 400, "rpc__worker_threads": 1}
    )
    echo = python_service("inst_neighbour", ECHO_APP)
    pid = workers(kernel, "inst_hang")[0]["pid"]
    resp = post(hang.url, b"hang", TOKEN)
    assert resp.status_code == 408
    assert resp.headers.get("Connection") == "close"
    assert "rpc.keepalive" in resp.text
    assert post(echo.url, b"neighbour ok", TOKEN).content == b"neighbour ok"
    # one keepalive later the stuck instance is killed and a fresh one serves
    wait_for(
        lambda: (w := workers(kernel, "inst_hang")[0])["ready"] and w["pid"] != pid,
        what="the stuck instance to be replaced",
    )
    assert post(hang.url, b"ok", TOKEN).content == b"fine"
    w = workers(kernel, "inst_hang")[0]
    assert w["restarts"] == 1
    # `w` says why it was killed, not only how
    assert w["reason"] == "last exit: killed as stuck: a request ran past 2x rpc.keepalive"


def test_full_queue_answers_450_and_closes(kernel, python_service):
    svc = python_service(
        "inst_queue", PID_APP, **{"rpc__worker_threads": 1, "rpc__max_queue_size": 2}
    )
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: post(svc.url, b"sleep 0.3", TOKEN), range(8)))
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) >= 3  # one in the instance, two waiting
    assert 450 in codes and set(codes) <= {200, 450}
    full = next(r for r in results if r.status_code == 450)
    assert "max_queue_size" in full.text and full.headers.get("Connection") == "close"


def test_quick_processor_takes_frames_beyond_its_threads_and_answers_each_its_own(
    kernel, python_service
):
    # worker_threads 1: once the processor has answered quickly, the kernel sends frames
    # ahead (they wait in the instance's socket); each answer must still find its caller.
    svc = python_service("inst_pipe", ECHO_APP, **{"rpc__worker_threads": 1})
    assert post(svc.url, b"warm", TOKEN).content == b"warm"

    def client(n: int) -> list[bool]:
        with requests.Session() as session:
            session.headers["Authorization"] = TOKEN
            bodies = [f"client {n} request {i}".encode() * (1 + i % 3) for i in range(40)]
            return [session.post(svc.url, data=b, timeout=30).content == b for b in bodies]

    with ThreadPoolExecutor(16) as pool:
        results = [ok for oks in pool.map(client, range(16)) for ok in oks]
    assert len(results) == 640 and all(results)
    assert workers(kernel, "inst_pipe")[0]["in_flight"] == 0


def test_scaling_adds_and_removes_instances_without_touching_others(kernel, python_service):
    svc = python_service("inst_scale", PID_APP, instance=1)
    first = workers(kernel, "inst_scale")[0]
    desc = kernel.client.modify("inst_scale", set={"metadata.instance": 3})
    assert desc["total_instance"] == 3 and desc["running_instance"] == 3
    assert desc["current_version"] == 1  # scaling is not a new version
    ws = workers(kernel, "inst_scale")
    assert len(ws) == 3 and ws[0]["pid"] == first["pid"]
    with ThreadPoolExecutor(6) as pool:
        pids = set(pool.map(lambda _: post(svc.url, b"sleep 0.2", TOKEN).text, range(6)))
    assert len(pids) == 3
    desc = kernel.client.modify("inst_scale", set={"metadata.instance": 1})
    assert desc["total_instance"] == 1
    ws = workers(kernel, "inst_scale")
    assert len(ws) == 1 and ws[0]["pid"] == first["pid"]
    assert post(svc.url, b"x", TOKEN).status_code == 200


@pytest.mark.parametrize(
    "name, code, expected",
    [
        (
            "fail_init",
            "import allspark\nclass P(allspark.BaseProcessor):\n"
            "    def initialize(self):\n        raise RuntimeError('model file is corrupt')\n"
            "    def process(self, data):\n        return data, 200\n",
            "model file is corrupt",
        ),
        ("fail_import", "import allspark\nimport no_such_module_xyz\n", "no_such_module_xyz"),
        ("fail_noclass", "x = 1\n", "no subclass of allspark.BaseProcessor"),
        ("fail_exit", "import os\nos._exit(3)\n", "exited with code 3"),
    ],
)
def test_service_that_cannot_start_is_failed_with_the_reason(
    kernel, python_service, name, code, expected
):
    svc = python_service(name, code)
    assert svc.status == "Failed"
    assert expected in svc.desc["message"]
    desc = kernel.client.describe(name)
    assert desc["status"] == "Failed" and expected in desc["message"]
    resp = post(svc.url, b"x", TOKEN)
    assert resp.status_code == 503
    assert any(expected in line for line in kernel.client.logs(name, n=200))
    kernel.client.delete(name)


def test_stop_start_delete(kernel, python_service):
    svc = python_service("inst_stopstart", ECHO_APP)
    assert kernel.client.stop("inst_stopstart")["status"] == "Stopped"
    assert post(svc.url, b"x", TOKEN).status_code == 503
    assert kernel.client.workers("inst_stopstart") == []
    assert kernel.client.start("inst_stopstart")["status"] == "Running"
    assert post(svc.url, b"back", TOKEN).content == b"back"
    assert kernel.client.delete("inst_stopstart") == {"deleted": "inst_stopstart"}
    assert post(svc.url, b"x", TOKEN).status_code == 404
    resp = requests.get(
        kernel.endpoint + "/easlab/v1/services/inst_stopstart",
        headers=kernel.admin_headers(),
        timeout=5,
    )
    assert resp.status_code == 404


def test_duplicate_name_is_409(kernel, python_service):
    python_service("inst_dup", ECHO_APP)
    from easlab.errors import KernelError, SpecError

    with pytest.raises((KernelError, SpecError)) as info:
        python_service("inst_dup", ECHO_APP)
    assert "already exists" in str(info.value)
