"""rpc.batching: concurrent requests reach the processor as one batch, answers stay per caller."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from kernel_helpers import post

TOKEN = "tok-" + "x" * 8

BATCH_APP = """
import json
import allspark

class Batcher(allspark.BaseProcessor):
    def initialize(self):
        self.sizes = []

    def process(self, data):
        return self.process_batch([data])[0]

    def process_batch(self, datas):
        self.sizes.append(len(datas))
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
