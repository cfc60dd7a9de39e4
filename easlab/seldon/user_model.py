"""What a Seldon component class is (``SeldonComponent``, ``SeldonResponse``) and how
the wrapper calls each of its optional methods (SPEC §6, the component guide).

A component need not subclass ``SeldonComponent``: every method is optional, and a
missing one (or one raising ``SeldonNotImplementedError``) means the wrapper's default.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from easlab.seldon.errors import SeldonMicroserviceException, SeldonNotImplementedError
from easlab.seldon.metrics import SeldonMetrics, validate_metrics


def include_metrics_in_client_response() -> bool:
    """``INCLUDE_METRICS_IN_CLIENT_RESPONSE`` (default true in seldon-core 1.18.2)."""
    return os.environ.get("INCLUDE_METRICS_IN_CLIENT_RESPONSE", "true").lower() == "true"


class SeldonResponse:
    """A method's answer with runtime ``tags`` and ``metrics`` (these win over the static ones)."""

    def __init__(
        self,
        data: Any,
        tags: dict[str, Any] | None = None,
        metrics: list[dict[str, Any]] | None = None,
    ) -> None:
        self.data = data
        self.tags = tags if tags is not None else {}
        self.metrics = metrics if metrics is not None else []

    @classmethod
    def create(cls, data: Any) -> SeldonResponse:
        return data if isinstance(data, cls) else cls(data=data)


def _missing(name: str) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise SeldonNotImplementedError(f"{name} is not implemented")

    method.__name__ = name
    return method


class SeldonComponent:
    """Optional base class; each method's default tells the wrapper to use its own."""

    def __init__(self, **kwargs: Any) -> None:
        pass

    def load(self) -> None:
        pass

    tags = _missing("tags")
    class_names = _missing("class_names")
    predict = _missing("predict")
    predict_raw = _missing("predict_raw")
    send_feedback_raw = _missing("send_feedback_raw")
    transform_input = _missing("transform_input")
    transform_input_raw = _missing("transform_input_raw")
    transform_output = _missing("transform_output")
    transform_output_raw = _missing("transform_output_raw")
    metrics = _missing("metrics")
    feature_names = _missing("feature_names")
    send_feedback = _missing("send_feedback")
    route = _missing("route")
    route_raw = _missing("route_raw")
    aggregate = _missing("aggregate")
    aggregate_raw = _missing("aggregate_raw")
    health_status = _missing("health")
    health_status_raw = _missing("health_raw")
    metadata = _missing("metadata")
    init_metadata = _missing("init_metadata")


def _optional(user_model: Any, name: str, *args: Any, default: Any) -> Any:
    """Call ``user_model.name(*args)``; ``default`` when absent or not implemented."""
    if hasattr(user_model, name):
        try:
            return getattr(user_model, name)(*args)
        except SeldonNotImplementedError:
            pass
    return default


def client_custom_tags(user_model: Any) -> dict[str, Any]:
    return _optional(user_model, "tags", default={})


def client_feature_names(user_model: Any, original: Iterable[str]) -> Any:
    return _optional(user_model, "feature_names", original, default=original)


def client_class_names(user_model: Any, predictions: np.ndarray) -> Any:
    """Output names: ``class_names()`` for a 2-D answer, else ``t:0, t:1, ...``; 1-D: ``[]``."""
    if len(predictions.shape) <= 1:
        return []
    if hasattr(user_model, "class_names"):
        names = user_model.class_names
        if not inspect.ismethod(names):
            return names  # the deprecated attribute form
        try:
            return names()
        except SeldonNotImplementedError:
            pass
    return [f"t:{i}" for i in range(predictions.shape[1])]


def _call_with_meta(method: Any, features: Any, names: Any, meta: Any) -> Any:
    # the guide's older form is predict(X, features_names): retry without meta on TypeError
    try:
        return method(features, names, meta=meta)
    except TypeError:
        return method(features, names)


def _data_method(user_model: Any, name: str, features: Any, names: Any, meta: Any, default: Any):
    if hasattr(user_model, name):
        try:
            return SeldonResponse.create(
                _call_with_meta(getattr(user_model, name), features, names, meta)
            )
        except SeldonNotImplementedError:
            pass
    return SeldonResponse.create(default)


def client_predict(user_model: Any, features: Any, names: Any, meta: Any = None) -> SeldonResponse:
    return _data_method(user_model, "predict", features, names, meta, [])


def client_transform_input(
    user_model: Any, features: Any, names: Any, meta: Any = None
) -> SeldonResponse:
    return _data_method(user_model, "transform_input", features, names, meta, features)


def client_transform_output(
    user_model: Any, features: Any, names: Any, meta: Any = None
) -> SeldonResponse:
    return _data_method(user_model, "transform_output", features, names, meta, features)


def client_route(user_model: Any, features: Any, names: Any, meta: Any = None) -> SeldonResponse:
    if not hasattr(user_model, "route"):
        raise SeldonNotImplementedError("Route not defined")
    return SeldonResponse.create(_call_with_meta(user_model.route, features, names, meta))


def client_aggregate(user_model: Any, features_list: list[Any], names_list: list[Any]):
    if not hasattr(user_model, "aggregate"):
        raise SeldonNotImplementedError("Aggregate not defined")
    return SeldonResponse.create(user_model.aggregate(features_list, names_list))


def client_send_feedback(
    user_model: Any, features: Any, names: Any, reward: float, truth: Any, routing: Any
) -> SeldonResponse:
    if hasattr(user_model, "send_feedback"):
        try:
            return SeldonResponse.create(
                user_model.send_feedback(features, names, reward, truth, routing=routing)
            )
        except SeldonNotImplementedError:
            pass
    return SeldonResponse.create(None)


def client_health_status(user_model: Any) -> Any:
    if not hasattr(user_model, "health_status"):
        return "healthy"
    try:
        return user_model.health_status()
    except SeldonNotImplementedError:
        return "not implemented - assuming healthy"


def bad_metric(metrics: Any) -> SeldonMicroserviceException:
    """The 500 MICROSERVICE_BAD_METRIC error seldon-core answers for ``metrics``."""
    return SeldonMicroserviceException(
        f"Bad metric created during request: {json.dumps(metrics)}",
        status_code=500,
        reason="MICROSERVICE_BAD_METRIC",
    )


def client_custom_metrics(
    user_model: Any,
    seldon_metrics: SeldonMetrics,
    method: str,
    runtime_metrics: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Static ``metrics()`` then the runtime ones, validated and recorded; the list the
    client sees (empty when INCLUDE_METRICS_IN_CLIENT_RESPONSE is false)."""
    runtime = runtime_metrics if runtime_metrics is not None else []
    if not validate_metrics(runtime):
        raise bad_metric(runtime)
    seldon_metrics.update(runtime, method)
    include = include_metrics_in_client_response()
    if hasattr(user_model, "metrics"):
        try:
            static = user_model.metrics()
        except SeldonNotImplementedError:
            pass
        else:
            if not validate_metrics(static):
                raise bad_metric(static)
            seldon_metrics.update(static, method)
            return static + runtime if include else []
    return runtime if include else []
