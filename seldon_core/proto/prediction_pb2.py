"""``seldon_core.proto.prediction_pb2``: the message names component code builds and
annotates its ``*_raw`` hooks with (easlab's implementation, easlab/seldon/messages.py).

Over easlab's REST contract those hooks receive and return the JSON dict, as under
seldon-core's REST server; these classes are that dict with the proto's attribute
access and defaults (``feedback.reward``, ``SeldonMessage(strData="x")``).
"""

from easlab.seldon.messages import (
    DefaultData,
    Feedback,
    Meta,
    SeldonMessage,
    SeldonMessageList,
    Tensor,
)

__all__ = ["DefaultData", "Feedback", "Meta", "SeldonMessage", "SeldonMessageList", "Tensor"]
