"""``%eas queue NAME`` / ``easlab queue NAME``: depth, in flight, throughput, oldest age.

The magic shows one table and updates that same display from a background
thread while work flows; it stops on a re-run of the cell, when its --seconds
are over, or when the kernel goes away. The CLI prints once, or keeps printing
with --watch (bounded by --seconds here).
"""

from __future__ import annotations

import time

import pytest
import requests

import easlab
from easlab.cli import main
from easlab.client.queue_view import QueueView
from easlab.notebook.queue_view import LiveQueue

TOKEN = "nbq-token-123456"


def _wait(condition, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class _Handle:
    """Stands in for IPython's DisplayHandle: keeps every update."""

    def __init__(self) -> None:
        self.updates: list = []

    def update(self, obj) -> None:
        self.updates.append(obj)


def _create_queue(shell, name: str) -> None:
    shell.run_cell_magic(
        "eas",
        f"create {name}_svc",
        f"""
name: {name}
token: {TOKEN}
metadata:
  type: Queue
queue:
  max_length: 100000
""",
    )


def _put(kernel, name: str, n: int) -> None:
    with requests.Session() as s:
        for i in range(n):
            resp = s.post(
                f"{kernel.endpoint}/api/predict/{name}",
                data=b"r%d" % i,
                headers={"Authorization": TOKEN},
                timeout=30,
            )
            assert resp.status_code == 200, resp.text


def test_magic_updates_one_display_live_and_stops_on_rerun(shell, kernel, capsys):
    _create_queue(shell, "nb_queue")
    assert shell.user_ns["nb_queue_svc"].status == "Running"
    _put(kernel, "nb_queue", 5)
    shell.run_line_magic("eas", "queue nb_queue --interval 0.05 -o live")
    first: LiveQueue = shell.user_ns["live"]
    assert first.running
    assert first.rows[0]["queue"] == "nb_queue" and first.rows[0]["depth"] == 5
    updates = first.updates
    _put(kernel, "nb_queue", 20)  # work flows: the display follows
    _wait(lambda: first.rows and first.rows[0]["depth"] == 25, what="depth 25 shown")
    assert first.updates > updates
    assert first.rows[0]["puts"] == 25 and first.rows[0]["puts_per_s"] is not None
    assert first.rows[0]["oldest_age_s"] is not None
    # the same cell again (here: the same queue, no JupyterLab cell id) stops the first
    shell.run_line_magic("eas", "queue nb_queue --interval 0.05 -o again")
    second: LiveQueue = shell.user_ns["again"]
    _wait(lambda: not first.running, what="the first view to stop")
    assert first.stopped_because == "the cell ran again" and second.running
    second.stop()
    assert not second.running and second.stopped_because == "stopped"
    # --seconds bounds a live view
    shell.run_line_magic("eas", "queue nb_queue --interval 0.05 --seconds 0.3 -o short")
    short: LiveQueue = shell.user_ns["short"]
    _wait(lambda: not short.running, what="the bounded view to end")
    assert short.stopped_because == "time over"
    capsys.readouterr()


def test_live_view_stops_when_the_kernel_goes_away():
    from easlab.client.control import KernelClient

    view = QueueView("nb_queue", KernelClient("http://127.0.0.1:9", admin_token="x"), 0.05)
    live = LiveQueue(view)
    handle = _Handle()
    live.start(handle)
    _wait(lambda: not live.running, what="the view of a dead kernel to stop")
    assert "no easlab kernel answers" in (live.stopped_because or "")
    assert "no easlab kernel answers" in repr(handle.updates[-1])  # the last frame says why


def test_a_plain_service_has_no_queues(shell, kernel, echo):
    from easlab.notebook.magics import EasMagicError

    with pytest.raises(EasMagicError) as info:
        shell.run_line_magic("eas", "queue nb_echo")
    assert "has no queues" in str(info.value) and "metadata.type Async" in str(info.value)


def test_cli_prints_once_or_watches(shell, kernel, capsys):
    _create_queue(shell, "cli_queue")
    _put(kernel, "cli_queue", 3)
    capsys.readouterr()
    assert main(["queue", "cli_queue", "--endpoint", kernel.endpoint]) == 0
    out = capsys.readouterr().out
    assert "QUEUE" in out and "DEPTH" in out and "OLDEST_AGE_S" in out
    line = next(row for row in out.splitlines() if "cli_queue" in row)
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[:3] == ["cli_queue", "3", "0"] and cells[3] == "-"  # no rate on one poll
    args = ["queue", "cli_queue", "--watch", "--interval", "0.05", "--seconds", "0.5"]
    assert main([*args, "--endpoint", kernel.endpoint]) == 0
    out = capsys.readouterr().out
    assert out.count("cli_queue") >= 3  # printed again at each poll
    assert main(["queue", "nope_queue", "--endpoint", kernel.endpoint]) == 1
    assert "service 'nope_queue' not found" in capsys.readouterr().err
    # ls shows the queue service with its type; delete removes it
    assert main(["ls", "--endpoint", kernel.endpoint]) == 0
    row = next(r for r in capsys.readouterr().out.splitlines() if "cli_queue" in r)
    assert "Queue" in row and "Running" in row
    assert main(["delete", "cli_queue", "-y", "--endpoint", kernel.endpoint]) == 0
    assert "cli_queue" not in [d["name"] for d in easlab.ls(kernel=kernel.client)]
