"""What a queue's refusals say (SPEC §4), read through the official eas_prediction client.

Each refusal names what was wrong and the fix: a full queue (450) counts the
records delivered and never committed, by consumer, and names the commit, the
auto_commit watch and the service.json field; a token refused (401) names the
header, whose token it is and where it is found; a record too big (413) names the
limit and its field.
"""

from __future__ import annotations

import json

import requests
from kernel_helpers import GATED_APP, app_spec, wait_for

import easlab

TOKEN = "qmtok-" + "m" * 8


def _queue(kernel, name: str, **queue) -> None:
    spec = {"name": name, "token": TOKEN, "metadata": {"type": "Queue"}}
    if queue:
        spec["queue"] = queue
    kernel.client._call("POST", "/services", {"spec": spec})


PRELUDE = """
import json
from eas_prediction import QueueClient
def client(name, token={token!r}, uid=None):
    q = QueueClient({endpoint!r}, name)
    if token is not None:
        q.set_token(token)
    q.init(uid=uid)
    q.set_timeout(30000)
    return q
def attempt(call):
    try:
        return ["ok", str(call())]
    except Exception as exc:
        return ["error", getattr(exc, "code", None), str(exc)]
"""


def _run(run_official, kernel, body: str):
    code = PRELUDE.format(endpoint=kernel.endpoint, token=TOKEN) + body
    return json.loads(run_official(code, timeout=120))


def test_a_full_queue_names_the_consumer_that_never_commits(kernel, run_official):
    """Before: 'queue ... is full (3 records, queue.max_length): consume or truncate it,
    or raise the limit' - nothing on the watcher that held every record uncommitted."""
    _queue(kernel, "qm_full", max_length=3)
    out = _run(
        run_official,
        kernel,
        """
q = client("qm_full", uid="slowpoke")
for i in range(3):
    q.put(b"r%d" % i)
watcher = q.watch(0, 5, auto_commit=False)
seen = []
for df in watcher.run():
    seen.append(df.index)
    if len(seen) == 3:
        break
full = attempt(lambda: client("qm_full").put(b"one too many"))
q.commit(seen)
fits = attempt(lambda: client("qm_full").put(b"fits now"))
watcher.close()
print(json.dumps({"full": full, "fits": fits}))
""",
    )
    kind, status, text = out["full"]
    assert (kind, status) == ("error", 450), out["full"]
    assert "is full (3 records, queue.max_length 3)" in text, text
    assert "3 of its records were delivered and never committed" in text, text
    assert "3 by consumer 'slowpoke' of group 'eas'" in text, text
    assert "QueueClient.commit(index)" in text and "auto_commit=True" in text, text
    assert "raise queue.max_length in service.json" in text, text
    assert out["fits"][0] == "ok", out["fits"]


def test_a_full_queue_nobody_consumed_says_so(kernel, run_official):
    _queue(kernel, "qm_unread", max_length=2)
    out = _run(
        run_official,
        kernel,
        """
q = client("qm_unread")
q.put(b"a"); q.put(b"b")
print(json.dumps({"full": attempt(lambda: q.put(b"c"))}))
""",
    )
    kind, status, text = out["full"]
    assert (kind, status) == ("error", 450), out["full"]
    assert "never committed" not in text, text
    assert "consume its records" in text and "raise queue.max_length" in text, text


def test_a_refused_token_names_the_header_and_where_the_token_is(kernel, run_official):
    """Before: 'missing or wrong token for queue ...', no header and no way to the token."""
    _queue(kernel, "qm_token")
    out = _run(
        run_official,
        kernel,
        """
wrong = client("qm_token", token="not-the-token")
print(json.dumps({
    "wrong": attempt(lambda: wrong.put(b"x")),
    "sink_like": attempt(lambda: wrong.attributes()),
}))
""",
    )
    for kind, status, text in (out["wrong"], out["sink_like"]):
        assert (kind, status) == ("error", 401), text
        assert "wrong token for queue 'qm_token'" in text, text
        assert "Authorization header" in text, text
        assert "easlab desc qm_token" in text, text
        assert TOKEN not in text and "not-the-token" not in text, text


def test_a_missing_token_says_missing(kernel):
    _queue(kernel, "qm_notoken")
    url = f"{kernel.endpoint}/api/predict/qm_notoken"
    for headers in ({}, {"Authorization": ""}):  # the official client sends it empty
        resp = requests.post(url, data=b"x", headers=headers, timeout=30)
        assert resp.status_code == 401, resp.text
        assert resp.text.startswith("missing token for queue 'qm_notoken'"), resp.text
        assert "Authorization header" in resp.text, resp.text


def test_a_record_over_the_size_limit_names_the_limit_and_the_field(kernel, run_official):
    """Before: "above queue 'qm_big''s limit of 1024 bytes" (a doubled quote)."""
    _queue(kernel, "qm_big", max_payload_size_kb=1)
    out = _run(
        run_official,
        kernel,
        """
print(json.dumps({"big": attempt(lambda: client("qm_big").put(b"x" * 2048))}))
""",
    )
    kind, status, text = out["big"]
    assert (kind, status) == ("error", 413), out["big"]
    assert "''" not in text, text
    assert "2048 bytes" in text and "1024 bytes" in text, text
    assert "queue.max_payload_size_kb 1" in text, text
    assert "raise queue.max_payload_size_kb in service.json" in text, text


def test_a_full_async_input_queue_names_its_service_not_a_commit(kernel, make_app, tmp_path):
    """Before: the message for a client's queue (commit them, auto_commit) for an async
    service's input queue, whose consumer is the service itself."""
    name = "qm_async_full"
    calls, gate = tmp_path / "calls.txt", tmp_path / "gate"
    folder = make_app(name, GATED_APP.format(calls=str(calls), gate=str(gate)))
    spec = app_spec(name, folder, type="Async", **{"rpc.worker_threads": 1})
    spec["token"] = TOKEN
    spec["queue"] = {"max_length": 2}
    kernel.client._call("POST", "/services", {"spec": spec, "wait": True}, timeout=120)
    url = f"{kernel.endpoint}/api/predict/{name}"
    auth = {"Authorization": TOKEN}
    try:
        for i in range(2):
            assert requests.post(url, data=b"n%d" % i, headers=auth, timeout=30).ok
        wait_for(lambda: calls.exists() and calls.read_text() == "n0\n", 30, "the model on n0")
        full = requests.post(url, data=b"n2", headers=auth, timeout=30)
        assert full.status_code == 450, full.text
        assert f"service '{name}' consumes it as its model answers (2 at the model" in full.text
        assert f"easlab modify {name} -Dmetadata.instance=N" in full.text, full.text
        assert "raise queue.max_length in service.json" in full.text, full.text
        assert "commit" not in full.text, full.text
        easlab.stop(name, kernel=kernel.client)
        stopped = requests.post(url, data=b"n2", headers=auth, timeout=30)
        assert stopped.status_code == 450, stopped.text
        assert f"service '{name}' is not consuming it (not Running): start it" in stopped.text
    finally:
        gate.write_text("")
        easlab.delete(name, kernel=kernel.client)
