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
    and a numeric value; anything that is not a list passes, as in seldon-core."""
    if isinstance(metrics, list):
        for metric in metrics:
            if not ("key" in metric and "value" in metric and "type" in metric):
                return False
            if metric["type"] not in (COUNTER, GAUGE, TIMER):
                return False
            try:
                metric["value"] + 1
            except TypeError:
                return False
    return True


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
