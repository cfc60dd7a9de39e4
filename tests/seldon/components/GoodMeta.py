# ruff: noqa
# A component as users write it for seldon-core (the guide's style kept).
class GoodMeta:
    def predict(self, X, names):
        return X

    def init_metadata(self):
        return {
            "name": "model-name",
            "versions": ["model-version"],
            "platform": "platform-name",
            "inputs": [{"name": "input", "datatype": "BYTES", "shape": [1]}],
            "outputs": [{"messagetype": "ndarray", "schema": {"names": ["a"], "shape": [2]}}],
        }
