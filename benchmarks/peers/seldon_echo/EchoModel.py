"""seldon-core python-wrapper model that returns its input."""

from __future__ import annotations

from typing import Any


class EchoModel:
    def predict(self, X: Any, features_names: Any = None) -> Any:
        return X
