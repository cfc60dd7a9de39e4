# ruff: noqa
# A component as users write it for seldon-core (the guide's style kept).
class BadMeta:
    def predict(self, X, names):
        return X

    def init_metadata(self):
        return {"name": "m", "versions": "not-a-list", "inputs": [{"datatype": "NOPE"}]}
