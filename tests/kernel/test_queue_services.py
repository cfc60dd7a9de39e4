"""Queue services in the control API, queue statistics, limits and async services.

Standalone queues (``metadata.type: Queue``) are listed, described and deleted like
services; verbs without meaning for a queue (stop, start, modify ...) are refused
with a reason. The official client meets the queue's limits with EAS's statuses.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import requests
from kernel_helpers import ECHO_APP

import easlab
from easlab.errors import KernelError

TOKEN = "qstok-" + "s" * 8


def _queue(kernel, name: str, **extra) -> dict:
    spec = {"name": name, "token": TOKEN, "metadata": {"type": "Queue"}, **extra}
    return kernel.client._call("POST", "/services", {"spec": spec})


def _put(kernel, name: str, data: bytes) -> requests.Response:
    return requests.post(
        f"{kernel.endpoint}/api/predict/{name}",
        data=data,
        headers={"Authorization": TOKEN},
        timeout=30,
    )


def test_queue_service_is_listed_described_refused_and_deleted(kernel):
    _queue(kernel, "qs_ctl")
    client = kernel.client
    row = next(d for d in easlab.ls(kernel=client) if d["name"] == "qs_ctl")
    assert row["type"] == "Queue" and row["status"] == "Running"
    assert row["url"] == f"{kernel.endpoint}/api/predict/qs_ctl"
    assert row["queues"]["qs_ctl"]["length"] == 0

    # a wrong name's 404 lists the queue service with the others, as `easlab desc` does,
    # to a caller with the admin token (routes.py's _not_found)
    missing = requests.post(
        f"{kernel.endpoint}/api/predict/qs_ctl_typo",
        data=b"x",
        headers={"Authorization": f"Bearer {kernel.admin_token}"},
        timeout=30,
    )
    assert missing.status_code == 404 and "qs_ctl" in missing.text.split("services:")[1]
    assert "services:" not in _put(kernel, "qs_ctl_typo", b"x").text

    for i in range(3):
        assert _put(kernel, "qs_ctl", b"r%d" % i).status_code == 200
    taken = requests.get(
        f"{kernel.endpoint}/api/predict/qs_ctl",
        params={"_index_": "0", "_length_": "1", "_timeout_": "0s", "_auto_delete_": "true"},
        headers={"Authorization": TOKEN},
        timeout=30,
    )
    assert taken.status_code == 200
    stats = easlab.desc("qs_ctl", kernel=client)["queues"]["qs_ctl"]
    assert {k: stats[k] for k in ("length", "in_flight", "puts", "consumed", "last_index")} == {
        "length": 2,
        "in_flight": 0,
        "puts": 3,
        "consumed": 1,
        "last_index": 3,
    }
    assert 0 <= stats["oldest_age_s"] < 600

    # verbs that have no meaning for a queue say so, and what to use instead
    for verb, call in (
        ("stop", lambda: client.stop("qs_ctl")),
        ("start", lambda: client.start("qs_ctl")),
        ("modify", lambda: client.modify("qs_ctl", set={"metadata.instance": 2})),
        ("version", lambda: client.version("qs_ctl", 1)),
        ("release", lambda: client.release("qs_ctl", 50)),
        ("w", lambda: client.workers("qs_ctl")),
        ("logs", lambda: client.logs("qs_ctl", 5)),
    ):
        with pytest.raises(KernelError) as info:
            call()
        assert info.value.status == 400, verb
        message = str(info.value)
        assert "'qs_ctl' is a queue service" in message and f"`{verb}`" in message, message
        assert "`delete qs_ctl`" in message

    # an unknown name answers as for services
    with pytest.raises(KernelError) as info:
        easlab.desc("qs_nope", kernel=client)
    assert info.value.status == 404 and "service 'qs_nope' not found" in str(info.value)
    assert "qs_ctl" in str(info.value)  # the known names include queue services

    state = kernel.client.info()["state_dir"]
    from pathlib import Path

    files = list((Path(state) / "queues").glob("qs_ctl.sqlite*"))
    assert files and (Path(state) / "services" / "qs_ctl.json").exists()
    assert easlab.delete("qs_ctl", kernel=client) == {"deleted": "qs_ctl"}
    assert not list((Path(state) / "queues").glob("qs_ctl.sqlite*"))
    assert not (Path(state) / "services" / "qs_ctl.json").exists()
    assert all(d["name"] != "qs_ctl" for d in easlab.ls(kernel=client))
    with pytest.raises(KernelError) as info:
        easlab.desc("qs_ctl", kernel=client)
    assert info.value.status == 404
    assert _put(kernel, "qs_ctl", b"gone").status_code == 404


def test_bad_queue_specs_are_refused_and_the_kernel_keeps_serving(kernel):
    with pytest.raises(Exception) as info:
        _queue(kernel, "Bad-Name")
    assert "lowercase letters" in str(info.value)
    with pytest.raises(Exception) as info:
        _queue(kernel, "qs_badlimit", queue={"max_length": "many"})
    assert "queue.max_length" in str(info.value)
    _queue(kernel, "qs_dup")
    with pytest.raises(KernelError) as info:
        _queue(kernel, "qs_dup")
    assert info.value.status == 409
    assert easlab.desc("qs_dup", kernel=kernel.client)["status"] == "Running"
    easlab.delete("qs_dup", kernel=kernel.client)


def test_limits_with_the_official_client(kernel, run_official):
    _queue(kernel, "qs_limits", queue={"max_length": 3, "max_payload_size_kb": 1})
    out = json.loads(
        run_official(
            f"""
import json
from eas_prediction import QueueClient
q = QueueClient({kernel.endpoint!r}, "qs_limits")
q.set_token({TOKEN!r})
q.init()
def attempt(data):
    try:
        return ["ok", q.put(data)[0]]
    except Exception as exc:
        return ["error", getattr(exc, "code", None), str(exc)]
results = [attempt(b"small %d" % i) for i in range(3)]
full = attempt(b"one too many")
big_q = QueueClient({kernel.endpoint!r}, "qs_limits")
big_q.set_token({TOKEN!r})
big_q.init()
q.delete([results[0][1]])
big = attempt(b"x" * 2048)
fits = attempt(b"fits now")
attrs = q.attributes()
got = q.get(index=0, length=10, auto_delete=False)
print(json.dumps({{"results": results, "full": full, "big": big, "fits": fits,
                  "length": attrs["stream.length"], "data": [g.data.decode() for g in got]}}))
""",
            timeout=120,
        )
    )
    assert [r[0] for r in out["results"]] == ["ok", "ok", "ok"]
    assert out["full"][0] == "error" and out["full"][1] == 450, out["full"]
    assert "is full (3 records, queue.max_length 3)" in out["full"][2]
    assert out["big"][0] == "error" and out["big"][1] == 413, out["big"]
    assert "2048 bytes is above" in out["big"][2] and "max_payload_size_kb" in out["big"][2]
    assert out["fits"][0] == "ok"
    # nothing accepted was dropped; nothing refused was stored
    assert out["length"] == "3"
    assert out["data"] == ["small 1", "small 2", "fits now"]
    easlab.delete("qs_limits", kernel=kernel.client)


def test_async_service_desc_carries_its_queues(kernel, make_app):
    folder = make_app("qs_async_desc", ECHO_APP)
    spec = {
        "name": "qs_async_desc",
        "token": TOKEN,
        "processor_type": "python",
        "processor_path": str(folder),
        "processor_entry": "app.py",
        "metadata": {"instance": 1, "type": "Async"},
    }
    # easlab.create does not wait inside the kernel: the queues must exist all the same
    svc = easlab.create(spec, kernel=kernel.client)
    assert svc.status == "Running"
    desc = easlab.desc("qs_async_desc", kernel=kernel.client)
    assert desc["type"] == "Async"
    assert set(desc["queues"]) == {"qs_async_desc", "qs_async_desc/sink"}
    assert _put(kernel, "qs_async_desc", b"hello").status_code == 200
    from kernel_helpers import wait_for

    def answered() -> bool:
        queues = easlab.desc("qs_async_desc", kernel=kernel.client)["queues"]
        return queues["qs_async_desc/sink"]["puts"] == 1 and queues["qs_async_desc"]["length"] == 0

    wait_for(answered, 60, "the answer in the sink")
    queues = easlab.desc("qs_async_desc", kernel=kernel.client)["queues"]
    assert queues["qs_async_desc"]["consumed"] == 1 and queues["qs_async_desc"]["in_flight"] == 0
    row = next(d for d in easlab.ls(kernel=kernel.client) if d["name"] == "qs_async_desc")
    assert row["type"] == "Async"
    easlab.delete("qs_async_desc", kernel=kernel.client)


def test_async_onnx_service_end_to_end(kernel, tmp_path, run_official):
    pytest.importorskip("onnxruntime")
    from test_processors_onnx import B, W, affine_model

    (tmp_path / "affine.onnx").write_bytes(affine_model())
    spec = {
        "name": "qs_async_onnx",
        "processor": "onnx",
        "model_path": str(tmp_path),
        "token": TOKEN,
        "metadata": {"instance": 1, "type": "Async"},
    }
    kernel.client._call("POST", "/services", {"spec": spec}, timeout=300)
    out = json.loads(
        run_official(
            f"""
import json
from eas_prediction import QueueClient, TFRequest
from eas_prediction.tf_request import TFResponse
src = QueueClient({kernel.endpoint!r}, "qs_async_onnx")
src.set_token({TOKEN!r})
src.init()
sink = QueueClient({kernel.endpoint!r}, "qs_async_onnx/sink")
sink.set_token({TOKEN!r})
sink.init()
ids = {{}}
for i in range(20):
    req = TFRequest("serving_default")
    req.add_feed("x", [1, 4], TFRequest.DT_FLOAT, [float(i), 1.0, 2.0, 3.0])
    req.add_fetch("y")
    index, rid = src.put(req.to_string())
    ids[rid] = i
bad = TFRequest("serving_default")
bad.add_feed("x", [1, 3], TFRequest.DT_FLOAT, [1.0, 2.0, 3.0])
_, bad_id = src.put(bad.to_string())
w = sink.watch(0, 10, auto_commit=True)
got, bad_answer = {{}}, None
for df in w.run():
    rid = df.tags["requestId"]
    if rid == bad_id:
        bad_answer = [df.tags["status"], df.data.decode()]
    else:
        resp = TFResponse(df.data)
        got[str(ids[rid])] = [df.tags["status"], list(resp.get_values("y"))]
    if len(got) == 20 and bad_answer is not None:
        break
w.close()
print(json.dumps({{"got": got, "bad": bad_answer}}))
""",
            timeout=120,
        )
    )
    for i in range(20):
        status, y = out["got"][str(i)]
        x = np.array([[i, 1, 2, 3]], np.float32)
        assert status == "200"
        np.testing.assert_allclose(y, (x @ W + B).ravel())
    assert out["bad"][0] == "400" and "expected shape [-1, 4]" in out["bad"][1]
    easlab.delete("qs_async_onnx", kernel=kernel.client)


SLOW_APP = """
import time
import allspark


class Slow(allspark.BaseProcessor):
    def initialize(self):
        pass

    def process(self, data):
        time.sleep(0.005)
        return data, 200
"""


@pytest.mark.parametrize("verb", ["stop", "delete"])
def test_an_async_service_with_a_backlog_stops_and_deletes_at_once(kernel, make_app, verb):
    """The feeder lets go first: a backlog is not pushed through instances that are stopping."""
    name = f"qs_backlog_{verb}"
    folder = make_app(name, SLOW_APP)
    spec = {
        "name": name,
        "token": TOKEN,
        "processor_type": "python",
        "processor_path": str(folder),
        "processor_entry": "app.py",
        "metadata": {"instance": 1, "type": "Async", "rpc.worker_threads": 4},
    }
    easlab.create(spec, kernel=kernel.client)
    session = requests.Session()
    for i in range(300):
        resp = session.post(
            f"{kernel.endpoint}/api/predict/{name}",
            data=b"%d" % i,
            headers={"Authorization": TOKEN},
        )
        assert resp.status_code == 200
    # a hang fails, not waits; the token given: EASLAB_HOME may be another test's by now
    client = type(kernel.client)(kernel.endpoint, timeout=20, admin_token=kernel.admin_token)
    if verb == "stop":
        client.stop(name)
        queues = client.describe(name)["queues"]
        assert queues[name]["in_flight"] == 0  # what was at the service went back to the queue
        answered = queues[f"{name}/sink"]["length"]
        assert queues[name]["length"] + answered >= 300  # nothing lost
    client.delete(name)
    assert name not in [d["name"] for d in client.list()]
    assert _put(kernel, name, b"late").status_code == 404
