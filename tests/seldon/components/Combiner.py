# ruff: noqa
# A component as users write it for seldon-core (the guide's style kept).
import numpy as np


class Combiner:
    def aggregate(self, Xs, features_names):
        return (np.reshape(Xs[0], (1, -1)) + np.reshape(Xs[1], (1, -1))) / 2.0
