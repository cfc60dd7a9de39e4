# ruff: noqa
# A component whose health check fails (its model is not loaded yet, say).
class Sick:
    def predict(self, X, names, meta=None):
        return X

    def transform_input(self, X, names, meta=None):
        return X

    def health_status(self):
        raise RuntimeError("model weights not loaded")
