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
