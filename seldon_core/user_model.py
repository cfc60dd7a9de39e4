"""``seldon_core.user_model`` as component modules import it (easlab's implementation)."""

from easlab.seldon.errors import SeldonNotImplementedError
from easlab.seldon.user_model import (
    SeldonComponent,
    SeldonResponse,
    client_class_names,
    client_custom_metrics,
    client_custom_tags,
    client_feature_names,
    client_health_status,
    client_predict,
    client_route,
    client_send_feedback,
    client_transform_input,
    client_transform_output,
    include_metrics_in_client_response,
)

INCLUDE_METRICS_IN_CLIENT_RESPONSE = include_metrics_in_client_response()

__all__ = [
    "INCLUDE_METRICS_IN_CLIENT_RESPONSE",
    "SeldonComponent",
    "SeldonNotImplementedError",
    "SeldonResponse",
    "client_class_names",
    "client_custom_metrics",
    "client_custom_tags",
    "client_feature_names",
    "client_health_status",
    "client_predict",
    "client_route",
    "client_send_feedback",
    "client_transform_input",
    "client_transform_output",
]
