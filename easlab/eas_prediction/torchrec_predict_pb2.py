"""``eas_prediction.torchrec_predict_pb2``: the TorchRec PBRequest/PBResponse/PBFeature messages, easlab's generated module."""

from easlab.eas_prediction import pytorch_predict_pb2 as pytorch__predict__pb2  # noqa: F401
from easlab.wire.proto.torchrec_predict_pb2 import *  # noqa: F403  (every message, enum and constant)
from easlab.wire.proto.torchrec_predict_pb2 import DESCRIPTOR  # noqa: F401
