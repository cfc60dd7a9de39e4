"""Custom metrics a component returns (COUNTER, GAUGE, TIMER): validated, recorded and
exposed for Prometheus as seldon-core 1.18.2 does (its ``seldon_core/metrics.py``).

What seldon-core does, and easlab with it:

* a metric's series is its ``(type, key, tags)``, the tags taking ``method`` (the
  endpoint that recorded it: ``predict``, ``inputtransform``, ``outputtransform``,
  ``router``, ``aggregate``, ``feedback``, ``health``). seldon-core writes ``method``
  into the metric's own ``tags`` dict, so a client sees it in ``meta.metrics`` too;
* a COUNTER adds its value (exposed as ``<key>_total``, type counter), a GAUGE is set,
  a TIMER (milliseconds) adds one observation, in seconds, to a histogram of
  :data:`BINS` (``<key>_bucket``/``_count``/``_sum``);
* a feedback with a non-zero reward counts ``seldon_api_model_feedback_total`` and adds
  it to ``seldon_api_model_feedback_reward_total`` (not with
  ``SELDON_EXECUTOR_ENABLED=false``);
* the exposition (``GET /metrics`` on the metrics port, 6000 by default) has one family
  per series, labelled with the tags, the deployment labels of the environment
  (:func:`default_labels`, ``NOT_IMPLEMENTED`` outside a SeldonDeployment) and
  ``worker_id`` (the serving process's pid).

The kernel's ``/metrics`` shows the same series per service (easlab/kernel/prometheus.py)
from :meth:`SeldonMetrics.series`, which carries nothing Seldon-specific.
"""

from __future__ import annotations

import json
import os
import threading
from bisect import bisect_right
from collections.abc import Iterator
from typing import Any

from prometheus_client.utils import floatToGoString

COUNTER = "COUNTER"
GAUGE = "GAUGE"
TIMER = "TIMER"

FEEDBACK_KEY = "seldon_api_model_feedback"
FEEDBACK_REWARD_KEY = "seldon_api_model_feedback_reward"

# the ``method`` tag of each endpoint, seldon-core's words
PREDICT_METRIC_METHOD_TAG = "predict"
INPUT_TRANSFORM_METRIC_METHOD_TAG = "inputtransform"
OUTPUT_TRANSFORM_METRIC_METHOD_TAG = "outputtransform"
ROUTER_METRIC_METHOD_TAG = "router"
AGGREGATE_METRIC_METHOD_TAG = "aggregate"
FEEDBACK_METRIC_METHOD_TAG = "feedback"
HEALTH_METRIC_METHOD_TAG = "health"

#: the path and port of seldon-core's metrics server, and what changes them
METRICS_ENDPOINT_ENV = "PREDICTIVE_UNIT_METRICS_ENDPOINT"
METRICS_PORT_ENV = "PREDICTIVE_UNIT_METRICS_SERVICE_PORT"
DEFAULT_METRICS_ENDPOINT = "/metrics"
DEFAULT_METRICS_PORT = 6000


#: seldon-core's TIMER bins, in seconds: 0, 50 edges spread logarithmically from 1 ms to
#: 30 s (``numpy.logspace(-3, log10(30), 50)``), +Inf. Written out as seldon-core 1.18.2's
#: numpy (1.26) computed them on one machine: the last digit of some depends on the numpy
#: version and on the CPU's vector code (another machine's 1.26 gives 0.001879790561123359
#: for the fourth), and the edges are the buckets' ``le`` labels.
BINS = [
    0.0,
    0.001,
    0.0012341553253454693,
    0.0015231393670785815,
    0.0018797905611233593,
    0.0023199535315445415,
    0.002863183005509725,
    0.0035336125536884733,
    0.004361026750842238,
    0.005382184388525997,
    0.006642451525090608,
    0.008197816923039709,
    0.010117379411776668,
    0.012486417679584786,
    0.015410178873747385,
    0.019018554321561593,
    0.02347185009632733,
    0.028967908792092944,
    0.03575089889988335,
    0.04412216226317852,
    0.05445360152285871,
    0.06720420230367624,
    0.0829404241586763,
    0.10236136616184238,
    0.12632982515827532,
    0.15591062646904755,
    0.19241792993472334,
    0.2374736129208902,
    0.2930793240153456,
    0.3617054084821892,
    0.44640065608455204,
    0.5509277469444613,
    0.6799304127720881,
    0.8391397397870157,
    1.035628778567157,
    1.2781267721496807,
    1.5774069623151439,
    1.9467652027782552,
    2.402610642206036,
    2.965194718810281,
    3.65951085290597,
    4.516404807273444,
    5.573945044312399,
    6.879113959621136,
    8.489895126924782,
    10.477849282518772,
    12.931293490187748,
    15.959224724520412,
    19.696162182151948,
    24.30812344597087,
    29.999999999999996,
    float("inf"),
]
#: the buckets' ``le`` labels, as prometheus_client writes the edges
_EDGES = [floatToGoString(edge) for edge in BINS[1:]]
_NOT_IMPLEMENTED = "NOT_IMPLEMENTED"


def default_labels() -> dict[str, str]:
    """The labels seldon-core adds to every series, from the environment its operator sets
    (``SELDON_DEPLOYMENT_ID``, ``PREDICTIVE_UNIT_ID``, ``PREDICTIVE_UNIT_IMAGE``,
    ``PREDICTOR_ID``, ``PREDICTOR_LABELS``), in its order."""
    *name, version = os.environ.get(
        "PREDICTIVE_UNIT_IMAGE", f"{_NOT_IMPLEMENTED}:{_NOT_IMPLEMENTED}"
    ).split(":")
    image = ":".join(name)
    deployment = os.environ.get("SELDON_DEPLOYMENT_ID", _NOT_IMPLEMENTED)
    predictor_labels = json.loads(os.environ.get("PREDICTOR_LABELS", "{}"))
    return {
        "deployment_name": deployment,
        "model_name": os.environ.get("PREDICTIVE_UNIT_ID", _NOT_IMPLEMENTED),
        "model_image": image,
        "model_version": version,
        "predictor_name": os.environ.get("PREDICTOR_ID", _NOT_IMPLEMENTED),
        "predictor_version": predictor_labels.get("version", _NOT_IMPLEMENTED),
        # seldon-core's names before 1.3, still there
        "seldon_deployment_name": deployment,
        "image_name": image,
        "image_version": version,
    }


def validate_metrics(metrics: Any) -> bool:
    """True when ``metrics`` is a list of ``{"type", "key", "value"}`` with a known type
    and a numeric value. Anything else is refused, as in seldon-core: a tuple too (the
    guide's own runtime-metrics example has a trailing comma that makes one), or a
    single metric dict not wrapped in a list."""
    if not isinstance(metrics, list):
        return False
    for metric in metrics:
        if not isinstance(metric, dict):
            return False
        if not ("key" in metric and "value" in metric and "type" in metric):
            return False
        if metric["type"] not in (COUNTER, GAUGE, TIMER):
            return False
        try:
            metric["value"] + 1
        except TypeError:
            return False
    return True


def valid_raw_metrics(metrics: Any) -> bool:
    """Whether a ``*_raw`` answer's ``meta.metrics`` can be recorded: a list (or tuple)
    of dicts with a ``key`` and a ``value``. seldon-core does not validate these, it
    records them; what it cannot record fails there as a 500 MICROSERVICE_INTERNAL_ERROR
    with a Python message ("'str' object has no attribute 'get'"), here as the 500
    MICROSERVICE_BAD_METRIC its other metric checks answer."""
    return isinstance(metrics, (list, tuple)) and all(
        isinstance(m, dict) and "key" in m and "value" in m for m in metrics
    )


def _tags_key(tags: dict[str, Any]) -> str:
    # seldon-core's key of a tag set; a value that is not a string fails here as there
    # (a 500 with Python's "sequence item 1: expected str instance, int found")
    return "_".join("-".join(item) for item in sorted(tags.items()))


def _bin_of(seconds: float) -> int | None:
    """The :data:`BINS` bin numpy's ``histogram`` puts ``seconds`` in (``[a, b)``, the
    last one closed), or None outside them."""
    if seconds == BINS[-1]:
        return len(BINS) - 2
    if not BINS[0] <= seconds < BINS[-1]:
        return None
    return bisect_right(BINS, seconds) - 1


class SeldonMetrics:
    """One serving process's custom metrics: counters add, gauges set, timers observe.

    ``version`` counts the updates that recorded something, so that a reader (the
    kernel's seldon processor) sees cheaply whether there is anything new to send.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.data: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.version = 0
        self.legacy_mode = os.environ.get("SELDON_EXECUTOR_ENABLED", "true").lower() == "false"

    def update(self, custom_metrics: Any, method: str = PREDICT_METRIC_METHOD_TAG) -> None:
        """Record ``custom_metrics`` (already checked) as ``method`` recorded them."""
        if not custom_metrics:
            return
        with self._lock:
            try:
                self._record(custom_metrics, method)
            finally:
                self.version += 1

    def _record(self, custom_metrics: Any, method: str) -> None:
        for metric in custom_metrics:
            kind = metric.get("type", COUNTER)
            tags = metric.get("tags", {})
            tags["method"] = method
            key = (kind, metric["key"], _tags_key(tags))
            slot = self.data.get(key)
            if kind == COUNTER:
                before = slot["value"] if slot else 0
                self.data[key] = {"value": before + metric["value"], "tags": tags}
            elif kind == TIMER:
                counts, total = slot["value"] if slot else ([0] * (len(BINS) - 1), 0.0)
                seconds = metric["value"] / 1000  # a TIMER is in milliseconds
                index = _bin_of(seconds)
                if index is not None:
                    counts = list(counts)
                    counts[index] += 1
                self.data[key] = {"value": (counts, total + seconds), "tags": tags}
            elif kind == GAUGE:
                self.data[key] = {"value": metric["value"], "tags": tags}
            # an unknown type (a *_raw answer's) is left out, as seldon-core does

    def update_reward(self, reward: float) -> None:
        """A feedback's reward: counted when non-zero (seldon-core's rule)."""
        if not reward or self.legacy_mode:
            return
        self.update(
            [{"type": COUNTER, "key": FEEDBACK_KEY, "value": 1}], FEEDBACK_METRIC_METHOD_TAG
        )
        self.update(
            [{"type": COUNTER, "key": FEEDBACK_REWARD_KEY, "value": reward}],
            FEEDBACK_METRIC_METHOD_TAG,
        )

    def series(self) -> list[dict[str, Any]]:
        """Every series, in the order first recorded: ``{"type": "counter" | "gauge" |
        "histogram", "name", "labels", "value"}``, a histogram with ``"buckets"``
        (``[[le, cumulative count], ...]``, the last ``+Inf``) and ``"sum"`` instead of
        a value. Plain JSON: what the kernel's ``/metrics`` is sent (processors/seldon.py).
        """
        with self._lock:
            items = [
                (kind, name, dict(slot["tags"]), slot["value"])
                for (kind, name, _), slot in self.data.items()
            ]
        out: list[dict[str, Any]] = []
        for kind, name, tags, value in items:
            if kind == TIMER:
                counts, total = value
                buckets, running = [], 0.0
                for count, edge in zip(counts, _EDGES, strict=True):
                    running += count
                    buckets.append([floatToGoString(edge), running])
                histogram = {"type": "histogram", "name": name, "labels": tags}
                out.append({**histogram, "buckets": buckets, "sum": total})
            else:
                kind_name = "counter" if kind == COUNTER else "gauge"
                out.append({"type": kind_name, "name": name, "labels": tags, "value": value})
        return out

    def exposition(self, extra_labels: dict[str, str] | None = None) -> bytes:
        """The Prometheus text seldon-core's metrics server answers: one family per
        series, labelled with its tags, :func:`default_labels`, ``extra_labels`` and
        ``worker_id`` (this process)."""
        from prometheus_client.exposition import generate_latest
        from prometheus_client.registry import CollectorRegistry

        fixed = {**default_labels(), **(extra_labels or {}), "worker_id": str(os.getpid())}
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Series(self.series(), fixed))
        return generate_latest(registry)


class _Series:
    """A collector of :meth:`SeldonMetrics.series`, one family each (seldon-core's layout)."""

    def __init__(self, series: list[dict[str, Any]], fixed: dict[str, str]) -> None:
        self.items = series
        self.fixed = fixed

    def collect(self) -> Iterator[Any]:
        for item in self.items:
            yield family(item["type"], item["name"], [({**item["labels"], **self.fixed}, item)])

    def describe(self) -> list[Any]:
        return []


def family(kind: str, name: str, samples: list[tuple[dict[str, str], dict[str, Any]]]) -> Any:
    """One prometheus_client family of ``kind`` (``counter``, ``gauge``, ``histogram``)
    named ``name``, with a sample per ``(labels, entry of SeldonMetrics.series)``; a
    counter named ``x_total`` is family ``x``, as prometheus_client's own counters."""
    from prometheus_client.metrics_core import Metric

    if kind == "counter" and name.endswith("_total"):
        name = name[: -len("_total")]
    metric = Metric(name, "", kind)
    for labels, item in samples:
        if kind == "histogram":
            for edge, count in item["buckets"]:
                metric.add_sample(f"{name}_bucket", {**labels, "le": edge}, count)
            metric.add_sample(f"{name}_count", labels, item["buckets"][-1][1])
            metric.add_sample(f"{name}_sum", labels, item["sum"])
        elif kind == "counter":
            metric.add_sample(f"{name}_total", labels, item["value"])
        else:
            metric.add_sample(name, labels, item["value"])
    return metric
