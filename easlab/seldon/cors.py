"""The header fields seldon-core adds to an answer besides its content (SPEC §6),
transport-free: its microservice's CORS and ``Allow``, and its executor's middlewares'.

seldon-core's ``get_rest_microservice`` wraps its flask app in ``flask_cors.CORS(app)``
with every default (any origin, any header, no credentials): a browser's preflight
``OPTIONS`` is answered 200, empty, by flask itself, and every answer echoes the
``Origin``. The standalone ``easlab seldon`` server adds these headers, and so do the
kernel's seldon services on the microservice's paths.

On the executor's own paths (routes.py's GRAPH_ROUTES), which a kernel's seldon service
answers as the executor, the executor's middlewares write the headers instead
(executor/api/rest/middlewares.go in seldon-core 1.18.2): ``Seldon-Puid`` (the request's,
else a new UUID), ``X-Content-Type-Options: nosniff``, its own CORS (any origin, a fixed
list of headers, ``CORS_ALLOWED_ORIGINS`` and ``CORS_ALLOWED_HEADERS`` from the
environment instead) and, from gorilla/mux's ``CORSMethodMiddleware``, the route's
methods; to a CloudEvent (a request with ``Ce-Specversion``), CloudEvents headers of its
own (:func:`cloudevent_headers`); any ``OPTIONS`` is answered 200, empty. A method the
route does not take is mux's 405, which no middleware sees: no header at all.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable

from easlab.seldon.routes import ANY_METHOD, ROUTE_METHODS, executor_route

#: the methods ``flask_cors.CORS(app)`` (seldon-core's setup, all defaults) allows
CORS_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def route_key(path: str) -> str:
    """The ``ROUTE_METHODS`` key a request path falls under: the path itself, "" (the
    kernel's service root) is ``/predict``. No trailing ``/`` is dropped: flask's rules
    are strict, so ``/health/ping/`` is no route of seldon-core's (its static route's)."""
    return path or "/predict"


def allowed_methods(path: str) -> list[str]:
    """The methods of ``path`` as flask's ``Allow`` header lists them: the route's,
    and GET, HEAD, OPTIONS of the static route seldon-core's app has on every path."""
    return sorted({"GET", "HEAD", "OPTIONS", *ROUTE_METHODS.get(route_key(path), ())})


def cors_headers(
    method: str, header: Callable[[str], str | None], allowed: list[str] | None
) -> list[tuple[str, str]]:
    """The headers seldon-core's ``CORS(app)`` adds to an answer (flask_cors defaults: any
    origin, any header, no credentials): the request's ``Origin`` echoed (``*`` without
    one); ``Allow`` where ``allowed`` lists the path's methods (flask's answer to an
    OPTIONS, its 405); for a preflight ``OPTIONS`` also the allowed methods and the
    requested headers. ``header(name)`` is the request's header of that name, or None.
    """
    origin = header("Origin")
    out = [("Access-Control-Allow-Origin", origin or "*")]
    if allowed is not None:
        out.insert(0, ("Allow", ", ".join(allowed)))
    if method.upper() == "OPTIONS":
        wanted = (header("Access-Control-Request-Method") or "").upper()
        if wanted in CORS_METHODS:
            asked = header("Access-Control-Request-Headers")
            if asked:
                names = sorted(h.strip() for h in asked.split(",") if h.strip())
                out.append(("Access-Control-Allow-Headers", ", ".join(names)))
            out.append(("Access-Control-Allow-Methods", ", ".join(CORS_METHODS)))
    if origin:
        out.append(("Vary", "Origin"))
    return out


#: the executor's CORS answer (executor/api/rest/middlewares.go), and the environment
#: variables that replace it
EXECUTOR_ALLOW_ORIGIN = ("CORS_ALLOWED_ORIGINS", "*")
EXECUTOR_ALLOW_HEADERS = (
    "CORS_ALLOWED_HEADERS",
    "Accept, Accept-Encoding, Authorization, Content-Length, Content-Type, X-CSRF-Token",
)
#: the request and answer header of a prediction's id (payload.SeldonPUIDHeader)
PUID_HEADER = "Seldon-Puid"
#: the namespace in a CloudEvent answer's ``Ce-Type`` (the executor's ``--namespace``, the
#: SeldonDeployment's Kubernetes namespace): a kernel's services have none, so Kubernetes'
#: ``default``
NAMESPACE = "default"
#: the content type of an answer with no body: Go writes none, the kernel always one
EMPTY = "text/plain; charset=utf-8"
#: the content type flask gives its empty answer to an OPTIONS
FLASK_EMPTY = "text/html; charset=utf-8"


def cloudevent_headers(
    path: str, puid: str, header: Callable[[str], str | None], deployment: str
) -> list[tuple[str, str]]:
    """The CloudEvents headers seldon-core's executor writes on its answer to a request
    carrying ``Ce-Specversion`` (its CloudeventHeaderMiddleware; none otherwise): the
    answer's ``Ce-Id`` is the request's Seldon-Puid, its spec version 0.3, ``Ce-Path`` the
    path, and its type and source name the SeldonDeployment (``deployment``)."""
    if header("Ce-Specversion") is None:
        return []
    return [
        ("Ce-Id", puid),
        ("Ce-Specversion", "0.3"),
        ("Ce-Path", path),
        ("Ce-Type", f"seldon.{deployment}.{NAMESPACE}.response"),
        ("Ce-Source", f"seldon.{deployment}"),
    ]


def executor_headers(
    method: str, path: str, header: Callable[[str], str | None], deployment: str = ""
) -> list[tuple[str, str]] | None:
    """The headers seldon-core's executor's middlewares write on its answer to ``method``
    at ``path``, or None where ``path`` is no route of the executor's. The route's own
    methods (mux's ``Methods(...)``, OPTIONS among them) are its
    ``Access-Control-Allow-Methods``, on every answer; a route that names none
    (``/ready``) gets none. ``header(name)`` is the request's header of that name;
    ``deployment`` the SeldonDeployment's name (the service's), for a CloudEvent's answer."""
    route = executor_route(path)
    if route is None:
        return None
    methods = route[0]
    if method.upper() not in methods:
        return []  # mux's 405: its middlewares never run
    puid = header(PUID_HEADER) or str(uuid.uuid4())
    out = [
        (PUID_HEADER, puid),
        *cloudevent_headers(path, puid, header, deployment),
        ("X-Content-Type-Options", "nosniff"),
        ("Access-Control-Allow-Origin", os.environ.get(*EXECUTOR_ALLOW_ORIGIN)),
        ("Access-Control-Allow-Headers", os.environ.get(*EXECUTOR_ALLOW_HEADERS)),
    ]
    if methods != ANY_METHOD:  # mux's GetMethods() fails for a route that names none
        out.append(("Access-Control-Allow-Methods", ",".join(methods)))
    return out


def answer_headers(
    method: str, path: str, header: Callable[[str], str | None], deployment: str = ""
) -> list[tuple[str, str]]:
    """The headers a kernel's seldon service puts on its answer to ``method`` at ``path``
    (below the service path; "" or "/" its root), its own refusals' (401, 503) included:
    the executor's on its paths, the microservice's CORS on the others (with no ``Allow``:
    that is flask's answer to an OPTIONS, :func:`options_answer`). ``deployment`` is the
    service's name."""
    executor = executor_headers(method, path, header, deployment)
    return cors_headers(method, header, None) if executor is None else executor


def options_answer(
    path: str, header: Callable[[str], str | None], deployment: str = ""
) -> tuple[str, list[tuple[str, str]]]:
    """The content type and headers of a seldon service's 200 answer to an ``OPTIONS`` at
    ``path``, which has no body: the executor's middlewares' on its paths, flask's (with
    ``Allow`` and the CORS preflight's headers) on the microservice's. ``deployment`` is
    the service's name."""
    executor = executor_headers("OPTIONS", path, header, deployment)
    if executor is not None:
        return EMPTY, executor
    allowed = allowed_methods("" if path == "/" else path)
    return FLASK_EMPTY, cors_headers("OPTIONS", header, allowed)
