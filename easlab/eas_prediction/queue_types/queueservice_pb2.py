"""``eas_prediction.queue_types.queueservice_pb2``: the queue-service DataFrame messages, easlab's generated module."""

from easlab.wire.proto.queue_pb2 import *  # noqa: F403  (every message, enum and constant)
from easlab.wire.proto.queue_pb2 import DESCRIPTOR  # noqa: F401
