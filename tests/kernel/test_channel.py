"""The kernel/instance channel: large frames, gathered frames, answers matched to callers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from kernel_helpers import ECHO_APP, post

TOKEN = "tok-" + "x" * 8


@pytest.fixture(scope="module")
def big_kernel(easlab_home, tmp_path_factory):
    """A kernel whose --max-body admits bodies above the channel's socket buffers."""
    from easlab.client.local import LocalKernel

    state = tmp_path_factory.mktemp("big_kernel_state")
    with LocalKernel(port=0, state_dir=state, max_body=32 * 1024 * 1024) as k:
        yield k


def test_bodies_larger_than_the_socket_buffers_cross_whole(big_kernel, make_app):
    # 6 MB is above the channel's 4 MB socket buffers: the kernel must keep the unsent
    # rest and finish it when the socket drains, while small requests keep flowing.
    svc = big_kernel.create(
        {
            "name": "chan_big",
            "token": TOKEN,
            "processor_type": "python",
            "processor_path": str(make_app("chan_big", ECHO_APP)),
            "processor_entry": "app.py",
            "metadata": {"instance": 1, "rpc.worker_threads": 2},
        }
    )
    big = [bytes([i]) * (6 * 1024 * 1024 + i) for i in range(3)]
    small = [b"small-%d" % i for i in range(60)]
    bodies = [*big, *small]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda body: post(svc.url, body, TOKEN), bodies))
    for body, resp in zip(bodies, answers, strict=True):
        assert resp.status_code == 200
        assert len(resp.content) == len(body) and resp.content == body


def test_many_concurrent_callers_each_get_their_own_answer(python_service):
    # One worker thread: frames sent while it is busy are gathered and leave together,
    # and its answers may leave together too; each must still reach its own caller.
    svc = python_service("chan_many", ECHO_APP, rpc__worker_threads=1)
    bodies = [b"caller-%03d-" % i + b"x" * (i * 997 % 70000) for i in range(200)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda body: post(svc.url, body, TOKEN), bodies))
    assert [resp.status_code for resp in answers] == [200] * len(bodies)
    assert [resp.content for resp in answers] == bodies
