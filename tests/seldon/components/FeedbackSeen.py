# ruff: noqa
# A component as users write it for seldon-core (the guide's style kept).
import numpy as np


class FeedbackSeen:
    """Records what send_feedback receives; predict answers the record."""

    def __init__(self):
        self.last = {}

    def send_feedback(self, features, feature_names, reward, truth, routing=None):
        def describe(value):
            if isinstance(value, np.ndarray):
                return {
                    "ndarray": value.tolist(),
                    "dtype": str(value.dtype),
                    "shape": list(value.shape),
                }
            return {"type": type(value).__name__, "repr": repr(value)}

        self.last = {
            "features": describe(features),
            "names": [type(feature_names).__name__ != "NoneType", list(feature_names or [])],
            "reward": [type(reward).__name__, reward],
            "truth": describe(truth),
            "routing": repr(routing),
            # the guide's own use of truth and features: works on seldon-core for any request
            "sizes": [int(np.asarray(features).size), int(truth.size)],
        }
        return None

    def predict(self, X, names, meta=None):
        return self.last
