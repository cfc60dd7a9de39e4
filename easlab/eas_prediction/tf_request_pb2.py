"""``eas_prediction.tf_request_pb2``: the TensorFlow PredictRequest/PredictResponse messages, easlab's generated module."""

from easlab.wire.proto.tf_predict_pb2 import *  # noqa: F403  (every message, enum and constant)
from easlab.wire.proto.tf_predict_pb2 import DESCRIPTOR  # noqa: F401
