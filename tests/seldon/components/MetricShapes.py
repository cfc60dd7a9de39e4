# ruff: noqa
# A component as users write it for seldon-core (the guide's style kept). The guide's
# runtime-metrics example has a trailing comma, which makes its metrics a tuple.
from seldon_core.user_model import SeldonResponse

ONE = {"type": "COUNTER", "key": "k", "value": 1}


class MetricShapes:
    def predict(self, X, names, meta=None):
        kind = X.ravel()[0]
        if kind == 1:
            runtime_metrics = ({"type": "COUNTER", "key": "instance_counter", "value": len(X)},)
            return SeldonResponse(data=X, metrics=runtime_metrics)
        if kind == 2:
            return SeldonResponse(data=X, metrics=ONE)
        if kind == 3:
            return SeldonResponse(data=X, metrics=[ONE, "k"])
        return X


class StaticTuple:
    def predict(self, X, names, meta=None):
        return X

    def metrics(self):
        return (ONE,)


class StaticDict:
    def predict(self, X, names, meta=None):
        return SeldonResponse(data=X, metrics=[ONE])

    def metrics(self):
        return ONE


class RawMetrics:
    def predict_raw(self, request):
        kind = request["data"]["ndarray"][0]
        metrics = {1: (ONE,), 2: ONE, 3: [ONE], 4: [ONE, "k"], 5: [{"key": "k"}]}[kind]
        return {"data": {"ndarray": [kind]}, "meta": {"metrics": metrics}}
