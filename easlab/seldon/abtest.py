"""seldon-core's ``RANDOM_ABTEST`` router: a graph node with ``"implementation":
"RANDOM_ABTEST"`` and no class of the user's, which seldon-core's executor runs itself
(SPEC §6): each request goes to the first of its two children with probability
``ratioA`` (its one parameter, 0.5 without it), else to the second.
"""

from __future__ import annotations

import random

#: the implementation name a graph node gives
RANDOM_ABTEST = "RANDOM_ABTEST"
#: seldon-core's implementations that are no component class: its built-ins of old
#: engines and the image-less units; easlab runs RANDOM_ABTEST only
BUILTINS = ("SIMPLE_MODEL", "SIMPLE_ROUTER", "AVERAGE_COMBINER", "UNKNOWN_IMPLEMENTATION")


def is_prepackaged(implementation: str) -> bool:
    """Whether ``implementation`` names one of seldon-core's prepackaged model servers
    (SKLEARN_SERVER, XGBOOST_SERVER, TENSORFLOW_SERVER, MLFLOW_SERVER, TRITON_SERVER, ...)."""
    return implementation.upper().endswith("_SERVER")


class RandomABTest:
    """The router: child 0 with probability ``ratioA``, else child 1."""

    def __init__(self, ratioA: float | str = 0.5) -> None:  # noqa: N803  (seldon-core's name)
        self.ratio = float(ratioA)

    def route(self, features: object, feature_names: object) -> int:
        return 0 if random.random() < self.ratio else 1  # noqa: S311  (an A/B split)
