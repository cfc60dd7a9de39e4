"""Large bodies cross between the kernel and an instance in shared memory (kernel/shm.py).

Counted, not timed: which bodies went through the rings, that answers are
intact, and that nothing is left behind (no /dev/shm entry, no mapping or
descriptor of a dead instance's rings) after an instance is SIGKILLed mid-call.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest
from kernel_helpers import post, wait_for

from easlab.kernel.shm import SHM_MIN, Ring

TOKEN = "tok-" + "x" * 8

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="memfd rings and /proc are Linux's"
)

SLOW_ECHO_APP = """
import time
import allspark

class SlowEcho(allspark.BaseProcessor):
    def process(self, data):
        if data.startswith(b"slow"):
            time.sleep(3)
        return data[::-1], 200
"""


# -- the ring alone ----------------------------------------------------------------


def _pair(size: int) -> tuple[Ring, Ring]:
    made = Ring.create("easlab-test-ring", size)
    assert made is not None
    writer, fd = made
    reader = Ring(fd, size)  # the other process's mapping of the same memory
    os.close(fd)
    return writer, reader


def test_ring_carries_bodies_in_order_wraps_and_refuses_when_full():
    writer, reader = _pair(1000)
    try:
        a, b = writer.put([b"x" * 300]), writer.put([b"head-", b"y" * 295])
        assert a is not None and b is not None
        assert writer.put([b"z" * 500]) is None  # larger than half the ring: the socket
        assert writer.put([b"w" * 450]) is None  # room only after the reader catches up
        assert reader.take(a) == b"x" * 300
        assert writer.put([b"w" * 450]) is None  # from 0 again, it would overwrite b
        assert reader.take(b) == b"head-" + b"y" * 295
        c = writer.put([b"w" * 450])  # does not fit before the end: starts at 0 again
        assert c is not None
        assert reader.take(c) == b"w" * 450
        for i in range(20):  # many rounds: every slot comes back as written
            slot = writer.put([bytes([i]) * 333])
            assert slot is not None and reader.take(slot) == bytes([i]) * 333
    finally:
        writer.close()
        reader.close()


# -- served ------------------------------------------------------------------------


def _memfd_maps(pid: int, service: str) -> int:
    text = Path(f"/proc/{pid}/maps").read_text()
    return sum(1 for line in text.splitlines() if f"memfd:easlab-{service}-" in line)


def _memfd_fds(pid: int, service: str) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd).startswith(f"/memfd:easlab-{service}-"):
                count += 1
        except OSError:
            pass
    return count


def _dev_shm() -> set[str]:
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


def test_large_bodies_cross_in_shared_memory_small_ones_on_the_socket(kernel, python_service):
    svc = python_service("shm_echo", SLOW_ECHO_APP)
    big = os.urandom(SHM_MIN + 12345)
    small = b"small body"
    for _ in range(3):
        resp = post(svc.url, big, TOKEN)
        assert resp.status_code == 200 and resp.content == big[::-1]
    resp = post(svc.url, small, TOKEN)
    assert resp.status_code == 200 and resp.content == small[::-1]
    (worker,) = kernel.client.workers("shm_echo")
    assert worker["shm"] == {"requests": 3, "answers": 3}
    # each side holds the two mappings (and the descriptor Python's mmap keeps of each)
    assert _memfd_maps(kernel.pid, "shm_echo") == 2
    assert _memfd_maps(worker["pid"], "shm_echo") == 2
    assert _memfd_fds(kernel.pid, "shm_echo") == 2 and _memfd_fds(worker["pid"], "shm_echo") == 2
    kernel.delete("shm_echo")
    assert _memfd_maps(kernel.pid, "shm_echo") == 0
    assert _memfd_fds(kernel.pid, "shm_echo") == 0


SLOW_BATCH_APP = """
import time
import allspark

class SlowBatch(allspark.BaseProcessor):
    def process(self, data):
        return data[::-1], 200

    def process_batch(self, bodies):
        if any(body.startswith(b"slow") for body in bodies):
            time.sleep(1)
        return [(body[::-1], 200) for body in bodies]
"""


def test_a_batch_whose_answers_are_large_together_sends_them_in_shared_memory(
    kernel, python_service
):
    # Each body and answer is under SHM_MIN; four together are over it. The batch's
    # answers leave as one ANSWERS frame (frames.py), so they cross through the
    # answers' ring in one slot, as the batch itself crossed through the requests'.
    svc = python_service(
        "shm_batch",
        SLOW_BATCH_APP,
        rpc__batching=True,
        rpc__max_batch_size=4,
        rpc__max_batch_timeout=5000,
    )
    bodies = [bytes([65 + i]) * (SHM_MIN // 3) + os.urandom(100) for i in range(4)]
    answers: dict[int, object] = {}
    slow = threading.Thread(target=lambda: answers.setdefault(-1, post(svc.url, b"slow", TOKEN)))
    slow.start()
    wait_for(
        lambda: kernel.client.workers("shm_batch")[0]["in_flight"] == 1,
        what="the slow call to reach the instance",
    )
    # the four wait in the queue while the instance sleeps, then go as one batch
    callers = [
        threading.Thread(target=lambda i=i: answers.setdefault(i, post(svc.url, bodies[i], TOKEN)))
        for i in range(4)
    ]
    for caller in callers:
        caller.start()
    for caller in [slow, *callers]:
        caller.join(30)
    assert answers[-1].status_code == 200 and answers[-1].content == b"wols"
    for i, body in enumerate(bodies):
        assert answers[i].status_code == 200 and answers[i].content == body[::-1]
    (worker,) = kernel.client.workers("shm_batch")
    assert worker["shm"] == {"requests": 1, "answers": 1}


def test_a_sigkilled_instance_leaves_no_shared_memory_behind(kernel, python_service):
    before = _dev_shm()
    svc = python_service("shm_kill", SLOW_ECHO_APP)
    (worker,) = kernel.client.workers("shm_kill")
    victim = worker["pid"]
    body = b"slow" + os.urandom(SHM_MIN * 4)
    answers = []
    caller = threading.Thread(target=lambda: answers.append(post(svc.url, body, TOKEN)))
    caller.start()
    wait_for(
        lambda: kernel.client.workers("shm_kill")[0]["in_flight"] == 1,
        what="the large call to reach the instance",
    )
    assert kernel.client.workers("shm_kill")[0]["shm"]["requests"] == 1
    os.kill(victim, signal.SIGKILL)

    def restarted():
        (w,) = kernel.client.workers("shm_kill")
        return w if w["ready"] and w["pid"] not in (None, victim) else None

    worker = wait_for(restarted, what="the instance to restart")
    caller.join(30)
    # the only instance died with the call: 502, no retry on the restarted one (it may
    # be what killed it); the same call again crosses the new instance's rings
    assert answers and answers[0].status_code == 502
    assert "killed by SIGKILL while processing this request" in answers[0].text
    again = post(svc.url, body, TOKEN)
    assert again.status_code == 200 and again.content == body[::-1]
    # the dead instance's rings are gone from the kernel: only the new instance's two
    assert _memfd_maps(kernel.pid, "shm_kill") == 2
    assert _memfd_fds(kernel.pid, "shm_kill") == 2
    assert _dev_shm() == before  # memfd rings never had a name there
    kernel.delete("shm_kill")
    assert _memfd_maps(kernel.pid, "shm_kill") == 0
    assert _memfd_fds(kernel.pid, "shm_kill") == 0
    assert _dev_shm() == before
