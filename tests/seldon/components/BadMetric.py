# ruff: noqa
# A component as users write it for seldon-core (the guide's style kept).
class BadMetric:
    def predict(self, X, names, meta=None):
        return X

    def metrics(self):
        return [{"type": "BOGUS", "key": "k", "value": 1}]
