"""The official eas_prediction QueueClient and Watcher (their own venv) against the kernel's queues."""

from __future__ import annotations

import json
import re

from kernel_helpers import ECHO_APP

TOKEN = "qtok-" + "y" * 8


def _queue(kernel, name: str, **extra) -> dict:
    spec = {"name": name, "token": TOKEN, "metadata": {"type": "Queue"}, **extra}
    return kernel.client._call("POST", "/services", {"spec": spec})


PRELUDE = """
import json, threading
from eas_prediction import QueueClient
def client(name, uid=None, gid="eas"):
    q = QueueClient({endpoint!r}, name)
    q.set_token({token!r})
    q.init(uid=uid, gid=gid)
    return q
"""


def _run(run_official, kernel, body: str):
    code = PRELUDE.format(endpoint=kernel.endpoint, token=TOKEN) + body
    return json.loads(run_official(code, timeout=60))


def test_put_get_attributes_search_delete_truncate(kernel, run_official):
    _queue(kernel, "q_basic")
    out = _run(
        run_official,
        kernel,
        """
q = client("q_basic")
puts = [q.put(b"hello %d" % i, tags={"k": str(i % 2)}) for i in range(6)]
attrs = q.attributes()
search = q.search(puts[2][0])
missing = q.search(999999)
got = q.get(index=0, length=2, timeout="1s", auto_delete=False)
# a get by request id looks where it is told: from the put's index on
by_id = q.get(request_id=puts[3][1], index=int(puts[3][0]), auto_delete=True)
tagged = q.get(index=0, length=10, auto_delete=False, tags={"k": "1"})
q.delete([puts[0][0], puts[1][0]])
q.commit(puts[4][0])
q.truncate(int(puts[5][0]))
after = q.attributes()
empty = q.get(index=0, timeout="5s")
print(json.dumps({
  "puts": puts, "attrs": attrs, "search": search, "missing": missing,
  "got": [(g.index, g.data.decode(), dict(g.tags)) for g in got],
  "by_id": [(g.index, g.data.decode()) for g in by_id],
  "tagged": [g.data.decode() for g in tagged],
  "after": after, "empty": len(empty)}))
""",
    )
    indexes = [int(i) for i, _ in out["puts"]]
    assert indexes == sorted(indexes) and len(set(indexes)) == 6
    assert out["attrs"]["stream.length"] == "6"
    assert out["attrs"]["stream.lastEntry"] == str(indexes[-1])
    assert out["search"] == {"ConsumerId": "", "IsPending": False, "WaitCount": 2}
    assert out["missing"] == {}
    assert [g[1] for g in out["got"]] == ["hello 0", "hello 1"]
    assert out["got"][0][2]["requestId"] == out["puts"][0][1]
    assert out["by_id"] == [[indexes[3], "hello 3"]]
    assert out["tagged"] == ["hello 1", "hello 5"]  # hello 3 was auto-deleted
    assert out["after"]["stream.length"] == "1"  # only hello 5 is left
    assert out["empty"] == 1


def test_a_get_with_tags_looks_at_length_records_from_index(kernel, run_official):
    """The EAS manual: get's tags "从指定index开始遍历length条数据,返回包含指定tags的数据"
    (from index, go through length records, return those with the tags). Before,
    easlab walked on past those ``length`` records until it had found ``length`` that
    matched: code that worked locally read records EAS does not answer."""
    _queue(kernel, "q_get_tags")
    out = _run(
        run_official,
        kernel,
        """
q = client("q_get_tags")
puts = [int(q.put(b"r%d" % i, tags={"k": str(i % 2)})[0]) for i in range(4)]
def get(**kw):
    return [g.data.decode() for g in q.get(auto_delete=False, timeout="0s", **kw)]
print(json.dumps({
  "first_one": get(index=0, length=1, tags={"k": "1"}),
  "first_two": get(index=0, length=2, tags={"k": "1"}),
  "from_second": get(index=puts[1], length=3, tags={"k": "1"}),
  "all": get(index=0, length=10, tags={"k": "0"}),
  "untagged": get(index=0, length=2),
}))
""",
    )
    assert out["first_one"] == []  # r0 is the one record looked at: k=0
    assert out["first_two"] == ["r1"]  # r3 is past the two looked at
    assert out["from_second"] == ["r1", "r3"]
    assert out["all"] == ["r0", "r2"]
    assert out["untagged"] == ["r0", "r1"]


def test_a_get_by_request_id_looks_only_at_length_records_from_index(kernel, run_official):
    """SPEC §4: ``get(request_id=...)`` scans only ``[index, index+length)``, as the EAS
    manual says ("从index开始查询length个数据": from index, look at length records).
    Before, easlab looked at every record from ``index`` on: the official default
    ``get(request_id=rid)`` (index 0, length 1) found a record deep in the queue that
    EAS does not answer. The window is the ``length`` records from ``index`` on, as for
    a get with tags (``[index, index+length)`` while none in between was consumed)."""
    _queue(kernel, "q_get_by_id")
    _queue(kernel, "q_get_by_id_empty")
    out = _run(
        run_official,
        kernel,
        """
q = client("q_get_by_id")
puts = [q.put(b"r%d" % i) for i in range(4)]
idx = [int(i) for i, _ in puts]
rid = puts[2][1]  # the third record
def get(**kw):
    return [g.data.decode() for g in q.get(request_id=rid, auto_delete=False, timeout="0s", **kw)]
before = get(index=idx[0], length=2)  # r0, r1 looked at
def waited():  # a record put while the get waits for it, in a queue empty at first
    empty = client("q_get_by_id_empty")
    later = threading.Thread(target=lambda: empty.put(b"later", tags={"requestId": "later"}))
    longest = int(empty.attributes()["meta.maxLength"])
    later.start()
    got = empty.get(request_id="later", index=0, length=longest, timeout="5s")
    later.join()
    return [g.data.decode() for g in got]
q.delete(idx[0])  # a consumed record leaves the window: r1, r2 are the two from index 0
print(json.dumps({
  "default": get(),
  "first_two": before,
  "first_three": get(index=idx[0], length=2),
  "at_its_index": get(index=idx[2]),
  "past_it": get(index=idx[3], length=5),
  "whole_queue": get(index=0, length=int(q.attributes()["meta.maxLength"])),
  "waited": waited(),
}))
""",
    )
    assert out["default"] == []  # the first record (r1) is not r2
    assert out["first_two"] == []
    assert out["first_three"] == ["r2"]
    assert out["at_its_index"] == ["r2"]
    assert out["past_it"] == []
    assert out["whole_queue"] == ["r2"]
    assert out["waited"] == ["later"]


def test_wrong_token_is_refused(kernel, run_official):
    _queue(kernel, "q_token")
    out = run_official(
        f"""
from eas_prediction import QueueClient
q = QueueClient({kernel.endpoint!r}, "q_token")
q.set_token("wrong")
q.init()
try:
    q.put(b"x")
except Exception as exc:
    print(exc.code if hasattr(exc, "code") else exc)
"""
    )
    assert b"401" in out


def test_watch_manual_commit_two_groups_and_window(kernel, run_official):
    _queue(kernel, "q_watch")
    out = _run(
        run_official,
        kernel,
        """
q = client("q_watch")
import time
results = {}
def read(gid, n, auto):
    w = client("q_watch", gid=gid)
    watcher = w.watch(0, 3, auto_commit=auto)
    seen = []
    for df in watcher.run():
        seen.append(df.data.decode())
        if not auto:
            w.commit(df.index)
        if len(seen) == n:
            break
    watcher.close()
    results[gid] = seen
ts = [threading.Thread(target=read, args=a, daemon=True) for a in (("ga", 10, False), ("gb", 10, True))]
[t.start() for t in ts]
# both groups watch before the records come: each group then gets every record
while q.attributes()["stream.consumers"] != "2":
    time.sleep(0.02)
for i in range(10):
    q.put(b"r%d" % i)
[t.join(20) for t in ts]
a, b = results.get("ga"), results.get("gb")
print(json.dumps({"a": a, "b": b, "left": q.attributes()["stream.length"]}))
""",
    )
    assert out["a"] == [f"r{i}" for i in range(10)]
    assert out["b"] == [f"r{i}" for i in range(10)]
    assert out["left"] == "0"  # both groups committed every record


def test_two_consumers_share_a_group_and_redelivery(kernel, run_official):
    _queue(kernel, "q_share")
    out = _run(
        run_official,
        kernel,
        """
q = client("q_share")
for i in range(6):
    q.put(b"s%d" % i)
# a consumer takes a window of 2 and dies without committing
dead = client("q_share", uid="dead", gid="g")
dw = dead.watch(0, 2)
it = dw.run()
lost = [next(it).data.decode(), next(it).data.decode()]
pending = q.search(int(q.get(index=0, length=1, auto_delete=False)[0].index))
dw.close()
seen = []
c1, c2 = client("q_share", uid="u1", gid="g"), client("q_share", uid="u2", gid="g")
lock = threading.Lock()
def run(c):
    w = c.watch(0, 2)
    for df in w.run():
        with lock:
            seen.append((c.uid, df.data.decode()))
            c.commit(df.index)
            if len(seen) >= 6:
                break
    w.close()
ts = [threading.Thread(target=run, args=(c,), daemon=True) for c in (c1, c2)]
[t.start() for t in ts]
import time
end = time.time() + 20
while time.time() < end and len(seen) < 6:
    time.sleep(0.05)
print(json.dumps({"lost": lost, "pending": pending, "seen": seen}))
""",
    )
    assert out["lost"] == ["s0", "s1"]
    assert out["pending"]["IsPending"] is True and out["pending"]["ConsumerId"] == "dead"
    assert sorted(d for _, d in out["seen"]) == [f"s{i}" for i in range(6)]


def test_a_watch_with_tags_is_pushed_only_the_records_with_them(kernel, run_official):
    """Before: the official ``watch(tags=...)`` (its tags sent as query fields) was
    refused with a 400. Now each watcher of a group gets only the records with its
    tags, the window and commits as without tags; a record no watcher takes stays."""
    _queue(kernel, "q_watch_tags")
    out = _run(
        run_official,
        kernel,
        """
q = client("q_watch_tags")
puts = {}
for data, owner in [("mine 1", "me"), ("theirs 1", "them"), ("other", "nobody"), ("mine 2", "me")]:
    puts[data] = int(q.put(data.encode(), tags={"owner": owner})[0])
a, b = client("q_watch_tags", uid="a", gid="g"), client("q_watch_tags", uid="b", gid="g")
wa, wb = a.watch(0, 1, tags={"owner": "me"}), b.watch(0, 5, tags={"owner": "them"})
ra, rb = wa.run(), wb.run()
first = next(ra)
theirs = next(rb)
# a's window is 1: "mine 2" waits for the commit of "mine 1"
before = {d: q.search(puts[d]) for d in ("mine 1", "mine 2", "other")}
a.commit(first.index)
second = next(ra)
a.commit(second.index)
b.commit(theirs.index)
wa.close()
wb.close()
left = q.get(index=0, length=10, auto_delete=False, timeout="0s")
print(json.dumps({
  "a": [first.data.decode(), second.data.decode()], "b": [theirs.data.decode()],
  "before": before, "left": [g.data.decode() for g in left]}))
""",
    )
    assert out["a"] == ["mine 1", "mine 2"]
    assert out["b"] == ["theirs 1"]
    assert out["before"]["mine 1"]["IsPending"] is True
    assert out["before"]["mine 1"]["ConsumerId"] == "a"
    assert out["before"]["mine 2"]["IsPending"] is False
    assert out["before"]["other"]["IsPending"] is False
    assert out["left"] == ["other"]  # committed records are gone, the untaken one stays


def test_attributes_list_each_watcher_with_its_window_and_tags(kernel, run_official):
    """Before: ``attributes()`` counted consumers (``stream.consumers``) but named none,
    so a user could not see which watchers were attached nor with what tags. Now each
    is a ``consumers.list.[i]`` line with the EAS manual's columns, and
    ``consumers.stats.total`` counts them; a watcher that leaves leaves the list."""
    _queue(kernel, "q_consumers")
    out = _run(
        run_official,
        kernel,
        """
q = client("q_consumers")
index = int(q.put(b"mine", tags={"owner": "me"})[0])
a = client("q_consumers", uid="a", gid="g")
b = client("q_consumers", uid="b", gid="h")
wa, wb = a.watch(0, 3, tags={"owner": "me"}), b.watch(0, 2, auto_commit=True)
ra, rb = wa.run(), wb.run()
got_a, got_b = next(ra).index, next(rb).index
both = q.attributes()
wb.close()
import time
for _ in range(100):  # the kernel sees b's socket close
    one = q.attributes()
    if one["consumers.stats.total"] == "1":
        break
    time.sleep(0.05)
wa.close()
print(json.dumps({"index": index, "got": [got_a, got_b], "both": both, "one": one}))
""",
    )
    index = out["index"]
    assert out["got"] == [index, index]
    both = out["both"]
    assert both["consumers.stats.total"] == "2"
    lines = sorted(both[f"consumers.list.[{i}]"] for i in range(2))
    pattern = (
        r"Id: (\S+), Index: (\d+), Pending: (\d+), Status: Running, Idle: \d+\.\d{3}s, "
        r"Window: (\d+), Slots: (\d+), AutoCommit: (true|false)(, Tags: tags\[.*\])?"
    )
    parsed = [re.fullmatch(pattern, line) for line in lines]
    assert all(parsed), lines
    assert [m.groups() for m in parsed if m] == [
        ("g.a", str(index), "1", "3", "2", "false", ", Tags: tags[owner=me]"),
        ("h.b", str(index), "0", "2", "2", "true", None),
    ]
    one = out["one"]
    assert one["consumers.stats.total"] == "1"
    assert one["consumers.list.[0]"].startswith("Id: g.a, ")
    assert "consumers.list.[1]" not in one


def test_async_service_inputs_come_back_in_the_sink(kernel, make_app, run_official):
    folder = make_app("async_echo", ECHO_APP)
    spec = {
        "name": "async_echo",
        "token": TOKEN,
        "processor_type": "python",
        "processor_path": str(folder),
        "processor_entry": "app.py",
        "metadata": {"instance": 1, "type": "Async"},
    }
    kernel.client._call("POST", "/services", {"spec": spec}, timeout=120)
    out = _run(
        run_official,
        kernel,
        """
src = client("async_echo")
sink = client("async_echo/sink")
ids = {}
for i in range(1000):
    index, rid = src.put(b"job %d" % i)
    ids[rid] = "job %d" % i
w = sink.watch(0, 50, auto_commit=True)
got = {}
for df in w.run():
    got[df.tags["requestId"]] = df.data.decode()
    if len(got) == 1000:
        break
w.close()
print(json.dumps({"match": got == ids, "n": len(got)}))
""",
    )
    assert out == {"match": True, "n": 1000}


def test_a_watcher_killed_mid_window_has_its_records_redelivered(
    kernel, official_python, run_official
):
    """SIGKILL, not close(): the socket just drops, and the window goes to the group's next watcher."""
    import os
    import signal
    import subprocess
    import textwrap

    _queue(kernel, "q_killed")
    watcher_code = PRELUDE.format(endpoint=kernel.endpoint, token=TOKEN) + textwrap.dedent(
        """
        import sys, time
        c = client("q_killed", uid="doomed", gid="g")
        for df in c.watch(0, 3).run():
            print(df.data.decode(), flush=True)  # taken, never committed
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    doomed = subprocess.Popen(
        [str(official_python), "-c", watcher_code], stdout=subprocess.PIPE, env=env, cwd="/"
    )
    try:
        _run(
            run_official,
            kernel,
            """
q = client("q_killed")
for i in range(8):
    q.put(b"k%d" % i)
print(json.dumps(None))
""",
        )
        assert doomed.stdout is not None
        taken = [doomed.stdout.readline().decode().strip() for _ in range(3)]
        assert taken == ["k0", "k1", "k2"]
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
    out = _run(
        run_official,
        kernel,
        """
c = client("q_killed", uid="heir", gid="g")
w = c.watch(0, 4)
seen = []
for df in w.run():
    seen.append(df.data.decode())
    c.commit(df.index)
    if len(seen) == 8:
        break
w.close()
print(json.dumps({"seen": seen, "left": c.attributes()["stream.length"]}))
""",
    )
    assert sorted(out["seen"]) == [f"k{i}" for i in range(8)]  # the killed window included
    assert out["left"] == "0"


def test_get_length_below_one_is_refused_and_consumes_nothing(kernel, run_official):
    _queue(kernel, "q_len0")
    out = _run(
        run_official,
        kernel,
        """
q = client("q_len0")
q.put(b"keep me")
errors = []
for length in (0, -1):
    try:
        q.get(index=0, length=length, timeout="0s", auto_delete=True)
    except Exception as e:
        errors.append(str(e))
print(json.dumps({"errors": errors, "length": q.attributes()["stream.length"]}))
""",
    )
    assert len(out["errors"]) == 2
    assert "_length_=0 must be at least 1" in out["errors"][0]
    assert "_length_=-1 must be at least 1" in out["errors"][1]
    assert out["length"] == "1"  # the record was not taken


def test_two_clients_sharing_a_uid_do_not_replace_each_other_for_ever(kernel, run_official):
    """The manual: a uid registers once. A watch with the uid of a live watcher takes
    its place (the official Watcher's reconnect does so), and the official Watcher
    whose watch was closed reconnects at once. Before, two clients given the same uid
    replaced each other for ever: hundreds of reconnects a second each, with no word of
    why. Now, past a few replacements in a row, the watcher in place keeps it and the
    other's reconnects are refused with a 409 that says the uid is shared."""
    _queue(kernel, "q_shared_uid")
    out = _run(
        run_official,
        kernel,
        """
import time
events = {"a": [], "b": []}
got = []
class Log:
    def __init__(self, name):
        self.name = name
    def warning(self, text, *args):
        events[self.name].append(text % args if args else text)
    def debug(self, *args):
        pass
def watch(name):
    c = client("q_shared_uid", uid="same", gid="g")
    c.set_logger(Log(name))
    for df in c.watch(0, 1, auto_commit=True).run():
        got.append((name, df.data.decode()))
for name in "ab":
    threading.Thread(target=watch, args=(name,), daemon=True).start()
def refused():
    return [t for e in events.values() for t in e if "reconnect failed" in t and "409" in t]
end = time.time() + 30
while not refused() and time.time() < end:
    time.sleep(0.05)
q = client("q_shared_uid")
q.put(b"one")
while not got and time.time() < end:
    time.sleep(0.05)
closed = [t for e in events.values() for t in e if "connection closed" in t]
print(json.dumps({"refused": refused()[:1], "closed": len(closed), "got": got,
                  "consumers": q.attributes()["consumers.stats.total"]}))
""",
    )
    assert out["refused"], out
    assert "two clients share it" in out["refused"][0], out
    assert out["closed"] <= 3, out  # the replacements before the refusals, no more
    assert len(out["got"]) == 1 and out["got"][0][1] == "one", out
    assert out["consumers"] == "1"
