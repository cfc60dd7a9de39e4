# ruff: noqa
# A component that calls sys.exit() in predict (a careless script's habit).
import sys


class Exits:
    def predict(self, X, names, meta=None):
        if X[0] == 0:
            sys.exit(3)
        return X
