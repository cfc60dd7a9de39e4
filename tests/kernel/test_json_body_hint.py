"""A JSON body sent to a tensor service: the 400 says what the service takes instead.

A DataFrame or dict sent as JSON (or a curl line copied from a python service)
used to answer only ``unsupported wire type 3 (field 15)``.
"""

from __future__ import annotations

import pytest

from easlab.kernel.processors.base import ProcessorError
from easlab.kernel.processors.tensor_codecs import decode_first


@pytest.mark.parametrize("body", [b'{"images": [[1, 2]]}', b' [{"a": 1}, {"a": 2}]'])
def test_json_to_a_tensor_service_says_what_it_takes(body):
    with pytest.raises(ProcessorError) as caught:
        decode_first(body, ("tf", "onnx"))
    message = caught.value.message
    assert caught.value.status == 400
    assert "cannot parse the request as any of tf, onnx" in message  # the parser's word kept
    assert "The body is JSON" in message and "TFRequest / OnnxRequest" in message
    with pytest.raises(ProcessorError, match=r"The body is JSON.*\(TorchRequest\)"):
        decode_first(body, ("torch",))


def test_other_unreadable_bodies_get_no_json_hint():
    for body in (b"\xff\xfe garbage", b"{not json"):
        with pytest.raises(ProcessorError) as caught:
            decode_first(body, ("tf",))
        assert "JSON" not in caught.value.message
