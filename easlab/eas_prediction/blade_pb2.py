"""``eas_prediction.blade_pb2``: the Blade Request/Response messages, easlab's generated module."""

from easlab.wire.proto.blade_pb2 import *  # noqa: F403  (every message, enum and constant)
from easlab.wire.proto.blade_pb2 import DESCRIPTOR  # noqa: F401
