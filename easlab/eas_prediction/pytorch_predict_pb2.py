"""``eas_prediction.pytorch_predict_pb2``: the PyTorch PredictRequest/PredictResponse messages, easlab's generated module."""

from easlab.wire.proto.torch_predict_pb2 import *  # noqa: F403  (every message, enum and constant)
from easlab.wire.proto.torch_predict_pb2 import DESCRIPTOR  # noqa: F401
