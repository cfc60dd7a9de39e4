# ruff: noqa
# A component as users write it for seldon-core (the guide's style kept): static
# metrics() of each type, runtime metrics with tags, and a feedback hook.
from seldon_core.user_model import SeldonResponse


class CustomMetrics:
    def __init__(self):
        self.last = 0

    def predict(self, X, names=[], meta={}):
        self.last = float(X.ravel()[0])
        runtime_metrics = [
            {"type": "COUNTER", "key": "rows_total", "value": len(X), "tags": {"color": "red"}},
            {"type": "TIMER", "key": "model_ms", "value": self.last},
        ]
        return SeldonResponse(data=X, metrics=runtime_metrics)

    def send_feedback(self, features, feature_names, reward, truth, routing=None):
        return []

    def metrics(self):
        return [
            {"type": "COUNTER", "key": "mycounter", "value": 1},
            {"type": "GAUGE", "key": "last_input", "value": self.last},
            {"type": "TIMER", "key": "mytimer", "value": 20.2},
        ]
