"""What seldon-core's ``CORS(app)`` and flask add to its microservice's answers
(SPEC §6), transport-free: the ``Allow`` of a path and the CORS headers of an answer.

seldon-core's ``get_rest_microservice`` wraps its flask app in ``flask_cors.CORS(app)``
with every default (any origin, any header, no credentials): a browser's preflight
``OPTIONS`` is answered 200, empty, by flask itself, and every answer echoes the
``Origin``. The standalone ``easlab seldon`` server and the kernel's seldon services
both add these headers.
"""

from __future__ import annotations

from collections.abc import Callable

from easlab.seldon.routes import ROUTE_METHODS

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
    method: str, header: Callable[[str], str | None], allowed: list[str]
) -> list[tuple[str, str]]:
    """The headers seldon-core's ``CORS(app)`` adds to an answer (flask_cors defaults: any
    origin, any header, no credentials): the request's ``Origin`` echoed (``*`` without
    one); for a preflight ``OPTIONS`` also ``Allow`` (the path's methods, as flask's
    automatic OPTIONS answer), the allowed methods and the requested headers.
    ``header(name)`` is the request's header of that name, or None.
    """
    origin = header("Origin")
    out = [("Access-Control-Allow-Origin", origin or "*")]
    if method.upper() == "OPTIONS":
        out.insert(0, ("Allow", ", ".join(allowed)))
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
