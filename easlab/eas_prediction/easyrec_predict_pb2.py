"""``eas_prediction.easyrec_predict_pb2``: the EasyRec PBRequest/PBResponse messages, easlab's generated module."""

from easlab.eas_prediction import tf_request_pb2 as tf__request__pb2  # noqa: F401
from easlab.wire.proto.easyrec_predict_pb2 import *  # noqa: F403  (every message, enum and constant)
from easlab.wire.proto.easyrec_predict_pb2 import DESCRIPTOR  # noqa: F401
