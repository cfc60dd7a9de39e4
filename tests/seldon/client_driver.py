"""Runs inside .venv-seldon (the real seldon-core 1.18.2): makes SeldonClient calls
given as JSON on stdin and prints their outcomes as JSON, one list.

Each call: {"api": "microservice" | "predict", "endpoint": "HOST:PORT",
"prefix": gateway_prefix (predict), "headers": {...} (predict), "method": "predict",
and the data: "data" (a list made an array) + "names" + "payload_type", or
"str_data", "json_data", "bin_data" (base64)}.
"""

import base64
import json
import sys

import numpy as np
from seldon_core.seldon_client import SeldonClient

from seldon_core.utils import seldon_message_to_json


def outcome(result):
    response = result.response
    if response is not None and not isinstance(response, dict):
        response = seldon_message_to_json(response)
    if isinstance(response, dict) and isinstance(response.get("meta"), dict):
        response["meta"].pop("puid", None)
    return {"success": result.success, "msg": result.msg, "response": response}


def call(spec):
    kw = {}
    if "data" in spec:
        kw["data"] = np.array(spec["data"])
        kw["payload_type"] = spec.get("payload_type", "ndarray")
        if spec.get("names"):
            kw["names"] = spec["names"]
    for key in ("str_data", "json_data"):
        if key in spec:
            kw[key] = spec[key]
    if "bin_data" in spec:
        kw["bin_data"] = base64.b64decode(spec["bin_data"])
    if spec["api"] == "microservice":
        client = SeldonClient(microservice_endpoint=spec["endpoint"])
        return outcome(client.microservice(method=spec.get("method", "predict"), **kw))
    # the "ambassador" gateway API is the one taking gateway_prefix and headers
    client = SeldonClient(gateway="ambassador", transport="rest", gateway_endpoint=spec["endpoint"])
    return outcome(
        client.predict(
            gateway_prefix=spec.get("prefix", ""),
            headers=spec.get("headers"),
            client_return_type="dict",
            **kw,
        )
    )


if __name__ == "__main__":
    print(json.dumps([call(spec) for spec in json.load(sys.stdin)]))
