"""The OpenAPI 3 document a Seldon service serves at ``GET /seldon.json`` (seldon-core's
microservice serves one there too): easlab's own, written from the route table
(routes.py) that ``SeldonApp`` routes by, so each path and method it lists is one the
service answers, and none it answers is left out.
"""

from __future__ import annotations

from typing import Any

from easlab.seldon.routes import GRAPH_ROUTES, ROUTES

_REF = "#/components/schemas/"
#: a path as an operationId's tail: ``/api/v1.0/status/{model}`` -> ``_api_v1_0_status_model``
_OPERATION_ID = str.maketrans({"/": "_", ".": "_", "{": None, "}": None})


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


#: the message shapes (SPEC §6), as easlab reads and writes them
_SCHEMAS: dict[str, Any] = {
    "Tensor": {
        "type": "object",
        "properties": {
            "shape": {"type": "array", "items": {"type": "integer"}},
            "values": {"type": "array", "items": {"type": "number"}},
        },
    },
    "DefaultData": {
        "type": "object",
        "description": "the features: one of ndarray, tensor or tftensor, with their names",
        "properties": {
            "names": {"type": "array", "items": {"type": "string"}},
            "ndarray": {"type": "array", "items": {}},
            "tensor": _ref("Tensor"),
            "tftensor": {"type": "object", "description": "a TensorProto as JSON"},
        },
    },
    "Metric": {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": ["COUNTER", "GAUGE", "TIMER"]},
            "key": {"type": "string"},
            "value": {"type": "number"},
            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "Meta": {
        "type": "object",
        "properties": {
            "puid": {"type": "string"},
            "tags": {"type": "object"},
            "routing": {
                "type": "object",
                "description": "each router's pick: a child's index, -1 every child, "
                "-2 none (the router's input is the answer)",
                "additionalProperties": {"type": "integer"},
            },
            "requestPath": {
                "type": "object",
                "description": "the nodes that ran, each with its class",
                "additionalProperties": {"type": "string"},
            },
            "metrics": {"type": "array", "items": _ref("Metric")},
        },
    },
    "Status": {
        "type": "object",
        "properties": {
            "code": {"type": "integer"},
            "info": {"type": "string"},
            "reason": {"type": "string"},
            "status": {"type": "integer", "description": "0 success, 1 failure"},
        },
    },
    "SeldonMessage": {
        "type": "object",
        "description": "one of data, binData (base64), strData or jsonData, with meta",
        "properties": {
            "status": _ref("Status"),
            "meta": _ref("Meta"),
            "data": _ref("DefaultData"),
            "binData": {"type": "string", "format": "byte"},
            "strData": {"type": "string"},
            "jsonData": {},
        },
    },
    "SeldonMessageList": {
        "type": "object",
        "properties": {"seldonMessages": {"type": "array", "items": _ref("SeldonMessage")}},
    },
    "Feedback": {
        "type": "object",
        "properties": {
            "request": _ref("SeldonMessage"),
            "response": _ref("SeldonMessage"),
            "reward": {"type": "number"},
            "truth": _ref("SeldonMessage"),
        },
    },
    "ModelMetadata": {
        "type": "object",
        "description": "the component's init_metadata(), checked against the V2 schema",
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": {"type": "object"}},
            "outputs": {"type": "array", "items": {"type": "object"}},
            "custom": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "GraphMetadata": {
        "type": "object",
        "description": "a graph's metadata at /api/v1.0/metadata (seldon-core's executor's)",
        "properties": {
            "name": {"type": "string"},
            "models": {"type": "object", "additionalProperties": _ref("ModelMetadata")},
            "graphinputs": {"type": "array", "items": {"type": "object"}},
            "graphoutputs": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Error": {
        "type": "object",
        "description": "seldon-core's error body: status.reason MICROSERVICE_BAD_DATA (400), "
        "MICROSERVICE_INTERNAL_ERROR, MICROSERVICE_BAD_METADATA or MICROSERVICE_BAD_METRIC "
        "(500), or the component's own status code",
        "properties": {"status": _ref("Status")},
    },
}

#: each endpoint: (summary, the message it reads or None, what it answers)
_ENDPOINTS: dict[str, tuple[str, str | None, str]] = {
    "openapi": ("This document", None, "OpenAPI"),
    "predict": (
        "A prediction: the component's predict() (for a graph or a service_type other than "
        "MODEL, the graph's answer)",
        "SeldonMessage",
        "SeldonMessage",
    ),
    "feedback": (
        "Feedback: the component's send_feedback() (for a graph, each MODEL and ROUTER along "
        "the routing in response.meta.routing)",
        "Feedback",
        "SeldonMessage",
    ),
    "transform_input": ("The component's transform_input()", "SeldonMessage", "SeldonMessage"),
    "transform_output": (
        "The component's transform_output()",
        "SeldonMessage",
        "SeldonMessage",
    ),
    "route": (
        "The component's route(): the child's index as data.ndarray [[index]]",
        "SeldonMessage",
        "SeldonMessage",
    ),
    "aggregate": (
        "The component's aggregate() over its children's answers",
        "SeldonMessageList",
        "SeldonMessage",
    ),
    "ping": ("Liveness: pong", None, "pong"),
    "health": ("The component's health_status()", None, "SeldonMessage"),
    "metadata": ("The component's init_metadata()", None, "ModelMetadata"),
    "graph_metadata": (
        "The graph's metadata, as seldon-core's executor answers it: each node's "
        "init_metadata() by the node's name, and the graph's inputs and outputs",
        None,
        "GraphMetadata",
    ),
    "ready": (
        "Readiness, as seldon-core's executor answers it: 200 when every node's "
        "health_status() answers, else 503; no body",
        None,
        "empty",
    ),
    "live": ("Liveness, as seldon-core's executor answers it: 200, no body", None, "empty"),
    "prometheus": (
        "The executor's own Prometheus metrics: how long it took to answer each path and "
        "to call each node (seldon_api_executor_{server,client}_requests_seconds)",
        None,
        "prometheus",
    ),
    "node_status": (
        "One node's health_status(), the node named by its name in the graph",
        None,
        "SeldonMessage",
    ),
    "node_metadata": (
        "One node's init_metadata(), the node named by its name in the graph",
        None,
        "ModelMetadata",
    ),
}


def _answer(kind: str, path: str) -> dict[str, Any]:
    if kind == "pong":
        return {"description": "pong", "content": {"text/html": {"schema": {"type": "string"}}}}
    if kind == "empty":
        return {"description": "ready (no body)"}
    if kind == "prometheus":
        text = {"schema": {"type": "string"}}
        return {"description": "Prometheus text format 0.0.4", "content": {"text/plain": text}}
    schema: dict[str, Any] = {"type": "object"} if kind == "OpenAPI" else _ref(kind)
    return {"description": kind, "content": {"application/json": {"schema": schema}}}


def _operation(endpoint: str, method: str, path: str) -> dict[str, Any]:
    summary, reads, answers = _ENDPOINTS[endpoint]
    error = {"description": "seldon-core's error body",
             "content": {"application/json": {"schema": _ref("Error")}}}  # fmt: skip
    operation: dict[str, Any] = {
        "operationId": method + path.translate(_OPERATION_ID),
        "summary": summary,
        "responses": {"200": _answer(answers, path)},
    }
    if answers == "empty" and endpoint == "ready":
        operation["responses"]["503"] = {"description": "a node is not healthy (no body)"}
    if reads is None:
        if endpoint.endswith("metadata") or endpoint.startswith("node_"):
            operation["responses"]["500"] = error  # MICROSERVICE_BAD_METADATA, no such node
        if "{model}" in path:
            operation["parameters"] = [
                {"name": "model", "in": "path", "required": True,
                 "description": "the node's name in seldon.graph (the service's name for a "
                                "service without one)", "schema": {"type": "string"}}
            ]  # fmt: skip
        return operation
    operation["responses"]["400"] = error
    operation["responses"]["500"] = error
    as_text = {"type": "string", "description": f"the {reads} as JSON"}
    if method == "get":
        operation["parameters"] = [
            {"name": "json", "in": "query", "required": True, "schema": as_text}
        ]
        return operation
    operation["requestBody"] = {
        "required": True,
        "content": {
            "application/json": {"schema": _ref(reads)},
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": {"json": as_text}}
            },
        },
    }
    return operation


def openapi_document(
    server: str = "/", token: bool = False, executor: bool = False
) -> dict[str, Any]:
    """The OpenAPI 3 document of the Seldon REST paths, served at ``server`` (``/`` for
    ``easlab seldon``, ``/api/predict/{name}`` in the kernel); ``token`` says each path
    needs the service token in the ``Authorization`` header (the kernel's rule);
    ``executor`` adds the paths seldon-core's executor serves in front of the component
    or graph (GRAPH_ROUTES), the executor's answering a path both have."""
    paths: dict[str, Any] = {}
    routes = {**ROUTES, **GRAPH_ROUTES} if executor else ROUTES
    for path, (methods, endpoint) in routes.items():
        paths[path] = {
            method.lower(): _operation(endpoint, method.lower(), path)
            for method in methods
            if method != "OPTIONS"  # the CORS preflight, on every path: no operation
        }
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "Seldon component served by easlab",
            "version": "1.0",
            "description": "The Seldon Core microservice REST contract (seldon-core 1.18) "
            "that easlab serves for a Seldon component or graph.",
        },
        "servers": [{"url": server}],
        "paths": paths,
        "components": {"schemas": _SCHEMAS},
    }
    if token:
        document["components"]["securitySchemes"] = {
            "token": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "the service token (or an EAS signature)",
            }
        }
        document["security"] = [{"token": []}]
    return document
