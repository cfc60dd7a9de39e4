"""easlab's own QueueClient and Watcher against the kernel's queue service."""

from __future__ import annotations

import pytest
from kernel_helpers import PutAnswerLost

import easlab

TOKEN = "ctok-" + "q" * 8


def _queue(kernel, name: str, token: str = TOKEN) -> easlab.QueueClient:
    """A new queue service ``name`` and an easlab QueueClient for it holding ``token``."""
    kernel.client._call(
        "POST", "/services", {"spec": {"name": name, "token": TOKEN, "metadata": {"type": "Queue"}}}
    )
    q = easlab.QueueClient(kernel.endpoint, name)
    q.set_token(token)
    q.init()
    return q


def test_put_get_watch_commit(kernel):
    q = _queue(kernel, "eq")
    puts = [q.put(f"m{i}", tags={"n": str(i)}) for i in range(5)]
    assert q.attributes()["stream.length"] == "5"
    assert q.search(puts[1][0])["WaitCount"] == 1
    assert q.search(10**9) == {}
    got = q.get(request_id=puts[0][1])
    assert [g.data for g in got] == [b"m0"]
    watcher = q.watch(0, 2)
    seen = []
    for request_id, data in watcher.results():
        seen.append((request_id, data))
        if len(seen) == 4:
            break
    watcher.close()
    assert seen == [(rid, f"m{i}".encode()) for i, (_, rid) in enumerate(puts) if i > 0]
    # results() commits a record when the next one is asked for: the last one read
    # before the break stays uncommitted (at least once), and a get still finds it
    assert q.attributes()["stream.length"] == "1"
    assert [g.data for g in q.get(timeout="1s")] == [b"m4"]
    assert q.get(timeout="1s") == []


def test_watcher_reconnects_after_a_dropped_connection_and_is_one_per_client(kernel):
    import socket

    q = _queue(kernel, "eq_drop")
    # manual commits: a record sent into the dropped connection is redelivered, never lost
    watcher = q.watch(0, 10)
    records = watcher.run()
    q.put(b"before")
    first = next(records)
    assert first.data == b"before"
    q.commit(first.index)
    second = q.watch(0, 10)
    with pytest.raises(easlab.PredictException, match="Another watcher is already running"):
        next(second.run())
    q.watch_sock.sock.shutdown(socket.SHUT_RDWR)  # the connection drops under the watcher
    q.put(b"after")
    assert next(records).data == b"after"  # reconnected with the same uid
    watcher.close()
    assert q.watch_sock is None and q.watcher is None


def test_a_refused_watch_is_the_error_either_client_catches(kernel):
    """The official Watcher lets websocket-client's WebSocketBadStatusException out of a
    refused watch; easlab's error is that and a PredictException, with the status."""
    import websocket

    q = _queue(kernel, "eq_refused", "not-the-token")
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        next(q.watch(0, 2).run())
    assert isinstance(refused.value, easlab.PredictException)
    assert refused.value.status_code == refused.value.code == 401
    assert "check the token given to set_token()" in str(refused.value)
    assert "not-the-token" not in str(refused.value)


def test_a_watch_with_tags_is_pushed_only_the_records_with_them(kernel):
    """``watch(tags=...)`` sent the tags and the kernel first ignored them (every record
    pushed), then refused the watch with a 400. Now the watcher gets only the records
    with its tags; the others stay for watchers that take them."""
    q = _queue(kernel, "qe_watch_tags")
    q.put(b"mine", tags={"owner": "me"})
    q.put(b"theirs", tags={"owner": "them"})
    with q.watch(0, 2, tags={"owner": "me"}) as watcher:
        frame = next(watcher.run())
        assert frame.data == b"mine"
        q.commit(frame.index)
    assert q.attributes()["stream.length"] == "1"  # "theirs" was not taken
    with q.watch(0, 2) as watcher:  # without tags: every record the group has not seen
        assert next(watcher.run()).data == b"theirs"


def test_a_put_whose_answer_was_lost_is_not_stored_twice_by_the_retry(kernel):
    """easlab's QueueClient retries a call whose connection broke; the official one does
    not retry a put then (urllib3 retries no POST that was sent). Before, a put stored
    by the kernel whose answer was lost on the way back was sent again with no
    requestId: the kernel stored it a second time, under a new id. Now the client gives
    each put a requestId of its own when the caller gives none, so its retry is the
    same put (SPEC §4: idempotent per request id): one record, the first index."""
    _queue(kernel, "eq_lost")
    with PutAnswerLost(kernel.endpoint, drop=True) as proxy:
        q = easlab.QueueClient(proxy.url, "eq_lost")
        q.set_token(TOKEN)
        q.init()
        index, request_id = q.put(b"once")
        assert proxy.puts == 2  # the put and its retry
        assert proxy.first is not None and proxy.first.status_code == 200
        assert (index, request_id) == (
            proxy.first.text,
            proxy.first.headers["X-Eas-Queueservice-Request-Id"],
        )
    direct = easlab.QueueClient(kernel.endpoint, "eq_lost")
    direct.set_token(TOKEN)
    direct.init()
    assert [g.data for g in direct.get(length=10, timeout="0s")] == [b"once"]
    # a requestId the caller gives is the one used
    assert direct.put(b"mine", tags={"requestId": "job-9"})[1] == "job-9"
