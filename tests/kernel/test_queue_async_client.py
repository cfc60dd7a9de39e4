"""Decoded sink results and AsyncPredictor against a real async service on the kernel."""

from __future__ import annotations

import contextlib
import threading
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import numpy as np
import pytest
from kernel_helpers import wait_for

import easlab
from easlab.errors import PredictException

TOKEN = "atok-" + "z" * 10
NAME = "async_doubler"

# Doubles a TF request's "x" into "y"; "txt:..." is echoed upper-cased; "boom" raises;
# "wait:PATH" answers once PATH exists (a request that stays in flight until the test says).
APP = """
import os
import time

import allspark
from easlab.wire.proto import tf_predict_pb2 as pb


class Doubler(allspark.BaseProcessor):
    def process(self, data):
        if data.startswith(b"txt:"):
            return data.upper(), 200
        if data.startswith(b"boom"):
            raise ValueError("boom is not a number")
        if data.startswith(b"wait:"):
            while not os.path.exists(data[5:].decode()):
                time.sleep(0.02)
            return b"released", 200
        req = pb.PredictRequest()
        req.ParseFromString(data)
        x = req.inputs["x"]
        out = pb.PredictResponse()
        y = out.outputs["y"]
        y.dtype = x.dtype
        y.array_shape.dim.extend(x.array_shape.dim)
        y.float_val.extend(v * 2 for v in x.float_val)
        return out.SerializeToString(), 200
"""

SIGNATURE = {
    "signature_name": "double",
    "inputs": [{"name": "x", "shape": [-1, 2], "type": "DT_FLOAT"}],
    "outputs": [{"name": "y", "shape": [-1, 2], "type": "DT_FLOAT"}],
}


@pytest.fixture(scope="module")
def service(kernel, make_app):
    folder = make_app(NAME, APP)
    spec = {
        "name": NAME,
        "token": TOKEN,
        "processor_type": "python",
        "processor_path": str(folder),
        "processor_entry": "app.py",
        "metadata": {"instance": 1, "type": "Async", "rpc.worker_threads": 8},
    }
    kernel.client._call("POST", "/services", {"spec": spec}, timeout=120)
    yield kernel
    kernel.client.delete(NAME)


def _client(kernel, path: str, gid: str = "eas") -> easlab.QueueClient:
    q = easlab.QueueClient(kernel.endpoint, path)
    q.set_token(TOKEN)
    q.init(gid=gid)
    return q


def _fresh_sink(kernel) -> tuple[easlab.QueueClient, int]:
    """A sink reader in a group of its own, and the index where this test's answers start."""
    sink = _client(kernel, f"{NAME}/sink", gid=f"t-{uuid.uuid4().hex[:8]}")
    return sink, int(sink.attributes().get("stream.lastEntry", "0")) + 1


def _x(i: int) -> np.ndarray:
    return np.array([[i, i + 0.5]], np.float32)


def test_results_decode_by_what_was_put(service):
    source = _client(service, NAME)
    sink, start = _fresh_sink(service)
    kinds = {}
    for i in range(3):
        req = easlab.TFRequest.from_numpy("double", {"x": _x(i)})
        kinds[source.put(req)[1]] = ("tf", i)
    kinds[source.put(b"txt:hello")[1]] = ("raw", None)
    kinds[source.put(b"boom")[1]] = ("error", None)

    got = {}
    for request_id, answer in sink.results(start, window=8, errors="yield"):
        if request_id in kinds:
            got[request_id] = answer
        if len(got) == len(kinds):
            break
    for request_id, (kind, i) in kinds.items():
        answer = got[request_id]
        if kind == "tf":
            assert isinstance(answer, easlab.TFResponse)
            np.testing.assert_array_equal(answer["y"], 2 * _x(i))  # numpy, shaped (1, 2)
        elif kind == "raw":
            assert answer == b"TXT:HELLO"
        else:
            assert isinstance(answer, PredictException)
            assert answer.code == 400 and "ValueError: boom is not a number" in answer.message
            assert request_id in answer.message


def test_a_failed_answer_raises_and_the_loop_goes_on(service):
    source = _client(service, NAME)
    sink, start = _fresh_sink(service)
    _, bad = source.put(b"boom")
    watcher = sink.watch(start, 4)
    try:
        with pytest.raises(PredictException) as failed:
            for _ in watcher.results():
                pass
        assert failed.value.code == 400 and bad in failed.value.message
        assert "ValueError: boom is not a number" in failed.value.message
        # the same watcher goes on: the next answer comes through results() again
        _, good = source.put(b"txt:after")
        assert next(iter(watcher.results())) == (good, b"TXT:AFTER")
    finally:
        watcher.close()


def test_results_with_an_explicit_response_kind(service):
    source = _client(service, NAME)
    sink, start = _fresh_sink(service)
    body = easlab.TFRequest.from_numpy("double", {"x": _x(7)}).to_string()
    _, request_id = source.put(body)  # bytes: nothing tells the sink reader its kind
    for rid, answer in sink.results(start, response=easlab.TFResponse):
        assert rid == request_id
        np.testing.assert_array_equal(answer["y"], 2 * _x(7))
        break


def test_two_hundred_concurrent_predictions_resolve_with_their_answers(service):
    with easlab.AsyncPredictor(service.endpoint, NAME, TOKEN, signature=SIGNATURE) as p:
        with ThreadPoolExecutor(8) as pool:
            futures = list(pool.map(lambda i: (i, p.predict_async({"x": _x(i)})), range(200)))
        done, not_done = wait([f for _, f in futures], timeout=300)  # a hang guard only
        assert not not_done
        for i, future in futures:
            np.testing.assert_array_equal(future.result()["y"], 2 * _x(i))
        assert p.predict(b"txt:sync") == b"TXT:SYNC"
        assert p.pending == 0


def test_a_model_that_raises_fails_the_future_with_its_error(service):
    with easlab.AsyncPredictor(service.endpoint, NAME, TOKEN) as p:
        future = p.predict_async(b"boom")
        error = future.exception(timeout=120)
        assert isinstance(error, PredictException) and error.code == 400
        assert "ValueError: boom is not a number" in error.message
        assert NAME in error.message


def test_closing_fails_the_pending_futures_and_stops_the_watcher(service, tmp_path):
    flag = tmp_path / "release"
    p = easlab.AsyncPredictor(service.endpoint, NAME, TOKEN)
    try:
        futures = [p.predict_async(f"wait:{flag}".encode()) for _ in range(3)]
        p.close()
        assert not p._thread.is_alive()
        for future in futures:
            error = future.exception(timeout=0)
            assert isinstance(error, PredictException) and error.code == 499
            assert "closed" in error.message and f"{NAME}/sink" in error.message
        with pytest.raises(PredictException, match="is closed"):
            p.predict_async(b"txt:late")
    finally:
        flag.write_text("go")  # the instance finishes the three requests
        p.close()


def test_a_wrong_token_is_a_clear_error_at_once(service):
    with pytest.raises(PredictException) as refused:
        easlab.AsyncPredictor(service.endpoint, NAME, "not-the-token")
    assert refused.value.code == 401
    assert "token" in refused.value.message and "not-the-token" not in refused.value.message


def test_numpy_without_a_signature_says_what_to_pass(service):
    with easlab.AsyncPredictor(service.endpoint, NAME, TOKEN) as p:
        with pytest.raises(PredictException, match="signature="):
            p.predict_async(_x(1))


def test_answers_come_back_across_threads_once(service):
    """Many callers share one predictor: each future gets its own answer, none twice."""
    results: dict[int, bytes] = {}
    lock = threading.Lock()
    with easlab.AsyncPredictor(service.endpoint, NAME, TOKEN) as p:

        def call(i: int) -> None:
            answer = p.predict(f"txt:n{i}".encode(), timeout=300)
            with lock:
                results[i] = answer

        threads = [threading.Thread(target=call, args=(i,)) for i in range(20)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    assert results == {i: f"TXT:N{i}".encode() for i in range(20)}


def test_deleting_the_service_fails_the_pending_futures_instead_of_hanging(kernel, make_app):
    """The service goes away with answers pending: its sink answers 404 for good, so the
    watch stops retrying and every future fails saying so (before, the watcher retried
    forever, logging a warning each time, and ``result()`` never returned)."""
    name = "async_deleted"
    folder = make_app(name, APP)
    spec = {
        "name": name,
        "token": TOKEN,
        "processor_type": "python",
        "processor_path": str(folder),
        "processor_entry": "app.py",
        "metadata": {"instance": 1, "type": "Async"},
    }
    kernel.client._call("POST", "/services", {"spec": spec}, timeout=120)
    never = folder / "never-written"
    with easlab.AsyncPredictor(kernel.endpoint, name, TOKEN) as p:
        futures = [p.predict_async(f"wait:{never}".encode()) for _ in range(2)]
        kernel.client.delete(name)
        for future in futures:
            error = future.exception(timeout=60)  # a guard against the hang, not a timing
            assert isinstance(error, PredictException) and error.code == 404
            assert f"{name}/sink" in error.message and "not found" in error.message
        with pytest.raises(PredictException) as late:
            p.predict_async(b"txt:late")  # the put itself finds no service
        assert late.value.code == 404


def test_environment_proxies_are_not_used_for_the_watch(service, monkeypatch):
    """As the HTTP calls (urllib3's rule, the official transport's): a proxy in the
    environment is not used; before, the sink's websocket went to $http_proxy and the
    predictor failed with a bare ConnectionRefusedError (the proxy's port, not the kernel's)."""
    import socket

    with socket.socket() as sock:  # a proxy address where nothing listens
        sock.bind(("127.0.0.1", 0))
        proxy = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, proxy)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with easlab.AsyncPredictor(service.endpoint, NAME, TOKEN) as p:
        assert p.predict(b"txt:through", timeout=60) == b"TXT:THROUGH"


class _Door:
    """A TCP forwarder to the kernel on a port of its own: ``shut()`` makes the kernel
    unreachable there (refused, its connections cut) as a stopped kernel is, ``open()``
    brings it back on the same port, as a restarted kernel comes back."""

    def __init__(self, endpoint: str) -> None:
        import socket

        self._socket = socket
        self.target = ("127.0.0.1", int(endpoint.rsplit(":", 1)[1]))
        self.port = 0
        self.conns: list[Any] = []
        self.listener: Any = None
        self.open()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def open(self) -> None:
        sock = self._socket.socket()
        sock.setsockopt(self._socket.SOL_SOCKET, self._socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(16)
        self.port = sock.getsockname()[1]
        self.listener = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def _accept(self, listener: Any) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # shut
            upstream = self._socket.create_connection(self.target)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: Any, dst: Any) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(2)

    def shut(self) -> None:
        with contextlib.suppress(OSError):  # wakes the accept() (a close alone would not)
            self.listener.shutdown(2)
        self.listener.close()
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.shutdown(2)
            conn.close()
        self.conns = []


def test_a_kernel_gone_fails_the_pending_futures_after_down_timeout_and_warns_once(
    service, tmp_path, monkeypatch, caplog
):
    """The kernel stops answering with answers pending: the watcher keeps reconnecting
    (a restart comes back), warns once naming the endpoint, and after ``down_timeout``
    the pending futures fail with ConnectionError; once the kernel is back, new
    predictions work. Before, the futures waited for ever and nothing was said."""
    from easlab.client import queue

    monkeypatch.setattr(queue, "RECONNECT_MAX_S", 0.4)  # reconnects 0.2 s, then 0.4 s apart
    flag = tmp_path / "release"
    door = _Door(service.endpoint)
    calls: list[tuple[float, BaseException | None]] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            p = easlab.AsyncPredictor(door.endpoint, NAME, TOKEN, down_timeout=0.5)
            told = p._watcher.on_unreachable
            assert told is not None

            def counted(down_s: float, error: BaseException | None) -> None:
                calls.append((down_s, error))
                told(down_s, error)

            p._watcher.on_unreachable = counted
            futures = [p.predict_async(f"wait:{flag}".encode()) for _ in range(2)]
            door.shut()
            for future in futures:
                error = future.exception(timeout=60)  # a guard against the hang, not a timing
                assert isinstance(error, ConnectionError)
                assert door.endpoint in str(error) and "easlab kernel status" in str(error)
                assert "down_timeout=0.5" in str(error)
            # the failure came on the attempt that reached down_timeout (0.2 + 0.4 s)
            assert [round(d, 1) for d, _ in calls[:2]] == [0.2, 0.6]
            wait_for(lambda: len(calls) >= 4, what="two more refused reconnects")
            flag.write_text("go")  # the instance finishes the two requests
            door.open()
            wait_for(lambda: calls[-1][1] is None, what="the watcher to reconnect")
            assert p.predict(b"txt:back", timeout=60) == b"TXT:BACK"
            p.close()
        # the log says the connection dropped and the first reconnect failed; the
        # later attempts are debug lines (one a 2 s for ever would bury the notebook)
        logged = [r for r in caplog.records if r.levelname == "WARNING"]
        assert [r.getMessage().split(" (")[0] for r in logged] == [
            "connection closed",
            "watch reconnect failed",
        ]
        down = [w for w in caught if issubclass(w.category, RuntimeWarning)]
        assert len(down) == 1, [str(w.message) for w in down]
        text = str(down[0].message)
        assert door.endpoint in text and "easlab kernel status" in text and NAME in text
    finally:
        flag.write_text("go")  # the instance finishes the two requests
        door.shut()


@pytest.mark.parametrize("bad", ["60", -1, float("nan"), True])
def test_a_down_timeout_that_is_no_seconds_is_refused_at_once(service, bad):
    # checked in the watcher's thread, it would have ended the watch instead
    with pytest.raises(ValueError, match="down_timeout must be seconds"):
        easlab.AsyncPredictor(service.endpoint, NAME, TOKEN, down_timeout=bad)


@pytest.mark.parametrize("bad", [0, -2, "8", True])
def test_a_window_below_one_is_refused_at_once(service, bad):
    """Before: window=0 went to the sink's watch, which refuses it (400 naming _window_,
    a server message about watch(), not about the AsyncPredictor's argument)."""
    with pytest.raises(ValueError, match=r"window must be an integer of at least 1"):
        easlab.AsyncPredictor(service.endpoint, NAME, TOKEN, window=bad)
    with easlab.AsyncPredictor(service.endpoint, NAME, TOKEN, window=1) as predictor:
        assert predictor.predict(b"txt:one", timeout=60) == b"TXT:ONE"
