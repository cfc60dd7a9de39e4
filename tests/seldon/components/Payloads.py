# ruff: noqa
# A component as users write it for seldon-core (the guide's style kept).
class Payloads:
    """Echoes any payload kind: arrays, strings, bytes, JSON objects."""

    def predict(self, X, names, meta=None):
        if isinstance(X, dict):
            return {"got": X, "names": list(names)}
        return X
