"""rpc.batching: concurrent requests reach the processor as one batch, answers stay per caller."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from kernel_helpers import post, wait_for

TOKEN = "tok-" + "x" * 8

BATCH_APP = """
import json
import time
import allspark

class Batcher(allspark.BaseProcessor):
    def initialize(self):
        self.sizes = []

    def process(self, data):
        return self.process_batch([data])[0]

    def process_batch(self, datas):
        self.sizes.append(len(datas))
        if len(self.sizes) == 1:
            # the first call keeps the one worker busy: the callers behind it queue up and
            # form batches however the machine schedules them (adaptive batching sends a
            # lone request at once to an idle instance)
            time.sleep(0.3)
        out = []
        for d in datas:
            if d == b"sizes":
                out.append((json.dumps(self.sizes).encode(), 200))
            elif d == b"fail":
                out.append((b"this one failed", 400))
            else:
                out.append((b"answer to " + d, 200))
        return out
"""


def test_batches_form_under_load_and_every_caller_gets_its_answer(python_service):
    svc = python_service(
        "batch_svc",
        BATCH_APP,
        **{
            "rpc__batching": True,
            "rpc__max_batch_size": 8,
            "rpc__max_batch_timeout": 100,
            "rpc__worker_threads": 1,
        },
    )
    bodies = [b"req-%d" % i for i in range(32)] + [b"fail"]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda b: post(svc.url, b, TOKEN), bodies))
    for body, resp in zip(bodies, answers, strict=True):
        if body == b"fail":
            assert resp.status_code == 400 and resp.content == b"this one failed"
        else:
            assert resp.status_code == 200 and resp.content == b"answer to " + body
    import json

    sizes = json.loads(post(svc.url, b"sizes", TOKEN).content)
    assert sum(sizes) == len(bodies) + 1  # the "sizes" request itself came as a batch of 1
    assert max(sizes) > 1
    assert max(sizes) <= 8


def test_lone_request_waits_at_most_the_batch_timeout(python_service):
    svc = python_service(
        "batch_lone", BATCH_APP, **{"rpc__batching": True, "rpc__max_batch_timeout": 20}
    )
    resp = post(svc.url, b"solo", TOKEN)
    assert resp.status_code == 200 and resp.content == b"answer to solo"
    assert resp.elapsed.total_seconds() < 2


SLOW_BATCH_APP = """
import json, time
import allspark

class Batcher(allspark.BaseProcessor):
    def initialize(self):
        self.sizes = []

    def process(self, data):
        return self.process_batch([data])[0]

    def process_batch(self, datas):
        if datas == [b"sizes"]:
            return [(json.dumps(self.sizes).encode(), 200)]
        self.sizes.append(len(datas))
        time.sleep(0.02)  # a model whose every call costs the same: worth batching
        return [(b"answer to " + d, 200) for d in datas]
"""


def _metrics(kernel, name):
    """The service's metrics (GET /easlab/v1/services/NAME/metrics)."""
    import requests

    resp = requests.get(
        f"{kernel.endpoint}/easlab/v1/services/{name}/metrics",
        headers=kernel.admin_headers(),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def _batch_totals(kernel, name):
    return _metrics(kernel, name)["totals"]


def test_lone_caller_is_batched_without_waiting_for_the_timeout(kernel, python_service):
    # Issue 16: a lone caller with batching on used to wait the whole max_batch_timeout
    # on every call. With an idle instance the batch closes at once (counted as "idle"),
    # so none of these calls waits for the 2 s timeout.
    svc = python_service(
        "batch_adaptive_lone",
        SLOW_BATCH_APP,
        **{"rpc__batching": True, "rpc__max_batch_size": 16, "rpc__max_batch_timeout": 2000},
    )
    calls = 8
    for i in range(calls):
        resp = post(svc.url, b"solo-%d" % i, TOKEN)
        assert resp.status_code == 200 and resp.content == b"answer to solo-%d" % i
    totals = _batch_totals(kernel, "batch_adaptive_lone")
    assert totals["batch_closes"]["timeout"] == 0
    assert totals["batch_closes"]["idle"] == calls
    assert totals["batch_sizes"] == {"1": calls}


def test_concurrent_callers_still_form_large_batches(kernel, python_service):
    svc = python_service(
        "batch_adaptive_busy",
        SLOW_BATCH_APP,
        **{
            "rpc__batching": True,
            "rpc__max_batch_size": 16,
            "rpc__max_batch_timeout": 2000,
            "rpc__worker_threads": 1,
        },
    )
    bodies = [b"req-%d" % i for i in range(48)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda b: post(svc.url, b, TOKEN), bodies))
    for body, resp in zip(bodies, answers, strict=True):
        assert resp.status_code == 200 and resp.content == b"answer to " + body
    import json

    sizes = json.loads(post(svc.url, b"sizes", TOKEN).content)
    assert sum(sizes) == len(bodies)
    # calls that arrive while the model works go together: far fewer batches than calls
    assert len(sizes) < len(bodies) // 2
    assert max(sizes) > 4
    totals = _batch_totals(kernel, "batch_adaptive_busy")
    assert totals["batch_closes"]["timeout"] == 0  # nobody waited the 2 s


# Which path of the worker a call came by: a plain request (Worker._one) or a batch
# frame (Worker._batch), read from the call stack of the app's process().
PATH_APP = """
import sys
import time
import allspark

def worker_path():
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name in ("_one", "_batch") and code.co_filename.endswith("worker.py"):
            return code.co_name
        frame = frame.f_back
    return "unknown"

class Model(allspark.BaseProcessor):
    def process(self, data):
        if data.startswith(b"slow"):
            time.sleep(0.05)  # keeps the one worker busy: the callers behind it batch
        return worker_path().encode(), 200
"""

OWN_BATCH_APP = """
import allspark

class Model(allspark.BaseProcessor):
    def process(self, data):
        return b"process", 200

    def process_batch(self, datas):
        return [(b"process_batch of %d" % len(datas), 200) for _ in datas]
"""


def test_a_lone_callers_batch_comes_as_a_plain_request_when_process_batch_is_the_default(
    kernel, python_service
):
    # Issue 16: a batch of one goes as a plain request to a processor whose
    # process_batch([x]) is process(x), skipping the batch frame (c=1 p50 -0.05 to
    # -0.2 ms measured); it still counts as a batch of one in the metrics.
    svc = python_service(
        "batch_lone_plain",
        PATH_APP,
        **{"rpc__batching": True, "rpc__max_batch_size": 8, "rpc__worker_threads": 1},
    )
    for i in range(4):
        resp = post(svc.url, b"solo-%d" % i, TOKEN)
        assert resp.status_code == 200 and resp.content == b"_one"
    assert _batch_totals(kernel, "batch_lone_plain")["batch_sizes"] == {"1": 4}
    # concurrent callers still come as batches
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: post(svc.url, b"slow-%d" % i, TOKEN), range(16)))
    assert all(resp.status_code == 200 for resp in answers)
    assert b"_batch" in {resp.content for resp in answers}


def test_an_app_with_its_own_process_batch_gets_a_lone_caller_as_a_batch_of_one(python_service):
    svc = python_service(
        "batch_lone_own", OWN_BATCH_APP, **{"rpc__batching": True, "rpc__max_batch_size": 8}
    )
    for i in range(3):
        resp = post(svc.url, b"solo-%d" % i, TOKEN)
        assert resp.status_code == 200 and resp.content == b"process_batch of 1"


RAISING_APP = """
import allspark

class Model(allspark.BaseProcessor):
    def process(self, data):
        if data == b"boom":
            raise ValueError("cannot score this row")
        return b"ok " + data, 200
"""


def test_a_lone_callers_plain_request_that_raises_gets_a_400_and_the_service_goes_on(
    python_service,
):
    svc = python_service("batch_lone_raises", RAISING_APP, **{"rpc__batching": True})
    resp = post(svc.url, b"boom", TOKEN)
    assert resp.status_code == 400
    assert b"ValueError: cannot score this row" in resp.content
    resp = post(svc.url, b"next", TOKEN)
    assert resp.status_code == 200 and resp.content == b"ok next"


# Each batch waits in process_batch until the test creates its go-N file, and says it
# started (and with which calls) in started-N: the test decides when batches end.
GATED_APP = """
import os, time
import allspark

GATES = __GATES__

class Gated(allspark.BaseProcessor):
    def initialize(self):
        self.batches = 0

    def process(self, data):
        return self.process_batch([data])[0]

    def process_batch(self, datas):
        self.batches += 1
        n = self.batches
        with open(os.path.join(GATES, "started-%d" % n), "wb") as f:
            f.write(b",".join(datas))
        deadline = time.monotonic() + 60
        while not os.path.exists(os.path.join(GATES, "go-%d" % n)):
            if time.monotonic() > deadline:
                raise RuntimeError("batch %d was never let go" % n)
            time.sleep(0.005)
        if b"boom" in datas:
            raise ValueError("the model cannot take boom")
        return [(b"%s in batch %d" % (d, n), 200) for d in datas]
"""


def _gated_service(python_service, name, tmp_path):
    """GATED_APP as a service batching up to 16 calls on one worker thread; its gates
    folder (the test creates go-N to let batch N end)."""
    gates = tmp_path / "gates"
    gates.mkdir()
    svc = python_service(
        name,
        GATED_APP.replace("__GATES__", repr(str(gates))),
        **{
            "rpc__batching": True,
            "rpc__max_batch_size": 16,
            "rpc__max_batch_timeout": 30000,
            "rpc__worker_threads": 1,
        },
    )
    return svc, gates


def test_the_next_batch_waits_in_the_instance_behind_the_running_one(
    kernel, python_service, tmp_path
):
    # Issue 16: while the model runs a batch, the next closes once as many calls wait
    # and goes to the instance, so the model does not wait for the kernel between two
    # batches; one batch at most waits there, and every caller gets its own answer.
    name = "batch_next"
    svc, gates = _gated_service(python_service, name, tmp_path)

    def started(n: int) -> set[bytes] | None:
        """The calls of batch ``n`` (in whatever order they arrived), once it started."""
        path = gates / f"started-{n}"
        return set(path.read_bytes().split(b",")) if path.exists() else None

    def metrics():
        return _metrics(kernel, name)

    with ThreadPoolExecutor(8) as pool:
        answers = {b"a": pool.submit(post, svc.url, b"a", TOKEN)}
        wait_for(lambda: started(1), what="batch 1 in the model")
        answers |= {b: pool.submit(post, svc.url, b, TOKEN) for b in (b"b", b"c")}
        wait_for(lambda: metrics()["queue_depth"] == 2, what="b and c queued")
        (gates / "go-1").touch()
        assert wait_for(lambda: started(2), what="batch 2") == {b"b", b"c"}
        answers |= {b: pool.submit(post, svc.url, b, TOKEN) for b in (b"d", b"e")}
        # as many as the running batch holds: they go to wait in the instance
        wait_for(lambda: metrics()["totals"]["batch_closes"]["next"] == 1, what="d,e behind")
        now = metrics()
        assert now["instances"][0]["in_flight"] == 2
        assert started(3) is None  # one worker thread: batch 3 waits for batch 2
        answers |= {b: pool.submit(post, svc.url, b, TOKEN) for b in (b"f", b"g")}
        # f and g wait in the kernel (1 batch frame beyond the thread + 2 queued)
        wait_for(lambda: metrics()["queue_depth"] == 3, what="f and g queued")
        assert metrics()["totals"]["batch_closes"]["next"] == 1
        for n in (2, 3, 4):
            (gates / f"go-{n}").touch()
        got = {body: future.result() for body, future in answers.items()}
    batch_of = {b"a": 1, b"b": 2, b"c": 2, b"d": 3, b"e": 3, b"f": 4, b"g": 4}
    for body, resp in got.items():
        assert resp.status_code == 200, resp.text
        assert resp.content == b"%s in batch %d" % (body, batch_of[body])
    assert started(3) == {b"d", b"e"} and started(4) == {b"f", b"g"}
    totals = metrics()["totals"]
    assert totals["batch_sizes"] == {"1": 1, "2": 3}
    # f,g went behind d,e once those ran: both later batches closed as "next"
    assert totals["batch_closes"] == {"full": 0, "timeout": 0, "idle": 2, "next": 2}


def test_a_batch_that_raises_behind_the_running_one_answers_its_callers_and_the_rest_go_on(
    kernel, python_service, tmp_path
):
    # The batch waiting in the instance is answered like any batch: a process_batch
    # that raises gets each of its callers a 400 naming the error and where its
    # traceback is; the batch ahead of it and the calls after it are answered as usual.
    name = "batch_next_raises"
    svc, gates = _gated_service(python_service, name, tmp_path)

    def closes():
        return _metrics(kernel, name)["totals"]["batch_closes"]

    with ThreadPoolExecutor(8) as pool:
        answers = {b"a": pool.submit(post, svc.url, b"a", TOKEN)}
        wait_for(lambda: (gates / "started-1").exists(), what="batch 1 in the model")
        answers |= {b: pool.submit(post, svc.url, b, TOKEN) for b in (b"b", b"c")}
        wait_for(lambda: _metrics(kernel, name)["queue_depth"] == 2, what="b and c queued")
        (gates / "go-1").touch()
        wait_for(lambda: (gates / "started-2").exists(), what="batch 2")
        answers |= {b: pool.submit(post, svc.url, b, TOKEN) for b in (b"boom", b"d")}
        wait_for(lambda: closes()["next"] == 1, what="boom,d behind batch 2")
        for n in (2, 3):
            (gates / f"go-{n}").touch()
        got = {body: future.result() for body, future in answers.items()}
    for body, batch in ((b"a", 1), (b"b", 2), (b"c", 2)):
        assert got[body].status_code == 200 and got[body].content == b"%s in batch %d" % (
            body,
            batch,
        )
    for body in (b"boom", b"d"):
        assert got[body].status_code == 400, got[body].text
        assert "ValueError: the model cannot take boom" in got[body].text
        assert f"traceback in the service log: easlab logs {name}" in got[body].text
    (gates / "go-4").touch()
    after = post(svc.url, b"after", TOKEN)
    assert after.status_code == 200 and after.content == b"after in batch 4"
