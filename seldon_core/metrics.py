"""``seldon_core.metrics`` as component modules import it (easlab's implementation)."""

from easlab.seldon.metrics import (
    AGGREGATE_METRIC_METHOD_TAG,
    COUNTER,
    FEEDBACK_METRIC_METHOD_TAG,
    GAUGE,
    HEALTH_METRIC_METHOD_TAG,
    INPUT_TRANSFORM_METRIC_METHOD_TAG,
    OUTPUT_TRANSFORM_METRIC_METHOD_TAG,
    PREDICT_METRIC_METHOD_TAG,
    ROUTER_METRIC_METHOD_TAG,
    TIMER,
    SeldonMetrics,
    validate_metrics,
)

__all__ = [
    "AGGREGATE_METRIC_METHOD_TAG",
    "COUNTER",
    "FEEDBACK_METRIC_METHOD_TAG",
    "GAUGE",
    "HEALTH_METRIC_METHOD_TAG",
    "INPUT_TRANSFORM_METRIC_METHOD_TAG",
    "OUTPUT_TRANSFORM_METRIC_METHOD_TAG",
    "PREDICT_METRIC_METHOD_TAG",
    "ROUTER_METRIC_METHOD_TAG",
    "TIMER",
    "SeldonMetrics",
    "validate_metrics",
]
