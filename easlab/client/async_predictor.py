"""``AsyncPredictor``: futures over an asynchronous inference service (input queue → sink).

Named as alipai (the PAI Python SDK) names its helper for EAS async services. Each
``predict_async(x)`` puts one request into the service's input queue and returns a
``concurrent.futures.Future``; one background watcher on ``NAME/sink`` (a group of
its own, so it sees every answer and takes none from other readers) matches
answers to futures by their ``requestId`` tag.

>>> with AsyncPredictor("http://127.0.0.1:8080", "my_async", token) as p:
...     futures = [p.predict_async({"x": x}) for x in batch]
...     answers = [f.result() for f in futures]

When the kernel stops answering (stopped, or restarting), the watcher reconnects
with the same uid, so a restarted kernel's answers still come; after ~10 s of
refused connections it warns once, naming the endpoint, and after ``down_timeout``
seconds (60 by default) the futures still pending fail with ``ConnectionError``.
"""

from __future__ import annotations

import threading
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from easlab.client.queue import QueueClient, Watcher, answer_status, decoder_for
from easlab.errors import PredictException

#: status of the futures failed by ``close()`` (nginx's "client closed request")
CLOSED = 499
#: answers that arrive before their put returned, or for other clients: kept this many
_EARLY_MAX = 10_000
#: seconds of refused connections to the kernel before the one warning (an ordinary
#: restart is back well within it)
DOWN_WARN_S = 10.0


class AsyncPredictor:
    """Predictions through an async service's queues, as ``concurrent.futures.Future`` objects.

    Parameters
    ----------
    endpoint : the kernel or EAS gateway, e.g. ``http://127.0.0.1:8080``.
    service_name : the async service (``"metadata": {"type": "Async"}``); its input
        queue is at its own path, its answers at ``NAME/sink``.
    token : the service's token.
    signature : the service's signature, to build tensor requests from numpy dicts
        and arrays: ``svc.desc["signature"]`` on the local kernel (on EAS, what the
        model answers to ``GET /api/predict/NAME`` when served synchronously); an
        async service's own GET is its queue, so it is not read from there. Without
        it a dict is sent as JSON.
    response : how to decode every answer (a request object, a response class such
        as ``easlab.TFResponse``, or a function of the bytes); by default the answer
        is decoded as the request sent asks (``TFRequest`` → ``TFResponse``), and
        a ``bytes``/``str`` input gives the raw bytes back.
    window : answers in flight from the sink to this client at once (an int, at least 1).
    down_timeout : seconds the kernel may refuse connections (stopped, or restarting)
        before the futures still pending fail with ``ConnectionError`` (60 by
        default; None: they wait for it however long). Counted by the watcher's
        reconnect attempts (0.2 s, doubling to 2 s apart). After ~10 s of refusals
        (``DOWN_WARN_S``, or ``down_timeout`` when shorter) a ``RuntimeWarning`` says
        so once, naming the endpoint (check it with ``easlab kernel status``). The
        watcher keeps reconnecting either way: answers to requests put after the
        kernel is back come as usual.

    ``predict_async(x)`` → ``Future``; ``predict(x, timeout=)`` waits for it;
    ``close()`` (or leaving a ``with`` block) stops the watcher and fails the futures
    still pending.
    """

    def __init__(
        self,
        endpoint: str,
        service_name: str,
        token: str = "",
        *,
        signature: Mapping[str, Any] | None = None,
        response: Any = None,
        window: int = 256,
        down_timeout: float | None = 60.0,
    ) -> None:
        if down_timeout is not None and (
            isinstance(down_timeout, bool)
            or not isinstance(down_timeout, (int, float))
            or not down_timeout >= 0
        ):
            raise ValueError(
                f"down_timeout must be seconds (a number >= 0) or None, got {down_timeout!r}"
            )
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            # the sink's watch refuses a window below 1 (400 naming _window_)
            raise ValueError(
                f"window must be an integer of at least 1 (answers pushed to this client "
                f"at once), got {window!r}"
            )
        self.service_name = service_name
        self.down_timeout = down_timeout
        self._down_warned = False  # this outage's warning is given
        self._down_failed = False  # this outage's pending futures are failed
        self.signature = signature
        self._decoder = decoder_for(response)
        self._input = QueueClient(endpoint, service_name)
        self._input.set_token(token)
        self._input.init()
        self._sink = QueueClient(endpoint, f"{service_name}/sink")
        self._sink.set_token(token)
        # a group of its own: it gets every answer, and takes none from other readers
        self._sink.init(gid=f"easlab-async-{uuid.uuid4().hex[:12]}")
        self._lock = threading.Lock()
        self._futures: dict[str, tuple[Future[Any], Callable[[bytes], Any] | None]] = {}
        self._early: OrderedDict[str, Any] = OrderedDict()
        self._closed = False
        self._error: BaseException | None = None
        try:
            # answers from now on only: what the sink holds already belongs to others
            start = int(self._sink.attributes().get("stream.lastEntry", "0") or 0) + 1
            self._watcher: Watcher = self._sink.watch(start, window, auto_commit=True)
            self._watcher.on_unreachable = self._unreachable
            self._watcher.connect()  # a wrong token or name fails here, not in the thread
        except PredictException as exc:
            self._input.destroy()
            self._sink.destroy()
            raise PredictException(exc.code, _why(exc, service_name)) from None
        self._thread = threading.Thread(
            target=self._watch, name=f"easlab-async-{service_name}", daemon=True
        )
        self._thread.start()

    # -- the caller's side -------------------------------------------------------------

    def predict_async(
        self, x: Any, callback: Callable[[Future[Any]], Any] | None = None
    ) -> Future[Any]:
        """Put ``x`` into the service's queue; a ``Future`` of its decoded answer.

        ``x`` is a request object (``TFRequest`` ...), bytes or str, or a numpy dict /
        array encoded from ``signature`` (``easlab.wire.build.to_request``, the same
        encoder as ``PredictClient.predict``). The put itself happens now: a refused
        put (a wrong token, a full queue) raises ``PredictException`` here. The
        future fails with ``PredictException(status, body)`` when the service
        answers that input with another status than 200.
        """
        from easlab.wire.build import to_request

        if self._closed:
            raise PredictException(
                CLOSED, f"AsyncPredictor for {self.service_name!r} is closed: make a new one"
            )
        request = to_request(x, self._signature_source)
        raw = isinstance(x, (bytes, bytearray, memoryview, str))
        decoder = self._decoder or (None if raw else request.parse_response)
        future: Future[Any] = Future()
        if callback is not None:
            future.add_done_callback(callback)
        _, request_id = self._input.put(request)
        with self._lock:
            early = self._early.pop(request_id, None)
            if early is None:
                self._futures[request_id] = (future, decoder)
                failed = self._error
                if failed is not None:
                    self._futures.pop(request_id, None)
        if early is not None:
            _resolve(future, request_id, early, decoder, self.service_name)
        elif failed is not None:
            _fail(future, failed)
        return future

    def predict(self, x: Any, timeout: float | None = None) -> Any:
        """``predict_async(x).result(timeout)``: the decoded answer, waiting at most ``timeout`` s."""
        future = self.predict_async(x)
        try:
            return future.result(timeout)
        except TimeoutError:
            raise TimeoutError(
                f"no answer from {self.service_name!r} within {timeout} s; the request is "
                "still queued: wait on predict_async(x).result() for longer"
            ) from None

    def _signature_source(self, required: bool = False) -> Mapping[str, Any] | None:
        if self.signature is None and required:
            raise PredictException(
                400,
                f"numpy inputs to the async service {self.service_name!r} need its signature: "
                "pass AsyncPredictor(..., signature=svc.desc['signature']) (on EAS, what the "
                "model answers to GET /api/predict/NAME when served synchronously), or a "
                "request object such as easlab.TFRequest.from_numpy(...)",
            )
        return self.signature

    @property
    def pending(self) -> int:
        """Futures still waiting for their answer."""
        with self._lock:
            return len(self._futures)

    # -- the watcher's side --------------------------------------------------------------

    def _watch(self) -> None:
        try:
            for frame in self._watcher.run():
                request_id = frame.tags.get("requestId", "")
                with self._lock:
                    entry = self._futures.pop(request_id, None)
                    if entry is None:
                        # before its put returned, or another client's: keep it a while
                        self._early[request_id] = frame
                        while len(self._early) > _EARLY_MAX:
                            self._early.popitem(last=False)
                        continue
                future, decoder = entry
                _resolve(future, request_id, frame, decoder, self.service_name)
        except BaseException as exc:  # the watch cannot go on: no future may wait forever
            error = PredictException(
                getattr(exc, "code", 500),
                f"AsyncPredictor lost its watch on {self.service_name}/sink: {exc}",
            )
            self._fail_pending(error)

    def _unreachable(self, down_s: float, error: BaseException | None) -> None:
        """The watcher's count of refused reconnects (``Watcher.on_unreachable``): warn
        once, then fail what is pending after ``down_timeout``; reset when back."""
        if error is None:  # reconnected: a later outage is told again
            self._down_warned = self._down_failed = False
            return
        endpoint = self._input.endpoint_name
        limit = self.down_timeout
        if not self._down_warned and down_s >= min(DOWN_WARN_S, limit or DOWN_WARN_S):
            self._down_warned = True
            then = (
                f"pending answers fail with ConnectionError after {limit:g} s "
                "(AsyncPredictor(down_timeout=...))"
                if limit is not None
                else "pending answers wait for it (down_timeout=None)"
            )
            warnings.warn(
                f"AsyncPredictor for {self.service_name!r}: the kernel at {endpoint} has "
                f"refused connections for ~{down_s:.0f} s ({error}); still reconnecting, as "
                f"a restarting kernel comes back. Check it with `easlab kernel status`; {then}",
                RuntimeWarning,
                stacklevel=2,
            )
        if limit is not None and not self._down_failed and down_s >= limit:
            self._down_failed = True
            with self._lock:
                waiting, self._futures = self._futures, {}
            failure = ConnectionError(
                f"no answer from {self.service_name!r}: the kernel at {endpoint} has refused "
                f"connections for ~{down_s:.0f} s (down_timeout={limit:g}): {error}. Check it "
                "with `easlab kernel status` (start it: easlab kernel start); requests "
                f"already queued are answered into {self.service_name}/sink if it comes back"
            )
            for future, _ in waiting.values():
                _fail(future, failure)

    def _fail_pending(self, error: BaseException) -> None:
        with self._lock:
            self._error = error
            waiting, self._futures = self._futures, {}
        for future, _ in waiting.values():
            _fail(future, error)

    def close(self) -> None:
        """Stop the watcher thread; futures still pending fail with ``PredictException(499)``.

        Their requests stay in the service's queue and their answers still land in
        ``NAME/sink`` (read them with ``QueueClient(endpoint, "NAME/sink").results()``).
        """
        if self._closed:
            return
        self._closed = True
        self._watcher.close()
        self._thread.join(timeout=10)
        with self._lock:
            count = len(self._futures)
        self._fail_pending(
            PredictException(
                CLOSED,
                f"AsyncPredictor for {self.service_name!r} was closed with {count} answer(s) "
                "still pending; the requests stay queued and their answers will land in "
                f"{self.service_name}/sink",
            )
        )
        self._input.destroy()
        self._sink.destroy()

    def __enter__(self) -> AsyncPredictor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self.pending} pending"
        return f"AsyncPredictor({self._input.endpoint_name!r}, {self.service_name!r}, {state})"


def _why(exc: PredictException, service_name: str) -> str:
    if exc.code in (401, 403):
        return (
            f"the async service {service_name!r} refused the token given to AsyncPredictor "
            f"(HTTP {exc.code}): pass the service's token (easlab desc {service_name} shows it)"
        )
    if exc.code == 404:
        return (
            f"no async service {service_name!r} here (HTTP 404: {exc.message}): create it with "
            '"metadata": {"type": "Async"}, or check the name and endpoint'
        )
    return f"cannot watch {service_name}/sink: {exc.message}"


def _fail(future: Future[Any], error: BaseException) -> None:
    if future.set_running_or_notify_cancel():
        future.set_exception(error)


def _resolve(
    future: Future[Any],
    request_id: str,
    frame: Any,
    decoder: Callable[[bytes], Any] | None,
    service_name: str,
) -> None:
    if not future.set_running_or_notify_cancel():
        return  # cancelled by the caller meanwhile
    data = bytes(frame.data)
    status = answer_status(frame.tags)
    if status not in (0, 200):
        future.set_exception(
            PredictException(
                status,
                f"{service_name} failed on request {request_id} with HTTP {status}: "
                f"{data.decode('utf-8', 'replace')}",
            )
        )
        return
    try:
        future.set_result(decoder(data) if decoder is not None else data)
    except Exception as exc:  # an answer that does not decode as the request asks
        future.set_exception(exc)
