"""easlab's QueueClient and Watcher have every public method and attribute of the official ones.

The official surface is read from eas-prediction 0.36 in its own venv at test time
(never written by hand): the public names of ``QueueClient`` and ``Watcher`` (their
base classes included), the instance attributes a client has after ``init()`` and
a Watcher after ``watch()``, and each method's parameters. A method is compatible
when every official parameter is there under the same name and in the same
position, with a default where the official one has one; easlab's extra
parameters all have defaults (or are keyword-only).
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import logging

import pytest

INTROSPECT = r"""
import inspect, json
from eas_prediction import QueueClient
from eas_prediction.queue_client import Watcher

def params(fn):
    out = []
    for p in list(inspect.signature(fn).parameters.values())[1:]:  # self
        out.append({"name": p.name, "kind": p.kind.name,
                    "has_default": p.default is not inspect.Parameter.empty})
    return out

def surface(cls, instance):
    methods = {}
    for name in dir(cls):
        if name.startswith("_") and name != "__init__":
            continue
        value = getattr(cls, name)
        if inspect.isroutine(value):
            methods[name] = params(value)
    attributes = sorted(n for n in vars(instance) if not n.startswith("_"))
    return {"methods": methods, "attributes": attributes}

q = QueueClient("http://127.0.0.1:9", "q")
q.init()
w = q.watch(0, 5)
print(json.dumps({"QueueClient": surface(QueueClient, q), "Watcher": surface(Watcher, w)}))
"""


@pytest.fixture(scope="module")
def official(run_official):
    return json.loads(run_official(INTROSPECT))


def _easlab(kind: str):
    import easlab

    q = easlab.QueueClient("http://127.0.0.1:9", "q")
    q.init()
    return (q, easlab.QueueClient) if kind == "QueueClient" else (q.watch(0, 5), easlab.Watcher)


@pytest.mark.parametrize("kind", ["QueueClient", "Watcher"])
def test_every_official_method_exists_with_a_compatible_signature(official, kind):
    _, cls = _easlab(kind)
    problems = []
    for name, want in official[kind]["methods"].items():
        ours = getattr(cls, name, None)
        if ours is None or not callable(ours):
            problems.append(f"{kind}.{name} is missing")
            continue
        have = list(inspect.signature(ours).parameters.values())[1:]
        for i, p in enumerate(want):
            if p["kind"] in ("VAR_POSITIONAL", "VAR_KEYWORD"):
                continue
            if i >= len(have) or have[i].name != p["name"]:
                got = [h.name for h in have]
                problems.append(f"{kind}.{name}: parameter {i} should be {p['name']!r}, has {got}")
                break
            if p["has_default"] and have[i].default is inspect.Parameter.empty:
                problems.append(f"{kind}.{name}: {p['name']!r} needs a default")
        for extra in have[len(want) :]:
            if extra.default is inspect.Parameter.empty and extra.kind not in (
                extra.VAR_POSITIONAL,
                extra.VAR_KEYWORD,
            ):
                problems.append(f"{kind}.{name}: extra parameter {extra.name!r} has no default")
    assert problems == []


@pytest.mark.parametrize("kind", ["QueueClient", "Watcher"])
def test_every_official_attribute_exists(official, kind):
    instance, _ = _easlab(kind)
    missing = [a for a in official[kind]["attributes"] if not hasattr(instance, a)]
    assert missing == []


def test_the_official_surface_was_read(official):
    # the introspection found what SPEC §2 lists: a test that reads nothing proves nothing
    methods = official["QueueClient"]["methods"]
    for name in ("put", "get", "attributes", "search", "delete", "truncate", "commit", "watch"):
        assert name in methods
    assert {"run", "close"} <= set(official["Watcher"]["methods"])
    assert "watch_lock" in official["QueueClient"]["attributes"]


# ---- what get() and Watcher.run() give (REPORT D2): the official DataFrame wrapper

RECORDS = r"""
import base64, json, sys
from eas_prediction.queue_client import DataFrameListCodec

body = base64.b64decode(sys.stdin.read())
out = []
for df in DataFrameListCodec.decode(body).get_list():
    attrs = {n: type(v).__name__ for n, v in vars(df).items()}
    attrs["raw_data"] = type(df.raw_data).DESCRIPTOR.full_name
    methods = sorted(n for n in dir(df) if n.startswith("set_"))
    out.append({"attributes": attrs, "methods": methods, "index": df.index,
                "data": df.data.decode(), "tags": dict(df.tags), "message": df.message})
print(json.dumps(out))
"""


def _records_body() -> bytes:
    from easlab.wire.proto import queue_pb2

    frames = queue_pb2.DataFrameListProto()
    for i, tags in enumerate([{"requestId": "r-1"}, {}], start=1):
        frame = frames.index.add()
        frame.index, frame.data, frame.message = i, f"payload-{i}".encode(), "ok"
        frame.tags.update(tags)
    return frames.SerializeToString()


def _described(df) -> dict:
    attrs = {n: type(v).__name__ for n, v in vars(df).items()}
    attrs["raw_data"] = type(df.raw_data).DESCRIPTOR.full_name
    methods = sorted(n for n in dir(df) if n.startswith("set_"))
    return {
        "attributes": attrs,
        "methods": methods,
        "index": df.index,
        "data": df.data.decode(),
        "tags": dict(df.tags),
        "message": df.message,
    }


def _same_as_official(ours: list, theirs: list) -> None:
    assert [_described(df) | {"attributes": None} for df in ours] == [
        t | {"attributes": None} for t in theirs
    ]
    for df, t in zip(ours, theirs, strict=True):
        attrs = _described(df)["attributes"]
        # tags: a dict here, the message's map (ScalarMapContainer) officially
        assert {k: v for k, v in attrs.items() if k != "tags"} == {
            k: v for k, v in t["attributes"].items() if k != "tags"
        }
        assert set(attrs) == set(t["attributes"])


@pytest.fixture(scope="module")
def official_records(run_official):
    import base64

    return json.loads(run_official(RECORDS, stdin=base64.b64encode(_records_body())))


def test_get_returns_the_official_dataframes(official_records):
    import easlab
    from easlab.client.transport import MockTransport, Response
    from easlab.eas_prediction.queue_client import DataFrame

    q = easlab.QueueClient("http://127.0.0.1:9", "q")
    q.set_transport(MockTransport(lambda request: Response(200, _records_body())))
    q.init()
    records = q.get(index=0, length=2, auto_delete=False)
    assert all(isinstance(df, DataFrame) for df in records)
    _same_as_official(records, official_records)
    first = records[0]
    first.set_data(b"changed")
    first.set_tags({"k": "v"})
    assert (first.data, first.tags, first.raw_data.data) == (b"changed", {"k": "v"}, b"payload-1")


def test_watcher_run_yields_the_official_dataframes(official_records, monkeypatch):
    import easlab
    from easlab.eas_prediction.queue_client import DataFrame
    from easlab.wire.proto import queue_pb2

    frames = queue_pb2.DataFrameListProto.FromString(_records_body())
    pushed = [frame.SerializeToString() for frame in frames.index]

    class Socket:
        def recv(self) -> bytes:
            return pushed.pop(0)

        def ping(self, payload: str) -> None:
            pass

        def abort(self) -> None:
            pass

        def close(self) -> None:
            pass

    q = easlab.QueueClient("http://127.0.0.1:9", "q")
    q.init()
    watcher = q.watch(0, 5)
    monkeypatch.setattr(watcher, "_open", Socket)
    records = watcher.run()
    got = [next(records), next(records)]
    watcher.close()
    assert all(isinstance(df, DataFrame) for df in got)
    _same_as_official(got, official_records)


def test_put_none_sends_an_empty_record_as_the_official_client():
    import easlab
    from easlab.client.transport import MockTransport, Response

    sent: list[bytes] = []

    def handler(request):
        sent.append(request.body)
        return Response(200, b"7", headers={"X-Eas-Queueservice-Request-Id": "rid-7"})

    q = easlab.QueueClient("http://127.0.0.1:9", "q")
    q.set_transport(MockTransport(handler))
    q.init()
    assert q.put(None) == ("7", "rid-7")
    assert sent == [b""]


def test_a_get_with_a_go_duration_waits_as_long_as_it_asks():
    """``get(timeout="1m30s")`` (a Go duration, as EAS reads ``_timeout_``) waited only the
    client's own 5 s: the long poll was cut short with a 502 and retried."""
    import easlab
    from easlab.client.transport import MockTransport, Response

    waits: list[float] = []

    class Recording(MockTransport):
        def send(self, request, timeout):
            waits.append(timeout)
            return super().send(request, timeout)

    q = easlab.QueueClient("http://127.0.0.1:9", "q")
    q.set_transport(Recording(lambda request: Response(200, b"")))
    q.init()
    for timeout in ("1m30s", "90s", "1h0m30s"):
        assert q.get(timeout=timeout) == []
    assert waits[0] >= 90 and waits[1] >= 90 and waits[2] >= 3630


def test_a_queue_call_to_a_stopped_local_kernel_says_how_to_check_it(closed_port):
    # as PredictClient says it: before, a bare '[Errno 111] Connection refused'
    import easlab
    from easlab.errors import PredictException

    queue = easlab.QueueClient(f"http://127.0.0.1:{closed_port}", "jobs")
    queue.set_retry_count(0)
    queue.init()
    with pytest.raises(PredictException) as refused:
        queue.put(b"x")
    assert "Connection refused: nothing listens there" in refused.value.message
    assert "easlab kernel status" in refused.value.message


def test_a_queue_5xx_is_retried_after_a_pause_not_at_once(stub_server, monkeypatch):
    """A queue answering 503 (a kernel restoring it, a service still Creating) was
    asked again at once, retry_count + 1 times within a few milliseconds; now each
    retry waits as PredictClient's does: the answer's Retry-After, else 50 ms doubling
    (pauses recorded, not timed). A 4xx is still not retried."""
    from stub_http import Reply

    import easlab
    from easlab.client import predict_client
    from easlab.errors import PredictException

    pauses: list[float] = []
    monkeypatch.setattr(predict_client, "_pause", pauses.append)

    def starting(seen) -> Reply:
        if len(server.seen) <= 2:
            return Reply(503, b"service 'jobs' is Creating", headers={"Retry-After": "1"})
        return Reply(200, b"7", headers={"X-Eas-Queueservice-Request-Id": "r7"})

    server = stub_server(starting)
    queue = easlab.QueueClient(f"http://127.0.0.1:{server.port}", "jobs")
    queue.init()
    assert queue.put(b"x") == ("7", "r7")
    assert len(server.seen) == 3 and pauses == [1.0, 1.0]

    pauses.clear()
    down = stub_server(lambda seen: Reply(502, b"down"))
    queue = easlab.QueueClient(f"http://127.0.0.1:{down.port}", "jobs")
    queue.set_retry_count(3)
    queue.init()
    with pytest.raises(PredictException):
        queue.put(b"x")
    assert len(down.seen) == 4 and pauses == [0.05, 0.1, 0.2]  # none after the last

    pauses.clear()
    refused = stub_server(lambda seen: Reply(401, b"wrong token"))
    queue = easlab.QueueClient(f"http://127.0.0.1:{refused.port}", "jobs")
    queue.init()
    with pytest.raises(PredictException):
        queue.put(b"x")
    assert len(refused.seen) == 1 and pauses == []


def test_a_queue_client_without_a_logger_still_answers(stub_server, closed_port, monkeypatch):
    """``set_logger(None)`` (the official way to silence a QueueClient) left the inherited
    calls logging to None: a predict() retried a 5xx and failed with AttributeError
    instead of the PredictException of the answer."""
    from stub_http import Reply

    import easlab
    from easlab.client import predict_client
    from easlab.errors import PredictException

    monkeypatch.setattr(predict_client, "_pause", lambda seconds: None)
    failing = stub_server(lambda seen: Reply(500, b"model failed"))
    queue = easlab.QueueClient(failing.url, "jobs")
    queue.init()
    queue.set_logger(None)
    queue.set_retry_count(2)
    with pytest.raises(PredictException, match="model failed") as failed:
        queue.predict(b"x")
    assert failed.value.code == 500 and len(failing.seen) == 2
    refused = easlab.QueueClient(f"127.0.0.1:{closed_port}", "jobs")
    refused.init()
    refused.set_logger(None)
    refused.set_retry_count(1)
    for call in (lambda: refused.put(b"x"), lambda: refused.predict(b"x")):
        with pytest.raises(PredictException, match="Connection refused"):
            call()


ATTRIBUTES_OF = r"""
import json
from eas_prediction import QueueClient
q = QueueClient('{url}', 'jobs')
q.init()
q.set_logger(None)
print(json.dumps(q.attributes()))
"""


def test_attributes_that_are_not_json_are_a_predict_exception(stub_server, run_official):
    """A 200 whose body is not a JSON object (a gateway's page): easlab let json's
    JSONDecodeError out, naming neither the URL nor the queue; the official client logs
    a warning and returns {} (easlab raises, as for a refused attributes call, README)."""
    from stub_http import Reply

    import easlab
    from easlab.errors import PredictException

    server = stub_server(lambda seen: Reply(200, b"<html>gateway</html>"))
    assert json.loads(run_official(ATTRIBUTES_OF.format(url=server.url))) == {}
    queue = easlab.QueueClient(server.url, "jobs")
    with pytest.raises(PredictException) as caught:
        queue.attributes()
    assert caught.value.code == 502 and "<html>gateway</html>" in caught.value.message
    assert "is 'jobs' a queue service" in caught.value.message
    assert not isinstance(caught.value, json.JSONDecodeError)


QUEUE_CALLS = r"""
from eas_prediction import QueueClient
q = QueueClient('{url}', 'jobs')
q.set_token('{token}')
q.init(uid='u1')
q.put(b'x', tags={{'a': 'b'}})
q.attributes()
q.delete([1, 2])
q.commit(3)
q.truncate(4)
q.search(5)
"""


def test_queue_calls_send_the_official_headers(stub_server, run_official):
    """The queue's calls carry the token alone (SPEC §4): easlab's put also sent ``Date``
    and ``Content-Type: application/octet-stream`` (the custom_url form of a predict),
    its DELETEs an empty body's ``Content-Length: 0``, and no ``User-Agent``."""
    from stub_http import Reply

    import easlab

    def queue(seen) -> Reply:
        body = b"{}" if "_attrs_" in seen.query or "_search_" in seen.query else b"5"
        return Reply(200, body, headers={"X-Eas-Queueservice-Request-Id": "r1"})

    server = stub_server(queue)
    token = "queue-token-0123456789"
    run_official(QUEUE_CALLS.format(url=server.url, token=token))
    theirs = list(server.seen)
    server.seen.clear()
    exec(QUEUE_CALLS.format(url=server.url, token=token).replace("eas_prediction", "easlab"))
    ours = list(server.seen)

    def sent(seen) -> tuple:
        # easlab's put adds a requestId tag of its own (README); Host differs by nothing
        query = "&".join(p for p in seen.query.split("&") if not p.startswith("requestId="))
        return seen.method, seen.path, query, sorted(seen.headers.keys())

    assert [sent(s) for s in ours] == [sent(s) for s in theirs]
    assert all(s.headers["Authorization"] == token for s in ours)
    assert "Content-Length" not in ours[2].headers  # the DELETE
    assert easlab.__version__ in ours[0].headers["User-Agent"]


SEARCHES = r"""
import json, logging
from eas_prediction import QueueClient

records = []

class Keep(logging.Handler):
    def emit(self, record):
        records.append([record.name, record.levelname, record.getMessage()])

logging.getLogger().addHandler(Keep())
q = QueueClient('{url}', 'jobs')
q.set_token('{token}')
q.set_retry_count(0)
q.init()
found = [q.search(0), q.search('x'), q.search(7)]
print(json.dumps([found, records]))
"""


def test_searches_that_find_nothing_log_as_the_official_ones(stub_server, run_official):
    """An invalid index and a record that is not there answer {} with a WARNING of the
    queue's logger, as officially (easlab said nothing); a token with a line break
    inside is a ValueError saying so (search swallowed it into {})."""
    from stub_http import Reply

    import easlab

    server = stub_server(lambda seen: Reply(404, b"no data in stream"))
    token = "search-token-0123456789"
    theirs = json.loads(run_official(SEARCHES.format(url=server.url, token=token)))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(SEARCHES.format(url=server.url, token=token).replace("eas_prediction", "easlab"), {})
    ours = json.loads(out.getvalue())
    logging.getLogger().handlers.pop()  # the snippet's Keep
    # official: "search error: Code: 404, Message: b'no data in stream'" (bytes, README);
    # easlab's message names the queue too
    assert ours[1][2][2].endswith(" (queue 'jobs')")
    ours[1][2][2] = ours[1][2][2].replace(
        "no data in stream (queue 'jobs')", "b'no data in stream'"
    )
    assert ours == theirs
    assert [level for _, level, _ in theirs[1]] == ["WARNING"] * 3
    broken = easlab.QueueClient(server.url, "jobs")
    broken.set_token(f"{token[:5]}\n{token[5:]}")
    with pytest.raises(ValueError, match="control character"):
        broken.search(7)


def test_a_call_before_init_keeps_the_logger_given(stub_server):
    """A queue call made before init() runs it (the official client needs init() first);
    init() sets the queue's own logger, and so replaced one given to set_logger()."""
    from stub_http import Reply

    import easlab

    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    mine = logging.getLogger("test_queue_surface.mine")
    mine.addHandler(Keep())
    mine.propagate = False
    server = stub_server(lambda seen: Reply(404, b"no data in stream"))
    queue = easlab.QueueClient(server.url, "jobs")
    queue.set_logger(mine)
    assert queue.search(7) == {}  # its first call: init() ran here
    assert queue.logger is mine and records == [
        "search error: Code: 404, Message: no data in stream (queue 'jobs')"
    ]
    queue.init()  # an explicit init(): the queue's logger, as officially
    assert queue.logger is logging.getLogger("eas_prediction.queue_client")
    quiet = easlab.QueueClient(server.url, "jobs")
    quiet.set_logger(None)
    assert quiet.search(0) == {} and quiet.logger is None
