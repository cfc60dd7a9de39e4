"""The Feedback a ``send_feedback_raw`` hook reads: JSON with prediction.proto's types,
attribute access and defaults (seldon-core hands that hook a Feedback proto)."""

from __future__ import annotations

import json

import pytest

from easlab.seldon.messages import Feedback, SeldonMessage, as_proto


def test_fields_take_their_proto_types():
    feedback = as_proto(
        Feedback,
        {
            "request": {
                "data": {"names": ["a"], "tensor": {"shape": [1, 2], "values": [1, 2]}},
                "meta": {"puid": "p", "tags": {"t": 1}, "routing": {"r": 1.0}},
            },
            "truth": {"data": {"ndarray": [[0, 1]]}, "jsonData": {"n": 2}},
            "reward": 0.1,
            "extra": 3,
        },
    )
    assert isinstance(feedback, Feedback) and isinstance(feedback, dict)
    assert feedback.reward == pytest.approx(0.1) and feedback.reward != 0.1  # 32-bit float
    tensor = feedback.request.data.tensor
    assert tensor.shape == [1, 2] and all(isinstance(s, int) for s in tensor.shape)
    assert tensor.values == [1.0, 2.0] and all(isinstance(v, float) for v in tensor.values)
    assert feedback.request.meta.tags == {"t": 1.0}
    assert feedback.request.meta.routing == {"r": 1}
    assert feedback.truth.data.ndarray == [[0.0, 1.0]]
    assert feedback["extra"] == 3  # unknown fields are left alone
    json.dumps(feedback)  # still the JSON dict


def test_missing_fields_read_as_proto_defaults():
    feedback = as_proto(Feedback, {"request": {"strData": "hi"}})
    assert feedback.reward == 0.0
    assert feedback.request.strData == "hi"
    assert feedback.request.data.names == [] and feedback.request.data.tensor.shape == []
    assert feedback.truth.strData == "" and feedback.response.meta.puid == ""
    assert feedback.response.meta.routing.get("0") is None
    assert feedback.request.WhichOneof("data_oneof") == "strData"
    assert feedback.truth.WhichOneof("data_oneof") is None
    assert feedback.HasField("request") and not feedback.HasField("truth")
    with pytest.raises(AttributeError, match="no field 'rewards'"):
        _ = feedback.rewards


def test_a_message_built_in_code():
    message = SeldonMessage(strData="x")
    assert message == {"strData": "x"} and message.strData == "x"
    message.binData = "aGk="
    assert message["binData"] == "aGk=" and message.binData == b"hi"
    assert message.meta.puid == "" and "meta" not in message  # reading sets nothing
    message.meta.puid = "p"  # writing does, as in a proto
    assert message["meta"] == {"puid": "p"}
    feedback = Feedback()
    feedback.request.data.names = ["a"]
    assert feedback == {"request": {"data": {"names": ["a"]}}}
