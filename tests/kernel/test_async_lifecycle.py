"""An async service as a whole, through its lifecycle: scaled to zero and back, the
monitor's counts of what it answered, ... (audit of async inference end to end)."""

from __future__ import annotations

from typing import Any

import requests
from kernel_helpers import ECHO_APP, PutAnswerLost, app_spec, wait_for

import easlab

TOKEN = "asylife-" + "t" * 8


def _create(kernel, make_app, name: str, code: str = ECHO_APP, **metadata: Any) -> None:
    spec = app_spec(name, make_app(name, code), type="Async", **metadata)
    spec["token"] = TOKEN
    kernel.client._call("POST", "/services", {"spec": spec, "wait": True}, timeout=120)


def _put(kernel, name: str, data: bytes) -> str:
    """A request to the service's path, as curl sends it; its request id."""
    resp = requests.post(
        f"{kernel.endpoint}/api/predict/{name}",
        data=data,
        headers={"Authorization": TOKEN},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return resp.headers["X-Eas-Queueservice-Request-Id"]


def _sink(kernel, name: str) -> dict[str, tuple[str, bytes]]:
    sink = easlab.QueueClient(kernel.endpoint, f"{name}/sink")
    sink.set_token(TOKEN)
    sink.init()
    got = sink.get(length=100, auto_delete=False, timeout="0s")
    return {r.tags["requestId"]: (r.tags["status"], bytes(r.data)) for r in got}


def test_an_async_service_scaled_to_zero_keeps_its_requests_until_scaled_up(kernel, make_app):
    """Before: a request put while no instance ran hung the kernel (the feeder's 503 and
    its record went round in one loop pass, forever) and a restart hung again."""
    name = "asy_zero"
    _create(kernel, make_app, name, instance=0)
    try:
        first, second = _put(kernel, name, b"one"), _put(kernel, name, b"two")
        desc = easlab.desc(name, kernel=kernel.client)  # the kernel still answers
        assert desc["queues"][name]["length"] == 2
        assert _sink(kernel, name) == {}
        kernel.client.modify(name, set={"metadata.instance": 1})
        answers = wait_for(
            lambda: (r := _sink(kernel, name)) and len(r) == 2 and r, 60, "two answers"
        )
        assert answers == {first: ("200", b"one"), second: ("200", b"two")}
    finally:
        easlab.delete(name, kernel=kernel.client)


# "busy" answers 503 and "full" 450 as the model's own answers; each call is written down
STATUS_APP = """
import allspark

CALLS = {calls!r}


class Status(allspark.BaseProcessor):
    def initialize(self):
        pass

    def process(self, data):
        with open(CALLS, "a") as f:
            f.write(data.decode() + "\\n")
        if data == b"busy":
            return b"model busy", 503
        if data == b"full":
            return b"model full", 450
        return b"ok:" + data, 200
"""


def test_a_model_that_answers_503_or_450_has_that_answer_in_the_sink(kernel, make_app, tmp_path):
    """Before: the feeder took any 450/503 for the kernel's "not now" and fed the record
    again every 0.2 s forever: the model ran without end, the sink never had an answer."""
    name = "asy_status"
    calls = tmp_path / "calls"
    _create(kernel, make_app, name, STATUS_APP.format(calls=str(calls)))
    try:
        busy, full = _put(kernel, name, b"busy"), _put(kernel, name, b"full")
        fine = _put(kernel, name, b"fine")
        answers = wait_for(
            lambda: (r := _sink(kernel, name)) and len(r) == 3 and r, 30, "three answers"
        )
        assert answers == {
            busy: ("503", b"model busy"),
            full: ("450", b"model full"),
            fine: ("200", b"ok:fine"),
        }
        assert sorted(calls.read_text().split()) == ["busy", "fine", "full"]  # once each
    finally:
        easlab.delete(name, kernel=kernel.client)


def test_the_monitor_counts_what_an_async_service_answered(kernel, make_app, tmp_path):
    """Before: the monitor (desc stats, metrics, %eas monitor) of an async service read 0
    requests however many it answered; only calls over HTTP were counted."""
    name = "asy_counted"
    _create(kernel, make_app, name, STATUS_APP.format(calls=str(tmp_path / "calls")))
    try:
        for data in (b"a", b"b", b"busy"):
            _put(kernel, name, data)
        wait_for(lambda: len(_sink(kernel, name)) == 3, 30, "three answers")
        metrics = kernel.client._call("GET", f"/services/{name}/metrics")
        assert metrics["totals"]["requests"] == 3
        assert metrics["totals"]["by_status"] == {"200": 2, "503": 1}
        stats = easlab.desc(name, kernel=kernel.client)["stats"]
        assert stats["requests"] == 3 and stats["ok"] == 2 and stats["errors"] == 1
    finally:
        easlab.delete(name, kernel=kernel.client)


def test_a_full_sink_holds_the_answers_and_the_model_is_not_run_again(kernel, make_app, tmp_path):
    """Before: an answer the full sink refused sent its record back to be fed again a
    second later: the model ran each record again every second until someone read the
    sink, and the service log had a line per record per second. Now the answers wait
    (desc says so), nothing more is fed, and once the sink is read they land."""
    # the puts may come faster than the answers: one answer or more waits for the sink
    name = "asy_fullsink"
    calls = tmp_path / "calls"
    folder = make_app(name, STATUS_APP.format(calls=str(calls)))
    spec = app_spec(name, folder, type="Async")
    spec["token"] = TOKEN
    spec["queue"] = {"sink": {"max_length": 2}}
    kernel.client._call("POST", "/services", {"spec": spec, "wait": True}, timeout=120)
    try:
        ids = {_put(kernel, name, f"r{i}".encode()): f"r{i}" for i in range(4)}
        desc = wait_for(
            lambda: (
                (d := easlab.desc(name, kernel=kernel.client))["queues"][f"{name}/sink"].get(
                    "answers_waiting"
                )
                and d
            ),
            30,
            "answers waiting for the sink",
        )
        assert "wait for room in the sink 'asy_fullsink/sink'" in desc["message"]
        assert "queue.sink.max_length 2" in desc["message"]
        # the sink's own refusal, in the service's log, names the sink's field too (it
        # named queue.max_length, the input queue's)
        refusal = [
            line for line in easlab.logs(name, 200, kernel=kernel.client) if "is full" in line
        ]
        assert refusal and "(2 records, queue.sink.max_length 2)" in refusal[0], refusal
        sink = easlab.QueueClient(kernel.endpoint, f"{name}/sink")
        sink.set_token(TOKEN)
        sink.init()
        got = {r.tags["requestId"]: bytes(r.data) for r in sink.get(length=2, timeout="0s")}
        while len(got) < 4:
            got.update({r.tags["requestId"]: bytes(r.data) for r in sink.get(length=2)})
        assert got == {rid: b"ok:" + data.encode() for rid, data in ids.items()}
        assert sorted(calls.read_text().split()) == ["r0", "r1", "r2", "r3"]  # once each
        desc = easlab.desc(name, kernel=kernel.client)
        assert desc["queues"][f"{name}/sink"]["answers_waiting"] == 0 and desc["message"] == ""
        assert desc["queues"][name]["length"] == 0
    finally:
        easlab.delete(name, kernel=kernel.client)


def test_a_record_nobody_processes_does_not_look_in_progress(kernel, make_app, run_official_json):
    """Before: an async service scaled to zero kept records it could not feed "held" by
    its feeder between tries, and the official ``search`` said ``IsPending: True`` with
    the feeder as ``ConsumerId`` (and a WaitCount that left them out), desc counted them
    ``in_flight``: in progress, while nothing was processing them. Now they wait, as
    any record not delivered."""
    name = "asy_search"
    _create(kernel, make_app, name, instance=0)
    try:
        first, second = _put(kernel, name, b"one"), _put(kernel, name, b"two")
        found = run_official_json(
            f"""
import json
from eas_prediction import QueueClient
q = QueueClient({kernel.endpoint!r}, {name!r})
q.set_token({TOKEN!r})
q.init()
got = q.get(length=2, auto_delete=False, timeout="0s")
print(json.dumps([q.search(g.index) for g in got]))
"""
        )
        assert found == [
            {"ConsumerId": "", "IsPending": False, "WaitCount": 0},
            {"ConsumerId": "", "IsPending": False, "WaitCount": 1},
        ], (first, second)
        # nor do the service's queue figures (desc, %eas queue) count them in flight
        assert easlab.desc(name, kernel=kernel.client)["queues"][name]["in_flight"] == 0
    finally:
        easlab.delete(name, kernel=kernel.client)


def test_an_input_put_again_under_the_same_request_id_gets_its_own_answer(kernel, make_app):
    """Before: the sink took an answer as a repeat of any answer it held with the same
    requestId, so an input put again later under that requestId (a job id reused while
    the first answer was not read yet) was consumed and its answer silently dropped:
    the sink kept the first answer only. Now each input has its answer."""
    name = "asy_again"
    _create(kernel, make_app, name)
    try:
        resp = requests.post(
            f"{kernel.endpoint}/api/predict/{name}",
            params={"requestId": "job-7"},
            data=b"first",
            headers={"Authorization": TOKEN},
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        wait_for(lambda: _sink(kernel, name), 30, "the first answer")
        resp = requests.post(
            f"{kernel.endpoint}/api/predict/{name}",
            params={"requestId": "job-7"},
            data=b"second",
            headers={"Authorization": TOKEN},
            timeout=10,
        )
        assert resp.status_code == 200, resp.text

        def consumed() -> bool:
            return easlab.desc(name, kernel=kernel.client)["queues"][name]["length"] == 0

        wait_for(consumed, 30, "the second input consumed")
        sink = easlab.QueueClient(kernel.endpoint, f"{name}/sink")
        sink.set_token(TOKEN)
        sink.init()
        got = sink.get(length=10, auto_delete=False, timeout="0s")
        assert [bytes(r.data) for r in got] == [b"first", b"second"]
        assert {r.tags["requestId"] for r in got} == {"job-7"}
        # get(request_id=...) finds both, in the order they were put
        by_id = sink.get(request_id="job-7", length=10, auto_delete=False, timeout="0s")
        assert [bytes(r.data) for r in by_id] == [b"first", b"second"]
    finally:
        easlab.delete(name, kernel=kernel.client)


def test_a_put_retried_after_its_input_was_answered_is_not_answered_twice(
    kernel, make_app, run_official_json
):
    """SPEC §4: the official client retries every non-2xx, so a put must be idempotent
    per request id. Before: a put whose answer was lost after the kernel stored it,
    retried once the service had consumed the record, was stored as a new record: the
    model ran again and a second answer landed in the sink under that requestId. Now
    the retry is answered with the first put's index; one record, one answer."""
    name = "asy_retried"
    _create(kernel, make_app, name)

    def queues() -> dict[str, Any]:
        return easlab.desc(name, kernel=kernel.client)["queues"]

    def through() -> bool:  # the input consumed, its answer in the sink
        now = queues()
        return now[name]["length"] == 0 and now[f"{name}/sink"]["length"] == 1

    try:
        with PutAnswerLost(kernel.endpoint, through) as proxy:
            out = run_official_json(
                f"""
import json
from eas_prediction import QueueClient
q = QueueClient({proxy.url!r}, {name!r})
q.set_token({TOKEN!r})
q.init()
index, rid = q.put(b"job", tags={{"requestId": "job-1"}})
end = q.put(b"end", tags={{"requestId": "end"}})
print(json.dumps({{"index": index, "rid": rid, "end": end}}))
"""
            )
            assert proxy.puts == 3  # the put, its retry, the marker
            assert proxy.first is not None and proxy.first.status_code == 200
            first_index = proxy.first.text
        assert out["index"] == first_index and out["rid"] == "job-1"

        def done() -> bool:  # every input answered (committed once its answer is stored)
            now = queues()
            return now[name]["length"] == 0 and now[f"{name}/sink"]["length"] >= 2

        wait_for(done, 60, "the inputs answered")
        assert queues()[name]["puts"] == 2  # the retry stored nothing
        sink = easlab.QueueClient(kernel.endpoint, f"{name}/sink")
        sink.set_token(TOKEN)
        sink.init()
        got = sink.get(length=10, auto_delete=False, timeout="0s")
        assert sorted(r.tags["requestId"] for r in got) == ["end", "job-1"]  # one answer each
    finally:
        easlab.delete(name, kernel=kernel.client)
