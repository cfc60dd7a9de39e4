"""``eas_prediction.queue_client``: ``QueueClient``, ``Watcher`` and the queue's DataFrame forms.

Resolved lazily from ``easlab.client.queue`` (easlab's queue client), so
importing this module costs nothing until a queue name is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from easlab.client.predict_client import PredictClient
from easlab.errors import PredictException
from easlab.wire.proto.queue_pb2 import DataFrameListProto, DataFrameProto

# official name -> name in easlab.client.queue
_QUEUE_NAMES: dict[str, str] = {
    "QueueClient": "QueueClient",
    "Watcher": "Watcher",
    "DataFrame": "DataFrame",
    "DataFrameList": "DataFrameList",
    "DataFrameCodec": "DataFrameCodec",
    "DataFrameListCodec": "DataFrameListCodec",
    "HeaderRedisUid": "UID_HEADER",
    "HeaderRedisGid": "GID_HEADER",
    "HeaderRequestId": "REQUEST_ID_HEADER",
    "HeaderAuthorization": "AUTHORIZATION_HEADER",
}

__all__ = [
    "DataFrameListProto",
    "DataFrameProto",
    "PredictClient",
    "PredictException",
    *_QUEUE_NAMES,
]


def __getattr__(name: str) -> Any:
    source = _QUEUE_NAMES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    queue = importlib.import_module("easlab.client.queue")
    try:
        value = getattr(queue, source)
    except AttributeError:
        raise AttributeError(
            f"{__name__}.{name}: easlab.client.queue has no {source!r} yet"
        ) from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
