"""``easlab seldon MyModel --service-type MODEL --http-port 9000``: one component served
standalone, at the root, as ``seldon-core-microservice`` serves it (SPEC §6).

A small threaded HTTP server over :class:`easlab.seldon.app.SeldonApp`: the same paths
(``/api/v1.0/predictions``, ``/predict``, ``/health/ping``, ``/metadata``, ...), status
codes and bodies, so scripts and ``SeldonClient(microservice_endpoint=...)`` work with
only the command changed. The arguments are ``seldon-core-microservice``'s, with its
environment defaults (``PREDICTIVE_UNIT_PARAMETERS``, ``PREDICTIVE_UNIT_HTTP_SERVICE_PORT``,
``GUNICORN_THREADS``, ``FLASK_SINGLE_THREADED``); those about gunicorn, gRPC and tracing
are accepted and ignored, and :func:`seldon` says so on stderr (:data:`IGNORED`, one line
each).

The custom metrics are served for Prometheus as seldon-core serves them: on their own
port (``--metrics-port``, ``PREDICTIVE_UNIT_METRICS_SERVICE_PORT``, 6000), at
``GET /metrics`` (``PREDICTIVE_UNIT_METRICS_ENDPOINT``), in the text
:meth:`easlab.seldon.metrics.SeldonMetrics.exposition` writes. A metrics port already in
use is said on stderr and the component is served without it.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from easlab.seldon.cors import allowed_methods, cors_headers
from easlab.seldon.metrics import (
    DEFAULT_METRICS_ENDPOINT,
    DEFAULT_METRICS_PORT,
    METRICS_ENDPOINT_ENV,
    METRICS_PORT_ENV,
)
from easlab.verbs import SELDON_IGNORED, SELDON_SERVICE_TYPES

#: the service types (seldon-core-microservice's and OUTPUT_TRANSFORMER) and the
#: arguments accepted and ignored, with why, are declared with the verb in easlab/verbs.py.
#: Over REST every type serves every path, as in seldon-core 1.18, so the type only
#: names the component in the startup line.
SERVICE_TYPES = SELDON_SERVICE_TYPES
IGNORED = {flag[2:].replace("-", "_"): why for flag, why, _ in SELDON_IGNORED}

logger = logging.getLogger("easlab.seldon.serve")


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "easlab-seldon"
    app: Any = None
    slots: threading.BoundedSemaphore = threading.BoundedSemaphore(1)
    access_log = False

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        try:
            body = self._body()
        except ValueError as exc:  # a framing the body cannot be read by: no next request
            self.close_connection = True
            self.send_error(400, f"bad request body: {exc}")
            return
        with self.slots:
            answer = self.app.handle(
                self.command, path, query, self.headers.get("Content-Type"), body
            )
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers:  # a model_error_handler's own (Retry-After)
            self.send_header(name, value)
        # flask's own answer to an OPTIONS says Allow ("/", no route of seldon-core's, is a 404)
        options = self.command == "OPTIONS" and answer.status == 200
        allowed = allowed_methods(path) if options else None
        for name, value in cors_headers(self.command, self.headers.get, allowed):
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def _body(self) -> bytes:
        """The request body: by its chunks with ``Transfer-Encoding: chunked`` (as
        ``requests`` sends a generator; gunicorn reads them), else ``Content-Length``.
        A chunked body left unread was taken for the next request on the connection."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline(1024).split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(65536).strip():  # trailer fields: dropped
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                if self.rfile.readline(3).strip():
                    raise ValueError("a chunk longer than its size")
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.access_log:
            logger.info("%s - %s", self.address_string(), format % args)


def _check_parameters(parameters: Any) -> None:
    """ValueError naming ``--parameters`` when its JSON is not a list of objects (it said
    only "Expecting ',' delimiter: line 1 column 13 (char 12)")."""
    if not isinstance(parameters, str):
        return
    example = '[{"name": "alpha", "value": "0.5", "type": "FLOAT"}]'
    try:
        value = json.loads(parameters or "[]")
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"--parameters: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; "
            f"e.g. '{example}' ($PREDICTIVE_UNIT_PARAMETERS when not given)"
        ) from None
    if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
        raise ValueError(
            f"--parameters: a JSON list of {{name, value, type}} objects, e.g. '{example}'; "
            f"got {type(value).__name__}"
        )


def _check_signature(cls: type, interface_name: str, parameters: Any) -> None:
    """ValueError when ``--parameters`` cannot be typed, or names arguments the class's
    ``__init__`` does not take (both were tracebacks before the component was built)."""
    import inspect

    from easlab.seldon.component import parse_parameters
    from easlab.seldon.errors import SeldonMicroserviceException

    try:
        kwargs = parse_parameters(parameters)
    except SeldonMicroserviceException as exc:
        raise ValueError(f"--parameters: {exc}") from None
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):  # no signature to read: the call itself will say
        return
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        given = ", ".join(kwargs) or "none given"
        raise ValueError(
            f"--parameters ({given}) do not fit {interface_name}(...): {exc}; "
            f"each parameter is an argument of {interface_name}.__init__"
        ) from None


def make_server(
    app: Any, host: str = "127.0.0.1", port: int = 9000, threads: int = 1, access_log: bool = False
) -> HTTPServer:
    """An HTTP server answering every request with ``app.handle``, at most ``threads``
    at once (gunicorn's threads per worker; 1, its default, runs them one at a time)."""
    slots = threading.BoundedSemaphore(max(1, threads))
    handler = type(
        "SeldonHandler", (_Handler,), {"app": app, "slots": slots, "access_log": access_log}
    )
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


class _MetricsHandler(BaseHTTPRequestHandler):
    """seldon-core's metrics app (``get_metrics_microservice``: flask, its static route on
    every path but "/", ``CORS(app)``) on its own port: ``GET`` at its endpoint answers
    the exposition, ``HEAD`` the same without the body; an ``OPTIONS`` is flask's empty
    200 with ``Allow``, another method flask's 405 page; a path with no file is its 404
    page; "/" matches no route at all, whatever the method."""

    protocol_version = "HTTP/1.1"
    server_version = "easlab-seldon"
    metrics: Any = None
    path_served = DEFAULT_METRICS_ENDPOINT

    def _serve(self) -> None:
        path = self.path.partition("?")[0]
        method = self.command
        routed = path != "/" or path == self.path_served  # its route, or the static one
        allow = ["OPTIONS", "GET", "HEAD"] if routed else None
        if not routed or (path != self.path_served and method in ("GET", "HEAD")):
            status, body, content_type = 404, _NOT_FOUND, _HTML
        elif method == "OPTIONS":
            status, body, content_type = 200, b"", _HTML
        elif method not in ("GET", "HEAD"):
            status, body, content_type = 405, _NOT_ALLOWED, _HTML
        else:
            status, body, content_type = 200, self.metrics.exposition(), _TEXT_0_0_4
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        # flask writes Allow on its OPTIONS answer and its 405
        with_allow = allow if status == 405 or (status == 200 and method == "OPTIONS") else None
        for name, value in cors_headers(method, self.headers.get, with_allow):
            self.send_header(name, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return  # seldon-core filters its metrics endpoint's access lines too


#: the content type seldon-core's metrics answer has: prometheus_client's (0.8), to which
#: flask's Response(mimetype=...) adds its charset a second time
_TEXT_0_0_4 = "text/plain; version=0.0.4; charset=utf-8; charset=utf-8"
_HTML = "text/html; charset=utf-8"
_NOT_FOUND = (
    b"<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
    b"<p>The requested URL was not found on the server. If you entered the URL manually "
    b"please check your spelling and try again.</p>\n"
)
_NOT_ALLOWED = (
    b"<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n"
    b"<h1>Method Not Allowed</h1>\n<p>The method is not allowed for the requested URL.</p>\n"
)


def make_metrics_server(metrics: Any, host: str = "127.0.0.1", port: int = 6000) -> HTTPServer:
    """The metrics server: ``GET <PREDICTIVE_UNIT_METRICS_ENDPOINT>`` (``/metrics``)
    answers ``metrics.exposition()`` (a :class:`~easlab.seldon.metrics.SeldonMetrics`)."""
    endpoint = os.environ.get(METRICS_ENDPOINT_ENV, DEFAULT_METRICS_ENDPOINT)
    handler = type(
        "SeldonMetricsHandler", (_MetricsHandler,), {"metrics": metrics, "path_served": endpoint}
    )
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def _serve_metrics(metrics: Any, host: str, port: int) -> HTTPServer | None:
    """Start the metrics server in a thread; None (said on stderr) when it cannot bind."""
    try:
        server = make_metrics_server(metrics, host, port)
    except OSError as exc:
        why = exc.strerror or exc
        print(f"[WARN] --metrics-port {port}: {why}; no Prometheus metrics", file=sys.stderr)
        return None
    serve = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.2},
        daemon=True,
        name="easlab-seldon-metrics",
    )
    serve.start()
    return server


def seldon(
    interface_name: str,
    service_type: str = "MODEL",
    parameters: str | None = None,
    http_port: int | None = None,
    metrics_port: int | None = None,
    host: str = "127.0.0.1",
    log_level: str = "INFO",
    debug: bool | None = None,
    threads: int | None = None,
    single_threaded: int | None = None,
    access_log: bool | None = None,
    pidfile: str | None = None,
    **ignored: Any,
) -> int:
    """Serve the component class ``interface_name`` (``MyModel`` from ``./MyModel.py``, or
    ``module.Class``) until interrupted; returns the exit code."""
    from easlab.seldon.app import SeldonApp
    from easlab.seldon.component import build_component, load_component_class

    debug = bool(debug) or os.environ.get("SELDON_DEBUG", "").lower() in ("1", "true", "yes")
    level = os.environ.get("SELDON_LOG_LEVEL", "DEBUG" if debug else log_level).upper()
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s - %(name)s - %(levelname)s:  %(message)s",
    )
    for name, value in ignored.items():
        if name in IGNORED and value is not None:
            print(f"[WARN] --{name.replace('_', '-')} ignored: {IGNORED[name]}", file=sys.stderr)
    if service_type not in SERVICE_TYPES:
        raise ValueError(f"--service-type {service_type}: choose from {', '.join(SERVICE_TYPES)}")
    if parameters is None:
        parameters = os.environ.get("PREDICTIVE_UNIT_PARAMETERS", "[]")
    if http_port is None:
        http_port = _env_int("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", 9000)
    if metrics_port is None:
        metrics_port = _env_int(METRICS_PORT_ENV, DEFAULT_METRICS_PORT)
    if threads is None:
        threads = _env_int("GUNICORN_THREADS", 1)
    if single_threaded is None:
        single_threaded = _env_int("FLASK_SINGLE_THREADED", 0)
    if single_threaded:
        threads = 1
    _check_parameters(parameters)
    # seldon-core-microservice imports the class from the current folder
    try:
        cls = load_component_class(Path.cwd(), interface_name)
    except ModuleNotFoundError as exc:
        module = interface_name.rpartition(".")[0] or interface_name
        if exc.name != module.partition(".")[0]:
            raise  # the component's own import of something missing: its traceback
        raise ValueError(
            f"no {module.replace('.', '/')}.py in {Path.cwd()}: seldon-core-microservice "
            f"imports the class {interface_name} from there; run it in the component's folder"
        ) from None
    _check_signature(cls, interface_name, parameters)
    try:
        component = build_component(cls, parameters)
    except Exception as exc:
        import traceback

        from easlab.errors import EaslabError

        # the component's own failure, not a usage mistake: its traceback, as
        # seldon-core-microservice prints it, then one line saying what failed
        traceback.print_exc()
        raise EaslabError(
            f"the component {interface_name} failed to start: {type(exc).__name__}: {exc} "
            "(raised by its __init__ or load(); the traceback above shows where)"
        ) from None
    app = SeldonApp(component)
    try:
        server = make_server(app, host, http_port, threads, bool(access_log))
    except OSError as exc:
        from easlab.errors import EaslabError

        if exc.errno != errno.EADDRINUSE:
            raise
        raise EaslabError(
            f"--http-port {http_port} on {host} is in use: stop what serves there, or pick "
            "another port (--http-port 0 picks a free one)"
        ) from None
    metrics_server = _serve_metrics(app.metrics, host, metrics_port)
    if pidfile:
        Path(pidfile).write_text(f"{os.getpid()}\n")
    bound_host, bound_port = server.server_address[:2]
    print(
        f"[OK] {service_type} {interface_name} serving at http://{bound_host!s}:{bound_port} "
        "(Ctrl-C stops)",
        flush=True,
    )
    if metrics_server is not None:
        m_host, m_port = metrics_server.server_address[:2]
        endpoint = os.environ.get(METRICS_ENDPOINT_ENV, DEFAULT_METRICS_ENDPOINT)
        print(f"[OK] metrics at http://{m_host!s}:{m_port}{endpoint}", flush=True)
    _stop_on_terminate()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        if pidfile:
            Path(pidfile).unlink(missing_ok=True)
    return 0


def _stop_on_terminate() -> None:
    """SIGTERM stops the server as Ctrl-C does (a clean exit, pidfile removed)."""
    import signal

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, interrupt)
