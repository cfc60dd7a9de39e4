"""The Prometheus text seldon-core's executor serves at ``/prometheus`` in front of a
graph (the path a SeldonDeployment's operator gives its ``--prometheus_path``): how long
the executor took to answer each of its paths, and each call it made to a node.

Two histograms, with the executor's names, help, labels and buckets (its
``executor/api/metric``): ``seldon_api_executor_server_requests_seconds`` by
``service`` (predictions, feedback, status, metadata), ``method`` and ``code`` of the
answer; ``seldon_api_executor_client_requests_seconds`` by ``model_name`` (the node),
``service`` (the node's path: ``/predict``, ``/route``, ...), ``method`` and ``code`` of
the node's answer. ``deployment_name`` and ``predictor_name`` are the service's name
(the graph metadata's ``name``), ``predictor_version``, ``model_image`` and
``model_version`` are empty (no image). Left out: the executor's ``*_summary`` twins of
both (client_golang's streaming quantiles) and the Go runtime's own series. Each
instance counts its own requests, as each pod's executor does.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

#: the executor's DefBuckets (seconds)
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
SERVER = "seldon_api_executor_server_requests_seconds"
CLIENT = "seldon_api_executor_client_requests_seconds"
_SERVER_LABELS = ("deployment_name", "predictor_name", "predictor_version", "service",
                  "method", "code")  # fmt: skip
_CLIENT_LABELS = ("deployment_name", "predictor_name", "predictor_version", "service",
                  "model_name", "model_image", "model_version", "method", "code")  # fmt: skip
#: the text format version client_golang's promhttp answers a scrape without an Accept with
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Histograms:
    """Observations by label values: each one's bucket counts and sum (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}

    def observe(self, labels: tuple[str, ...], seconds: float) -> None:
        index = bisect_left(BUCKETS, seconds)  # the first edge >= seconds; past them, +Inf
        with self._lock:
            series = self._series.get(labels)
            if series is None:
                series = self._series[labels] = ([0] * (len(BUCKETS) + 1), [0.0])
            series[0][index] += 1
            series[1][0] += seconds

    def family(self, name: str, documentation: str, labels: tuple[str, ...]) -> Any:
        """The histograms as one family; None before the first observation (client_golang
        writes no family that has no series)."""
        from prometheus_client.core import HistogramMetricFamily
        from prometheus_client.utils import floatToGoString

        family = HistogramMetricFamily(name, documentation, labels=list(labels))
        with self._lock:
            series = [
                (key, list(counts), total[0]) for key, (counts, total) in self._series.items()
            ]
        if not series:
            return None
        for key, counts, total in sorted(series):
            running, buckets = 0, []
            for edge, count in zip((*BUCKETS, float("inf")), counts, strict=True):
                running += count
                buckets.append((floatToGoString(edge), running))
            family.add_metric(list(key), buckets, total)
        return family


#: the methods counted: a made-up one (any token a caller sends) would make a series of
#: its own each time, a memory without bound; the executor's routes take none of them
_COUNTED = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


class ExecutorMetrics:
    """What the executor of one graph has answered and called, for ``/prometheus``."""

    def __init__(self) -> None:
        self._server = _Histograms()
        self._client = _Histograms()

    def answered(self, name: str, service: str, method: str, code: int, seconds: float) -> None:
        """The executor answered ``service`` (predictions, feedback, status, metadata)."""
        if method.upper() not in _COUNTED:
            return
        self._server.observe((name, name, "", service, method.lower(), str(code)), seconds)

    def called(
        self, name: str, node: str, path: str, method: str, code: int, seconds: float
    ) -> None:
        """The executor called ``node``'s ``path`` (``/predict``, ``/route``, ...)."""
        labels = (name, name, "", path, node, "", "", method.lower(), str(code))
        self._client.observe(labels, seconds)

    def collect(self) -> Iterator[Any]:
        server = self._server.family(
            SERVER, "A histogram of latencies for executor server", _SERVER_LABELS
        )
        client = self._client.family(
            CLIENT, "A histogram of latencies for client calls from executor", _CLIENT_LABELS
        )
        yield from (family for family in (client, server) if family is not None)

    def describe(self) -> list[Any]:
        return []

    def exposition(self) -> bytes:
        """The Prometheus text (format 0.0.4) of both histograms."""
        from prometheus_client.exposition import generate_latest
        from prometheus_client.registry import CollectorRegistry

        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        return generate_latest(registry)
