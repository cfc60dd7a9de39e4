"""The kernel's nudge (instance.py ``NUDGE_S``, worker.py ``Worker._hear_nudges``).

A quick app's thread keeps the reading through each call; when one call turns out
slow, the frames behind it would wait for its end, the app's other threads idle.
Ordered by events, not timed: the slow call can only end once the frame behind it ran.
"""

from __future__ import annotations

import threading
from pathlib import Path

import requests

from tests.kernel.kernel_helpers import post, wait_for

TOKEN = "tok-" + "x" * 8


def waiting_app(marker: Path) -> str:
    return f"""
import threading
import allspark

class Waits(allspark.BaseProcessor):
    def initialize(self):
        self.go = threading.Event()

    def process(self, data):
        if data == b"wait":
            open({str(marker)!r}, "w").close()
            return (b"waited" if self.go.wait(20) else b"nobody came"), 200
        if data == b"go":
            self.go.set()
        return data, 200
"""


def test_a_request_behind_a_quick_apps_slow_call_runs_beside_it(kernel, python_service, tmp_path):
    marker = tmp_path / "waiting"
    svc = python_service("nudged", waiting_app(marker), rpc__worker_threads=4)
    with requests.Session() as caller:  # one keep-alive connection: a lone caller
        for _ in range(30):  # known quick: its thread keeps the reading
            answer = caller.post(svc.url, data=b"q", headers={"Authorization": TOKEN})
            assert answer.text == "q"
        slow: list[str] = []
        waiter = threading.Thread(
            target=lambda: slow.append(
                caller.post(svc.url, data=b"wait", headers={"Authorization": TOKEN}).text
            )
        )
        waiter.start()
        wait_for(marker.exists, what="the slow call to start")
        assert post(svc.url, b"go", TOKEN).text == "go"  # another client, meanwhile
        waiter.join(30)
    assert slow == ["waited"]  # "nobody came": the frame behind it was never read
    kernel.delete("nudged")
