"""The kernel's routes: predictions, built-ins, discovery and the control API.

Prediction bodies go to the service's instances as they arrived: the token is
checked on the bytes, and nothing is copied or decoded on the way
(BENCH-ANCHORS.md). Control calls pass the lock (guard.py) and go to api.py.
What a request's head alone already refuses is answered before its body is
read (``KernelServer.refusal``), with the same answer as after it.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import time
import traceback
from collections.abc import Callable
from typing import Any

from easlab._auth import DEFAULT_CONTENT_TYPE, signature, verify
from easlab.kernel import awake
from easlab.kernel.api import API, handle
from easlab.kernel.call import Call, HttpCall
from easlab.kernel.control import Kernel, not_found_message
from easlab.kernel.guard import ControlGuard
from easlab.kernel.http import (
    APPLICATION_JSON,
    DEFAULT_MAX_BODY,
    OCTET_STREAM,
    TEXT_PLAIN,
    Answer,
    HttpConnection,
    Refusal,
    Request,
)
from easlab.kernel.limits import HttpLimits
from easlab.kernel.processors import SELDON
from easlab.kernel.processors.http import HTTP_AWARE, HttpAnswer, HttpRequest
from easlab.kernel.queue_http import serve as serve_queue
from easlab.runtime import WILDCARD_HOSTS

_PREDICT = "/api/predict/"
_BUILTIN = "/api/builtin/"
_METRICS = "/metrics"
#: what a service path serves for an ordinary processor (SPEC §1): a prediction is a
#: POST; a GET reads a tensor service's signature (or, without one, reaches process())
_PREDICT_METHODS = b"POST, GET, HEAD, OPTIONS"
_DISCOVERY = (
    "/api/v1/servicediscovery/upstreams/",
    "/exported/apis/eas.alibaba-inc.k8s.io/v1/upstreams/",
)


class KernelServer:
    """Routes parsed requests: predictions, built-ins, discovery and control."""

    def __init__(
        self,
        kernel: Kernel,
        guard: ControlGuard,
        max_body: int = DEFAULT_MAX_BODY,
        limits: HttpLimits | None = None,
    ) -> None:
        self.kernel = kernel
        self.guard = guard
        self.max_body = max_body
        self.limits = limits or HttpLimits()
        self.max_connections = self.limits.cap("max_connections")
        #: the open-file limit max_connections was lowered to fit (server.py), if it was
        self.open_files: int | None = None
        self.connections: set[HttpConnection] = set()  # open and served (not refused)
        # connections upgraded to a websocket (a queue's watch): no longer HTTP, still
        # held open, so counted against max_connections with the HTTP ones
        self.upgraded: set[object] = set()
        # those of them admitted past max_connections, oldest first (limits.ADMIN_RESERVE)
        self.reserve: dict[HttpConnection, None] = {}
        # request bodies held (being received, or parsed and not yet answered), all
        # connections together, and their cap: never below one body of max_body
        self.body_bytes = 0
        self.max_body_buffer = max(self.limits.cap("max_body_buffer"), max_body)
        # of them, those arriving that only their body can authenticate (caller_unknown)
        self.unchecked_bytes = 0
        self.max_unchecked = max(self.max_body_buffer // 4, max_body)
        self._sweep_s = self.limits.sweep_interval
        if self._sweep_s is not None:
            kernel.loop.call_later(self._sweep_s, self._sweep)
        self.in_flight = 0  # requests parsed and not yet answered, all connections
        self.requests = 0  # requests parsed since start (the idle watch compares it)
        self.last_sender = 0  # id() of the connection the last request came on
        self.streak = 0  # requests in a row before it on that same connection
        self.answers = 0  # keep-alive answers with nothing pipelined behind them
        self.poll_misses = 0  # client waits (CLIENT_POLL_S) in a row without a request

    def _sweep(self) -> None:
        """Close stalled and idle connections (HttpConnection.check_timeouts), then again later.

        One pass over the open connections every ``sweep_interval`` costs less than
        a timer per request on the keep-alive path, and reads no clock per request.
        """
        now = time.monotonic()
        for conn in tuple(self.connections):
            conn.check_timeouts(now)
        assert self._sweep_s is not None
        self.kernel.loop.call_later(self._sweep_s, self._sweep)

    def connections_full(self) -> str:
        """The 503's words past max_connections."""
        return self.limits.too_many_connections(self.open_files)

    def too_big_message(self, size: int) -> str:
        return (
            f"request body of {size} bytes is above the kernel's limit of {self.max_body} bytes; "
            "send less, or start the kernel with a larger --max-body"
        )

    def handle(self, conn: HttpConnection, req: Request) -> None:
        path = req.path
        try:
            if path.startswith(_PREDICT):
                self.predict(conn, req, path[len(_PREDICT) :])
            elif path.startswith(_BUILTIN):
                self.builtin(conn, req, path[len(_BUILTIN) :])
            elif path.startswith(_DISCOVERY):
                self.discovery(conn, req)
            elif path == API or path.startswith(API + "/"):
                if self._refused(conn, req):
                    return
                self.kernel.loop.create_task(self.control(conn, req))
            elif path == _METRICS:
                # Prometheus text; locked like the control plane (a scrape sends the token)
                if self._refused(conn, req):
                    return
                if req.method != b"GET":
                    conn.respond_json(405, {"error": "/metrics takes GET", "field": None})
                    return
                from easlab.kernel.prometheus import CONTENT_TYPE_LATEST, exposition

                conn.respond(200, exposition(self.kernel), CONTENT_TYPE_LATEST.encode())
            else:
                conn.respond_json(404, self._no_route(path))
        except Exception:  # a kernel fault: answer 500, keep serving
            traceback.print_exc()
            conn.respond(500, b"internal error in the easlab kernel (see its log)", close=True)

    @staticmethod
    def _no_route(path: str) -> dict[str, Any]:
        return {"error": f"no route {path}; predictions go to /api/predict/<service>"}

    def refusal(
        self, method: bytes, path: str, headers: dict[bytes, bytes], has_body: bool | None
    ) -> Refusal | None:
        """How to refuse a request from its head alone, or None when it may need its body.

        Called when the head of a request with a body is complete (HttpConnection),
        so that a client without a token makes the kernel hold nothing: the answer
        goes out before the body is read, and the body is dropped. Only what is
        certain without the body is refused, with the answer ``handle`` would give
        after it: an unknown service (404), a missing or wrong token (401; an EAS
        signature is checked against its Content-MD5 header: ``_may_pass``; a seldon
        service's CORS preflight needs none: ``predict``), a control call the lock
        refuses (guard.py), a path with no route. ``has_body`` is None for a chunked
        body, whose emptiness is known only at its end: the returned function takes
        it then.
        """
        if path.startswith(_PREDICT):
            return self._predict_refusal(method, path, headers)
        if path == API or path.startswith(API + "/") or path == _METRICS:
            return self._guard_refusal(method, headers, has_body)
        if path.startswith(_BUILTIN) or path.startswith(_DISCOVERY):
            return None
        body = json.dumps(self._no_route(path)).encode()
        return lambda _: (404, body, APPLICATION_JSON, b"")

    def _predict_refusal(
        self, method: bytes, path: str, headers: dict[bytes, bytes]
    ) -> Refusal | None:
        name = path[len(_PREDICT) :]
        raw = headers.get(b"authorization")
        auth = raw.decode("latin-1") if raw is not None else None
        queue = self.kernel.queues.get(name)
        if queue is not None:  # as queue_http.serve, which checks the same after the body
            if not queue.token or _may_pass(queue.token, auth, headers, path):
                return None
            answer: Answer = (401, queue.bad_token(not auth), TEXT_PLAIN, b"")
            return lambda _: answer
        route = self.kernel.router.lookup(name)
        if route is None:
            status, text, extra = self._missing(name, headers)
            answer = (status, text, TEXT_PLAIN, extra)
            return lambda _: answer
        if _may_pass(route.token, auth, headers, path):
            return None
        if method == b"OPTIONS" and _serves_seldon(route) and _is_preflight(headers):
            return None  # answered without a token, as predict() answers it
        entry = self.kernel.services.get(route.name)
        if entry is not None:  # the monitor's 401 count
            now = time.monotonic()
            entry.stats.record(401, now, now)
        # a seldon service's answers carry CORS headers (seldon-core's): its 401 too, so
        # that a page's script reads why it was refused (the component never runs)
        sub_path = name[len(route.name) :]
        cors = (
            _seldon_headers_of(method, sub_path, headers, route.name)
            if _serves_seldon(route)
            else b""
        )
        answer = (401, self._bad_token(route.name, auth is None), TEXT_PLAIN, cors)
        return lambda _: answer

    def caller_unknown(self, path: str, headers: dict[bytes, bytes]) -> bool:
        """Whether only this request's body can tell if its caller has the token: a
        predict call with an EAS signature and no usable Content-MD5 header (``_may_pass``).
        http.py holds such bodies within a share of max_body_buffer of their own, so that
        callers who sign falsely cannot fill it for everyone."""
        if not path.startswith(_PREDICT):
            return False
        auth = headers.get(b"authorization")
        return (
            auth is not None
            and auth.startswith(b"EAS ")
            and _hex_md5(headers.get(b"content-md5")) is None
        )

    def _guard_refusal(
        self, method: bytes, headers: dict[bytes, bytes], has_body: bool | None
    ) -> Refusal | None:
        def header(name: bytes) -> str | None:
            value = headers.get(name)
            return value.decode("latin-1") if value is not None else None

        args = (
            method,
            header(b"host"),
            header(b"origin"),
            header(b"content-type"),
            header(b"authorization"),
        )
        answers: dict[bool, Answer] = {}
        for body in (True, False) if has_body is None else (has_body,):
            refused = self.guard.refuse(*args, body)
            if refused is None:
                # the lock lets it through (with such a body): the body is read, and
                # the lock checks again once it has it (handle)
                return None
            error = json.dumps({"error": refused[1], "field": None}).encode()
            answers[body] = (refused[0], error, APPLICATION_JSON, b"")
        return lambda body: answers.get(body) or next(iter(answers.values()))

    def _refused(self, conn: HttpConnection, req: Request) -> bool:
        """Answer and say True when the control plane's lock refuses the call (guard.py)."""
        refused = self.guard.refuse(
            req.method,
            req.header(b"host"),
            req.header(b"origin"),
            req.header(b"content-type"),
            req.header(b"authorization"),
            bool(req.body),
        )
        if refused is None:
            return False
        conn.respond_json(refused[0], {"error": refused[1], "field": None})
        return True

    def _missing_status(self, name: str) -> int:
        """503 (try again) for a service a restarted kernel is still restoring, else 404."""
        return 503 if name.split("/", 1)[0] in self.kernel.restoring else 404

    def _missing(self, name: str, headers: dict[bytes, bytes]) -> tuple[int, bytes, bytes]:
        """The answer for a path with no service: status, text, and ``Retry-After``
        with a 503 (being restored), so that a client retries after a pause."""
        status = self._missing_status(name)
        raw = headers.get(b"authorization")
        admin = self.guard.token_ok(raw.decode("latin-1") if raw is not None else None)
        return status, self._not_found(name, admin), RETRY_AFTER if status == 503 else b""

    def _not_found(self, name: str, admin: bool) -> bytes:
        """Why ``name`` has no service. The data plane takes calls from anyone who can
        reach the kernel, so the list of services goes only to a caller that sent the
        admin token, as the control plane's 404 does; others are told where to find it."""
        router = self.kernel.router
        released = self.kernel.services.get(name.split("/", 1)[0])
        entry = router.entry_of(released) if released is not None else None
        if entry is not None and released is not None:  # its own path closed at release
            service = released.name
            share = entry.weights().get(service, 0)
            return (
                f"service '{service}' has no path of its own since `easlab release`: it "
                f"serves {share}% of /api/predict/{entry.name} (call that, with "
                f"'{entry.name}''s token)"
            ).encode()
        if name in self.kernel.unrestored:
            return self.kernel.unrestored_message(name, why=False).encode()
        if name.split("/", 1)[0] in self.kernel.restoring:
            return self.kernel.restoring_message(name.split("/", 1)[0]).encode()
        base, _, rest = name.partition("/")
        if rest == "sink" and base in self.kernel.queue_services:
            return (
                f"queue service '{base}' has no sink: only an asynchronous service "
                f"(metadata.type Async) has one; a queue service's records are read from "
                f"'{base}' itself"
            ).encode()
        if not admin:
            return (
                f"service '{name}' not found: `easlab ls` (or `%eas ls`) lists this kernel's "
                "services (a call without the admin token is not told their names)"
            ).encode()
        # the same list as the control plane's 404: queue services have no route
        return not_found_message(name, [*router.names(), *self.kernel.queue_services]).encode()

    @staticmethod
    def _bad_token(name: str, missing: bool) -> bytes:
        why = "missing" if missing else "wrong"
        return (
            f"{why} token for service '{name}': send the service token as the "
            "Authorization header, or an EAS signature (client.set_token)"
        ).encode()

    def predict(self, conn: HttpConnection, req: Request, name: str) -> None:
        queue = self.kernel.queues.get(name)
        if queue is not None:  # a queue service, or an async service's input or sink
            serve_queue(conn, req, queue, self.kernel.loop)
            return
        route = self.kernel.router.lookup(name)
        if route is None:
            status, text, extra = self._missing(name, req.headers)
            conn.respond(status, text, extra=extra)
            return
        if req.method == b"OPTIONS" and _serves_seldon(route) and _is_preflight(req.headers):
            # A browser sends a CORS preflight without credentials, so no token can come
            # with it: answered as seldon-core's CORS(app) answers it, by the kernel (the
            # component never runs without the token). It tells no more than a 401
            # would, but that the service speaks Seldon's REST paths.
            self._seldon_options(conn, req, route.name)
            return
        auth = req.headers.get(b"authorization")
        if auth is None or not verify(
            route.token,
            auth.decode("latin-1"),
            req.body,
            req.header(b"content-type"),
            req.header(b"date"),
            req.path,
        ):
            entry = self.kernel.services.get(route.name)
            if entry is not None:  # the monitor's 401 count
                entry.stats.record(401, req.started, time.monotonic())
            # as _predict_refusal
            cors = _seldon_headers(req, route.name) if _serves_seldon(route) else b""
            conn.respond(401, self._bad_token(route.name, auth is None), extra=cors)
            return
        service = route.pick()
        if service is None:
            message = f"service '{route.name}' has no backend with weight > 0".encode()
            seldon = route.backends and all(s.current.target == SELDON for s, _ in route.backends)
            cors = _seldon_headers(req, route.name) if seldon else b""
            conn.respond(503, message, TEXT_PLAIN, extra=cors)
            return
        target = service.current.target
        if target in HTTP_AWARE:
            # the component's own REST contract under the service path (processors/http.py)
            if target == SELDON and req.method == b"OPTIONS":
                self._seldon_options(conn, req, route.name)  # flask's or the executor's
                return
            self._submit_http(conn, req, service, route.name)
            return
        method = req.method
        if method != b"POST" and method != b"GET" and method != b"HEAD":
            self._not_predict_method(conn, req, route.name, service)
            return
        if method == b"GET" and service.current.signature is not None:
            sig = dict(service.current.signature)
            sig.setdefault("format", service.current.request_format or "tf")
            conn.respond_json(200, sig)
            return
        started = req.started
        stats = service.stats

        def answer(status: int, body: bytes | bytearray) -> None:
            inst = call.instance
            stats.record(status, started, time.monotonic(), -1 if inst is None else inst.index)
            if status == 200:
                conn.respond(200, body, OCTET_STREAM)
            else:
                # SPEC §1: 408 and 450 also close the connection.
                conn.respond(status, body, TEXT_PLAIN, status in (408, 450), _retry(call, service))

        call = Call(req.body, answer)
        call.alone = self._alone()
        service.submit(call)

    @staticmethod
    def _not_predict_method(conn: HttpConnection, req: Request, entry: str, service: Any) -> None:
        """A method other than POST, GET, HEAD at a service path (SPEC §1): OPTIONS says
        which are served; any other is 405, never handed to the processor as a
        prediction. Queue services and HTTP-aware processors answer their own methods."""
        allow = b"Allow: " + _PREDICT_METHODS + b"\r\n"
        if req.method == b"OPTIONS":
            # RFC 9110 9.3.7: an OPTIONS answer without content says Content-Length: 0
            conn.respond(200, b"", TEXT_PLAIN, extra=allow)
            return
        method = req.method.decode("latin-1")
        message = (
            f"{method} is not served at /api/predict/{entry}: send the request to it with "
            "POST (GET reads a tensor service's signature); the methods served there are "
            + _PREDICT_METHODS.decode()
        )
        service.stats.record(405, req.started, time.monotonic())
        conn.respond(405, message.encode(), TEXT_PLAIN, extra=allow)

    @staticmethod
    def _seldon_options(conn: HttpConnection, req: Request, entry: str) -> None:
        """An OPTIONS to a seldon service, answered 200, empty: as seldon-core's executor
        answers it on its paths, as flask answers it in its microservice on the others,
        each with the headers it adds (seldon/cors.py)."""
        from easlab.seldon.cors import options_answer

        sub_path = req.path[len(_PREDICT) + len(entry) :]
        content_type, headers = options_answer(sub_path, _header_of(req), entry)
        conn.respond(200, b"", content_type.encode("latin-1"), extra=_header_lines(headers))

    def _submit_http(self, conn: HttpConnection, req: Request, service: Any, entry: str) -> None:
        """Hand an HTTP-aware processor the method, sub-path, query and body."""
        sub_path = req.path[len(_PREDICT) + len(entry) :]
        # every answer, as seldon-core's, the kernel's own refusals included
        extra = _seldon_headers(req, entry) if service.current.target == SELDON else b""
        envelope = HttpRequest(
            req.method.decode("latin-1"),
            sub_path,
            req.query,
            req.header(b"content-type"),
            req.body,
        ).encode()
        started = req.started
        stats = service.stats

        def answer(status: int, body: bytes | bytearray) -> None:
            inst = call.instance
            stats.record(status, started, time.monotonic(), -1 if inst is None else inst.index)
            if call.by_kernel:
                # the kernel's own refusal (408, 450, 502, 503): its text, and SPEC §1's
                # close after 408 and 450; with the CORS headers, so that a browser reads it
                conn.respond(
                    status, body, TEXT_PLAIN, status in (408, 450), extra + _retry(call, service)
                )
                return
            try:
                reply = HttpAnswer.decode(status, body)  # the processor's: its content type
            except ValueError as exc:  # (a component's content type with a line break)
                message = f"service '{entry}' gave an answer that cannot be sent: {exc}"
                conn.respond(500, message.encode(), TEXT_PLAIN, False, extra)
                return
            own = extra + _header_lines(list(reply.headers)) if reply.headers else extra
            conn.respond(status, reply.body, reply.content_type.encode("latin-1"), False, own)

        call = HttpCall(envelope, answer)
        call.alone = self._alone()
        service.submit(call)

    def _alone(self) -> bool:
        """Whether the request just parsed is a lone client's, the only one in flight (awake.py)."""
        return self.in_flight == 1 and self.streak >= awake.ALONE_AFTER

    def builtin(self, conn: HttpConnection, req: Request, what: str) -> None:
        kernel = self.kernel
        if what == "ping":
            conn.respond(200, b"pong")
        elif what in ("monitor", "realtime_metrics"):
            conn.respond_json(
                200, {name: svc.stats.to_dict() for name, svc in kernel.services.items()}
            )
        elif what in ("prop", "eastool"):
            # unauthenticated, as on EAS: what a health check needs, not where files live
            full = kernel.info()
            info: dict[str, Any] = {
                k: full[k] for k in ("pid", "endpoint", "version", "started_at")
            }
            info["services"] = {
                name: {"status": svc.status, "instances": len(svc.instances)}
                for name, svc in kernel.services.items()
            }
            conn.respond_json(200, info)
        elif what in ("call", "tell", "term"):
            conn.respond_json(
                400,
                {
                    "error": f"/api/builtin/{what} drives EAS's internal runtime and has no "
                    "meaning in the local kernel; use /api/predict/<service> and the "
                    "/easlab/v1 control API"
                },
            )
        else:
            conn.respond_json(404, {"error": f"unknown built-in endpoint /api/builtin/{what}"})

    def discovery(self, conn: HttpConnection, req: Request) -> None:
        prefix = next(p for p in _DISCOVERY if req.path.startswith(p))
        name = req.path[len(prefix) :].split("/", 1)[0]
        route = self.kernel.router.lookup(name)
        if route is None:
            status, text, extra = self._missing(name, req.headers)
            conn.respond(status, text, extra=extra)
            return
        ip = self.kernel.host_for_clients()
        if conn.transport is not None:
            sock = conn.transport.get_extra_info("sockname")
            if sock and sock[0] not in WILDCARD_HOSTS:
                ip = sock[0]
        conn.respond_json(
            200,
            {
                "correlative": [route.name],
                "endpoints": {
                    "items": [
                        {"app": route.name, "ip": ip, "port": self.kernel.port, "weight": 100}
                    ]
                },
            },
        )

    async def control(self, conn: HttpConnection, req: Request) -> None:
        try:
            status, obj = await handle(
                self.kernel, req.method.decode(), req.path, req.query, req.body
            )
        except Exception as exc:
            # the answer first: a log that cannot be written (a full disk) must not keep
            # the caller waiting for ever
            conn.respond_json(
                500, {"error": f"kernel fault: {type(exc).__name__}: {exc}", "field": None}
            )
            with contextlib.suppress(OSError):
                traceback.print_exc()
            return
        conn.respond_json(status, obj)


#: the pause a client should take before retrying a 503 that will pass (a service
#: still Creating, or being restored by a restarted kernel): easlab's client honours it
RETRY_AFTER = b"Retry-After: 1\r\n"


def _retry(call: Call, service: Any) -> bytes:
    """``Retry-After`` for the kernel's own 503 to a service that is still starting;
    none for one that will not pass by waiting (Stopped, Failed, scaled to zero)."""
    if call.by_kernel and service.status == "Creating":
        return RETRY_AFTER
    return b""


def _serves_seldon(route: Any) -> bool:
    """Whether every service that takes a share of ``route`` runs a seldon component."""
    shares = [svc for svc, weight in route.backends if weight > 0]
    return bool(shares) and all(svc.current.target == SELDON for svc in shares)


def _is_preflight(headers: dict[bytes, bytes]) -> bool:
    """A browser's CORS preflight (the Fetch standard's): an OPTIONS (the caller checks
    the method) with ``Origin`` and ``Access-Control-Request-Method``."""
    return b"origin" in headers and b"access-control-request-method" in headers


def _header_of(req: Request) -> Callable[[str], str | None]:
    """``req``'s header by its name as written (``"Origin"``), or None."""
    return lambda name: req.header(name.lower().encode("latin-1"))


def _seldon_headers(req: Request, entry: str) -> bytes:
    """The header lines seldon-core adds to an answer at ``req``'s path below the seldon
    service ``entry`` (its executor's on the executor's paths: ``Seldon-Puid``, its CORS;
    its microservice's ``CORS(app)`` on the others), not an OPTIONS': ``_seldon_options``."""
    sub_path = req.path[len(_PREDICT) + len(entry) :]
    return _seldon_headers_of(req.method, sub_path, req.headers, entry)


def _seldon_headers_of(
    method: bytes, sub_path: str, headers: dict[bytes, bytes], entry: str
) -> bytes:
    """``_seldon_headers`` of a request known by its head alone (``refusal``)."""
    from easlab.seldon.cors import answer_headers

    def header(name: str) -> str | None:
        value = headers.get(name.lower().encode("latin-1"))
        return value.decode("latin-1") if value is not None else None

    return _header_lines(answer_headers(method.decode("latin-1"), sub_path, header, entry))


def _header_lines(headers: list[tuple[str, str]]) -> bytes:
    return b"".join(f"{name}: {value}\r\n".encode("latin-1") for name, value in headers)


def _hex_md5(value: bytes | None) -> str | None:
    """A Content-MD5 header as the md5 hex an EAS signature signs (SPEC §1), else None."""
    if value is None or len(value) != 32:
        return None
    text = value.decode("latin-1").lower()
    return text if all(c in "0123456789abcdef" for c in text) else None


def _may_pass(
    token: str, authorization: str | None, headers: dict[bytes, bytes], path: str
) -> bool:
    """Whether ``verify`` (easlab/_auth.py) may accept this Authorization, body unseen.

    No header, or a plain token that is not the service's, is refused whatever the
    body: verify never reads the body for those. An EAS signature signs the body's
    md5 (SPEC §1), which the official client also sends as ``Content-MD5``: checked
    against that header now, a signature that does not match it is refused, and
    one that does passes only with a body of that md5, since verify recomputes it
    from the body. Without a usable header only the body can tell.
    """
    if not authorization:
        return False
    if not authorization.startswith("EAS "):
        return verify(token, authorization, b"", None, None, "")
    md5 = _hex_md5(headers.get(b"content-md5"))
    if md5 is None:
        return True
    content_type = headers.get(b"content-type")
    date = headers.get(b"date")
    expected = signature(
        token,
        md5,
        content_type.decode("latin-1") if content_type is not None else DEFAULT_CONTENT_TYPE,
        date.decode("latin-1") if date is not None else "",
        path,
    )
    return hmac.compare_digest(authorization.strip().encode(), expected.encode())
