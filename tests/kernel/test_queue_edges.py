"""Edge cases of the queue protocol (SPEC §4), driven by the official eas_prediction client.

An empty put is a record (its data is b""); a get asks for at least one record;
commit and delete of indexes that are not there count 0 (SPEC: they take a scalar
or a list, and the official client sends an empty list as ``_indexes_=``); a watch
has a window of at least one record: each refusal is a 400 naming the parameter
and its range. A put to an asynchronous service's sink is a plain record: SPEC §4
says nothing of it, and the EAS manual's own queue example puts into and watches
``test_group.qservice/sink``.
"""

from __future__ import annotations

import json

import pytest
import requests
from kernel_helpers import ECHO_APP, app_spec

import easlab
from easlab.errors import PredictException

TOKEN = "qetok-" + "e" * 8


def _queue(kernel, name: str) -> None:
    spec = {"name": name, "token": TOKEN, "metadata": {"type": "Queue"}}
    kernel.client._call("POST", "/services", {"spec": spec})


PRELUDE = """
import json
from eas_prediction import QueueClient
q = QueueClient({endpoint!r}, {name!r})
q.set_token({token!r})
q.init()
q.set_timeout(30000)
def attempt(call):
    try:
        r = call()
        if isinstance(r, bytes):
            r = r.decode()
        if isinstance(r, list):
            r = [[d.index, d.data.decode()] for d in r]
        return ["ok", r]
    except Exception as exc:
        return ["error", getattr(exc, "code", None), str(exc)]
"""


def _run(run_official, kernel, name: str, body: str):
    code = PRELUDE.format(endpoint=kernel.endpoint, name=name, token=TOKEN) + body
    return json.loads(run_official(code, timeout=120))


def test_empty_puts_gets_commits_and_deletes_of_nothing(kernel, run_official):
    _queue(kernel, "qe_edges")
    out = _run(
        run_official,
        kernel,
        "qe_edges",
        """
res = {}
res["put_empty"] = attempt(lambda: q.put(b"")[0])
res["put_one"] = attempt(lambda: q.put(b"one")[0])
res["get"] = attempt(lambda: q.get(index=0, length=5, timeout="0s", auto_delete=False))
res["get_len0"] = attempt(lambda: q.get(index=0, length=0, timeout="0s"))
res["get_len_neg"] = attempt(lambda: q.get(index=0, length=-1, timeout="0s"))
res["commit_unknown"] = attempt(lambda: q.commit([999999]))
res["commit_empty"] = attempt(lambda: q.commit([]))
res["delete_unknown"] = attempt(lambda: q.delete(999999))
res["delete_not_index"] = attempt(lambda: q.delete("first"))
res["length"] = q.attributes()["stream.length"]
print(json.dumps(res))
""",
    )
    assert out["put_empty"] == ["ok", "1"] and out["put_one"] == ["ok", "2"], out
    # a zero-byte record is stored and read back as one
    assert out["get"] == ["ok", [[1, ""], [2, "one"]]], out["get"]
    for key, given in (("get_len0", 0), ("get_len_neg", -1)):
        kind, status, text = out[key]
        assert (kind, status) == ("error", 400), out[key]
        assert f"_length_={given} must be at least 1" in text, text
    assert out["commit_unknown"] == ["ok", "committed 0"], out["commit_unknown"]
    assert out["commit_empty"] == ["ok", "committed 0"], out["commit_empty"]
    assert out["delete_unknown"] == ["ok", "deleted 0"], out["delete_unknown"]
    kind, status, text = out["delete_not_index"]
    assert (kind, status) == ("error", 400) and "_indexes_='first'" in text, text
    assert out["length"] == "2"  # nothing was taken by the refused gets
    easlab.delete("qe_edges", kernel=kernel.client)


@pytest.mark.parametrize("window", [0, -3])
def test_a_watch_with_no_window_is_refused_naming_it(kernel, run_official, window):
    """Before: _window_=0 was taken as 1 without a word: the official watcher was pushed
    one record and then nothing until it committed that one."""
    name = f"qe_window{abs(window)}"
    _queue(kernel, name)
    out = _run(
        run_official,
        kernel,
        name,
        f"""
q.put(b"a")
q.put(b"b")
watcher = q.watch(0, {window})
def first():
    for df in watcher.run():
        return df.index
print(json.dumps({{"watch": attempt(first), "length": q.attributes()["stream.length"]}}))
""",
    )
    assert out["watch"][0] == "error", out["watch"]
    text = out["watch"][2]
    assert "Handshake status 400" in text, text
    assert f"_window_={window} must be at least 1" in text, text
    assert out["length"] == "2"
    # easlab's client says it as the refusal's text, and a window of 1 watches
    sink = easlab.QueueClient(kernel.endpoint, name)
    sink.set_token(TOKEN)
    sink.init()
    with pytest.raises(PredictException) as refused:
        sink.watch(0, window).connect()
    assert refused.value.code == 400
    assert f"_window_={window} must be at least 1" in str(refused.value)
    watcher = sink.watch(0, 1)
    try:
        assert next(iter(watcher.run())).data == b"a"
    finally:
        watcher.close()
    easlab.delete(name, kernel=kernel.client)


def test_a_watch_window_that_is_not_an_integer_is_refused(kernel):
    _queue(kernel, "qe_window_text")
    url = f"{kernel.endpoint}/api/predict/qe_window_text"
    resp = requests.get(
        url,
        params={"_watch_": "true", "_window_": "many"},
        headers={
            "Authorization": TOKEN,
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
        timeout=30,
    )
    assert resp.status_code == 400 and "_window_='many' is not an integer" in resp.text
    easlab.delete("qe_window_text", kernel=kernel.client)


def test_the_manuals_sink_example_puts_and_watches_plain_records(kernel, make_app, run_official):
    """The EAS SDK manual's "queue service: send and subscribe" example, unchanged but
    for the endpoint, token and count, against an async service's sink."""
    name = "qe_sink_example"
    spec = app_spec(name, make_app(name, ECHO_APP), type="Async")
    spec["token"] = TOKEN
    kernel.client._call("POST", "/services", {"spec": spec, "wait": True}, timeout=120)
    try:
        out = run_official(
            f"""
import json
import threading
from eas_prediction import QueueClient

queue = QueueClient({kernel.endpoint!r}, {name + "/sink"!r})
queue.set_token({TOKEN!r})
queue.init()
queue.set_timeout(30000)
attributes = queue.attributes()
if 'stream.lastEntry' in attributes:
    queue.truncate(int(attributes['stream.lastEntry']) + 1)
count = 20
sent, received = [], []
def send_thread():
    for i in range(count):
        index, request_id = queue.put('[{{}}]')
        sent.append(request_id)
def watch_thread():
    watcher = queue.watch(0, 5, auto_commit=True)
    i = 0
    for x in watcher.run():
        received.append([x.index, x.tags['requestId'], x.data.decode()])
        i += 1
        if i == count:
            break
    watcher.close()
thread1 = threading.Thread(target=watch_thread)
thread2 = threading.Thread(target=send_thread)
thread1.start(); thread2.start(); thread1.join(); thread2.join()
print(json.dumps({{"sent": sent, "received": received,
                  "left": queue.attributes()["stream.length"]}}))
""",
            timeout=120,
        )
        got = json.loads(out)
        assert [r[1] for r in got["received"]] == got["sent"]
        assert {r[2] for r in got["received"]} == {"[{}]"}
        assert got["left"] == "0"  # auto_commit consumed them
    finally:
        easlab.delete(name, kernel=kernel.client)
