"""``_priority_=1``: a high-priority record is delivered before the records that wait.

The EAS manual ("Access the queue service", "Send priority data"): records are
pushed first in, first out, and a put with the query field ``_priority_=1`` is
pushed, and so processed, first. Its index is still the next one (the manual's
example answers an index as for any put), and a get by index still reads in
index order: priority changes who is *delivered* what first, in every consumer
group (a watcher's group, an async service's feeder), not where a record is.

The first tests drive ``Queue`` on its SQLite file with consumers that keep
what they are given (``Taker``: a watcher without a socket); the later ones go
through the kernel with the official client, easlab's client and an async service.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
import requests
from kernel_helpers import ECHO_APP, GATED_APP, app_spec, wait_for
from test_queue_store import Taker

import easlab
from easlab.kernel.batching import BatchQueue
from easlab.kernel.call import Call
from easlab.kernel.queue import Queue, QueueError

URGENT = {"_priority_": "1"}
TOKEN = "prtok-" + "p" * 8


def _queue(tmp_path, name: str = "p") -> Queue:
    return Queue(name, tmp_path / f"{name}.sqlite", "")


def _puts(q: Queue, *kinds: str) -> list[int]:
    """One put per kind: "n" a normal record, "u" an urgent one; their indexes."""
    return [q.put(k.encode(), dict(URGENT) if k == "u" else {}).index for k in kinds]


def test_an_urgent_record_goes_before_those_that_wait_and_keeps_its_index(tmp_path):
    q = _queue(tmp_path)
    n1, n2, n3, u4, n5, u6 = _puts(q, "n", "n", "n", "u", "n", "u")
    assert [n1, n2, n3, u4, n5, u6] == [1, 2, 3, 4, 5, 6]  # indexes in put order
    taker = Taker("t", window=100)
    q.attach("g", taker, 0)
    assert taker.got == [u4, u6, n1, n2, n3, n5]
    # a get reads by index, in index order, and sees the tag the put gave
    got = q.select(0, 10, None, {})
    assert [e.index for e in got] == [1, 2, 3, 4, 5, 6]
    assert q.records[u4].tags["_priority_"] == "1"
    q.close()


def test_an_urgent_record_jumps_the_waiting_ones_not_those_delivered(tmp_path):
    """The window holds 2: those two are the watcher's; the urgent record put after
    them goes before the three that wait, and the cursor later passes it over."""
    q = _queue(tmp_path)
    _puts(q, "n", "n", "n", "n", "n")
    taker = Taker("t", window=2)
    q.attach("g", taker, 0)
    assert taker.got == [1, 2]
    (u6,) = _puts(q, "u")
    assert taker.got == [1, 2]  # the window is full: nothing taken back
    q.commit("g", [1])
    assert taker.got == [1, 2, u6]
    assert q.search(u6)["IsPending"] is True
    for index in (2, u6, 3, 4, 5):
        q.commit("g", [index])
    assert taker.got == [1, 2, u6, 3, 4, 5]  # u6 is not delivered again
    assert len(q.records) == 0  # every record committed is gone
    q.close()


def test_urgent_records_given_back_go_first_again(tmp_path):
    """A watcher that leaves gives its records back; urgent ones among them (delivered
    in their turn or ahead of it) go first to the next watcher, before the others."""
    q = _queue(tmp_path)
    _puts(q, "u", "n", "n", "n")  # 1 urgent
    first = Taker("a", window=2)
    q.attach("g", first, 0)
    assert first.got == [1, 2]
    (u5,) = _puts(q, "u")
    q.commit("g", [2])
    assert first.got == [1, 2, u5]  # 5 delivered ahead of 3 and 4
    q.detach("g", first)  # 1 and 5 uncommitted: given back
    second = Taker("b", window=1)
    q.attach("g", second, 0)
    assert second.got == [1]
    q.commit("g", [1])
    q.commit("g", [u5])
    q.commit("g", [3])
    q.commit("g", [4])
    assert second.got == [1, u5, 3, 4]
    assert len(q.records) == 0
    q.close()


def test_auto_commit_and_each_group_get_urgent_records_first(tmp_path):
    q = _queue(tmp_path)
    auto = Taker("a", window=1, auto_commit=True)
    manual = Taker("m", window=1)
    q.attach("ga", auto, 0)
    q.attach("gm", manual, 0)
    # the auto-commit watcher's client reads nothing for now (its socket paused:
    # queue_http's flow sets its window to 0), the other has room for one record
    auto.window = 0
    n1, n2, n3, u4 = _puts(q, "n", "n", "n", "u")
    assert auto.got == [] and manual.got == [n1]
    auto.window = 1
    q.dispatch("ga")
    assert auto.got == [u4, n1, n2, n3]
    assert q.records.keys() == {n1, n2, n3, u4}  # group gm has not committed them
    for index in (n1, u4, n2, n3):
        q.commit("gm", [index])
    assert manual.got == [n1, u4, n2, n3]
    assert len(q.records) == 0  # both groups are done with every record, u4 included
    q.close()


def test_a_watch_with_tags_takes_only_its_urgent_records(tmp_path):
    q = _queue(tmp_path)
    mine = {"owner": "me"}
    q.put(b"n-me", mine)
    q.put(b"u-them", {"owner": "them", **URGENT})
    q.put(b"u-me", {"owner": "me", **URGENT})
    q.put(b"n-them", {"owner": "them"})
    me = Taker("me", tags=mine)
    q.attach("g", me, 0)
    assert me.got == [3, 1]
    them = Taker("them", tags={"owner": "them"})
    q.attach("g", them, 0)
    assert them.got == [2, 4]  # the urgent one waited in the group for a watch that takes it
    q.close()


def test_a_watch_from_an_index_is_not_given_older_urgent_records(tmp_path):
    q = _queue(tmp_path)
    _puts(q, "u", "n", "n", "u", "n")
    taker = Taker("t")
    q.attach("g", taker, 3)  # a new group from index 3 on
    assert taker.got == [4, 3, 5]
    (u6,) = _puts(q, "u")
    late = Taker("late")
    q.attach("h", late, 100)  # from past the end: nothing stored is its
    assert late.got == []
    assert taker.got == [4, 3, 5, u6]
    q.close()


def test_redelivery_puts_given_back_urgent_records_before_given_back_normal_ones(tmp_path):
    q = _queue(tmp_path)
    _puts(q, "n", "n", "u")
    taker = Taker("a", window=3)
    q.attach("g", taker, 0)
    assert taker.got == [3, 1, 2]
    q.detach("g", taker)
    _puts(q, "n")
    again = Taker("b", window=10)
    q.attach("g", again, 0)
    assert again.got == [3, 1, 2, 4]
    q.close()


def test_urgent_records_survive_a_restart_in_their_state(tmp_path):
    """A second ``Queue`` on the file of one never closed: a kernel killed and started
    again. Group g had urgent record 5 delivered ahead of its turn and committed
    (group h still needs it), urgent record 6 delivered ahead of its turn and not
    committed, urgent record 7 not delivered; the cursor is at 2."""
    path = tmp_path / "r.sqlite"
    q = Queue("r", path, "")
    _puts(q, "n", "n", "n", "n")
    taker = Taker("a", window=1)
    q.attach("g", taker, 0)
    q.attach("h", Taker("h", window=0), 0)  # a group that has taken nothing yet
    assert taker.got == [1]
    u5, u6, u7 = _puts(q, "u", "u", "u")
    q.commit("g", [1])
    q.commit("g", [u5])
    assert taker.got == [1, u5, u6]
    q._write_consumption()  # what a loop pass writes (queue.py: written soon, no fsync)
    # killed: no close; the next kernel opens the same file
    again = Queue("r", path, "")
    later = Taker("b", window=1)
    again.attach("g", later, 0)
    for _ in range(6):
        again.commit("g", [later.got[-1]])
    assert later.got == [u6, u7, 2, 3, 4]  # 5 is done in g; 6 and 7 still go first
    h = Taker("h2", window=10)
    again.attach("h", h, 0)
    assert h.got == [u5, u6, u7, 1, 2, 3, 4]
    again.close()
    q.db.close()


def test_a_repeated_urgent_put_is_the_same_record_delivered_once(tmp_path):
    q = _queue(tmp_path)
    tags = {"requestId": "r1", **URGENT}
    first = q.put(b"x", dict(tags))
    _puts(q, "n")
    again = q.put(b"x", dict(tags))
    assert again.index == first.index
    taker = Taker("t")
    q.attach("g", taker, 0)
    assert taker.got == [first.index, 2]
    q.close()


def test_truncate_and_delete_drop_urgent_records_from_every_group(tmp_path):
    q = _queue(tmp_path)
    _puts(q, "u", "n", "u", "n", "u")
    q.attach("g", Taker("busy", window=0), 0)  # a group whose watcher takes nothing yet
    q.truncate(3)  # 1 and 2 gone
    q.delete([5])
    assert q.urgent == [3] and q.groups["g"].urgent == [3]
    taker = Taker("t")
    q.attach("g", taker, 0)
    assert taker.got == [3, 4]
    q.close()


def test_a_delivery_with_no_urgent_record_waiting_looks_at_none(tmp_path):
    """The common path costs what it did: with urgent records stored but none waiting
    in the group (delivered to it already), a put and its delivery look at no
    urgent record (counted: reads of the group's urgent list)."""
    q = _queue(tmp_path)
    _puts(q, *"u" * 50)
    taker = Taker("t", window=1000, auto_commit=False)
    q.attach("g", taker, 0)
    assert len(taker.got) == 50

    class Counting(list):
        reads = 0

        def __getitem__(self, item):  # type: ignore[no-untyped-def]
            Counting.reads += 1
            return super().__getitem__(item)

    group = q.groups["g"]
    assert group.urgent == []
    group.urgent = Counting(group.urgent)
    _puts(q, *"n" * 100)
    assert len(taker.got) == 150
    assert Counting.reads == 0
    q.close()


def test_urgent_records_a_watch_with_tags_leaves_are_not_looked_at_on_every_put(
    tmp_path, monkeypatch
):
    """A sink's answers keep their input's tags, ``_priority_`` too: a watch for one
    requestId leaves the urgent answers of others waiting in its group. Each put
    looked at every one of them again (300 urgent records left, 100 puts: ~75,000
    looks); now what its watches did not take is passed (counted: records looked at
    for a watch's tags)."""
    import easlab.kernel.queue as queue_module

    looks = 0
    takers = queue_module._takers

    def counting(consumers, entry):  # type: ignore[no-untyped-def]
        nonlocal looks
        looks += 1
        return takers(consumers, entry)

    monkeypatch.setattr(queue_module, "_takers", counting)
    q = _queue(tmp_path)
    picky = Taker("p", tags={"requestId": "mine"})
    q.attach("g", picky, 0)
    for i in range(300):
        q.put(b"u", {"requestId": f"other-{i}", **URGENT})
    for i in range(100):
        q.put(b"n", {"requestId": f"late-{i}"})
    q.put(b"mine", {"requestId": "mine", **URGENT})
    assert picky.got == [401]
    assert looks <= 3 * 401  # each record looked at a few times, not on every put
    taker = Taker("all", window=1000)
    q.attach("g", taker, 0)  # a watch without tags: the urgent ones first, then the rest
    assert taker.got == list(range(1, 301)) + list(range(301, 401))
    q.close()


def test_an_urgent_record_released_ahead_of_its_turn_comes_back_first(tmp_path):
    """``release``: an async service's feeder gives back a record the service cannot
    take now (503 scaled to zero), with a delay. An urgent record delivered ahead of
    the cursor and released waits where it was, and still goes first."""
    import asyncio

    async def scenario() -> list[int]:
        q = _queue(tmp_path)
        _puts(q, "n", "n", "n")
        taker = Taker("f", window=1)
        q.attach("g", taker, 0)
        (u4,) = _puts(q, "u")
        q.commit("g", [1])
        assert taker.got == [1, u4]
        q.release("g", taker, u4, 0.0)
        turns = 0
        while len(taker.got) < 3 and turns < 100:  # the release's call_later(0)
            await asyncio.sleep(0)
            turns += 1
        q.commit("g", [taker.got[-1]])
        q.commit("g", [taker.got[-1]])
        q.commit("g", [taker.got[-1]])
        q.close()
        return taker.got

    assert asyncio.run(scenario()) == [1, 4, 4, 2, 3]


def test_an_urgent_put_into_a_full_queue_is_refused_as_any(tmp_path):
    q = Queue("full", tmp_path / "full.sqlite", "", max_length=2)
    _puts(q, "n", "n")
    with pytest.raises(QueueError, match="max_length") as refused:
        q.put(b"u", dict(URGENT))
    assert refused.value.status == 450
    assert q.urgent == [] and len(q.records) == 2
    q.close()


# -- through the kernel ------------------------------------------------------------


def _service_queue(kernel, name: str) -> None:
    spec = {"name": name, "token": TOKEN, "metadata": {"type": "Queue"}}
    kernel.client._call("POST", "/services", {"spec": spec})


def test_the_official_client_puts_urgent_records_that_are_watched_first(kernel, run_official):
    """The official ``QueueClient.put(data, tags={"_priority_": "1"})`` sends the tag as
    the query field; its Watcher (manual commits, window 1) gets it first."""
    _service_queue(kernel, "qp_official")
    code = f"""
import json
from eas_prediction import QueueClient
q = QueueClient({kernel.endpoint!r}, "qp_official")
q.set_token({TOKEN!r})
q.init(uid="writer")
puts = [q.put(b"n%d" % i) for i in range(3)]
urgent = q.put(b"u", tags={{"_priority_": "1"}})
waits = [q.search(int(index))["WaitCount"] for index, _ in puts + [urgent]]
got = q.get(index=0, length=10, auto_delete=False, timeout="0s")
r = QueueClient({kernel.endpoint!r}, "qp_official")
r.set_token({TOKEN!r})
r.init(uid="reader", gid="readers")
w = r.watch(0, 1)
seen = []
for df in w.run():
    seen.append([int(df.index), df.data.decode(), df.tags.get("_priority_", "")])
    r.commit(df.index)
    if len(seen) == 4:
        break
w.close()
print(json.dumps({{
    "puts": [int(p[0]) for p in puts], "urgent": int(urgent[0]), "waits": waits,
    "got": [g.data.decode() for g in got], "seen": seen,
    "left": q.attributes()["stream.length"]}}))
"""
    out = json.loads(run_official(code, timeout=60))
    first = out["puts"][0]
    assert out["urgent"] == first + 3  # the next index, as for any put
    assert out["got"] == ["n0", "n1", "n2", "u"]  # a get reads in index order
    # search's WaitCount: how many go before it (the urgent record before every other)
    assert out["waits"] == [1, 2, 3, 0]
    assert out["seen"] == [
        [first + 3, "u", "1"],
        [first, "n0", ""],
        [first + 1, "n1", ""],
        [first + 2, "n2", ""],
    ]
    assert out["left"] == "0"


def test_a_priority_that_is_not_0_or_1_is_refused_naming_the_field(kernel):
    _service_queue(kernel, "qp_bad")
    url = f"{kernel.endpoint}/api/predict/qp_bad"
    resp = requests.post(
        url, params={"_priority_": "2"}, data=b"x", headers={"Authorization": TOKEN}, timeout=30
    )
    assert resp.status_code == 400
    assert "_priority_='2' is not a priority" in resp.text and "_priority_=1" in resp.text
    ok = requests.post(
        url, params={"_priority_": "0"}, data=b"x", headers={"Authorization": TOKEN}, timeout=30
    )
    assert ok.status_code == 200
    attrs = requests.get(url, params={"_attrs_": "true"}, headers={"Authorization": TOKEN})
    assert attrs.json()["stream.length"] == "1"  # the refused put stored nothing


def test_easlab_client_results_come_urgent_first(kernel):
    _service_queue(kernel, "qp_easlab")
    q = easlab.QueueClient(kernel.endpoint, "qp_easlab")
    q.set_token(TOKEN)
    q.init()
    normal = [q.put(f"n{i}") for i in range(3)]
    urgent = q.put("u", tags={"_priority_": "1"})
    # results() commits a record once the next one comes: a window above 1
    watcher = q.watch(0, 4)
    seen = []
    for request_id, _data in watcher.results():
        seen.append(request_id)
        if len(seen) == 4:
            break
    watcher.close()
    assert seen == [urgent[1]] + [rid for _, rid in normal]


def test_an_async_service_answers_an_urgent_input_before_its_backlog(kernel, make_app):
    """Inputs put while the service is stopped wait in its input queue; started, its
    feeder hands the urgent one to the model first. The sink's indexes are the order
    the answers came in (one worker: one at a time)."""
    name = "qp_async"
    folder = make_app(name, ECHO_APP)
    spec = {**app_spec(name, folder, type="Async", rpc__worker_threads=1), "token": TOKEN}
    easlab.create(spec, kernel=kernel.client)
    client = type(kernel.client)(kernel.endpoint, timeout=60, admin_token=kernel.admin_token)
    client.stop(name)
    url = f"{kernel.endpoint}/api/predict/{name}"
    auth = {"Authorization": TOKEN}
    for i in range(6):
        assert requests.post(url, data=b"n%d" % i, headers=auth, timeout=30).status_code == 200
    put = requests.post(url, params=URGENT, data=b"urgent", headers=auth, timeout=30)
    assert put.status_code == 200
    client.start(name)
    sink = easlab.QueueClient(kernel.endpoint, f"{name}/sink")
    sink.set_token(TOKEN)
    sink.init()

    def answered() -> bool:
        return sink.attributes()["stream.length"] == "7"

    wait_for(answered, 60, "the 7 answers in the sink")
    answers = sink.get(index=0, length=10, auto_delete=False, timeout="0s")
    assert [a.data for a in answers][0] == b"urgent"
    assert [a.data for a in answers][1:] == [b"n%d" % i for i in range(6)]
    assert answers[0].tags["sourceIndex"] == put.text.strip()
    # the answer keeps its input's tags: urgent in the sink too, for its watchers
    assert answers[0].tags["_priority_"] == "1" and "_priority_" not in answers[1].tags
    client.delete(name)


def test_a_queue_file_keeps_its_urgent_records_as_tags(tmp_path):
    """What a restart reads: the tag on disk is what makes a record urgent."""
    path = tmp_path / "t.sqlite"
    q = Queue("t", path, "")
    _puts(q, "n", "u")
    q.close()
    db = sqlite3.connect(path)
    tags = [json.loads(t) for (t,) in db.execute("SELECT tags FROM records ORDER BY idx")]
    db.close()
    assert "_priority_" not in tags[0] and tags[1]["_priority_"] == "1"
    again = Queue("t", path, "")
    assert again.urgent == [2]
    again.close()


RESTART_SNIPPET = """
import json
from eas_prediction import QueueClient
def client(uid, gid):
    q = QueueClient({endpoint!r}, "qp_restart")
    q.set_token({token!r})
    q.init(uid=uid, gid=gid)
    return q
q, r = client("writer", "eas"), client("reader", "g")
{body}
"""


def test_an_urgent_record_not_delivered_goes_first_after_a_sigkill(
    easlab_home, tmp_path, run_official
):
    """Group g committed n0 and holds n1 (window 1) when the urgent record is put; the
    kernel is SIGKILLed. The next kernel gives g the urgent record first, then n1 (given
    back by the kill), then n2: the priority comes back from the tag on disk."""
    from easlab.client.local import LocalKernel

    state = tmp_path / "state"

    def run(kernel, body: str) -> dict:
        code = RESTART_SNIPPET.format(endpoint=kernel.endpoint, token=TOKEN, body=body)
        return json.loads(run_official(code, timeout=60))

    with LocalKernel(port=0, state_dir=state) as first:
        _service_queue(first, "qp_restart")
        before = run(
            first,
            """
puts = [int(q.put(b"n%d" % i)[0]) for i in range(3)]
it = r.watch(0, 1).run()
n0 = next(it)
r.commit(n0.index)
n1 = next(it)
urgent = int(q.put(b"u", tags={"_priority_": "1"})[0])
print(json.dumps({"puts": puts, "urgent": urgent, "got": [n0.data.decode(), n1.data.decode()]}))
""",
        )
        assert before["got"] == ["n0", "n1"]
        assert first.process is not None
        first.process.kill()  # SIGKILL: no clean shutdown
        first.process.wait()
    with LocalKernel(port=0, state_dir=state) as second:
        after = run(
            second,
            """
w = r.watch(0, 1)
seen = []
for df in w.run():
    seen.append([int(df.index), df.data.decode()])
    r.commit(df.index)
    if len(seen) == 3:
        break
w.close()
print(json.dumps({"seen": seen, "left": q.attributes()["stream.length"]}))
""",
        )
    n0, n1, n2 = before["puts"]
    assert after["seen"] == [[before["urgent"], "u"], [n1, "n1"], [n2, "n2"]]
    assert after["left"] == "0"


def test_an_urgent_input_goes_before_inputs_the_feeder_holds_but_the_model_has_not_started(
    kernel, make_app, tmp_path
):
    """The feeder keeps instance x worker_threads x 2 records at the service; those the
    model has not started wait in the service's queue. An urgent put overtakes them too:
    the feeder takes them back, the urgent record goes first, they follow in order."""
    name = "qp_async_busy"
    calls, gate = tmp_path / "calls.txt", tmp_path / "gate"
    folder = make_app(name, GATED_APP.format(calls=str(calls), gate=str(gate)))
    spec = {**app_spec(name, folder, type="Async", rpc__worker_threads=1), "token": TOKEN}
    easlab.create(spec, kernel=kernel.client)
    client = type(kernel.client)(kernel.endpoint, timeout=60, admin_token=kernel.admin_token)
    url = f"{kernel.endpoint}/api/predict/{name}"
    auth = {"Authorization": TOKEN}
    for i in range(4):
        assert requests.post(url, data=b"n%d" % i, headers=auth, timeout=30).status_code == 200
    # the model runs n0; the feeder holds n1 too (window 2), waiting in the service's queue
    wait_for(lambda: calls.exists() and calls.read_text() == "n0\n", 30, "the model on n0")

    def held(index: int) -> bool:
        params = {"_search_": "true", "_index_": str(index)}
        found = requests.get(url, params=params, headers=auth, timeout=30)
        return found.status_code == 200 and found.json().get("IsPending") is True

    wait_for(lambda: held(2), 30, "the feeder holding n1")
    put = requests.post(url, params=URGENT, data=b"urgent", headers=auth, timeout=30)
    assert put.status_code == 200
    gate.write_text("")
    sink = easlab.QueueClient(kernel.endpoint, f"{name}/sink")
    sink.set_token(TOKEN)
    sink.init()
    wait_for(lambda: sink.attributes()["stream.length"] == "5", 60, "the 5 answers in the sink")
    answers = sink.get(index=0, length=10, auto_delete=False, timeout="0s")
    assert [a.data for a in answers] == [b"n0", b"urgent", b"n1", b"n2", b"n3"]
    # each record ran once: the ones taken back were not run before the urgent one
    assert calls.read_text().split() == ["n0", "urgent", "n1", "n2", "n3"]
    client.delete(name)


def test_a_batch_queue_gives_back_a_waiting_call_unanswered(tmp_path):
    """BatchQueue.withdraw: a call that waits is taken back (no answer, not in the next
    batch, no longer counted); one handed to an instance, or answered, is not."""
    answers: list[tuple[bytes, int]] = []

    def call(body: bytes) -> Call:
        return Call(body, lambda status, _, body=body: answers.append((body, status)))

    queue = BatchQueue(max_size=8, batch_size=2, timeout_ms=0)
    a, b, c, d = call(b"a"), call(b"b"), call(b"c"), call(b"d")
    for each in (a, b, c, d):
        assert queue.push(each)
    assert queue.take() == [a, b]  # at an instance now
    assert not queue.withdraw(a)
    assert queue.withdraw(c)
    assert not queue.withdraw(c)  # once
    assert len(queue) == 1
    assert queue.take() == [d]
    d.finish(200, b"")
    assert not queue.withdraw(d)
    assert answers == [(b"d", 200)]  # the withdrawn call got no answer


def test_with_batching_an_urgent_input_goes_before_inputs_waiting_for_a_batch(
    kernel, make_app, tmp_path
):
    """With rpc.batching the feeder holds instance x worker_threads x 2 = 4 records:
    two the model runs (one thread each), one in the instance's pipe behind them, one
    waiting for a batch in the service's queue (BatchQueue). An urgent put takes that
    last one's place: the feeder takes it back (BatchQueue.withdraw) and the urgent
    record is fed while the model still runs the first two."""
    name = "qp_async_batched"
    calls, gate = tmp_path / "calls.txt", tmp_path / "gate"
    folder = make_app(name, GATED_APP.format(calls=str(calls), gate=str(gate)))
    spec = {
        **app_spec(
            name,
            folder,
            type="Async",
            rpc__worker_threads=2,
            rpc__batching=True,
            rpc__max_batch_size=2,
            rpc__max_batch_timeout=600000,  # a batch closes full or behind a running one
            rpc__keepalive=600000,
        ),
        "token": TOKEN,
    }
    easlab.create(spec, kernel=kernel.client)
    client = type(kernel.client)(kernel.endpoint, timeout=60, admin_token=kernel.admin_token)
    url = f"{kernel.endpoint}/api/predict/{name}"
    auth = {"Authorization": TOKEN}
    puts = [
        int(requests.post(url, data=b"n%d" % i, headers=auth, timeout=30).text) for i in range(6)
    ]

    def pending(index: int) -> bool:
        params = {"_search_": "true", "_index_": str(index)}
        found = requests.get(url, params=params, headers=auth, timeout=30)
        return found.status_code == 200 and found.json().get("IsPending") is True

    def started() -> list[str]:
        return calls.read_text().split() if calls.exists() else []

    # the model runs n0 and n1; the feeder holds n2 and n3 too (its window is 4)
    wait_for(lambda: sorted(started()) == ["n0", "n1"], 30, "the model on n0 and n1")
    wait_for(lambda: all(pending(i) for i in puts[:4]), 30, "the feeder holding n0..n3")
    urgent = requests.post(url, params=URGENT, data=b"urgent", headers=auth, timeout=30)
    assert urgent.status_code == 200
    # n3 waited for a batch, the model not started on it: taken back for the urgent one
    wait_for(lambda: pending(int(urgent.text)), 30, "the urgent record fed ahead of n3")
    assert not pending(puts[3])
    assert all(pending(i) for i in puts[:3])  # running, or in the instance's pipe
    assert sorted(started()) == ["n0", "n1"]
    gate.write_text("")
    sink = easlab.QueueClient(kernel.endpoint, f"{name}/sink")
    sink.set_token(TOKEN)
    sink.init()
    wait_for(lambda: sink.attributes()["stream.length"] == "7", 60, "the 7 answers in the sink")
    answers = sink.get(index=0, length=10, auto_delete=False, timeout="0s")
    names = ["n0", "n1", "n2", "n3", "n4", "n5", "urgent"]
    assert sorted(a.data.decode() for a in answers) == names
    # each record ran once: n3, taken back from its batch, was not run before
    assert sorted(started()) == names
    client.delete(name)
