"""LitServe echo: API process plus one inference worker.

Run: python litserve_echo.py PORT
"""

# No `from __future__ import annotations`: LitServe reads decode_request's
# annotation at runtime to decide how to parse the body; a string would make it
# expect a query parameter and answer 422.
import sys
from typing import Any

import litserve as ls


class EchoAPI(ls.LitAPI):
    def setup(self, device: str) -> None:
        pass

    def decode_request(self, request: dict[str, Any]) -> Any:
        return request["input"]

    def predict(self, x: Any) -> Any:
        return x

    def encode_response(self, output: Any) -> dict[str, Any]:
        return {"output": output}


if __name__ == "__main__":
    server = ls.LitServer(EchoAPI(), accelerator="cpu", workers_per_device=1)
    server.run(host="127.0.0.1", port=int(sys.argv[1]), num_api_servers=1, access_log=False)
