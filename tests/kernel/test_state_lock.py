"""One kernel at a time on a state dir (audit E, defect 3): a second one refuses to
start and names the first; the lock goes with the process, however it ends."""

from __future__ import annotations

import os
import signal

import pytest
import requests

from easlab.client.local import LocalKernel
from easlab.errors import KernelError
from easlab.kernel.state import LOCK_FILE

TOKEN = "lock-" + "q" * 10


def _put_and_count(kernel: LocalKernel, data: bytes | None = None) -> int:
    url = f"{kernel.endpoint}/api/predict/jobs"
    if data is not None:
        assert requests.post(url, data=data, headers={"Authorization": TOKEN}, timeout=30).ok
    return kernel.client.describe("jobs")["queues"]["jobs"]["length"]


def test_a_second_kernel_on_a_state_dir_refuses_to_start(tmp_path):
    state = tmp_path / "state"
    with LocalKernel(port=0, state_dir=state) as first:
        spec = {"name": "jobs", "token": TOKEN, "metadata": {"type": "Queue"}}
        first.client._call("POST", "/services", {"spec": spec})
        assert _put_and_count(first, b"one") == 1
        for fresh in (False, True):  # --fresh must not wipe what the first one serves
            with pytest.raises(KernelError) as refused:
                LocalKernel(port=0, state_dir=state, fresh=fresh)
            text = str(refused.value)
            assert "exited with code 2" in text and "is in use by another easlab kernel" in text
            assert f"pid {first.pid}" in text and first.endpoint in text
            assert f"easlab kernel stop --endpoint {first.endpoint}" in text
            assert not text.endswith("(HTTP 0)")  # no HTTP exchange happened
        assert _put_and_count(first, b"two") == 2  # still the one kernel of its queues
    # stopped: the next kernel starts and finds the queue as the first left it
    with LocalKernel(port=0, state_dir=state) as second:
        assert _put_and_count(second) == 2
        os.kill(second.pid, signal.SIGKILL)  # the lock dies with the process
        second.process.wait()
    assert (state / LOCK_FILE).exists()  # left behind, unlocked
    with LocalKernel(port=0, state_dir=state) as third:
        assert _put_and_count(third) == 2
