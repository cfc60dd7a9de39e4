"""A Blade request names an input or a fetched output by ``name_in_dl_model`` first.

The official client sets ``blade_blob_name`` and ``name_in_dl_model`` equal; a
hand-built request may set them apart. Inputs, and every part of a body only
the generated module reads, took ``name_in_dl_model``; the fast reader's
``output_info`` took ``blade_blob_name``, so the same fetch named another output
depending on how the body happened to be encoded.
"""

from __future__ import annotations

from easlab.wire.blade import parse_blade_request
from easlab.wire.proto import blade_pb2


def _request(unpacked: bool) -> bytes:
    req = blade_pb2.Request()
    x = req.inputs.add(name_in_dl_model="x", blade_blob_name="blob_x", batchsize=1)
    x.shape.dim.append(1)
    x.float_val.append(1.0)
    req.output_info.add(name_in_dl_model="y", blade_blob_name="blob_y", data_type=1)
    body = req.SerializeToString()
    if unpacked:  # one more input with unpacked dims: only the generated module reads it
        shape = b"\x08\x01"  # Shape.dim = 1, unpacked
        z = b"\x12\x01z\x18\x01\x22" + bytes([len(shape)]) + shape + b"\x2a\x04\x00\x00\x80\x3f"
        body += b"\x12" + bytes([len(z)]) + z
    return body


def test_output_info_names_the_model_output_on_both_readers():
    fast, fallback = parse_blade_request(_request(False)), parse_blade_request(_request(True))
    assert set(fallback.inputs) == {"x", "z"}  # the fallback did read it
    assert fast.output_info == fallback.output_info == [("y", 1)]
    assert set(fast.inputs) == {"x"}
