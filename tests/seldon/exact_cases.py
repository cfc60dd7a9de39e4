"""Requests whose answers must be seldon-core's byte for byte (status, content type,
body), through the kernel (test_kernel.py) and the standalone server (test_serve.py)."""

from __future__ import annotations

_PREDICT = "/api/v1.0/predictions"

#: requests whose answers are compared byte for byte with seldon-core's
EXACT = [
    ("MyModel", "GET", "/health/ping", None),
    ("MyModel", "HEAD", "/health/ping", None),
    ("MyModel", "POST", _PREDICT, {"json": {"data": {"names": ["a"], "ndarray": [["é", 1]]}}}),
    ("MyModel", "GET", "/health/status", None),
    # the request's meta.puid is echoed (the microservice makes none; through the kernel,
    # the Seldon-Puid header is the executor's: test_the_executors_paths_carry_...)
    ("MyModel", "POST", _PREDICT, {"json": {"meta": {"puid": "p-1"}, "data": {"ndarray": [[1]]}},
                                   "headers": {"Seldon-Puid": "h-1"}}),
    ("MyModel", "GET", "/metadata", None),
    ("MyModel", "POST", _PREDICT, {"data": b"{bad", "headers": {"Content-Type": "application/json"}}),
    # feedback records seldon-core metrics: not MyModel, whose metrics must stay empty
    ("Plain", "POST", "/send-feedback", {"json": {"request": {"data": {"ndarray": [1]}}, "reward": 1}}),
    ("BadMeta", "GET", "/metadata", None),
    ("CustomError", "POST", _PREDICT, {"json": {"data": {"ndarray": [[1]]}}}),
    ("CustomError", "POST", _PREDICT, {"json": {"data": {"ndarray": [[0]]}}}),
    # the component's own 503 and 408 (its error handler's text), not the kernel's
    ("TextError", "POST", _PREDICT, {"json": {"data": {"ndarray": [503]}}}),
    ("TextError", "POST", _PREDICT, {"json": {"data": {"ndarray": [408]}}}),
    ("TextError", "POST", _PREDICT, {"json": {"data": {"ndarray": [418]}}}),
    # what flask's jsonify writes for a date, Decimal, UUID, dataclass (a set: its error)
    *[("FlaskTypes", "POST", _PREDICT, {"json": {"data": {"ndarray": [i]}}}) for i in range(7)],
    # flask's rules are strict: a trailing "/" is no route (the static route's 404 or 405)
    ("MyModel", "GET", "/health/ping/", None),
    ("MyModel", "GET", "/metadata/", None),
    ("MyModel", "POST", _PREDICT + "/", {"json": {"data": {"ndarray": [1]}}}),
    ("MyModel", "POST", "/predict/", {"json": {"data": {"ndarray": [1]}}}),
    ("MyModel", "POST", "/send-feedback/", {"json": {"request": {"data": {"ndarray": [1]}}}}),
    # a path neither the microservice nor the executor has: the microservice's 500
    # "404 Not Found: ..." (seldon-core's executor would answer Go's 404: README)
    ("MyModel", "GET", "/nowhere", None),
    ("MyModel", "POST", "/api/v1.0/nowhere", {"json": {"data": {"ndarray": [1]}}}),
]  # fmt: skip

#: the microservice's root, which no rule of seldon-core's matches (through the kernel
#: "/api/predict/<service>/" is the service root: a prediction, as without the "/")
AT_ROOT = [
    ("MyModel", "GET", "/", None),
    ("MyModel", "POST", "/", {"json": {"data": {"ndarray": [1]}}}),
    ("MyModel", "OPTIONS", "/", None),
]  # fmt: skip


def own_headers(response) -> dict[str, str]:
    """The headers an error handler sets besides the content type (TextError's)."""
    return {k: v for k, v in response.headers.items() if k in ("Retry-After", "X-Busy")}


#: what seldon-core's executor passes on at its predictions and feedback paths (in front of
#: every SeldonDeployment; the kernel answers those paths as it): the node's status and
#: body, its content type on a 200 only, and none of its other headers
EXECUTOR_PATHS = ("/api/v1.0/predictions", "/api/v0.1/predictions", "/api/v1.0/feedback",
                  "/api/v0.1/feedback")  # fmt: skip
#: Go's net/http's content type for a text body whose handler set none before WriteHeader
GO_SNIFFED_TEXT = "text/plain; charset=utf-8"


def go_html_escape(body: bytes) -> bytes:
    """``body`` through Go's ``encoding/json.HTMLEscape``, as the executor's
    ``JSONRestClient.Marshall`` writes every answer (executor/api/rest/client.go)."""
    for raw, escaped in (
        (b"<", b"\\u003c"),
        (b">", b"\\u003e"),
        (b"&", b"\\u0026"),
        ("\u2028".encode(), b"\\u2028"),
        ("\u2029".encode(), b"\\u2029"),
    ):
        body = body.replace(raw, escaped)
    return body  # fmt: skip


def executor_passes_on(status: int, content_type: str, body: bytes) -> tuple[int, str, bytes]:
    """The executor's answer to a node's (the microservice's) ``status``, content type and
    body: ``respondWithSuccess`` keeps the content type; ``respondWithError`` sets it after
    ``WriteHeader``, where Go ignores it and sniffs the body's instead (text/plain)."""
    if status != 200 and body:
        content_type = GO_SNIFFED_TEXT
    return status, content_type, go_html_escape(body)
