"""Custom metrics a component returns (COUNTER, GAUGE, TIMER), validated as seldon-core does."""

from __future__ import annotations

import threading
from typing import Any

COUNTER = "COUNTER"
GAUGE = "GAUGE"
TIMER = "TIMER"

FEEDBACK_KEY = "seldon_api_model_feedback"
FEEDBACK_REWARD_KEY = "seldon_api_model_feedback_reward"

PREDICT_METRIC_METHOD_TAG = "predict"
INPUT_TRANSFORM_METRIC_METHOD_TAG = "transform_input"
OUTPUT_TRANSFORM_METRIC_METHOD_TAG = "transform_output"
ROUTER_METRIC_METHOD_TAG = "route"
AGGREGATE_METRIC_METHOD_TAG = "aggregate"
FEEDBACK_METRIC_METHOD_TAG = "send_feedback"
HEALTH_METRIC_METHOD_TAG = "health_status"


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


class SeldonMetrics:
    """In-process store of a component's custom metrics (what seldon-core exports to
    Prometheus): counters add, gauges set, timers add to a sum and a count."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.data: dict[tuple[str, str, str], dict[str, float]] = {}

    def update(self, custom_metrics: list[dict[str, Any]], method: str = "predict") -> None:
        with self._lock:
            for metric in custom_metrics or []:
                key = (method, str(metric["type"]), str(metric["key"]))
                slot = self.data.setdefault(key, {"value": 0.0, "count": 0})
                if metric["type"] == GAUGE:
                    slot["value"] = float(metric["value"])
                else:
                    slot["value"] += float(metric["value"])
                slot["count"] += 1

    def update_reward(self, reward: float) -> None:
        self.update(
            [
                {"type": COUNTER, "key": FEEDBACK_KEY, "value": 1},
                {"type": COUNTER, "key": FEEDBACK_REWARD_KEY, "value": reward},
            ],
            FEEDBACK_METRIC_METHOD_TAG,
        )

    def snapshot(self) -> list[dict[str, Any]]:
        """``[{"method", "type", "key", "value", "count"}]``, for a page or a test."""
        with self._lock:
            return [
                {"method": m, "type": t, "key": k, **slot} for (m, t, k), slot in self.data.items()
            ]
