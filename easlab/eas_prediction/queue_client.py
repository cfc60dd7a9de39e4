"""``eas_prediction.queue_client``: ``QueueClient``, ``Watcher`` and the queue's DataFrame forms.

The client and its header names resolve lazily from ``easlab.client.queue``
(which imports its HTTP and websocket libraries), so importing this module
stays cheap; the DataFrame forms are easlab.wire.dataframe's.
"""

from __future__ import annotations

import importlib
from typing import Any

from easlab.client.predict_client import PredictClient
from easlab.errors import PredictException
from easlab.wire.dataframe import DataFrame, DataFrameCodec, DataFrameList, DataFrameListCodec
from easlab.wire.proto.queue_pb2 import DataFrameListProto, DataFrameProto

HeaderAuthorization = "Authorization"

# official name -> name in easlab.client.queue
_QUEUE_NAMES: dict[str, str] = {
    "QueueClient": "QueueClient",
    "Watcher": "Watcher",
    "HeaderRedisUid": "UID_HEADER",
    "HeaderRedisGid": "GID_HEADER",
    "HeaderRequestId": "REQUEST_ID_HEADER",
}

__all__ = [
    "DataFrame",
    "DataFrameCodec",
    "DataFrameList",
    "DataFrameListCodec",
    "DataFrameListProto",
    "DataFrameProto",
    "HeaderAuthorization",
    "PredictClient",
    "PredictException",
    *_QUEUE_NAMES,
]


def __getattr__(name: str) -> Any:
    source = _QUEUE_NAMES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module("easlab.client.queue"), source)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
