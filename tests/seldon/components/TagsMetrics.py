# ruff: noqa
# A component as users write it for seldon-core (the guide's style kept).
from seldon_core.user_model import SeldonResponse


class TagsMetrics:
    def predict(self, X, names=[], meta={}):
        runtime_metrics = [{"type": "COUNTER", "key": "instance_counter", "value": len(X)}]
        runtime_tags = {"runtime": "tag", "shared": "right one"}
        return SeldonResponse(data=X, metrics=runtime_metrics, tags=runtime_tags)

    def metrics(self):
        return [
            {"type": "COUNTER", "key": "mycounter", "value": 1},
            {"type": "GAUGE", "key": "mygauge", "value": 100},
            {"type": "TIMER", "key": "mytimer", "value": 20.2},
        ]

    def tags(self):
        return {"static": "tag", "shared": "not right one"}
