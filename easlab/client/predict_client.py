"""``PredictClient``: a drop-in for ``eas_prediction.PredictClient`` (SPEC.md §1–§2).

Code written for the official client runs after changing only its import line::

    from easlab import PredictClient, StringRequest

    client = PredictClient('http://127.0.0.1:8080', 'echo')
    client.set_token('...')
    client.init()
    resp = client.predict(StringRequest('[{}]'))

On top of the official surface, ``predict`` takes numpy arrays for a tensor
service (``client.predict({'images': x})``), a DataFrame or a list of dicts for a
JSON service, or raw bytes/str, and every response carries ``.latency``
(:class:`~easlab.client.latency.Latency`), ``.status_code`` and ``.headers``.

Where easlab deliberately differs from the official 0.36 client (SPEC.md §1):

* every 5xx is retried (the official client retries only 500);
* in direct mode a 450 (queue full) is retried on another backend;
* ``retry_count`` < 1 means one attempt (the official ``predict`` returns None);
* ``https://`` endpoints work (the official client builds ``http://https://...``);
* ``Date`` is the real GMT time (the official client sends local time labelled GMT);
* extra headers are never changed by a call (the official client writes the
  signature headers into them);
* a content type given with ``set_content_type`` is sent even without a token;
* environment proxies and ``.netrc`` are ignored, as urllib3 (the official transport) does.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
from requests.structures import CaseInsensitiveDict

from easlab import _auth
from easlab.client import latency as _latency
from easlab.client.discovery import (
    DEFAULT_REFRESH_S,
    Backend,
    ServiceDiscovery,
    UpstreamSource,
    VipServerSource,
)
from easlab.client.latency import Latency
from easlab.errors import PredictException

# Same string values as eas_prediction 0.36; GATEWAY is easlab's clearer alias.
ENDPOINT_TYPE_DEFAULT = "DEFAULT"
ENDPOINT_TYPE_GATEWAY = ENDPOINT_TYPE_DEFAULT
ENDPOINT_TYPE_DIRECT = "DIRECT"
ENDPOINT_TYPE_VIPSERVER = "VIPSERVER"
_ENDPOINT_TYPES = ("", ENDPOINT_TYPE_DEFAULT, ENDPOINT_TYPE_DIRECT, ENDPOINT_TYPE_VIPSERVER)

# Transport failures worth another attempt: refused/reset connections, timeouts,
# a body cut short. Anything else (a malformed URL...) is raised at once.
_RETRYABLE = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


def gateway_base(endpoint: str, service_name: str, namespace: str | None) -> str:
    """The base URL of a gateway endpoint, as the official client builds it (SPEC.md §1).

    ``host:port`` gets ``http://``; ``http://`` and ``https://`` URLs are kept;
    no endpoint inside an EAS pod means ``http://<service-name-with-dashes>.<NAMESPACE>:8080``.
    """
    if not endpoint:
        if not namespace:
            raise PredictException(
                500,
                "'endpoint' must be set when running outside eas service: pass "
                "PredictClient('http://host:port', 'service') or call set_endpoint()",
            )
        endpoint = f"{service_name.replace('_', '-')}.{namespace}:8080"
    if not endpoint.startswith(("http://", "https://")):
        endpoint = "http://" + endpoint
    return endpoint.rstrip("/")


class StaticEndpoint:
    """A fixed base URL (gateway mode or ``custom_url``); ``get()`` as the official Endpoint."""

    def __init__(self, base: str) -> None:
        self.base = base

    def get(self) -> str:
        return self.base

    def __repr__(self) -> str:
        return f"StaticEndpoint({self.base!r})"


class DiscoveredEndpoint:
    """Backends from service discovery (direct / VIPServer mode), by weighted round robin."""

    def __init__(self, discovery: ServiceDiscovery) -> None:
        self.discovery = discovery

    def pick(self, exclude: list[Backend] | None = None) -> Backend:
        return self.discovery.pick(exclude or ())

    def get(self) -> str:
        # Backends inside a VPC speak plain HTTP, as the official client assumes.
        return "http://" + self.pick().address

    def __repr__(self) -> str:
        return f"DiscoveredEndpoint({self.discovery.describe})"


class PredictClient:
    """Client of one EAS service, with a pooled keep-alive connection per backend.

    Parameters
    ----------
    endpoint : the gateway (``http://host:port``, ``https://...`` or ``host:port``),
        or in direct mode the discovery endpoint.
    service_name : the service to call, e.g. ``mnist``.
    custom_url : a full URL to POST to instead of ``{endpoint}/api/predict/{service}``;
        the token is then sent as is, not as a signature.

    Setters change settings; ``init()`` applies the endpoint, endpoint type and
    pool size (the token, timeout, retries and headers are read at each call).
    ``predict`` calls ``init()`` itself when it was never called.
    """

    def __init__(self, endpoint: str = "", service_name: str = "", custom_url: str = "") -> None:
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
        self.endpoint: StaticEndpoint | DiscoveredEndpoint | None = None
        self.logger = logging.getLogger(f"easlab.client.{service_name or 'predict'}")
        #: Latency of the most recent successful call (from any thread).
        self.last_latency: Latency | None = None
        self._session: requests.Session | None = None
        self._discovery: ServiceDiscovery | None = None
        self._signature: dict[str, Any] | None = None
        # Serializes init()/destroy(): threads whose first predict() runs the lazy
        # init at once must not stop each other's session or discovery thread.
        self._lifecycle = threading.RLock()

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
        self.token = token

    def set_content_type(self, content_type: str) -> None:
        self.content_type = content_type

    def set_log_level(self, log_level: int | str) -> None:
        self.logger.setLevel(log_level)

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

    # -- lifecycle ----------------------------------------------------------------------

    def init(self) -> None:
        """Apply the settings: open the connection pool and, in direct mode, start discovery."""
        with self._lifecycle:
            self._init()

    def _init_once(self) -> None:
        """``init()`` unless done already (the lazy init of the first call, thread-safe)."""
        if self._session is None:
            with self._lifecycle:
                if self._session is None:
                    self._init()

    def _init(self) -> None:
        if self.endpoint_type not in _ENDPOINT_TYPES:
            raise PredictException(
                500,
                f"Unsupported endpoint type: {self.endpoint_type!r}; use ENDPOINT_TYPE_DEFAULT, "
                "ENDPOINT_TYPE_DIRECT or ENDPOINT_TYPE_VIPSERVER",
            )
        self._shutdown()
        endpoint: StaticEndpoint | DiscoveredEndpoint
        if self.custom_url:
            endpoint = StaticEndpoint(self.custom_url)
        elif self.endpoint_type in ("", ENDPOINT_TYPE_DEFAULT):
            endpoint = StaticEndpoint(
                gateway_base(self.endpoint_name, self.service_name, os.environ.get("NAMESPACE"))
            )
        else:
            if not self.endpoint_name:
                raise PredictException(
                    500,
                    f"endpoint type {self.endpoint_type} needs the discovery endpoint: "
                    "call set_endpoint('host:port') before init()",
                )
            source: UpstreamSource | VipServerSource
            if self.endpoint_type == ENDPOINT_TYPE_DIRECT:
                source = UpstreamSource(self.endpoint_name, self.service_name)
                describe = source.url
            else:
                source = VipServerSource(self.endpoint_name)
                describe = f"VIPServer domain {self.endpoint_name}"
            self._discovery = ServiceDiscovery(
                source, describe=describe, refresh_s=self.discovery_interval_s
            )
            self._discovery.start()
            endpoint = DiscoveredEndpoint(self._discovery)

        session = requests.Session()
        session.trust_env = False
        session.headers["User-Agent"] = f"easlab/{_version()} {session.headers['User-Agent']}"
        adapter = _latency.TimedAdapter(
            pool_connections=16,
            pool_maxsize=max(1, int(self.max_connection_count)),
            max_retries=0,  # easlab counts attempts itself
            pool_block=False,
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        # endpoint first: a thread that sees the session (_init_once) uses both
        self.endpoint = endpoint
        self._session = session
        self._signature = None  # the endpoint may now lead to another deployment

    def destroy(self) -> None:
        """Stop discovery and close the connections; a later ``predict`` calls ``init()`` again."""
        with self._lifecycle:
            self._shutdown()

    def _shutdown(self) -> None:
        if self._discovery is not None:
            self._discovery.stop()
            self._discovery = None
        if self._session is not None:
            self._session.close()
            self._session = None
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

    def predict(self, request: Any) -> Any:
        """Send one request; return its parsed response with ``.latency`` attached.

        ``request`` is a request object (``to_string()`` / ``parse_response()``),
        ``bytes``/``str`` (sent as is), a numpy array, ``{name: array}`` or a list
        of arrays (torch) for a tensor service (its signature is read once from
        the service), or a DataFrame / list of dicts for a JSON (PMML-style) service.
        Raises ``PredictException(code, message)``: the server's status and
        answer, or 500 when no attempt reached the service.
        """
        self._init_once()
        started = time.perf_counter()
        request = self._as_request(request)
        body = _to_bytes(request.to_string())
        serialize_s = time.perf_counter() - started
        resp, content, timing, attempts = self._exchange("POST", body)
        parse_start = time.perf_counter()
        result = request.parse_response(content)
        done = time.perf_counter()
        sign_s, send_s, first_byte_s, read_s = timing
        latency = Latency(
            serialize_ms=(serialize_s + sign_s) * 1000,
            send_ms=send_s * 1000,
            first_byte_ms=first_byte_s * 1000,
            read_ms=read_s * 1000,
            parse_ms=(done - parse_start) * 1000,
            total_ms=(done - started) * 1000,
            attempts=attempts,
        )
        self.last_latency = latency
        try:
            result.latency = latency
            result.status_code = resp.status_code
            result.headers = resp.headers
        except (AttributeError, TypeError):
            # A user-defined request may parse into an object that takes no
            # attributes (a str, a tuple): its latency is in client.last_latency.
            pass
        return result

    def get_signature(self, refresh: bool = False) -> dict[str, Any]:
        """The service's signature (``GET /api/predict/<service>``, SPEC.md §1), read once.

        Its ``"format"`` key names the request kind (tf, torch, blade, onnx; absent: tf).
        """
        if self._signature is not None and not refresh:
            return self._signature
        self._init_once()
        _, content, _, _ = self._exchange("GET", b"", purpose="reading the signature")
        try:
            signature = json.loads(content)
        except ValueError as e:
            raise PredictException(
                500,
                f"service {self.service_name!r} answered GET with no JSON signature "
                f"({content[:100]!r}): numpy inputs need a tensor service (tf, torch, blade, "
                "onnx); send a request object or bytes instead",
            ) from e
        if not isinstance(signature, dict) or not isinstance(signature.get("inputs"), list):
            raise PredictException(
                500,
                f"service {self.service_name!r} has no tensor signature (got {signature!r:.200}): "
                "numpy inputs need a tensor service; send a request object or bytes instead",
            )
        self._signature = signature
        return signature

    def _as_request(self, request: Any) -> Any:
        if hasattr(request, "to_string") and hasattr(request, "parse_response"):
            return request
        if isinstance(request, (bytes, bytearray, memoryview, str)):
            from easlab.wire.string import StringRequest

            return StringRequest(bytes(request) if not isinstance(request, str) else request)
        if _is_dataframe(request) or (
            isinstance(request, list) and request and all(isinstance(r, Mapping) for r in request)
        ):
            from easlab.wire.build import build_request

            return build_request("json", request)
        import numpy as np

        arrays = isinstance(request, (list, tuple)) and all(
            isinstance(x, np.ndarray) for x in request
        )
        if isinstance(request, (np.ndarray, Mapping)) or (arrays and request):
            from easlab.wire.build import request_from_signature

            # The signature says which request kind to build (its "format") and
            # lets the inputs be checked before anything is sent.
            return request_from_signature(self.get_signature(), request)
        raise TypeError(
            f"predict() cannot send a {type(request).__name__}: pass a request object "
            "(TFRequest, StringRequest, ...), bytes or str, a numpy array or {name: array}, "
            "or a DataFrame / list of dicts"
        )

    def _url(self, backend: Backend | None) -> str:
        if self.custom_url:
            return self.custom_url
        if not self.service_name:
            raise PredictException(
                500,
                "no service name: pass PredictClient(endpoint, 'service') or set_service_name()",
            )
        base = "http://" + backend.address if backend is not None else self._static_base()
        return f"{base}/api/predict/{self.service_name}"

    def _static_base(self) -> str:
        if not isinstance(self.endpoint, StaticEndpoint):
            raise PredictException(500, "the client was destroyed meanwhile: call init() again")
        return self.endpoint.get()

    def _headers(self, method: str, body: bytes) -> CaseInsensitiveDict[str]:
        # http.client (the official transport) sends an int value as its decimal
        # text; requests would refuse it, so convert it here.
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(
            {k: str(v) if isinstance(v, int) else v for k, v in self.headers.items()}
        )
        if self.content_type:
            headers["Content-Type"] = self.content_type
        if not self.token:
            return headers
        if method != "POST" or self.custom_url:
            # The signature covers POST bodies only; the plain token is the other
            # accepted form (SPEC.md §1), and what the official client sends to a custom_url.
            headers["Authorization"] = self.token
            if method == "POST":
                headers["Date"] = _auth.http_date()
                headers.setdefault("Content-Type", _auth.DEFAULT_CONTENT_TYPE)
            return headers
        content_type = headers.get("Content-Type") or _auth.DEFAULT_CONTENT_TYPE
        headers.update(_auth.signed_headers(self.token, body, self.service_name, content_type))
        return headers

    def _exchange(
        self, method: str, body: bytes, purpose: str = "predict"
    ) -> tuple[requests.Response, bytes, tuple[float, float, float, float], int]:
        """Send with retries; return (response, body, (sign, send, first byte, read) s, attempts).

        Attempts: ``retry_count`` in total, as the official client counts them.
        Retried: transport errors and timeouts, every 5xx, and 450 in direct mode
        on another backend (SPEC.md §1). Every other non-200 is raised at once.
        """
        session = self._session
        if session is None:
            raise PredictException(500, "the client was destroyed meanwhile: call init() again")
        endpoint = self.endpoint
        attempts = max(1, int(self.retry_count))
        timeout_s = self.timeout / 1000.0
        failed: list[Backend] = []
        last: PredictException | None = None
        for attempt in range(1, attempts + 1):
            backend = endpoint.pick(failed) if isinstance(endpoint, DiscoveredEndpoint) else None
            url = self._url(backend)
            sign_start = time.perf_counter()
            headers = self._headers(method, body)
            send_start = _latency.start_send()
            try:
                resp = session.request(
                    method,
                    url,
                    data=body if method == "POST" else None,
                    headers=headers,
                    timeout=(timeout_s, timeout_s),
                    stream=True,
                    allow_redirects=False,
                )
                first_byte = time.perf_counter()
                content = resp.content
                read_done = time.perf_counter()
            except _RETRYABLE as e:
                cause = _root_cause(e)
                if _is_timeout(e):
                    cause = f"no answer within {self.timeout} ms (set_timeout): {cause}"
                elif backend is not None and isinstance(endpoint, DiscoveredEndpoint):
                    # It refused or dropped the connection: leave it aside for a while.
                    endpoint.discovery.balancer.mark_failed(backend)
                last = PredictException(500, f"url: {url}, error: {cause}")
                self.logger.debug("%s attempt %d/%d failed: %s", purpose, attempt, attempts, cause)
                if backend is not None:
                    failed.append(backend)
                continue
            except requests.exceptions.RequestException as e:
                raise PredictException(500, f"url: {url}, error: {_root_cause(e)}") from e
            status = resp.status_code
            if status == 200:
                sent = _latency.sent_at() or send_start
                timing = (
                    send_start - sign_start,
                    sent - send_start,
                    first_byte - sent,
                    read_done - first_byte,
                )
                return resp, content, timing, attempt
            message = content.decode("utf-8", errors="replace")
            if status >= 500 or (status == 450 and backend is not None):
                # 450: this backend's queue is full; another may take it (SPEC.md §1).
                last = PredictException(status, message)
                self.logger.debug(
                    "%s attempt %d/%d: HTTP %d %s", purpose, attempt, attempts, status, message
                )
                if backend is not None:
                    failed.append(backend)
                continue
            raise PredictException(status, message)
        assert last is not None
        if attempts > 1:
            last.message = f"{last.message} (after {attempts} attempts)"
            last.args = (last.code, last.message)
        raise last


def _to_bytes(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"request.to_string() must return bytes or str, got {type(data).__name__}")


def _causes(error: BaseException) -> list[BaseException]:
    """A requests/urllib3 error and the errors it wraps, outermost first."""
    chain: list[BaseException] = [error]
    cause: BaseException = error
    while True:
        inner = getattr(cause, "reason", None)
        if not isinstance(inner, BaseException) and cause.args:
            inner = cause.args[0] if isinstance(cause.args[0], BaseException) else None
        if not isinstance(inner, BaseException) or any(inner is c for c in chain):
            return chain
        chain.append(inner)
        cause = inner


def _root_cause(error: BaseException) -> str:
    """The innermost reason of a requests/urllib3 error (``[Errno 111] Connection refused``...)."""
    return str(_causes(error)[-1])


def _is_timeout(error: BaseException) -> bool:
    """A timeout, also when requests reports a body read timeout as a ConnectionError."""
    import urllib3.exceptions

    kinds = (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)
    return any(isinstance(c, kinds) for c in _causes(error))


def _is_dataframe(obj: object) -> bool:
    pandas = sys.modules.get("pandas")  # a DataFrame can exist only if pandas is imported
    return pandas is not None and isinstance(obj, pandas.DataFrame)


def _version() -> str:
    from easlab import __version__

    return __version__
