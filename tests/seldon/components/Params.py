# ruff: noqa
# A component as users write it for seldon-core (the guide's style kept).
class Params:
    def __init__(self, i=0, f=0.0, d=0.0, s="", b=False):
        self.values = {"i": i, "f": f, "d": d, "s": s, "b": b}

    def predict(self, X, names):
        return {k: [type(v).__name__, v] for k, v in self.values.items()}
