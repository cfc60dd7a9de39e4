"""An inference graph of components in one service, run as Seldon's orchestrator runs
a SeldonDeployment graph: transformer → model → output transformer chains, a router
sending to the child its ``route()`` picks (-1: every child, the first one's answer
kept; -2: none, the router's input is the answer), a combiner calling ``aggregate()`` over its
children's answers; several children are called at once, as the executor's goroutines call
them; a node's ``methods`` add the calls they name (a node with methods
and no type makes only those). ``meta.requestPath`` names the nodes that ran (node → class).
Feedback goes down the graph as the executor sends it: along the routing the response's
``meta.routing`` records, to each MODEL and ROUTER on the way.
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from easlab.seldon import methods
from easlab.seldon.abtest import RANDOM_ABTEST, RandomABTest
from easlab.seldon.app import JSON, PLAIN, TEXT, Answer, SeldonApp, _json, parse_request
from easlab.seldon.component import build_component, load_component_class
from easlab.seldon.cors import route_key
from easlab.seldon.errors import SeldonMicroserviceException
from easlab.seldon.executor_metrics import CONTENT_TYPE, ExecutorMetrics
from easlab.seldon.messages import as_int32
from easlab.seldon.routes import ROUTE_METHODS, executor_route
from easlab.seldon.units import NODE_METHODS, UNKNOWN_TYPE

logger = logging.getLogger(__name__)

_PREDICT_PATHS = ("", "/", "/predict", "/api/v1.0/predictions", "/api/v0.1/predictions")
_FEEDBACK_PATHS = ("/send-feedback", "/api/v1.0/feedback", "/api/v0.1/feedback")
#: what a router's ``route()`` may answer besides a child's index (seldon-core's executor):
#: every child (the first child's answer is the answer), or none (the router's input is)
ROUTE_TO_ALL, ROUTE_TO_NONE = -1, -2
#: a node's ``methods`` (a SeldonDeployment's PredictiveUnitMethod): the calls the
#: executor makes of a node besides those its type implies
TRANSFORM_INPUT, TRANSFORM_OUTPUT, ROUTE, AGGREGATE, SEND_FEEDBACK = NODE_METHODS
#: what each type implies (a MODEL's predict is its own: it is no method)
_TYPE_CALLS = {
    "MODEL": {SEND_FEEDBACK},
    "TRANSFORMER": {TRANSFORM_INPUT},
    "OUTPUT_TRANSFORMER": {TRANSFORM_OUTPUT},
    "ROUTER": {ROUTE, SEND_FEEDBACK},
    "COMBINER": {AGGREGATE},
}


@dataclass
class GraphNode:
    name: str
    type: str  # MODEL, ROUTER, COMBINER, TRANSFORMER, OUTPUT_TRANSFORMER, UNKNOWN_TYPE
    cls_name: str
    app: SeldonApp
    children: list[GraphNode] = field(default_factory=list)
    #: the node's ``methods`` as the graph gives them
    methods: frozenset[str] = frozenset()

    @property
    def calls(self) -> frozenset[str]:
        """The component methods the executor calls of this node: its type's, and its
        ``methods`` (seldon-core's executor's ``hasMethod``)."""
        return frozenset(_TYPE_CALLS.get(self.type, set())) | self.methods


def _build(node: dict[str, Any], folder: Path, entry: str | None) -> GraphNode:
    name = node.get("name")
    if not name:
        raise SeldonMicroserviceException("every graph node needs a name", status_code=500)
    implementation = node.get("implementation")
    declared = frozenset(str(m).upper() for m in node.get("methods") or [])
    # a node with neither type nor methods is a MODEL (the operator's default); one with
    # methods and no type makes those calls only
    default = UNKNOWN_TYPE if declared else "MODEL"
    kind = str(node.get("type") or default).upper()
    cls: type
    if not node.get("class") and str(implementation).upper() == RANDOM_ABTEST:
        # seldon-core's executor routes such a node itself: no class of the user's
        cls_name, cls, kind = RANDOM_ABTEST, RandomABTest, "ROUTER"
    else:
        cls_name = node.get("class") or implementation or name
        cls = load_component_class(folder, cls_name)
    app = SeldonApp(build_component(cls, node.get("parameters") or []))
    children = [_build(child, folder, entry) for child in node.get("children") or []]
    return GraphNode(name, kind, cls_name, app, children, declared)


def _mark(message: Any, node: GraphNode) -> Any:
    if isinstance(message, dict):
        meta = message.setdefault("meta", {})
        meta.setdefault("requestPath", {})[node.name] = node.cls_name
    return message


class GraphApp:
    """The graph behind the prediction paths; ``/health/status`` asks every node."""

    def __init__(self, root: GraphNode) -> None:
        self.root = root
        #: the graph's name in its metadata (seldon-core's predictor name): the service's
        self.name = root.name
        #: what the executor answered and called, for /prometheus
        self.executor_metrics = ExecutorMetrics()
        #: one MODEL whose microservice answers every path but the executor's, its
        #: predictions and feedback passed on as they come (:meth:`one_node`)
        self.microservice = False

    @classmethod
    def from_spec(cls, graph: dict[str, Any], folder: Path, entry: str | None = None) -> GraphApp:
        return cls(_build(graph, Path(folder), entry))

    @classmethod
    def one_node(cls, name: str, kind: str, cls_name: str, app: SeldonApp) -> GraphApp:
        """One component as a graph of one node of type ``kind``: what a service with
        ``seldon.service_type`` (and no ``seldon.graph``) runs, as the orchestrator runs
        a one-node SeldonDeployment, the node named ``name`` (the service's). The
        executor's paths answer as the executor (``/api/v1.0/metadata``, the graph's;
        ``/api/v1.0/health/status``, its readiness; ``/api/v1.0/metadata/{name}``,
        ``/ready``, ``/prometheus``, ...); a MODEL (a service without
        ``seldon.service_type``) answers every other path as its microservice, and its
        predictions and feedback are the microservice's answers, passed on."""
        graph = cls(GraphNode(name, kind.upper(), cls_name, app))
        graph.microservice = kind.upper() == "MODEL"
        return graph

    def nodes(self) -> list[GraphNode]:
        """Every node of the graph, root first."""
        found, todo = [], [self.root]
        while todo:
            node = todo.pop(0)
            found.append(node)
            todo.extend(node.children)
        return found

    def predict(self, message: Any) -> Any:
        """The graph's answer to ``message``, its ``meta.routing`` naming every router's
        pick: seldon-core's executor keeps one routing map per request, so a router's
        pick survives the COMBINER or OUTPUT_TRANSFORMER above it, whose component
        answers without it (feedback goes down the routing the answer records)."""
        routing: dict[str, int] = {}
        answer = self.run(self.root, message, routing)
        if routing and isinstance(answer, dict):
            meta = answer.setdefault("meta", {})
            meta["routing"] = {**(meta.get("routing") or {}), **routing}
        return answer

    def run(self, node: GraphNode, message: Any, routing: dict[str, int]) -> Any:
        """``node``'s answer to ``message``, as seldon-core's executor's ``Predict`` runs a
        node: its ``predict`` (a MODEL) or ``transform_input``; then over its children,
        if any, its ``route`` (else every child) and its ``aggregate`` (else the first
        child's answer); then its ``transform_output``. Which of them a node has is its
        type's and its ``methods``' (:attr:`GraphNode.calls`). Each router on the way adds
        its pick to ``routing`` (the request's)."""
        meta = message.get("meta") if isinstance(message, dict) else None
        path = dict((meta if isinstance(meta, dict) else {}).get("requestPath") or {})
        calls = node.calls
        if node.type == "MODEL" or TRANSFORM_INPUT in calls:
            call = methods.transform_input if TRANSFORM_INPUT in calls else methods.predict
            # a *_raw hook's None (JSON null from the microservice) goes on as an empty message
            message = self._node_call(node, call, message)
            message = {} if message is None else message
        # the executor routes and aggregates only over children: a ROUTER or COMBINER
        # with none passes the message through
        if node.children:
            index = ROUTE_TO_ALL  # a node that does not route: every child
            if ROUTE in calls:
                index = _route_index(node, self._node_call(node, methods.route, message))
                if not ROUTE_TO_NONE <= index < len(node.children):
                    raise SeldonMicroserviceException(
                        f"router {node.name} picked child {index} of {len(node.children)} "
                        "(route() answers a child's index from 0, -1 for every child or -2 "
                        "for none)"
                    )
                routing[node.name] = index
            message = _with_path(message, path, node)
            if index != ROUTE_TO_NONE:  # -2: the router's input, as it came, is the answer
                targets = node.children if index == ROUTE_TO_ALL else [node.children[index]]
                answers = _at_once(
                    [partial(self.run, child, _copy(message), routing) for child in targets]
                )
                if AGGREGATE in calls:
                    # a JSON list of the answers, as the executor sends it (aggregate_raw's)
                    message = self._node_call(node, methods.aggregate, answers)
                    message = {} if message is None else message
                else:  # the first child's answer is the answer
                    message = answers[0]
            if ROUTE in calls and isinstance(message, dict):
                message.setdefault("meta", {}).setdefault("routing", {})[node.name] = index
        message = _with_path(message, path, node)
        if TRANSFORM_OUTPUT in calls:
            message = self._node_call(node, methods.transform_output, message)
            message = {} if message is None else message
            message = _with_path(message, path, node)
        return _mark(message, node)

    def feedback(self, node: GraphNode, feedback: dict[str, Any]) -> Any:
        """Send ``feedback`` to ``node``'s subtree as seldon-core's executor does: first to
        the child its ``response.meta.routing`` names for the node (every child when it
        names none, or -1; none for -2), then to the node itself if it is a MODEL or ROUTER, whose
        answer is the answer; any other node answers the feedback itself (the executor
        echoes the request). Each component gets the whole Feedback, its node's name as
        its unit id (so a router's ``send_feedback`` gets its own ``routing``)."""
        if node.children:
            index = _routed(feedback, node.name)
            if index == ROUTE_TO_ALL:
                targets = node.children
            elif index == ROUTE_TO_NONE:
                # no child ran, so none learns from it (the executor would index its
                # children with -2 and fail)
                targets = []
            elif 0 <= index < len(node.children):
                targets = [node.children[index]]
            else:
                raise SeldonMicroserviceException(
                    f"feedback: response.meta.routing sends node {node.name} to child "
                    f"{index}, but it has {len(node.children)} (send the response the graph "
                    "answered, whose meta.routing names the child that ran)"
                )
            _at_once([partial(self.feedback, child, feedback) for child in targets])
        if SEND_FEEDBACK not in node.calls:
            return feedback
        app = node.app
        started, status = time.perf_counter(), 200
        try:
            return methods.send_feedback(app.user_model, _copy(feedback), app.metrics, node.name)
        except Exception as exc:
            failed = app.error_answer(exc)
            status = failed.status
            raise _NodeFailed(failed) from None
        finally:
            self._called(node, "/send-feedback", "POST", status, started)

    def _node_call(self, node: GraphNode, method: Any, message: Any) -> Any:
        """``method`` (methods.py) of ``node``'s component on ``message``, failing as its
        microservice answers: an exception is its error answer (its own model_error_handler
        first), a prediction carrying ``status.code`` (a ``predict_raw``'s) that HTTP
        status. Counted as the executor's call of the node's path (/prometheus)."""
        app = node.app
        started = time.perf_counter()
        status = 500
        try:
            answer = method(app.user_model, message, app.metrics)
            status = 200
            if method is methods.predict:
                own = app.predict_answer(answer)
                status = own.status
                if own.status != 200:
                    raise _NodeFailed(own)
            return answer
        except _NodeFailed:
            raise
        except Exception as exc:
            failed = app.error_answer(exc)
            status = failed.status
            raise _NodeFailed(failed) from None
        finally:
            self._called(node, _NODE_PATHS[method], "POST", status, started)

    def _node_get(self, node: GraphNode, path: str) -> Answer:
        """``node``'s own answer to ``GET path`` (``/metadata``, ``/health/status``), counted
        as the executor's call of it."""
        started = time.perf_counter()
        answer = node.app.handle("GET", path)
        self._called(node, path, "GET", answer.status, started)
        return answer

    def _called(self, node: GraphNode, path: str, method: str, status: int, started: float) -> None:
        seconds = time.perf_counter() - started
        self.executor_metrics.called(self.name, node.name, path, method, status, seconds)

    def graph_metadata(self) -> Answer:
        """``GET /api/v1.0/metadata``: seldon-core's executor's graph metadata, ``{"name",
        "models": {node: its metadata}, "graphinputs", "graphoutputs"}`` (the inputs of
        the node a request enters by, the outputs of the one it leaves by); a node whose
        metadata is invalid answers for the graph (its 500 MICROSERVICE_BAD_METADATA)."""
        models: dict[str, Any] = {}
        for node in self.nodes():
            own = self._node_get(node, "/metadata")
            if node.app.metadata is None:
                return own
            models[node.name] = _executor_model(node.app.metadata)
        first, last = _edges(self.root)
        document = {
            "name": self.name,
            "models": dict(sorted(models.items())),  # a Go map: sorted keys
            "graphinputs": models[first.name].get("inputs"),
            "graphoutputs": models[last.name].get("outputs"),
        }
        # Go's json.Marshal: struct fields in order, compact, UTF-8 as it is, no newline
        # (executor_writes then escapes <, >, & as Go does)
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        return Answer(200, body.encode(), JSON)

    def health(self, method: str, path: str) -> Answer:
        """``/health/status`` (the microservice's path; the executor has none): each node's
        own answer, as the executor asks each node before it says the graph is ready
        (:meth:`ready`); the first that is not 200 (its error body) is the answer, else
        the root's."""
        answers = [node.app.handle(method, path) for node in self.nodes()]
        return next((answer for answer in answers if answer.status != 200), answers[0])

    def node_answer(self, method: str, endpoint: str, name: str) -> Answer:
        """``GET /api/v1.0/status/{node}`` or ``/api/v1.0/metadata/{node}`` (and v0.1): that
        node's own ``/health/status`` or ``/metadata`` answer, as seldon-core's executor
        passes it on; a name no node has is the executor's 500 ``Failed to find model``."""
        node = next((node for node in self.nodes() if node.name == name), None)
        if node is None:
            names = ", ".join(node.name for node in self.nodes())
            info = (
                f"Failed to find model {name}: no node of the graph has that name (its "
                f"nodes: {names})"
            )
            return _json({"status": {"code": 500, "info": info, "status": "FAILURE"}}, 500)
        return self._node_get(node, "/health/status" if endpoint == "node_status" else "/metadata")

    def openapi(self) -> Answer:
        """``/seldon.json`` of a graph service: the microservice's paths and the executor's."""
        from easlab.seldon.openapi import openapi_document

        served_at, token = self.root.app.served_at
        return _json(openapi_document(served_at, token, executor=True))

    def ready(self) -> Answer:
        """``/ready``, ``/api/v1.0/status`` and ``/api/v1.0/health/status``: seldon-core's
        executor's readiness, 200 when every node's ``/health/status`` answers 200 (its
        ``--full_health_checks``), else 503; no body either way. What failed goes to the
        log, as the executor logs it ("Ready check failed")."""
        for node in self.nodes():
            answer = node.app.handle("GET", "/health/status")
            if answer.status != 200:
                logger.warning(
                    "Seldon graph %s is not ready: node %s answered %d to /health/status: %s",
                    self.name,
                    node.name,
                    answer.status,
                    answer.body[:500].decode("utf-8", "replace"),
                )
                return Answer(503, b"", PLAIN)
        return Answer(200, b"", PLAIN)

    def executor_answer(
        self, method: str, path: str, query: str = "", content_type: str | None = None, body=b""
    ) -> Answer | None:
        """The answer of seldon-core's executor's own route (routes.py's GRAPH_ROUTES) at
        ``path``, or None where the executor has no route for the path. A method the route
        does not take is gorilla/mux's 405 with no body; OPTIONS is the CORS preflight its
        middleware answers, 200 with no body (the headers: cors.py)."""
        route = executor_route(path)
        if route is None:
            return None
        allowed, endpoint, name = route
        verb = method.upper()
        if verb == "OPTIONS":
            return Answer(200, b"", PLAIN)
        if verb not in allowed:
            return Answer(405, b"", PLAIN)
        if endpoint == "ready":
            return self.ready()
        if endpoint == "live":
            return Answer(200, b"", PLAIN)
        if endpoint == "prometheus":
            return Answer(200, self.executor_metrics.exposition(), CONTENT_TYPE)
        if endpoint in ("predict", "feedback"):
            answer = self._through_graph(method, path, query, content_type, body)
        elif endpoint == "graph_metadata":
            answer = self.graph_metadata()
        else:
            answer = self.node_answer("GET", endpoint, name)
        return executor_writes(answer)

    def handle(
        self, method: str, path: str, query: str = "", content_type: str | None = None, body=b""
    ) -> Answer:
        """Answer one request to the graph service; the executor's own paths (predictions,
        feedback, status, metadata) are counted for ``/prometheus`` as the executor counts
        its answers."""
        started = time.perf_counter()
        answer = self._handle(method, path, query, content_type, body)
        service = _executor_service(method, path)
        if service is not None:
            seconds = time.perf_counter() - started
            self.executor_metrics.answered(self.name, service, method, answer.status, seconds)
        return answer

    def _as_microservice(
        self, method: str, path: str, query: str, content_type: str | None, body: Any
    ) -> Answer:
        """The one MODEL's own answer to one of its microservice's paths; a prediction or
        a feedback counted as the executor's call of the node."""
        started = time.perf_counter()
        answer = self.root.app.handle(method, path, query, content_type, body)
        if path in _PREDICT_PATHS or path in _FEEDBACK_PATHS:
            called = "/predict" if path in _PREDICT_PATHS else "/send-feedback"
            self._called(self.root, called, "POST", answer.status, started)
        return answer

    def _handle(
        self, method: str, path: str, query: str, content_type: str | None, body: Any
    ) -> Answer:
        # the executor fronts every SeldonDeployment, one MODEL too: its paths are its own
        executor = self.executor_answer(method, path, query, content_type, body)
        if executor is not None:
            return executor
        if path == "/seldon.json" and method.upper() in ("GET", "HEAD"):
            return self.openapi()
        if self.microservice:  # the one MODEL's microservice answers the rest as its own
            return self._as_microservice(method, path, query, content_type, body)
        if path == "/health/ping":
            return Answer(200, b"pong", TEXT)
        if path == "/health/status":  # the microservice's: the nodes' health, with its body
            return self.health(method, path)
        # the microservice's predictions paths (/predict and the service root, GET or POST,
        # HEAD as GET) and /send-feedback run the graph; another method is the root
        # component's refusal, as on a MODEL service
        verb = method.upper()
        allowed = ROUTE_METHODS.get(route_key("" if path == "/" else path), ())
        if (
            path not in _PREDICT_PATHS + _FEEDBACK_PATHS
            or verb not in allowed
            and not (verb == "HEAD" and "GET" in allowed)
        ):
            return self.root.app.handle(method, path, query, content_type, body)
        return self._through_graph(method, path, query, content_type, body)

    def _through_graph(
        self, method: str, path: str, query: str, content_type: str | None, body: Any
    ) -> Answer:
        """A prediction or a feedback sent down the graph. One MODEL's is its microservice's
        own answer, passed on as the executor passes a node's answer."""
        if self.microservice:
            return self._as_microservice(method, path, query, content_type, body)
        try:
            request = parse_request(query, content_type, bytes(body))
            if not isinstance(request, dict):
                raise SeldonMicroserviceException(f"Invalid request data type: {request}")
            if path in _FEEDBACK_PATHS:
                return _json(self.feedback(self.root, request))
            return _json(self.predict(request))
        except _NodeFailed as failed:  # a node's own answer
            return failed.answer
        except Exception as exc:
            return self.root.app.error_answer(exc)


#: Go's ``json.HTMLEscape``: what it writes for each byte sequence it escapes
_GO_HTML_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def executor_writes(answer: Answer) -> Answer:
    """``answer`` (a node's, or the graph's) as seldon-core 1.18.2's executor writes it at
    its predictions, feedback, metadata and status paths (``respondWithSuccess`` and
    ``respondWithError`` in executor/api/rest/server.go, ``Marshall`` in client.go):
    the body through Go's ``json.HTMLEscape`` (``<``, ``>``, ``&``, U+2028 and U+2029 as
    ``\\u003c`` ...: the same JSON, other bytes); a 200 with its content type; any other
    status with its body but the content type Go's net/http sniffs from it, text/plain
    (respondWithError sets the node's after WriteHeader, where Go no longer reads it);
    and none of the node's other headers (the executor passes on its content type only)."""
    body = answer.body
    for raw, escaped in _GO_HTML_ESCAPES:
        body = body.replace(raw, escaped)
    content_type = answer.content_type
    if answer.status != 200 and body:
        content_type = PLAIN
    return Answer(answer.status, body, content_type)


def _executor_service(method: str, path: str) -> str | None:
    """The ``service`` label the executor counts an answer to ``method`` at ``path`` under
    (its ``wrapMetrics``), or None for one it does not count: ``/ready``, ``/live``,
    ``/prometheus``, the microservice's own paths, and what its handler never sees (mux's
    405, the CORS middleware's OPTIONS). easlab's own way in to the graph (the service
    root, ``/predict``, ``/send-feedback``) counts as the executor's predictions and
    feedback."""
    route = executor_route(path)
    if route is None:
        if path in _PREDICT_PATHS:
            return "predictions"
        return "feedback" if path in _FEEDBACK_PATHS else None
    allowed, endpoint, _ = route
    if method.upper() not in allowed or method.upper() == "OPTIONS" or path == "/ready":
        return None
    return {
        "predict": "predictions",
        "feedback": "feedback",
        "graph_metadata": "metadata",
        "ready": "status",
        "node_status": "status",
        "node_metadata": "metadata",
    }.get(endpoint)


#: the fields of the executor's ModelMetadata, in its struct's order (each omitempty)
_EXECUTOR_MODEL_FIELDS = ("name", "platform", "versions", "inputs", "outputs")


def _executor_model(metadata: dict[str, Any]) -> dict[str, Any]:
    """A node's metadata as seldon-core's executor re-marshals it (predictor/metadata.go's
    ModelMetadata): its five fields in the struct's order, others (``custom``) dropped,
    empty ones left out (``inputs``/``outputs`` only when null: ``[]`` stays), and the
    objects inside the inputs and outputs with Go's sorted keys."""
    out: dict[str, Any] = {}
    for key in _EXECUTOR_MODEL_FIELDS:
        value = metadata.get(key)
        if key in ("inputs", "outputs"):
            if value is not None:
                out[key] = _go_decoded(value)
        elif value not in (None, "", []):
            out[key] = value
    return out


def _go_decoded(value: Any) -> Any:
    """``value`` as Go holds JSON decoded into ``interface{}`` and writes it back: objects
    as maps (sorted keys), numbers as float64 (an integral one written without ``.0``)."""
    if isinstance(value, dict):
        return {str(k): _go_decoded(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_go_decoded(item) for item in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


def _edges(node: GraphNode) -> tuple[GraphNode, GraphNode]:
    """The nodes whose inputs and outputs are the graph's (seldon-core's executor's
    ``getEdgeNodes``): a leaf is both; a MODEL or TRANSFORMER takes the inputs and its
    first child's chain gives the outputs; an OUTPUT_TRANSFORMER or COMBINER gives the
    outputs and its first child's chain takes the inputs; a ROUTER is its first child's."""
    if not node.children:
        return node, node
    first, last = _edges(node.children[0])
    if node.type in ("MODEL", "TRANSFORMER"):
        return node, last
    if node.type in ("OUTPUT_TRANSFORMER", "COMBINER"):
        return first, node
    return first, last


class _NodeFailed(Exception):
    """A node's own failure answer, which stops the graph (seldon-core's executor stops at
    a node whose microservice answers other than 200 and sends that status and body)."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.body)
        self.answer = answer


#: each component method's path on the node's microservice (the executor's client paths)
_NODE_PATHS = {
    methods.predict: "/predict",
    methods.transform_input: "/transform-input",
    methods.route: "/route",
    methods.aggregate: "/aggregate",
    methods.transform_output: "/transform-output",
}


#: a SeldonMessage's fields: an object with any other is no SeldonMessage to the executor
_MESSAGE_FIELDS = frozenset(
    {"status", "meta", "data", "binData", "strData", "jsonData", "customData"}
)


def _route_index(node: GraphNode, answer: Any) -> int:
    """The child a router's ``/route`` answer picks, read as seldon-core's executor reads
    it (``ExtractRouteFromSeldonJson``): a SeldonMessage's first value of
    ``data.ndarray`` (a row's first), ``data.tensor.values`` or ``data.tftensor.intVal``,
    -1 (every child) where it has no data; else a JSON array of whole numbers, its first.
    A value that is no number counts 0 (protobuf's number of a bool or a string), a
    fraction is cut to its whole part. What the executor cannot read (it fails, or
    panics on an empty array) is a clear 500 naming the router."""
    values: Any = None
    if isinstance(answer, list):
        if all(isinstance(v, int) and not isinstance(v, bool) for v in answer):
            values = answer
    elif answer is None:
        return ROUTE_TO_ALL
    elif isinstance(answer, dict) and set(answer) <= _MESSAGE_FIELDS:
        data = answer.get("data")
        data = data if isinstance(data, dict) else {}
        if isinstance(data.get("ndarray"), list):
            rows = data["ndarray"]
            values = [row[0] if isinstance(row, list) and row else row for row in rows]
            if any(isinstance(row, list) and not row for row in rows):
                values = None  # a row with no first value
        elif isinstance(data.get("tensor"), dict):
            values = data["tensor"].get("values") or []
        elif isinstance(data.get("tftensor"), dict):
            values = data["tftensor"].get("intVal") or []
        else:
            return ROUTE_TO_ALL
    if not isinstance(values, list) or not values:
        text = json.dumps(answer, default=str)
        info = (
            f"router {node.name} answered {text[:200]}: no route in it (route() answers a "
            "child's index; a route_raw answer is a SeldonMessage whose data.ndarray "
            "([[index]]), data.tensor.values or data.tftensor.intVal holds it, or a JSON "
            "array of whole numbers)"
        )
        raise _NodeFailed(_json({"status": {"code": 500, "info": info, "status": "FAILURE"}}, 500))
    first = values[0]
    number = first if isinstance(first, (int, float)) and not isinstance(first, bool) else 0
    return int(number)


def _at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Each of ``calls`` at once, each but the first in a thread of its own, as
    seldon-core's executor calls a node's children (a goroutine each, for a route of -1
    and a COMBINER's); their answers in the calls' order, whichever ended first. When
    any failed, the first failure in that order is raised once every call has ended (the
    executor waits for all its children, then answers the first one's error)."""
    if len(calls) <= 1:
        return [call() for call in calls]
    answers: list[Any] = [None] * len(calls)
    failures: list[BaseException | None] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            answers[index] = calls[index]()
        except BaseException as exc:  # raised in the caller's thread, below
            failures[index] = exc

    threads = [
        # each with the caller's context (its contextvars), as the call would have had
        threading.Thread(
            target=contextvars.copy_context().run, args=(run, index), name=f"seldon-child-{index}"
        )
        for index in range(1, len(calls))
    ]
    for thread in threads:
        thread.start()
    run(0)
    for thread in threads:
        thread.join()
    failed = next((exc for exc in failures if exc is not None), None)
    if failed is not None:
        raise failed
    return answers


def _copy(message: Any) -> Any:
    import copy

    return copy.deepcopy(message)


def _routed(feedback: dict[str, Any], name: str) -> int:
    """The child index ``feedback``'s ``response.meta.routing`` records for node ``name``
    (a number, or one as text: a proto int32), -1 (every child) where it records none or
    is no such map (the executor's reading)."""
    response = feedback.get("response")
    meta = response.get("meta") if isinstance(response, dict) else None
    routing = meta.get("routing") if isinstance(meta, dict) else None
    index = as_int32(routing.get(name)) if isinstance(routing, dict) else None
    return -1 if index is None else index


def _with_path(message: Any, path: dict[str, Any], node: GraphNode) -> Any:
    """Keep the requestPath gathered so far on an answer (components drop it)."""
    if isinstance(message, dict):
        meta = message.setdefault("meta", {})
        meta["requestPath"] = {**path, **meta.get("requestPath", {}), node.name: node.cls_name}
    return message


__all__ = ["JSON", "GraphApp", "GraphNode"]
