# ruff: noqa
# A component as users write it for seldon-core: metadata with named ndarray inputs,
# class names, static tags and runtime tags/metrics.
import numpy as np
from seldon_core.user_model import SeldonResponse


class MetaForm:
    def predict(self, X, names, meta=None):
        out = np.asarray(X, dtype=float) * 2
        return SeldonResponse(
            data=out,
            tags={"runtime": "yes"},
            metrics=[{"type": "COUNTER", "key": "rows", "value": len(out)}],
        )

    def class_names(self):
        return ["a", "b"]

    def tags(self):
        return {"model": "metaform"}

    def init_metadata(self):
        return {
            "name": "metaform",
            "versions": ["v1"],
            "platform": "easlab",
            "inputs": [{"messagetype": "ndarray", "schema": {"names": ["x", "y"], "shape": [2]}}],
            "outputs": [{"messagetype": "ndarray", "schema": {"names": ["a", "b"], "shape": [2]}}],
        }
