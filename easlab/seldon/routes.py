"""The Seldon microservice's REST paths as one table (SPEC §6): each path's methods, as
seldon-core's wrapper.py routes them, and which endpoint answers it; and the paths its
executor adds in front of a graph (``GRAPH_ROUTES``).

``SeldonApp`` (app.py) routes by it, cors.py's ``Allow`` lists its methods and
openapi.py describes it in the ``/seldon.json`` document, so none of them can name a
path or a method the others do not.
"""

from __future__ import annotations

#: path -> (its methods, the endpoint that answers it). Flask adds HEAD to a GET route
#: and OPTIONS to every route; seldon-core's app answers both on every path.
ROUTES: dict[str, tuple[tuple[str, ...], str]] = {
    "/seldon.json": (("GET",), "openapi"),
    "/predict": (("GET", "POST"), "predict"),
    "/api/v1.0/predictions": (("POST",), "predict"),
    "/api/v0.1/predictions": (("POST",), "predict"),
    "/send-feedback": (("GET", "POST"), "feedback"),
    "/api/v1.0/feedback": (("POST",), "feedback"),
    "/api/v0.1/feedback": (("POST",), "feedback"),
    "/transform-input": (("GET", "POST"), "transform_input"),
    "/transform-output": (("GET", "POST"), "transform_output"),
    "/route": (("GET", "POST"), "route"),
    "/aggregate": (("GET", "POST"), "aggregate"),
    "/health/ping": (("GET",), "ping"),
    "/health/status": (("GET",), "health"),
    "/api/v1.0/health/status": (("GET",), "health"),
    "/metadata": (("GET",), "metadata"),
    "/api/v1.0/metadata": (("GET",), "metadata"),
}

#: the methods of an executor route that names none (gorilla/mux then matches any, HEAD
#: included: Go sends its answer without the body)
ANY_METHOD = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")

#: the paths seldon-core's executor serves in front of every SeldonDeployment, one model
#: or a graph (its REST server, protocol seldon), each with the methods its gorilla/mux
#: route names, in server.go's order (cors.py writes them so), exactly: HEAD is no GET
#: there, and another method is mux's empty 405; OPTIONS is the CORS preflight its
#: middleware answers. The predictions and feedback go through the graph; then the
#: graph's metadata; one node's own ``/health/status`` and ``/metadata`` by the node's
#: name; the graph's readiness (``/ready`` and the two status paths: 200 or 503, no body),
#: its liveness ``/live`` and its own Prometheus metrics ``/prometheus`` (the path a
#: SeldonDeployment's operator gives it: executor_metrics.py). A seldon service
#: (graph.py) answers them as the executor, where a path is the microservice's too
#: (``/api/v1.0/metadata``, ``/api/v1.0/health/status``) included; the microservice's
#: other paths as the microservice.
GRAPH_ROUTES: dict[str, tuple[tuple[str, ...], str]] = {
    "/ready": (ANY_METHOD, "ready"),
    "/live": (ANY_METHOD, "live"),
    "/prometheus": (ANY_METHOD, "prometheus"),
    "/api/v1.0/predictions": (("OPTIONS", "POST"), "predict"),
    "/api/v0.1/predictions": (("OPTIONS", "POST"), "predict"),
    "/api/v1.0/feedback": (("OPTIONS", "POST"), "feedback"),
    "/api/v0.1/feedback": (("OPTIONS", "POST"), "feedback"),
    "/api/v1.0/metadata": (("GET", "OPTIONS"), "graph_metadata"),
    "/api/v1.0/status": (("GET", "OPTIONS"), "ready"),
    "/api/v1.0/health/status": (("GET", "OPTIONS"), "ready"),
    "/api/v1.0/status/{model}": (("GET", "OPTIONS"), "node_status"),
    "/api/v0.1/status/{model}": (("GET", "OPTIONS"), "node_status"),
    "/api/v1.0/metadata/{model}": (("GET", "OPTIONS"), "node_metadata"),
    "/api/v0.1/metadata/{model}": (("GET", "OPTIONS"), "node_metadata"),
}

#: the endpoints that read no request message (their GET takes no ``json`` argument)
NO_MESSAGE = frozenset({"openapi", "ping", "health", "metadata"})

#: each REST path's methods
ROUTE_METHODS: dict[str, tuple[str, ...]] = {path: methods for path, (methods, _) in ROUTES.items()}


def node_route(path: str) -> tuple[str, str] | None:
    """The ``GRAPH_ROUTES`` key of a path naming a node (``/api/v1.0/metadata/m1`` ->
    ``/api/v1.0/metadata/{model}``) and the node's name, or None for any other path."""
    head, _, name = path.rpartition("/")
    key = head + "/{model}"
    return (key, name) if name and key in GRAPH_ROUTES else None


def executor_route(path: str) -> tuple[tuple[str, ...], str, str] | None:
    """The ``GRAPH_ROUTES`` route ``path`` falls under: its methods, its endpoint and the
    node the path names ("" where it names none); None for a path the executor lacks."""
    if path in GRAPH_ROUTES:
        return (*GRAPH_ROUTES[path], "")
    named = node_route(path)
    if named is None:
        return None
    return (*GRAPH_ROUTES[named[0]], named[1])
