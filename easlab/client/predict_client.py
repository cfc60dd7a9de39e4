"""``PredictClient``: a drop-in for ``eas_prediction.PredictClient`` (SPEC.md §1–§2).

Code written for the official client runs after changing only its import line::

    from easlab import PredictClient, StringRequest

    client = PredictClient('http://127.0.0.1:8080', 'echo')
    client.set_token('...')
    client.init()
    resp = client.predict(StringRequest('[{}]'))

On top of the official surface, ``predict`` takes numpy arrays for a tensor
service (``client.predict({'images': x})``), a DataFrame or a list of dicts for a
JSON service, or raw bytes/str (``easlab.wire.build.to_request`` has the one
rule), and every response carries ``.latency``
(:class:`~easlab.client.latency.Latency`), ``.status_code`` and ``.headers``.

The client keeps the policy (endpoint choice, retries, signing through
:class:`~easlab.client.auth.EasAuth`) and hands each prepared request to its
:class:`~easlab.client.transport.Transport`, which sends it once and times it;
``PredictClient(..., transport=MockTransport(handler))`` replaces the network.

Where easlab deliberately differs from the official 0.36 client (SPEC.md §1):

* every 5xx is retried (the official client retries only 500), after a short capped
  exponential pause (50 ms, 100 ms, ... at most 1 s), or the answer's ``Retry-After``
  (at most 5 s), which the kernel sends with a 503 while a service is starting, so
  that retries do not hammer a restarting kernel (the official client retries at once);
* in direct mode a 450 (queue full) is retried on another backend;
* ``retry_count`` < 1 means one attempt (the official ``predict`` returns None);
* ``https://`` endpoints work (the official client builds ``http://https://...``);
* ``Date`` is the real GMT time (the official client sends local time labelled GMT);
* extra headers are never changed by a call (the official client writes the
  signature headers into them);
* a content type given with ``set_content_type`` is sent even without a token;
* environment proxies and ``.netrc`` are ignored, as urllib3 (the official transport) does;
* a gzip or deflate answer is decoded as urllib3 decodes it, but to 256 MiB at most
  (``HTTPTransport(max_decoded_bytes=...)``; urllib3 inflates a decompression bomb
  whole), and a cut stream is an error rather than a shorter answer.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import threading
import time
from typing import Any, Literal, overload

from easlab import _auth
from easlab.client.auth import EasAuth, clean_token
from easlab.client.discovery import DEFAULT_REFRESH_S, Backend, ServiceDiscovery
from easlab.client.endpoints import (
    CacheServerEndpoint,
    DiscoveredEndpoint,
    GatewayEndpoint,
    VipServerEndpoint,
    with_scheme,
)
from easlab.client.latency import Latency
from easlab.client.transport import (
    Headers,
    HTTPTransport,
    Request,
    Response,
    Transport,
    TransportError,
)
from easlab.errors import PredictException

#: the pause before retrying a 5xx answer: the first, doubled each time up to the cap
BACKOFF_FIRST_S = 0.05
BACKOFF_MAX_S = 1.0
#: a Retry-After longer than this is cut to it (one call must not wait for minutes)
RETRY_AFTER_MAX_S = 5.0

# Same string values as eas_prediction 0.36; GATEWAY is easlab's clearer alias.
ENDPOINT_TYPE_DEFAULT = "DEFAULT"
ENDPOINT_TYPE_GATEWAY = ENDPOINT_TYPE_DEFAULT
ENDPOINT_TYPE_DIRECT = "DIRECT"
ENDPOINT_TYPE_VIPSERVER = "VIPSERVER"
_ENDPOINT_TYPES = ("", ENDPOINT_TYPE_DEFAULT, ENDPOINT_TYPE_DIRECT, ENDPOINT_TYPE_VIPSERVER)


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The official client's ``StreamHandler(stream=sys.stdout)``, writing to the
    ``sys.stdout`` of the moment: a notebook (or pytest) replaces it per cell (test),
    and a handler kept on a named logger must not write to a stream long closed."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        """Ignored: the stream is always the current ``sys.stdout``."""


_HANDLER_LOCK = threading.Lock()


def client_logger(endpoint: str, service_name: str) -> logging.Logger:
    """The logger of a client, as the official client makes it: named
    ``"{endpoint}/{service_name}"`` (the constructor's arguments), at level ERROR,
    with a handler printing to stdout, so that a logging configuration written for
    the official client (and ``set_log_level``) works the same.

    The official client adds one more stdout handler per client made, and then
    prints each line once per client of that name; easlab adds one.
    """
    logger = logging.getLogger(f"{endpoint}/{service_name}")
    with _HANDLER_LOCK:  # clients made at once in two threads: still one handler
        if not any(isinstance(h, _StdoutHandler) for h in logger.handlers):
            logger.addHandler(_StdoutHandler())
    logger.setLevel(logging.ERROR)
    return logger


class PredictClient:
    """Client of one EAS service, with a pooled keep-alive connection per backend.

    Parameters
    ----------
    endpoint : the gateway (``http://host:port``, ``https://...`` or ``host:port``),
        or in direct mode the discovery endpoint.
    service_name : the service to call, e.g. ``mnist``.
    custom_url : a full URL to POST to instead of ``{endpoint}/api/predict/{service}``
        (``http://`` when it names no scheme, as the official client reads it);
        the token is then sent as is, not as a signature.
    transport : what sends the requests (keyword only); by default an
        ``HTTPTransport`` made at ``init()``; a ``MockTransport`` in unit tests.

    Setters change settings; ``init()`` applies the endpoint, endpoint type and
    pool size (the token, timeout, retries and headers are read at each call).
    ``predict`` calls ``init()`` itself when it was never called.
    """

    def __init__(
        self,
        endpoint: str = "",
        service_name: str = "",
        custom_url: str = "",
        *,
        transport: Transport | None = None,
    ) -> None:
        self.endpoint_name = endpoint
        self.service_name = service_name
        self.custom_url = custom_url
        self.endpoint_type = ""
        self.token = ""
        self.retry_count = 5
        self.max_connection_count = 100
        self.timeout: float = 5000
        self.content_type = ""
        self.headers: dict[str, str] = {}
        self.discovery_interval_s = DEFAULT_REFRESH_S
        #: where calls go, of the official endpoint classes (None before ``init()``)
        self.endpoint: GatewayEndpoint | DiscoveredEndpoint | None = None
        #: the official client's logger (None after ``QueueClient.set_logger(None)``: silent)
        self.logger: logging.Logger | None = client_logger(endpoint, service_name)
        #: Latency of the most recent successful call (from any thread).
        self.last_latency: Latency | None = None
        self._given_transport = transport
        self._transport: Transport | None = None
        self._discovery: ServiceDiscovery | None = None
        # (signature or None, status to report when there is none, why); None: not read yet
        self._signature: tuple[dict[str, Any] | None, int, str] | None = None
        # Serializes init()/destroy(): threads whose first predict() runs the lazy
        # init at once must not stop each other's session or discovery thread.
        self._lifecycle = threading.RLock()
        self._stopped = False

    # -- settings (official surface) ------------------------------------------------

    def set_endpoint(self, endpoint: str) -> None:
        """The gateway or discovery endpoint, e.g. ``http://127.0.0.1:8080``."""
        self.endpoint_name = endpoint

    def set_service_name(self, service_name: str) -> None:
        self.service_name = service_name
        self._signature = None

    def set_endpoint_type(self, endpoint_type: str) -> None:
        """``ENDPOINT_TYPE_DEFAULT`` (gateway), ``ENDPOINT_TYPE_DIRECT`` or ``ENDPOINT_TYPE_VIPSERVER``."""
        self.endpoint_type = endpoint_type

    def set_token(self, token: str) -> None:
        """The service's token; surrounding whitespace (a pasted line break) is not sent."""
        self.token = token

    def set_content_type(self, content_type: str) -> None:
        self.content_type = content_type

    def set_log_level(self, log_level: int | str) -> None:
        if self.logger is not None:
            self.logger.setLevel(log_level)

    def _log(self, level: int, message: str, *args: Any) -> None:
        """A line to ``self.logger``, unless there is none."""
        if self.logger is not None:
            self.logger.log(level, message, *args)

    def set_retry_count(self, count: int) -> None:
        """Total attempts per call (5 by default); 0 or less means one attempt."""
        self.retry_count = count

    def set_max_connection_count(self, count: int) -> None:
        """Connections kept alive per backend (100 by default); takes effect at ``init()``."""
        self.max_connection_count = count

    def set_timeout(self, timeout: int | float) -> None:
        """Timeout of one attempt, in milliseconds (5000 by default), for connect and each read."""
        self.timeout = timeout

    def add_extra_headers(self, headers: dict[str, str]) -> None:
        if not isinstance(headers, dict):
            raise TypeError(f"headers must be a dict, got {type(headers).__name__}")
        self.headers.update(headers)

    # -- easlab extras ----------------------------------------------------------------

    def set_discovery_interval(self, seconds: float) -> None:
        """How often direct mode refreshes its backend list (3 s by default); at ``init()``."""
        self.discovery_interval_s = seconds

    def set_transport(self, transport: Transport | None) -> None:
        """What sends the requests (None: an ``HTTPTransport``); takes effect at ``init()``."""
        self._given_transport = transport

    @property
    def transport(self) -> Transport | None:
        """The transport in use (None before ``init()``)."""
        return self._transport

    @property
    def connection_pool(self) -> Transport | None:
        """The pooled connections (the official client's urllib3 ``PoolManager``): here the
        transport, which also answers ``request(method, url, ...)`` and ``clear()``.
        None before ``init()``; kept by ``destroy()``, as the official client keeps it."""
        return self._transport

    @property
    def stop(self) -> bool:
        """True once ``destroy()`` ran: the official client's flag (an attribute, not a method).

        As there, setting it True stops refreshing the backend list (direct and
        VIPServer mode; the last list stays in use); ``destroy()`` also closes the
        connections.
        """
        return self._stopped

    @stop.setter
    def stop(self, value: bool) -> None:
        self._stopped = bool(value)
        if value and self._discovery is not None:
            self._discovery.stop()

    # -- lifecycle ----------------------------------------------------------------------

    def init(self) -> None:
        """Apply the settings: open the connection pool and, in direct mode, start discovery."""
        with self._lifecycle:
            self._init()

    def _init_once(self) -> None:
        """``init()`` unless done already (the lazy init of the first call, thread-safe)."""
        if self._transport is None:
            with self._lifecycle:
                if self._transport is None:
                    self._init()

    def _init(self) -> None:
        if self.endpoint_type not in _ENDPOINT_TYPES:
            raise PredictException(
                500,
                f"Unsupported endpoint type: {self.endpoint_type!r}; use ENDPOINT_TYPE_DEFAULT, "
                "ENDPOINT_TYPE_DIRECT or ENDPOINT_TYPE_VIPSERVER",
            )
        self._shutdown()
        endpoint: GatewayEndpoint | DiscoveredEndpoint
        if self.custom_url or self.endpoint_type in ("", ENDPOINT_TYPE_DEFAULT):
            endpoint = GatewayEndpoint(
                self.endpoint_name, self.service_name, self.logger, self.custom_url
            )
        else:
            if not self.endpoint_name:
                raise PredictException(
                    500,
                    f"endpoint type {self.endpoint_type} needs the discovery endpoint: "
                    "call set_endpoint('host:port') before init()",
                )
            refresh_s = self.discovery_interval_s
            if self.endpoint_type == ENDPOINT_TYPE_DIRECT:
                endpoint = CacheServerEndpoint(
                    self.endpoint_name, self.service_name, self.logger, refresh_s=refresh_s
                )
            else:
                endpoint = VipServerEndpoint(self.endpoint_name, self.logger, refresh_s=refresh_s)
            self._discovery = endpoint.discovery
            self._discovery.start()
            self._log(logging.DEBUG, "Endpoint sync thread started")

        transport = self._given_transport or HTTPTransport(self.max_connection_count)
        # endpoint first: a thread that sees the transport (_init_once) uses both
        self.endpoint = endpoint
        self._transport = transport
        self._signature = None  # the endpoint may now lead to another deployment
        self._stopped = False

    def destroy(self) -> None:
        """Stop refreshing the backends and close the connections; ``stop`` becomes True.

        As with the official client, ``endpoint`` and ``connection_pool`` stay and the
        client still answers: a later call opens a new connection to the endpoint as
        it was (in direct mode, the last backend list, no longer refreshed). ``init()``
        starts over.
        """
        with self._lifecycle:
            self.stop = True
            if self._transport is not None:
                self._transport.close()

    def _shutdown(self) -> None:
        if self._discovery is not None:
            self._discovery.stop()
            self._discovery = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self.endpoint = None

    def __enter__(self) -> PredictClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def __repr__(self) -> str:
        where = self.custom_url or self.endpoint_name or "(no endpoint)"
        kind = self.endpoint_type or ENDPOINT_TYPE_DEFAULT
        return f"PredictClient({where!r}, {self.service_name!r}, endpoint_type={kind!r})"

    # -- calls -------------------------------------------------------------------------

    def predict(
        self,
        req: Any,
        *,
        signature_name: str | None = None,
        fetch: list[Any] | None = None,
    ) -> Any:
        """Send one request; return its parsed response with ``.latency`` attached.

        ``req`` (named as the official client names it) is a request object
        (``to_string()`` / ``parse_response()``),
        ``bytes``/``str`` (sent as is), a numpy array, ``{name: array}`` or a list
        of arrays (torch) for a tensor service (its signature is read once from
        the service), or a DataFrame / list of dicts for a JSON (PMML-style) service.
        A dict is a tensor request built from the signature when the service has a
        tensor signature, and JSON otherwise (``easlab.wire.build.to_request``);
        ``signature_name`` and ``fetch`` go into a tensor request built so.
        Raises ``PredictException(code, message)``: the server's status and
        answer, or 500 when no attempt reached the service.
        """
        from easlab.wire.build import to_request

        self._init_once()
        started = time.perf_counter()
        request: Any = to_request(
            req, self.get_signature, signature_name=signature_name, fetch=fetch
        )
        body = _to_bytes(request.to_string())
        serialize_s = time.perf_counter() - started
        resp, attempts, sign_s = self._send("POST", body)
        parse_start = time.perf_counter()
        result = request.parse_response(resp.body)
        done = time.perf_counter()
        timing = resp.timing
        latency = Latency(
            serialize_ms=(serialize_s + sign_s) * 1000,
            send_ms=timing.send_ms,
            first_byte_ms=timing.first_byte_ms,
            read_ms=timing.read_ms,
            parse_ms=(done - parse_start) * 1000,
            total_ms=(done - started) * 1000,
            attempts=attempts,
        )
        self.last_latency = latency
        try:
            result.latency = latency
            result.status_code = resp.status
            result.headers = resp.headers
        except (AttributeError, TypeError):
            # A user-defined request may parse into an object that takes no
            # attributes (a str, a tuple): its latency is in client.last_latency.
            pass
        return result

    def send(self, body: bytes, method: str = "POST", path: str = "") -> Response:
        """One attempt, no retries: pick the endpoint, sign, send ``body``; the response
        whatever its status (``TransportError`` when none came).

        ``path`` (e.g. ``/metadata``) is appended to the service's URL: a Seldon
        service answers its REST paths under ``/api/predict/{name}``.

        What the notebook's ``%%eas predict``, ``easlab.bench`` and the debug widget
        use to show every exchange, failed ones too.
        """
        self._init_once()
        endpoint = self.endpoint
        backend = endpoint.pick() if isinstance(endpoint, DiscoveredEndpoint) else None
        response, _ = self._attempt(method, bytes(body), backend, path)
        return response

    @overload
    def get_signature(
        self, refresh: bool = ..., required: Literal[True] = ...
    ) -> dict[str, Any]: ...

    @overload
    def get_signature(self, refresh: bool = ..., *, required: bool) -> dict[str, Any] | None: ...

    def get_signature(self, refresh: bool = False, required: bool = True) -> dict[str, Any] | None:
        """The service's signature (``GET /api/predict/<service>``, SPEC.md §1), read once.

        Its ``"format"`` key names the request kind (tf, torch, blade, onnx, json;
        absent: tf). A service without one (python or custom processors: their GET
        reaches the processor) raises ``PredictException`` naming why, or gives None
        with ``required=False``; an answer of 5xx (a service starting or failing
        now) is not kept, so the next call asks again. A 401/403 (the token) and
        failures to reach the service always raise. This is the one reader of signatures: ``predict``,
        ``Service.signature`` and the notebook all call it.
        """
        read, keep = self._signature, True
        if read is None or refresh:
            self._init_once()
            read, keep = self._read_signature()
            self._signature = read if keep else None
        signature, status, why = read
        if signature is None and required and not keep:
            # Not "no signature": the service could not answer now (starting,
            # restoring after a kernel restart, failing); the next call asks again.
            raise PredictException(
                status,
                f"could not read the signature of service {self.service_name!r}, which "
                f"numpy inputs are encoded by ({why}); try again once the service is Running",
            )
        if signature is None and required:
            raise PredictException(
                status,
                f"service {self.service_name!r} has no tensor signature ({why}): numpy inputs "
                "need a tensor service (tf, torch, blade, onnx); send a request object, bytes, "
                "or a dict (sent as JSON) instead",
            )
        return signature

    def _read_signature(self) -> tuple[tuple[dict[str, Any] | None, int, str], bool]:
        """(signature or None, status, why) and whether to keep it: not an answer of
        5xx (503 while the service starts), so that the next call asks again."""
        resp, _, _ = self._send("GET", b"", purpose="reading the signature", any_status=True)
        answer = resp.text.strip()
        if resp.status in (401, 403):
            raise PredictException(resp.status, answer)
        if resp.status != 200:
            why = f"GET answered {resp.status}: {answer[:100]}"
            return (None, resp.status, why), resp.status < 500
        try:
            signature = json.loads(resp.body)
        except ValueError:
            return (None, 500, f"GET answered no JSON signature: {resp.body[:100]!r}"), True
        if not isinstance(signature, dict) or not isinstance(signature.get("inputs"), list):
            return (None, 500, f"GET answered {answer[:200]}"), True
        return (signature, 200, ""), True

    def _url(self, backend: Backend | None) -> str:
        if self.custom_url:
            return with_scheme(self.custom_url)
        if not self.service_name:
            raise PredictException(
                500,
                "no service name: pass PredictClient(endpoint, 'service') or set_service_name()",
            )
        base = "http://" + backend.address if backend is not None else self._static_base()
        return f"{base}/api/predict/{self.service_name}"

    def _static_base(self) -> str:
        if not isinstance(self.endpoint, GatewayEndpoint):
            raise PredictException(500, "the client was destroyed meanwhile: call init() again")
        return self.endpoint.get()

    def _prepare(
        self, method: str, body: bytes, backend: Backend | None, path: str = ""
    ) -> Request:
        """The request as it goes out: URL, extra headers, content type, then auth."""
        # http.client (the official transport) sends an int value as its decimal
        # text: so does easlab, whatever the transport.
        headers = Headers({"User-Agent": user_agent()})
        for key, value in self.headers.items():
            headers[key] = str(value) if isinstance(value, int) else value
        if self.content_type:
            headers["Content-Type"] = self.content_type
        request = Request(method, self._url(backend) + path, headers, body)
        auth = EasAuth(self.token, self.service_name, signed=not self.custom_url)
        return auth.apply(request)

    def generate_singaure(self, request_data: bytes | bytearray | str) -> dict[str, str]:
        """The auth headers of a POST of ``request_data`` (the official client's method, its spelling kept).

        As the official method, whether or not a token is set: ``Content-MD5``,
        ``Date``, ``Content-Type``, ``Content-Length`` and ``Authorization: EAS ...``
        (the signature), or for a ``custom_url`` client ``Date``, ``Content-Type``,
        ``Content-Length`` and the plain token as ``Authorization``. The content
        type is ``set_content_type``'s, else the extra headers', else
        ``application/octet-stream``. A str body is signed as its UTF-8 bytes.
        """
        body = _to_bytes(request_data)
        content_type = (
            self.content_type or self.headers.get("Content-Type") or _auth.DEFAULT_CONTENT_TYPE
        )
        if self.custom_url:
            return {
                "Date": _auth.http_date(),
                "Content-Type": content_type,
                "Content-Length": str(len(body)),
                "Authorization": clean_token(self.token),
            }
        return _auth.signed_headers(clean_token(self.token), body, self.service_name, content_type)

    def _attempt(
        self, method: str, body: bytes, backend: Backend | None, path: str = ""
    ) -> tuple[Response, float]:
        """One prepared, signed exchange: (response, seconds spent preparing and signing)."""
        transport = self._transport
        if transport is None:
            raise PredictException(500, "the client was destroyed meanwhile: call init() again")
        started = time.perf_counter()
        request = self._prepare(method, body, backend, path)
        prepared = time.perf_counter()
        self._log(logging.DEBUG, "Request to url: %s", request.url)
        response = transport.send(request, self.timeout / 1000.0)
        return response, prepared - started

    def _send(
        self, method: str, body: bytes, purpose: str = "predict", any_status: bool = False
    ) -> tuple[Response, int, float]:
        """Send with retries; return (response, attempts, sign seconds of the last attempt).

        Attempts: ``retry_count`` in total, as the official client counts them.
        Retried: failures to get an answer (refused, reset, timed out), and unless
        ``any_status`` every 5xx, and 450 in direct mode on another backend
        (SPEC.md §1); every other non-200 is raised at once. With ``any_status``
        the first answer is returned whatever its status.
        """
        endpoint = self.endpoint
        attempts = max(1, int(self.retry_count))
        failed: list[Backend] = []
        last: PredictException | None = None
        for attempt in range(1, attempts + 1):
            backend = endpoint.pick(failed) if isinstance(endpoint, DiscoveredEndpoint) else None
            try:
                resp, sign_s = self._attempt(method, body, backend)
            except TransportError as exc:
                cause = exc.reason
                if exc.timeout:
                    cause = f"no answer within {self.timeout} ms (set_timeout): {cause}"
                elif backend is not None and isinstance(endpoint, DiscoveredEndpoint):
                    # It refused or dropped the connection: leave it aside for a while.
                    endpoint.discovery.balancer.mark_failed(backend)
                elif exc.hint:
                    cause = f"{cause}: {exc.hint}"
                error = PredictException(500, f"url: {exc.url}, error: {cause}")
                error.__cause__ = exc
                if not exc.retryable:
                    raise error from exc
                last = error
                # the official client's line, "retrying" on the last attempt too
                self._log(logging.DEBUG, "Request failed, err: %s, retrying", cause)
                if backend is not None:
                    failed.append(backend)
                continue
            status = resp.status
            if status == 200 or any_status:
                return resp, attempt, sign_s
            message = resp.text
            if status >= 500 or (status == 450 and backend is not None):
                # 450: this backend's queue is full; another may take it (SPEC.md §1).
                last = PredictException(status, message)
                self._log(
                    logging.DEBUG,
                    "%s attempt %d/%d: HTTP %d %s",
                    purpose,
                    attempt,
                    attempts,
                    status,
                    message,
                )
                if backend is not None:
                    failed.append(backend)
                if status >= 500 and attempt < attempts:
                    # a starting or failing server: give it a moment, as it asks
                    _pause(retry_delay(attempt, resp.headers.get("Retry-After")))
                continue
            raise PredictException(status, message)
        assert last is not None
        if attempts > 1:
            last.message = f"{last.message} (after {attempts} attempts)"
            last.args = (last.code, last.message)
        raise last


def retry_delay(attempt: int, retry_after: str | None = None) -> float:
    """Seconds to wait before the retry that follows failed ``attempt`` (1, 2, ...).

    The answer's ``Retry-After`` (seconds, or an HTTP date) when it has one, at most
    ``RETRY_AFTER_MAX_S``; else ``BACKOFF_FIRST_S`` doubled per attempt, at most
    ``BACKOFF_MAX_S``.
    """
    asked = _retry_after_s(retry_after)
    if asked is not None:
        return min(asked, RETRY_AFTER_MAX_S)
    return min(BACKOFF_FIRST_S * 2 ** (attempt - 1), BACKOFF_MAX_S)


def _retry_after_s(value: str | None) -> float | None:
    """``Retry-After``'s seconds (RFC 9110 10.2.3: delay-seconds or an HTTP date); None
    when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _pause(seconds: float) -> None:
    """Wait between retries (a function of its own: tests record the pauses asked)."""
    if seconds > 0:
        time.sleep(seconds)


def _to_bytes(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"request.to_string() must return bytes or str, got {type(data).__name__}")


@functools.cache
def user_agent() -> str:
    """What easlab's clients send as ``User-Agent``."""
    from easlab import __version__

    return f"easlab/{__version__}"
