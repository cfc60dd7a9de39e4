# ruff: noqa
# A component as users write it for seldon-core: send_feedback answers a dict, and
# metrics() gives values a 32-bit proto float cannot hold exactly (and a numpy float32).
import numpy as np


class FeedbackNumbers:
    def predict(self, X, names, meta=None):
        return X

    def send_feedback(self, features, feature_names, reward, truth, routing=None):
        return {"reward": reward, "count": 3, "ids": [1, 2]}

    def metrics(self):
        return [
            {"type": "GAUGE", "key": "tenth", "value": 0.1, "tags": {"a": "b"}},
            {"type": "TIMER", "key": "big", "value": 12345678901},
            {"type": "GAUGE", "key": "f32", "value": np.float32(0.3)},
        ]
