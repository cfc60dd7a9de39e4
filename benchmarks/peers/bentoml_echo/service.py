"""BentoML echo service (1 worker, access log off).

Run: bentoml serve service:Echo --host 127.0.0.1 --port PORT
"""

from __future__ import annotations

from typing import Any

import bentoml


@bentoml.service(workers=1, logging={"access": {"enabled": False}})
class Echo:
    @bentoml.api
    def predict(self, input: Any) -> Any:
        return input
