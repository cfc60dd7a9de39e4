# ruff: noqa
# A component that raises, or kills its own process, on request.
import os


class Dies:
    def predict(self, X, names, meta=None):
        if X[0] == 1:
            raise RuntimeError("component failure")
        os._exit(3)
