"""``QueueClient`` and ``Watcher``: easlab's drop-in for ``eas_prediction``'s queue client (SPEC §2, §4).

Same calls and answers as the official client (a ``QueueClient`` is a
``PredictClient``, as there: ``set_endpoint_type``, ``set_retry_count`` ... all
apply); ``put`` also takes any easlab request object (``TFRequest``,
``TorchRequest`` ...), str or bytes, and ``results()`` reads a sink's records back
as decoded responses.

>>> q = QueueClient("http://127.0.0.1:8080", "my_queue")
>>> q.set_token("...")
>>> q.init()
>>> index, request_id = q.put(b"hello")
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, Literal
from urllib.parse import urlencode

from easlab.client import predict_client
from easlab.client.auth import EasAuth, clean_token
from easlab.client.content_encoding import ContentDecodingError
from easlab.client.endpoints import with_scheme
from easlab.client.predict_client import PredictClient
from easlab.client.transport import Headers, Request, Response, TransportError
from easlab.errors import PredictException
from easlab.wire.dataframe import DataFrame
from easlab.wire.duration import duration_s
from easlab.wire.proto import queue_pb2

UID_HEADER = "X-EAS-QueueService-Redis-Uid"
GID_HEADER = "X-EAS-QueueService-Redis-Gid"
REQUEST_ID_HEADER = "X-Eas-Queueservice-Request-Id"
#: the tag a record's request id is stored under (SPEC §4)
REQUEST_ID_TAG = "requestId"
PROTOBUF = "application/vnd.google.protobuf"
#: seconds between the Watcher's pings, as the official client (SPEC §4)
PING_INTERVAL_S = 2.0
#: the logger ``init()`` gives a QueueClient: the official client's (its module's name),
#: so that a logging configuration written for it works the same
QUEUE_LOGGER_NAME = "eas_prediction.queue_client"
#: the pause between the Watcher's reconnect attempts: the first, doubled up to the cap
RECONNECT_FIRST_S = 0.2
RECONNECT_MAX_S = 2.0

Decoder = Callable[[bytes], Any]

# request id -> how to decode its answer, for records put as request objects: the
# sink is read by another client (often another QueueClient) than the one that put.
_KINDS: OrderedDict[str, Decoder] = OrderedDict()
_KINDS_LOCK = threading.Lock()
_KINDS_MAX = 100_000


def remember_kind(request_id: str, decoder: Decoder) -> None:
    """Note how the answer to ``request_id`` decodes (the oldest are forgotten past 100,000)."""
    with _KINDS_LOCK:
        _KINDS[request_id] = decoder
        while len(_KINDS) > _KINDS_MAX:
            _KINDS.popitem(last=False)


def _take_kind(request_id: str) -> Decoder | None:
    with _KINDS_LOCK:
        return _KINDS.pop(request_id, None)


def decoder_for(response: Any) -> Decoder | None:
    """How to decode answers given ``response=``: a request object (its ``parse_response``),
    a response class (``easlab.TFResponse``) or any callable taking the bytes."""
    if response is None:
        return None
    parse = getattr(response, "parse_response", None)
    if parse is not None and not isinstance(response, type):
        return parse  # type: ignore[no-any-return]
    if callable(response):
        return response  # type: ignore[no-any-return]
    raise TypeError(
        f"response= takes a request object (TFRequest(...)), a response class "
        f"(easlab.TFResponse) or a function of the bytes, not {type(response).__name__}"
    )


def answer_status(tags: Any) -> int:
    """The HTTP status of the service's answer a sink record carries (200 when untagged).

    easlab's kernel tags it ``status``; EAS tags failed answers ``lastCode``.
    """
    text = tags.get("status") or tags.get("lastCode") or "200"
    try:
        return int(text)
    except ValueError:
        return 500


def decode_record(frame: Any, response: Any = None) -> tuple[str, Any]:
    """``(request_id, answer)`` of one sink record; raises ``PredictException`` for a failed one.

    The answer is decoded with ``response`` (see ``decoder_for``), else as the request
    put with that id asks (a ``TFRequest`` gives a ``TFResponse`` ...), else raw bytes.
    """
    tags = frame.tags
    request_id = tags.get("requestId", "")
    data = bytes(frame.data)
    decoder = decoder_for(response)
    remembered = _take_kind(request_id) if request_id else None
    status = answer_status(tags)
    if status not in (0, 200):
        error = PredictException(
            status,
            f"request {request_id or '(no requestId)'} failed in the service with HTTP "
            f"{status}: {data.decode('utf-8', 'replace')}",
        )
        error.request_id = request_id  # type: ignore[attr-defined]
        error.index = frame.index  # type: ignore[attr-defined]
        raise error
    decoder = decoder or remembered
    return request_id, decoder(data) if decoder is not None else data


def _body(data: Any) -> bytes:
    if data is None:  # the official client sends no body: an empty record
        return b""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        return data.encode()
    to_string = getattr(data, "to_string", None)
    if to_string is not None:
        body = to_string()
        return body.encode() if isinstance(body, str) else bytes(body)
    raise TypeError(
        f"put() takes bytes, str or an easlab request object (TFRequest, TorchRequest, ...), "
        f"not {type(data).__name__}; build one with easlab.wire.build.to_request(x, signature)"
    )


def _index_list(index: Any) -> str:
    items = index if isinstance(index, (list, tuple)) else [index]
    return ",".join(str(i) for i in items)


class QueueClient(PredictClient):
    """A client of one queue (``NAME``, or an async service's ``NAME/sink``).

    ``QueueClient(endpoint, queue_name)``, ``set_token``, ``init(uid, gid)``, then
    ``put`` / ``get`` / ``attributes`` / ``search`` / ``delete`` / ``truncate`` /
    ``commit`` / ``watch``, as ``eas_prediction.QueueClient``. Settings inherited from
    ``PredictClient`` (timeout, retries, endpoint type, extra headers) apply too.
    """

    def __init__(self, endpoint: str = "", service_name: str = "", custom_url: str = "") -> None:
        super().__init__(endpoint, service_name, custom_url)
        self.uid = ""
        self.gid = "eas"
        self.path_suffix = ""
        self.watch_sock: Any = None
        self.watch_lock = threading.Lock()
        self.watcher: Watcher | None = None
        self._logger_given = False  # set_logger() was called

    @property
    def queue_name(self) -> str:
        return self.service_name

    def destroy(self) -> None:
        """Close the watcher, if any, and the connections; a later call opens them again."""
        watcher = self.watcher
        if watcher is not None:
            watcher.close()
        super().destroy()

    def init(
        self, uid: str | None = None, gid: str = "eas", custom_url: str = "", path_suffix: str = ""
    ) -> None:
        """Apply the settings; ``uid`` names this consumer (a new one by default) in group ``gid``."""
        self.uid = str(uuid.uuid4()) if uid is None else uid
        self.gid = gid
        if custom_url:
            self.custom_url = custom_url
        self.path_suffix = path_suffix
        super().init()
        # As the official QueueClient.init: from here on the queue's logger, at INFO
        # (discovery, started above, logs to the client's, as there).
        self.logger = logging.getLogger(QUEUE_LOGGER_NAME)
        self.logger.setLevel(logging.INFO)

    def _init_once(self) -> None:
        """``init()`` with the settings so far for a call made before it (the official
        client needs ``init()`` first); a logger given to ``set_logger`` stays."""
        if self.uid and self._transport is not None:
            return
        with self._lifecycle:
            if not self.uid or self._transport is None:
                logger, given = self.logger, self._logger_given
                self.init(self.uid or None, self.gid, self.custom_url, self.path_suffix)
                if given:
                    self.logger = logger

    def set_logger(self, logger: logging.Logger | None = None) -> None:
        """Log to ``logger`` (None: not at all); an explicit ``init()`` later sets the
        queue's own again, as the official ``init()`` does."""
        self.logger = logger
        self._logger_given = True

    def _queue_url(self) -> str:
        if self.custom_url:
            return with_scheme(self.custom_url)
        if not self.service_name:
            raise PredictException(
                500, "no queue name: pass QueueClient(endpoint, 'NAME') or set_service_name()"
            )
        pick = getattr(self.endpoint, "pick", None)
        if pick is not None:  # direct mode: a backend from discovery
            base = "http://" + pick().address
        else:
            base = self._static_base()
        url = f"{base}/api/predict/{self.service_name}"
        return url + ("/" + self.path_suffix if self.path_suffix else "")

    def _identity(self) -> Headers:
        headers = Headers()
        for key, value in self.headers.items():
            headers[key] = str(value)
        if self.content_type:
            headers["Content-Type"] = self.content_type
        headers[UID_HEADER] = self.uid
        headers[GID_HEADER] = self.gid
        return headers

    def _request(
        self,
        method: str,
        query: dict[str, Any],
        body: bytes = b"",
        *,
        wait_s: float = 0.0,
        accept: str = "",
    ) -> Response:
        """One queue call with retries of transport errors and 5xx; any other non-2xx raises."""
        self._init_once()
        url = self._queue_url()
        if query:
            url += "?" + urlencode(query)
        attempts = max(1, int(self.retry_count) + 1)
        last: PredictException | None = None
        for attempt in range(1, attempts + 1):
            headers = Headers({"User-Agent": predict_client.user_agent()})
            headers.update(self._identity())
            if accept:
                headers["Accept"] = accept
            request = EasAuth(self.token, self.service_name, token_only=True).apply(
                Request(method, url, headers, body)
            )
            transport = self._transport
            if transport is None:
                raise PredictException(500, "the client was destroyed meanwhile: call init() again")
            try:
                # a long poll answers within _timeout_: the HTTP timeout must outlast it
                resp = transport.send(request, max(self.timeout / 1000.0, wait_s + 2.0))
            except TransportError as exc:
                hint = f": {exc.hint}" if exc.hint else ""  # a local kernel not running
                last = PredictException(502, f"url: {exc.url}, error: {exc.reason}{hint}")
                self._log(logging.DEBUG, "Request failed, err: %s", exc.reason)
                # An answer that came but does not decode is not retried: urllib3's
                # retries (the official client's) cover only getting an answer.
                if not exc.retryable or isinstance(exc.__cause__, ContentDecodingError):
                    raise last from exc
                continue
            if resp.status // 100 == 2:
                return resp
            last = PredictException(resp.status, _refusal(self.service_name, resp))
            if resp.status < 500:
                break  # a refusal that another attempt cannot change
            if attempt < attempts:
                # a starting or failing queue: give it a moment, as PredictClient does
                predict_client._pause(
                    predict_client.retry_delay(attempt, resp.headers.get("Retry-After"))
                )
        assert last is not None
        raise last

    def put(self, data: Any, tags: dict[str, str] | None = None) -> tuple[str, str]:
        """Put one record; returns ``(index, request_id)`` (the index as a string, as the official client).

        A put the caller gives no ``requestId`` tag gets one made here: this client
        retries a call whose connection broke, and a put the kernel stored before its
        answer was lost must then be the same put again, not a second record (SPEC §4:
        a put is idempotent per request id). The official client lets the server make
        the id, and does not retry such a put.
        """
        query = dict(tags or {})
        if not query.get(REQUEST_ID_TAG):
            query[REQUEST_ID_TAG] = str(uuid.uuid4())
        resp = self._request("POST", query, _body(data))
        request_id = resp.headers.get(REQUEST_ID_HEADER)
        if request_id is None:
            raise PredictException(
                502,
                f"{self._queue_url()} answered a put without the {REQUEST_ID_HEADER} header: "
                "is this a queue service (metadata.type Queue or Async)?",
            )
        parse = getattr(data, "parse_response", None)
        if parse is not None:
            remember_kind(request_id, parse)
        return resp.text, request_id

    def get(
        self,
        request_id: str | None = None,
        index: int = 0,
        length: int = 1,
        timeout: str = "5s",
        auto_delete: bool = True,
        tags: dict[str, str] | None = None,
    ) -> list[DataFrame]:
        """Up to ``length`` records from ``index`` on, waiting up to ``timeout``.

        With ``request_id`` or ``tags``, those of the ``length`` records from ``index``
        on that match (as on EAS): to find a record by id anywhere, pass ``index=0,
        length=int(self.attributes()["meta.maxLength"])`` (every record the queue can hold).

        Each is a ``DataFrame`` (``index``, ``tags``, ``data``, ``message``, and the
        ``DataFrameProto`` as ``raw_data``), as the official client returns them.
        """
        query: dict[str, Any] = {
            "_index_": str(index),
            "_length_": str(length),
            "_timeout_": str(timeout),
            "_raw_": "false",
            "_auto_delete_": str(auto_delete).lower(),
        }
        if request_id is not None:
            query["requestId"] = request_id
        query.update(tags or {})
        resp = self._request("GET", query, wait_s=_duration_s(timeout), accept=PROTOBUF)
        frames = queue_pb2.DataFrameListProto()  # type: ignore[attr-defined]
        frames.ParseFromString(resp.body)
        return [DataFrame(frame) for frame in frames.index]

    def attributes(self) -> dict[str, str]:
        """The queue's attributes (``stream.length``, ``stream.lastEntry`` ...).

        An answer that is not a JSON object (a gateway's page, a service that is not a
        queue) raises ``PredictException`` 502 showing it; the official client logs a
        warning and returns ``{}``.
        """
        text = self._request("GET", {"_attrs_": "true"}).text.strip()
        if not text:
            return {}
        try:
            attributes = json.loads(text)
        except ValueError:
            attributes = None
        if not isinstance(attributes, dict):
            raise PredictException(
                502,
                f"{self._queue_url()} answered {text[:200]!r} for the queue's attributes, "
                f"not a JSON object: is {self.service_name!r} a queue service "
                "(metadata.type Queue or Async)?",
            )
        return attributes

    def search(self, index: Any) -> dict[str, Any]:
        """``{ConsumerId, IsPending, WaitCount}`` of the record at ``index``; ``{}`` when there is none."""
        try:
            valid = int(index) > 0
        except (ValueError, TypeError):
            valid = False
        if not valid:  # as the official client: no request, a warning, {}
            self._log(logging.WARNING, "invalid search index: %s", index)
            return {}
        try:
            resp = self._request("GET", {"_search_": "true", "_index_": str(index)})
        except PredictException as exc:
            if exc.code == 404:
                self._log(logging.WARNING, "search error: %s", exc)
                return {}
            raise
        return dict(json.loads(resp.text))

    def truncate(self, index: int) -> bytes:
        """Drop every record before ``index``."""
        return self._request("DELETE", {"_index_": index, "_trunc_": "true"}).body

    def delete(self, index: Any) -> str:
        """Delete the record(s) at ``index`` (an index or a list of them)."""
        return self._request("DELETE", {"_indexes_": _index_list(index)}).text

    def commit(self, index: Any) -> bytes:
        """Mark the record(s) at ``index`` processed in this client's group."""
        return self._request("PUT", {"_indexes_": _index_list(index)}).body

    def watch(
        self,
        index: int,
        window: int,
        index_only: bool = False,
        auto_commit: bool = False,
        tags: dict[str, str] | None = None,
    ) -> Watcher:
        """A ``Watcher`` pushing records from ``index`` on, at most ``window`` uncommitted."""
        query: dict[str, Any] = {
            "_watch_": "true",
            "_index_": index,
            "_window_": window,
            "_index_only_": str(index_only).lower(),
            "_auto_commit_": str(auto_commit).lower(),
        }
        query.update(tags or {})
        self._init_once()
        url = self._queue_url().replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        if not url.startswith(("ws://", "wss://")):
            url = "ws://" + url
        headers = dict(self._identity().items())
        headers["Accept"] = PROTOBUF
        token = clean_token(self.token)
        if token:
            headers["Authorization"] = token
        watcher = Watcher(self, f"{url}?{urlencode(query)}", headers, self.logger)
        watcher.auto_commit = auto_commit
        return watcher

    def results(
        self,
        index: int = 0,
        window: int = 64,
        *,
        response: Any = None,
        errors: Literal["raise", "yield"] = "raise",
    ) -> Iterator[tuple[str, Any]]:
        """Watch this queue (a sink) and yield ``(request_id, answer)``; see ``Watcher.results``.

        The watcher is closed when the loop ends (a ``break`` included). Every answer
        comes: one request's answer is ``get(request_id=..., index=0, length=N)`` (a get by
        id looks at the ``length`` records from ``index`` on only: N ``meta.maxLength``).
        """
        watcher = self.watch(index, window)
        try:
            yield from watcher.results(response=response, errors=errors)
        finally:
            watcher.close()

    def __repr__(self) -> str:
        where = self.custom_url or self.endpoint_name or "(no endpoint)"
        return f"QueueClient({where!r}, {self.service_name!r}, gid={self.gid!r})"


def _duration_s(text: Any) -> float:
    """How long a get may wait (the kernel refuses a bad ``_timeout_`` with a 400)."""
    try:
        return duration_s(str(text))
    except ValueError:
        return 0.0


def _refusal(name: str, resp: Response) -> str:
    text = resp.text.strip()
    if resp.status == 401:
        return f"{text or 'unauthorized'}: check the token given to set_token() for queue {name!r}"
    if resp.status == 404:
        return f"{text or 'not found'} (queue {name!r})"
    return text


@functools.cache
def _watch_refused() -> Any:
    """The error of a refused watch: a ``PredictException``, and also websocket-client's
    ``WebSocketBadStatusException``, which the official Watcher lets out, so code
    written for either catches it (made on first use: websocket-client loads lazily)."""
    import websocket

    class WatchRefused(PredictException, websocket.WebSocketBadStatusException):
        def __init__(self, message: str, refused: websocket.WebSocketBadStatusException):
            PredictException.__init__(self, refused.status_code, message)
            self.status_code = refused.status_code
            self.resp_headers = refused.resp_headers
            self.resp_body = refused.resp_body

    return WatchRefused


class Watcher:
    """Records pushed over a websocket; one per client (``close()`` before the next).

    ``run()`` yields each record as it comes (pinging every 2 s, reconnecting with the
    same uid when the connection drops, as the official Watcher, until a reconnect is
    refused with 401/403 or 404, the queue gone, which ``run()`` raises); ``results()``
    yields them decoded. Both may be called again after a ``break``: the connection
    stays until ``close()``.
    """

    def __init__(
        self,
        queue: QueueClient,
        url: str,
        headers: dict[str, str] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.queue = queue
        self.url = url
        self.headers = dict(headers or {})
        self.logger = logger
        self.event = threading.Event()
        self.closed = False
        self.auto_commit = "_auto_commit_=true" in url
        self._ping_thread: threading.Thread | None = None
        #: called from ``run()``'s thread while reconnecting: ``on_unreachable(down_s,
        #: error)`` after each attempt that reached no server (refused, reset, no
        #: route), ``down_s`` the seconds of such failures so far by the retry
        #: schedule (the pauses taken, counted, not timed); ``(0.0, None)`` when a
        #: reconnect works after such failures. An answered refusal (HTTP) is not counted.
        self.on_unreachable: Callable[[float, BaseException | None], None] | None = None

    def _open(self) -> Any:
        import websocket

        header = [f"{k}: {v}" for k, v in self.headers.items()]
        try:
            # No proxy from the environment, as urllib3 (the HTTP calls' rule) uses none:
            # websocket-client would read $http_proxy, even for a kernel on 127.0.0.1.
            # It reads its no-proxy list only beside an explicit proxy, and "*" in that
            # list wins over the proxy: so the placeholder proxy is never contacted.
            return websocket.create_connection(
                self.url,
                header=header,
                enable_multithread=True,
                http_proxy_host="no-proxy.invalid",
                http_proxy_port=1,
                http_no_proxy=["*"],
            )
        except websocket.WebSocketBadStatusException as exc:
            body = (exc.resp_body or b"").decode("utf-8", "replace").strip()
            where = self.url.split("?", 1)[0]
            hint = " (check the token given to set_token())" if exc.status_code == 401 else ""
            message = f"watch {where} refused: {body or exc}{hint}"
            raise _watch_refused()(message, exc) from None

    def connect(self) -> None:
        """Open the websocket now (``run()`` does it on first use); raises ``PredictException``."""
        with self.queue.watch_lock:
            if self.closed:
                raise PredictException(
                    400, "this Watcher is closed: call QueueClient.watch() again"
                )
            if self.queue.watcher is self and self.queue.watch_sock is not None:
                return
            if self.queue.watch_sock is not None:
                raise PredictException(
                    400,
                    "Another watcher is already running: close() it, or watch from another "
                    "QueueClient (one watcher per client)",
                )
            self.queue.watch_sock = self._open()
            self.queue.watcher = self
        self._ping_thread = threading.Thread(
            target=self._ping, name="easlab-watch-ping", daemon=True
        )
        self._ping_thread.start()

    def _ping(self) -> None:
        while not self.event.wait(PING_INTERVAL_S):
            with self.queue.watch_lock:
                sock = self.queue.watch_sock if self.queue.watcher is self else None
            if sock is None:
                return
            try:
                sock.ping("ping")
            except Exception as exc:  # the receiving loop reconnects
                if self.logger:
                    self.logger.debug("watch ping failed: %s", exc)

    def _reconnect(self) -> bool:
        """Open the connection again (same uid) until it works or the watcher is closed."""
        delay = RECONNECT_FIRST_S
        down_s = 0.0  # seconds of unreachable attempts, by the schedule
        failures = 0
        while not self.event.is_set():
            try:
                sock = self._open()
            except PredictException as exc:
                # a refused token, or a queue that is gone (its service deleted), will not
                # come back by retrying: stop, so that whoever waits on the watch is told
                if exc.code in (401, 403, 404):
                    raise
                failures += 1
                self._log_failure(failures, exc)
            except Exception as exc:
                failures += 1
                self._log_failure(failures, exc)
                # no server answered (a kernel stopped or restarting): counted, so that
                # whoever waits is told when it lasts (AsyncPredictor's down_timeout)
                down_s += delay
                if self.on_unreachable is not None:
                    self.on_unreachable(down_s, exc)
            else:
                with self.queue.watch_lock:
                    if self.closed:
                        sock.abort()
                        return False
                    self.queue.watch_sock = sock
                if down_s and self.on_unreachable is not None:
                    self.on_unreachable(0.0, None)
                return True
            self.event.wait(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)
        return False

    def _log_failure(self, failures: int, exc: BaseException) -> None:
        """The first failed reconnect of an outage as a warning, the rest at debug level:
        a warning every 2 s for as long as a kernel is down would bury a notebook's output."""
        if self.logger:
            level = logging.WARNING if failures == 1 else logging.DEBUG
            self.logger.log(level, "watch reconnect failed (%s), retrying", exc)

    def run(self) -> Iterator[DataFrame]:
        """Yield each pushed record until ``close()``: a ``DataFrame`` (``index``, ``tags``,
        ``data``, ``message``; the ``DataFrameProto`` as ``raw_data``), as the official Watcher."""
        self.connect()
        while not self.closed:
            sock = self.queue.watch_sock
            try:
                if sock is None:
                    raise ConnectionError("no connection")
                raw = sock.recv()
                if not raw:
                    raise ConnectionError("connection closed by the server")
            except Exception as exc:
                if self.closed:
                    return
                if self.logger:
                    self.logger.warning("connection closed (%s), try to reconnect", exc)
                if not self._reconnect():
                    return
                continue
            frame = queue_pb2.DataFrameProto()  # type: ignore[attr-defined]
            frame.ParseFromString(raw if isinstance(raw, bytes) else raw.encode())
            yield DataFrame(frame)

    def results(
        self, response: Any = None, errors: Literal["raise", "yield"] = "raise"
    ) -> Iterator[tuple[str, Any]]:
        """``(request_id, answer)`` of each pushed record of a sink, decoded.

        The answer is decoded with ``response`` (a request object, a response class
        such as ``easlab.TFResponse``, or a function of the bytes), else as the
        request put with that id asks (a ``TFRequest`` put from this process gives a
        ``TFResponse`` with numpy outputs), else it is the raw bytes.

        A record whose ``status`` tag is not 200 (the service failed on that input)
        raises ``PredictException(status, body text)``; with ``errors="yield"`` the
        exception is yielded as the answer instead. Either way the loop may go on:
        call ``results()`` again after an exception.

        Without ``auto_commit`` a record is committed when the next one is asked for
        (at least once: a record whose processing was cut short comes again).
        """
        pending: int | None = None
        for frame in self.run():
            if pending is not None:
                self.queue.commit(pending)
                pending = None
            if not self.auto_commit:
                pending = frame.index
            try:
                answer = decode_record(frame, response)
            except PredictException as exc:
                if errors != "yield":
                    if pending is not None:  # the failure is reported: done with it
                        self.queue.commit(pending)
                    raise
                answer = (getattr(exc, "request_id", ""), exc)
            yield answer

    def close(self) -> None:
        """Stop watching: ``run()`` ends, uncommitted records go to another consumer."""
        with self.queue.watch_lock:
            self.closed = True
            self.event.set()
            if self.queue.watcher is self or self.queue.watcher is None:
                sock, self.queue.watch_sock = self.queue.watch_sock, None
                self.queue.watcher = None
                if sock is not None:
                    try:
                        sock.abort()
                        sock.close()
                    except Exception:  # already gone
                        pass

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
