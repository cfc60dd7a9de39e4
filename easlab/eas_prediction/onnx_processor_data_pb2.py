"""``eas_prediction.onnx_processor_data_pb2``: the ONNX TensorProto/DataProto messages, easlab's generated module."""

from easlab.wire.proto.onnx_predict_pb2 import *  # noqa: F403  (every message, enum and constant)
from easlab.wire.proto.onnx_predict_pb2 import DESCRIPTOR  # noqa: F401
