"""Queue defects an audit found, each with the test that would have caught it.

A long poll whose client went away takes nothing; queue files never collide and
old sink files are migrated; records' data stays on disk; limits and flags are
checked (400, never 500 or a dead websocket); commits count what exists; an async
service's feeder group never expires.
"""

from __future__ import annotations

import asyncio
import socket
import tracemalloc
import types
from pathlib import Path

import pytest
import requests
from kernel_helpers import ECHO_APP, app_spec, wait_for

import easlab
from easlab.client.local import LocalKernel
from easlab.errors import KernelError, SpecError
from easlab.kernel import async_inference
from easlab.kernel.guard import ControlGuard
from easlab.kernel.http import HttpConnection
from easlab.kernel.limits import HttpLimits
from easlab.kernel.queue import FEEDER_GROUP, Queue, QueueError, QueueHub, Record, settings_of
from easlab.kernel.router import Router
from easlab.kernel.routes import KernelServer
from easlab.wire.proto import queue_pb2

TOKEN = "qatok-" + "a" * 8


def _create(kernel, spec: dict) -> dict:
    return kernel.client._call("POST", "/services", {"spec": {"token": TOKEN, **spec}}, timeout=120)


def _queue(kernel, name: str, **queue) -> dict:
    spec = {"name": name, "metadata": {"type": "Queue"}}
    if queue:
        spec["queue"] = queue
    return _create(kernel, spec)


def _url(kernel, name: str) -> str:
    return f"{kernel.endpoint}/api/predict/{name}"


def _put(kernel, name: str, data: bytes) -> int:
    resp = requests.post(
        _url(kernel, name), data=data, headers={"Authorization": TOKEN}, timeout=30
    )
    assert resp.status_code == 200, resp.text
    return int(resp.text)


def _peek(kernel, name: str) -> list:
    """Every record of the queue, none taken."""
    resp = requests.get(
        _url(kernel, name),
        params={"_index_": "0", "_length_": "1000", "_timeout_": "0s", "_auto_delete_": "false"},
        headers={"Authorization": TOKEN},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    frames = queue_pb2.DataFrameListProto()
    frames.ParseFromString(resp.content)
    return [bytes(df.data) for df in frames.index]


def _attrs(kernel, name: str) -> dict:
    resp = requests.get(
        _url(kernel, name), params={"_attrs_": "true"}, headers={"Authorization": TOKEN}, timeout=30
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def _raw(kernel, head: str) -> socket.socket:
    """A connection that has sent ``head`` (a request without a body) and reads nothing yet."""
    host, port = kernel.endpoint.rsplit("/", 1)[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(head.encode())
    return sock


def _status_line(sock: socket.socket) -> str:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0].decode()


# -- 1. a long poll whose client is gone takes nothing -------------------------------------


def test_a_long_poll_whose_client_left_does_not_take_the_next_record(kernel):
    _queue(kernel, "qa_ghost")
    path = "/api/predict/qa_ghost?_index_=0&_length_=1&_timeout_=60s&_auto_delete_=true"
    ghost = _raw(kernel, f"GET {path} HTTP/1.1\r\nHost: k\r\nAuthorization: {TOKEN}\r\n\r\n")
    _attrs(kernel, "qa_ghost")  # a round trip: the kernel has read the ghost's request
    ghost.close()  # the client gives up (the official client after its HTTP timeout)
    _attrs(kernel, "qa_ghost")  # ... and the kernel has read the close
    _put(kernel, "qa_ghost", b"important")
    _attrs(kernel, "qa_ghost")  # the ghost's wait has woken up by now
    assert _peek(kernel, "qa_ghost") == [b"important"]
    # a client that is still there gets it, and takes it
    resp = requests.get(
        _url(kernel, "qa_ghost"),
        params={"_index_": "0", "_length_": "1", "_timeout_": "0s", "_auto_delete_": "true"},
        headers={"Authorization": TOKEN},
        timeout=30,
    )
    frames = queue_pb2.DataFrameListProto()
    frames.ParseFromString(resp.content)
    assert [bytes(df.data) for df in frames.index] == [b"important"]
    assert _peek(kernel, "qa_ghost") == []


def test_queue_get_for_a_caller_gone_deletes_nothing(tmp_path):
    async def main() -> tuple[list[Record], int]:
        q = Queue("g", tmp_path / "g.sqlite", "")
        q.put(b"keep", {})
        try:
            got = await q.get(0, 1, 0.0, True, None, {}, gone=lambda: True)
            return got, len(q.records)
        finally:
            q.close()

    assert asyncio.run(main()) == ([], 1)


class _QuietTransport:
    """Just enough of an asyncio transport for a connection that is never answered."""

    def get_extra_info(self, name: str) -> None:
        return None


def _connection() -> HttpConnection:
    kernel = types.SimpleNamespace(loop=None, queues={}, router=Router(), services={})
    off = HttpLimits(header_timeout=0, body_timeout=0, keepalive_timeout=0, min_body_rate=0)
    conn = HttpConnection(
        KernelServer(kernel, ControlGuard("a" * 32), max_body=1 << 20, limits=off)
    )
    conn.connection_made(_QuietTransport())
    return conn


def test_a_long_poll_ends_as_soon_as_its_connection_closes(tmp_path):
    """The close itself ends the wait (no looking again a second later): after the
    connection is lost, a few passes of the event loop see the get over, empty."""

    async def main() -> tuple[list[Record], int, int]:
        q = Queue("g", tmp_path / "g.sqlite", "")
        conn = _connection()
        try:
            wait = q.get(0, 1, 60.0, True, None, {}, gone=lambda: conn.closed)
            unregister = conn.on_close(q.wake_waiters)
            task = asyncio.ensure_future(wait)
            for _ in range(3):
                await asyncio.sleep(0)
            assert not task.done()  # waiting for a record
            conn.connection_lost(None)
            passes = 0
            while not task.done() and passes < 10:
                await asyncio.sleep(0)
                passes += 1
            assert task.done(), "the long poll still waits after its connection closed"
            unregister()
            q.put(b"keep", {})  # for the next client: nobody took it
            return task.result(), passes, len(q.records)
        finally:
            q.close()

    got, passes, left = asyncio.run(main())
    assert got == [] and left == 1 and passes <= 3


def test_a_close_callback_runs_once_and_can_be_taken_back():
    conn = _connection()
    calls: list[str] = []
    conn.on_close(lambda: calls.append("a"))
    unregister = conn.on_close(lambda: calls.append("b"))
    unregister()  # its request ended first: not called
    conn.connection_lost(None)
    conn.connection_lost(None)  # a second loss calls nothing again
    conn.on_close(lambda: calls.append("late"))  # already closed: called at once
    assert calls == ["a", "late"]


# -- 2. queue files never collide -----------------------------------------------------------


def test_a_sink_and_a_queue_named_like_its_old_file_keep_apart(tmp_path, easlab_home, make_app):
    state = tmp_path / "state"
    folder = make_app("qa_asy", ECHO_APP)
    with LocalKernel(port=0, state_dir=state) as k:
        _create(k, app_spec("qa_asy", folder, type="Async"))
        _queue(k, "qa_asy__sink")  # once the sink's own file name
        _put(k, "qa_asy__sink", b"for the queue service")
        _put(k, "qa_asy", b"hello")
        wait_for(lambda: _peek(k, "qa_asy/sink"), what="the async answer in the sink")
        assert _peek(k, "qa_asy/sink") == [b"hello"]
        assert _peek(k, "qa_asy__sink") == [b"for the queue service"]
    with LocalKernel(port=0, state_dir=state) as k:
        assert _peek(k, "qa_asy/sink") == [b"hello"]
        assert _peek(k, "qa_asy__sink") == [b"for the queue service"]
        k.client._call("DELETE", "/services/qa_asy__sink")
        _put(k, "qa_asy/sink", b"more")  # the sink's file was not removed with it
    with LocalKernel(port=0, state_dir=state) as k:
        assert _peek(k, "qa_asy/sink") == [b"hello", b"more"]


def test_a_sink_file_of_the_old_naming_is_migrated_at_open(tmp_path):
    folder = tmp_path / "queues"
    hub = QueueHub(folder)
    hub.open("old/sink", "").put(b"answer", {})
    hub.close()
    new = hub.file_for("old/sink")
    for suffix in ("", "-wal", "-shm"):  # as a kernel before the change left it
        if Path(f"{new}{suffix}").exists():
            Path(f"{new}{suffix}").rename(folder / f"old__sink.sqlite{suffix}")
    again = QueueHub(folder)
    sink = again.open("old/sink", "")
    assert [r.data for r in sink.load(list(sink.records.values()))] == [b"answer"]
    assert new.exists() and not (folder / "old__sink.sqlite").exists()
    again.close()


def test_an_old_file_open_as_a_queue_service_is_not_taken_by_a_sink(tmp_path):
    folder = tmp_path / "queues"
    hub = QueueHub(folder)
    hub.open("svc__sink", "").put(b"the queue service's", {})
    sink = hub.open("svc/sink", "")
    assert len(sink.records) == 0
    assert hub.get("svc__sink") is not None and len(hub.get("svc__sink").records) == 1
    hub.close()


def test_create_refuses_a_queue_whose_file_another_left(kernel):
    info = kernel.client._call("GET", "/kernel")
    stray = Path(info["state_dir"]) / "queues" / "qa_stray.sqlite"
    QueueHub(stray.parent).open("qa_stray", "").put(b"someone else's", {})
    with pytest.raises(KernelError) as err:
        _queue(kernel, "qa_stray")
    assert err.value.status == 409 and "qa_stray.sqlite" in str(err.value)


# -- 3. records' data stays on disk -----------------------------------------------------------


def test_queued_data_is_not_held_in_memory_and_is_read_when_delivered(tmp_path):
    path = tmp_path / "big.sqlite"
    blob = b"x" * (1 << 20)
    q = Queue("big", path, "")
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for i in range(20):
            q.put(blob + bytes([i]), {})
        held = tracemalloc.get_traced_memory()[0] - base
        q.close()
        base = tracemalloc.get_traced_memory()[0]
        again = Queue("big", path, "")  # a restart reads the index, not the data
        loaded = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert held < 4 << 20 and loaded < 4 << 20, (held, loaded)  # 20 MB queued
    assert [len(e.tags) for e in again.records.values()] == [1] * 20

    async def get() -> list[Record]:
        return await again.get(5, 2, 0.0, True, None, {})

    got = asyncio.run(get())
    assert [r.data for r in got] == [blob + b"\x04", blob + b"\x05"]
    assert 5 not in again.records and len(again.records) == 18
    again.close()


def test_a_watcher_gets_the_data_of_records_put_and_of_records_stored(tmp_path):
    class Taker:  # a Consumer (queue.py's protocol), as a websocket watcher is
        uid, window, index_only, auto_commit = "t", 10, False, True

        def __init__(self) -> None:
            self.pending: set[int] = set()
            self.got: list[bytes] = []
            self.tags: dict[str, str] = {}

        def deliver(self, record: Record) -> None:
            self.got.append(record.data)

    path = tmp_path / "w.sqlite"
    q = Queue("w", path, "")
    q.put(b"stored", {})
    q.close()
    q = Queue("w", path, "")
    taker = Taker()
    q.attach("g", taker, 0)
    q.put(b"fresh", {})
    assert taker.got == [b"stored", b"fresh"]
    q.close()


# -- 4. queue limits are checked ------------------------------------------------------------


@pytest.mark.parametrize(
    ("queue", "field"),
    [
        ({"max_length": "lots"}, "queue.max_length"),
        ({"max_length": 0}, "queue.max_length"),
        ({"max_length": -1}, "queue.max_length"),
        ({"sink": {"max_payload_size_kb": 0}}, "queue.sink.max_payload_size_kb"),
        ({"max_payload_size_kb": "big"}, "queue.max_payload_size_kb"),
    ],
)
def test_an_async_service_with_a_bad_queue_limit_is_refused(kernel, make_app, queue, field):
    spec = app_spec("qa_badq", make_app("qa_badq", ECHO_APP), type="Async")
    with pytest.raises(SpecError) as err:
        _create(kernel, {**spec, "queue": queue})
    assert err.value.field == "queue" and field in str(err.value)
    assert "qa_badq" not in [d["name"] for d in easlab.ls(kernel=kernel.client)]


@pytest.mark.parametrize(
    "queue", [{"max_length": 0}, {"max_length": -1}, {"max_payload_size_kb": 0}]
)
def test_a_queue_service_with_a_limit_below_one_is_refused(kernel, queue):
    with pytest.raises(SpecError) as err:
        _queue(kernel, "qa_zero", **queue)
    assert err.value.field == "queue" and f"queue.{next(iter(queue))}" in str(err.value)


def test_limits_as_whole_numbers_are_accepted():
    raw = {"queue": {"max_length": "100", "sink": {"max_payload_size_kb": 2.0}}}
    assert settings_of(raw, "sink") == {"max_length": 100, "max_payload_size_kb": 2}
    with pytest.raises(QueueError) as err:
        settings_of({"queue": {"max_length": True}}, "source")
    assert err.value.status == 400


def test_a_mistyped_queue_setting_is_refused_by_the_control_api_naming_the_one_meant(kernel):
    # {"queue": {"max_lenght": 3}} made a queue of the default million records, silently
    spec = {"name": "qa_typo", "metadata": {"type": "Queue", "queue": {"max_lenght": 3}}}
    with pytest.raises(SpecError) as err:
        _create(kernel, spec)
    assert err.value.field == "metadata.queue.max_lenght"
    assert "did you mean 'metadata.queue.max_length'?" in str(err.value)
    assert "qa_typo" not in [d["name"] for d in easlab.ls(kernel=kernel.client)]
    # kept on request, and the answer says it is not used
    body = {"spec": {"token": TOKEN, **spec}, "allow_unknown_keys": True}
    desc = kernel.client._call("POST", "/services", body)
    try:
        assert any("'metadata.queue.max_lenght' kept but not used" in w for w in desc["warnings"])
        assert desc["attributes"]["meta.maxLength"] == "1000000"
        # `desc` repeats them later, as it does a service's
        later = easlab.desc("qa_typo", kernel=kernel.client)
        assert later["warnings"] == desc["warnings"]
    finally:
        easlab.delete("qa_typo", kernel=kernel.client)


def test_an_async_services_mistyped_queue_block_is_named_in_its_description(kernel, make_app):
    spec = app_spec("qa_asytypo", make_app("qa_asytypo", ECHO_APP), type="Async")
    spec["queue"] = {"sink": {"max_lenght": 3}}
    with pytest.raises(SpecError) as err:
        _create(kernel, spec)
    assert "did you mean 'queue.sink.max_length'?" in str(err.value)
    body = {"spec": {"token": TOKEN, **spec}, "allow_unknown_keys": True}
    kernel.client._call("POST", "/services", body, timeout=120)
    try:
        desc = easlab.desc("qa_asytypo", kernel=kernel.client)
        assert any("'queue.sink.max_lenght' kept but not used" in w for w in desc["warnings"])
        assert "queue" not in desc["spec"]  # the queues' limits, not the version's
    finally:
        easlab.delete("qa_asytypo", kernel=kernel.client)


# -- 5. flags are checked before anything is done ---------------------------------------------


def test_a_malformed_timeout_is_a_400(kernel):
    _queue(kernel, "qa_timeout")
    for timeout in ("1..s", ".", "9" * 400 + "h"):
        resp = requests.get(
            _url(kernel, "qa_timeout"),
            params={"_timeout_": timeout},
            headers={"Authorization": TOKEN},
            timeout=30,
        )
        assert resp.status_code == 400 and "_timeout_" in resp.text, (timeout, resp.text)


def test_a_watch_from_an_index_past_int64_is_a_400_before_the_upgrade(kernel):
    _queue(kernel, "qa_huge")
    _put(kernel, "qa_huge", b"a")
    huge = str(2**63)
    sock = _raw(
        kernel,
        f"GET /api/predict/qa_huge?_watch_=true&_index_={huge}&_window_=1 HTTP/1.1\r\n"
        f"Host: k\r\nAuthorization: {TOKEN}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "X-EAS-QueueService-Redis-Gid: g1\r\nX-EAS-QueueService-Redis-Uid: u\r\n\r\n",
    )
    try:
        assert _status_line(sock).split(" ", 2)[1] == "400"
    finally:
        sock.close()
    assert _attrs(kernel, "qa_huge")["stream.groups"] == "0"  # no half-made group
    resp = requests.delete(
        _url(kernel, "qa_huge"),
        params={"_trunc_": "true", "_index_": huge},
        headers={"Authorization": TOKEN},
        timeout=30,
    )
    assert resp.status_code == 400 and "_index_" in resp.text


# -- 6. commits count what exists ---------------------------------------------------------------


def test_a_commit_counts_only_records_that_exist(kernel):
    _queue(kernel, "qa_commit")
    index = _put(kernel, "qa_commit", b"one")

    def commit(indexes: str) -> str:
        resp = requests.put(
            _url(kernel, "qa_commit"),
            params={"_indexes_": indexes},
            headers={"Authorization": TOKEN},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        return resp.text

    assert commit("123456,7") == "committed 0"
    assert commit(f"{index},{index},123456") == "committed 1"
    assert commit(str(index)) == "committed 0"  # gone with its commit (the only group)


# -- 7. an async service's feeder group never expires --------------------------------------------


def test_a_stopped_async_services_group_does_not_expire(tmp_path):
    assert FEEDER_GROUP == async_inference.GROUP

    class Watcher:  # a Consumer (queue.py's protocol), as a websocket watcher is
        index_only, auto_commit = False, False

        def __init__(self, uid: str) -> None:
            self.uid, self.window = uid, 100
            self.pending: set[int] = set()
            self.got: list[int] = []
            self.tags: dict[str, str] = {}

        def deliver(self, record: Record) -> None:
            self.got.append(record.index)

    q = Queue("asy", tmp_path / "asy.sqlite", "")
    feeder = Watcher("asy-feeder")
    q.attach(FEEDER_GROUP, feeder, 0)  # the service ran ...
    q.detach(FEEDER_GROUP, feeder)  # ... and was stopped
    monitor = Watcher("mon")
    q.attach("monitor", monitor, 0)  # another group reads the inputs too
    for i in range(5):
        q.put(b"job%d" % i, {})
    q.commit("monitor", list(monitor.got))
    q.group_expiry = 0.0  # stands for GROUP_IDLE_EXPIRY_S passing
    q._expiry_check_at = 0.0
    q.put(b"job5", {})
    assert FEEDER_GROUP in q.groups and len(q.records) == 6
    q.close()
    # after a restart too (a restored group has no watcher yet)
    q = Queue("asy", tmp_path / "asy.sqlite", "")
    q.group_expiry = 0.0
    q.put(b"job6", {})
    assert FEEDER_GROUP in q.groups and len(q.records) == 7
    q.close()


def test_queue_limits_nested_in_metadata_are_applied():
    # "metadata": {"queue": {...}} reads as "metadata": {"rpc": {...}} does: never ignored
    raw = {"metadata": {"type": "Queue", "queue": {"max_length": 3, "sink": {"max_length": 7}}}}
    assert settings_of(raw, "source") == {"max_length": 3}
    assert settings_of(raw, "sink") == {"max_length": 7}
    with pytest.raises(QueueError) as err:
        settings_of({"metadata": {"queue": {"max_payload_size_kb": 0}}}, "source")
    assert "metadata.queue.max_payload_size_kb" in err.value.message
    # and the spec does not call them unused
    from easlab.spec import parse_spec

    spec = parse_spec({**app_spec("qa_nested", "/tmp", type="Async", queue={"max_length": 3})})
    assert not [w for w in spec.warnings if "queue" in w], spec.warnings


def test_a_queue_service_with_limits_nested_in_metadata_keeps_them(kernel):
    spec = {
        "name": "qa_nested",
        "token": TOKEN,
        "metadata": {"type": "Queue", "queue": {"max_length": 2}},
    }
    desc = kernel.client._call("POST", "/services", {"spec": spec})
    assert desc["attributes"]["meta.maxLength"] == "2"
    easlab.delete("qa_nested", kernel=kernel.client)


def test_two_watchers_without_a_uid_are_two_consumers(kernel):
    """A watch that sends no uid header once took the uid "": a second such watch in
    the group closed the first ("queue closed") and was sent the record the first held."""
    import websocket

    _queue(kernel, "qa_nouid")
    for i in range(3):
        _put(kernel, "qa_nouid", b"r%d" % i)
    url = _url(kernel, "qa_nouid").replace("http", "ws", 1) + "?_watch_=true&_window_=1"
    first = websocket.create_connection(url, header={"Authorization": TOKEN}, timeout=30)
    second = websocket.create_connection(url, header={"Authorization": TOKEN}, timeout=30)
    try:
        got = []
        for ws in (first, second):
            frame = queue_pb2.DataFrameProto()
            frame.ParseFromString(ws.recv())
            got.append(bytes(frame.data))
        assert sorted(got) == [b"r0", b"r1"]  # one record each, none to both
        first.ping(b"still here")
        opcode, payload = first.recv_data(control_frame=True)
        assert (opcode, payload) == (websocket.ABNF.OPCODE_PONG, b"still here")
        assert _attrs(kernel, "qa_nouid")["stream.consumers"] == "2"
    finally:
        first.close()
        second.close()


def test_a_go_duration_timeout_is_taken(kernel):
    """EAS's queue server reads ``_timeout_`` as a Go duration: ``1m30s``, ``100us`` were
    refused with a 400 ("not a duration"), though a get with them works on EAS."""
    _queue(kernel, "qa_godur")
    _put(kernel, "qa_godur", b"a")
    for timeout in ("0m0.1s", "100us", "1h0m0s", "2ms", "5 s"):
        resp = requests.get(
            _url(kernel, "qa_godur"),
            params={"_index_": "0", "_timeout_": timeout, "_auto_delete_": "false"},
            headers={"Authorization": TOKEN},
            timeout=30,
        )
        assert resp.status_code == 200, (timeout, resp.text)
        frames = queue_pb2.DataFrameListProto()
        frames.ParseFromString(resp.content)
        assert [bytes(df.data) for df in frames.index] == [b"a"]


def test_the_sink_of_a_queue_service_is_refused_saying_it_has_none(kernel):
    """``NAME/sink`` of a queue service answered "service 'NAME/sink' not found
    (services: ..., NAME, ...)": as if NAME were missing too."""
    _queue(kernel, "qa_nosink")
    q = easlab.QueueClient(kernel.endpoint, "qa_nosink/sink")
    q.set_token(TOKEN)
    q.init()
    with pytest.raises(easlab.PredictException) as caught:
        q.get(timeout="0s")
    assert caught.value.code == 404
    assert "queue service 'qa_nosink' has no sink" in str(caught.value)
    assert "'qa_nosink' itself" in str(caught.value)
