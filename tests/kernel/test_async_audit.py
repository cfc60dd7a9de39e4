"""Async services whose answers cannot simply be stored: refused by the sink, or lost
with an instance that died holding them (audit E, defects 1 and 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kernel_helpers import app_spec, wait_for

import easlab
from easlab.kernel.async_inference import INSTANCE_DEATH_RETRIES

TOKEN = "asyaudit-" + "t" * 8

# Every call is written down in CALLS; "big" answers 4 KB, above a 1 KB sink.
BIG_APP = """
import allspark

CALLS = {calls!r}


class Big(allspark.BaseProcessor):
    def initialize(self):
        pass

    def process(self, data):
        with open(CALLS, "a") as f:
            f.write(data.decode() + "\\n")
        if data == b"big":
            return b"x" * 4096, 200
        return b"small answer", 200
"""

# "crash" kills its instance once every "fine..." record is at the instance; a "fine..."
# record answers only in a process other than the one "crash" killed (at once when fed
# again), never in that one: the first crash always holds the fine records. Before, a
# fine record answered as soon as the "crashed" file existed, and a fine thread that ran
# between that file's write and os._exit answered in the dying process (fed once, not
# twice: the test failed once in a parallel run). No waits with deadlines either: each
# waits for its condition (the test's own wait_for bounds the whole). Every call is
# written down in CALLS.
CRASH_APP = """
import os
import time

import allspark

DIR = {folder!r}
FINE = {fine!r}
CRASHED = os.path.join(DIR, "crashed")


def wait_until(check):
    while not check():
        time.sleep(0.01)


def crashed_elsewhere():
    \"\"\"Whether "crash" killed a process, and not this one (its pid is in CRASHED).\"\"\"
    try:
        with open(CRASHED) as f:
            pid = f.read()
    except FileNotFoundError:
        return False
    return pid != "" and pid != str(os.getpid())


class Crash(allspark.BaseProcessor):
    def initialize(self):
        pass

    def process(self, data):
        with open(os.path.join(DIR, "calls"), "a") as f:
            f.write(data.decode() + "\\n")
        if data == b"crash":
            wait_until(lambda: all(os.path.exists(os.path.join(DIR, n)) for n in FINE))
            with open(CRASHED + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.replace(CRASHED + ".tmp", CRASHED)
            os._exit(3)
        open(os.path.join(DIR, data.decode()), "w").close()
        wait_until(crashed_elsewhere)
        return b"ok:" + data, 200
"""


def _async_spec(name: str, folder: Path, **metadata: Any) -> dict[str, Any]:
    spec = app_spec(name, folder, type="Async", **metadata)
    spec["token"] = TOKEN
    return spec


def _queue(kernel, path: str) -> easlab.QueueClient:
    q = easlab.QueueClient(kernel.endpoint, path)
    q.set_token(TOKEN)
    q.init()
    return q


def _sink_records(sink: easlab.QueueClient) -> dict[str, tuple[str, bytes]]:
    """requestId -> (status tag, data) of every record in the sink."""
    got = sink.get(length=100, auto_delete=False, timeout="0s")
    return {r.tags["requestId"]: (r.tags["status"], bytes(r.data)) for r in got}


def _calls(file: Path) -> list[str]:
    return file.read_text().split() if file.exists() else []


def test_an_answer_too_big_for_the_sink_becomes_a_413_failure_record(kernel, make_app, tmp_path):
    name = "asy_bigans"
    calls = tmp_path / "calls"
    folder = make_app(name, BIG_APP.format(calls=str(calls)))
    spec = _async_spec(name, folder)
    spec["queue"] = {"sink": {"max_payload_size_kb": 1}}
    kernel.client._call("POST", "/services", {"spec": spec, "wait": True}, timeout=120)
    try:
        source, sink = _queue(kernel, name), _queue(kernel, f"{name}/sink")
        _, big_id = source.put(b"big")
        _, small_id = source.put(b"small")
        # before the fix the sink never had an answer for "big": it was run again each second
        records = wait_for(
            lambda: (r := _sink_records(sink)) and len(r) == 2 and r,
            60,
            "two answers in the sink",
        )
        status, text = records[big_id]
        assert status == "413"
        assert b"4096 bytes" in text and b"max_payload_size_kb" in text and len(text) <= 1024
        assert records[small_id] == ("200", b"small answer")
        queues = easlab.desc(name, kernel=kernel.client)["queues"]
        assert queues[name]["length"] == 0 and queues[name]["in_flight"] == 0  # committed
        assert _calls(calls).count("big") == 1
    finally:
        easlab.delete(name, kernel=kernel.client)


@pytest.mark.timeout(240)
def test_records_held_by_an_instance_that_died_are_fed_again(kernel, make_app, tmp_path):
    """The manual: a failed instance's uncommitted records go to other instances. The
    innocent ones come through; the one that kills the instance is fed a bounded
    number of times, then its 502 is the answer."""
    name = "asy_poison"
    fine = ["fine1", "fine2", "fine3"]
    folder = make_app(name, CRASH_APP.format(folder=str(tmp_path), fine=fine))
    spec = _async_spec(name, folder, **{"rpc.worker_threads": 4})
    kernel.client._call("POST", "/services", {"spec": spec, "wait": True}, timeout=120)
    try:
        source, sink = _queue(kernel, name), _queue(kernel, f"{name}/sink")
        _, crash_id = source.put(b"crash")
        ids = {source.put(n.encode())[1]: n for n in fine}
        records = wait_for(
            lambda: (r := _sink_records(sink)) and len(r) == 4 and r,
            180,
            "four answers in the sink",
        )
        for request_id, data in ids.items():
            assert records[request_id] == ("200", b"ok:" + data.encode()), data
        status, text = records[crash_id]
        assert status == "502" and b"exited with code 3" in text and b"not fed again" in text
        calls = _calls(tmp_path / "calls")
        assert calls.count("crash") == INSTANCE_DEATH_RETRIES + 1
        assert all(calls.count(n) == 2 for n in fine)  # held at the first crash, then alone
        desc = easlab.desc(name, kernel=kernel.client)
        assert desc["queues"][name]["length"] == 0
    finally:
        easlab.delete(name, kernel=kernel.client)
