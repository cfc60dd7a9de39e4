# ruff: noqa
# A component as users write it for seldon-core (the guide's style kept).
class MyModel:
    """The guide's identity model (older predict(X, features_names) form)."""

    def __init__(self):
        self.loads = 0

    def load(self):
        self.loads += 1

    def predict(self, X, features_names=None):
        return X

    def tags(self):
        return {"loads": self.loads}
