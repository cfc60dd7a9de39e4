"""Queue records (DataFrame forms) against the official eas-prediction 0.36 codecs."""

from __future__ import annotations

import json

from wire_helpers import b64, unb64

from easlab.wire.dataframe import DataFrame, DataFrameCodec, DataFrameList, DataFrameListCodec

OFFICIAL = r"""
import base64, json, sys
from eas_prediction.queue_client import DataFrameCodec, DataFrameListCodec
from eas_prediction.queue_types.queueservice_pb2 import DataFrameListProto, DataFrameProto
case = json.load(sys.stdin)
one = DataFrameCodec.decode(base64.b64decode(case["one"]))
many = DataFrameListCodec.decode(base64.b64decode(case["many"]))
made = DataFrameListProto()
for i, tags in enumerate(case["make"]):
    f = made.index.add(); f.index = i + 1; f.data = b"payload-%d" % i; f.tags.update(tags); f.message = "m"
print(json.dumps({
    "one": [one.index, one.data.decode(), dict(one.tags), one.message],
    "many": [[d.index, d.data.decode(), dict(d.tags)] for d in many.get_list()],
    "made": base64.b64encode(made.SerializeToString()).decode(),
}))
"""


def _frame(index: int, data: bytes, tags: dict[str, str]) -> DataFrame:
    frame = DataFrame()
    frame.set_index(index)
    frame.set_data(data)
    frame.set_tags(tags)
    frame.set_message("ok")
    return frame


def test_official_codecs_read_ours_and_ours_read_theirs(run_official):
    one = DataFrameCodec.encode(_frame(7, b"hello", {"requestId": "r-1", "ts": "1"}))
    many = DataFrameListCodec.encode([_frame(1, b"a", {}), _frame(2, b"b", {"k": "v"})])
    case = {"one": b64(one), "many": b64(many), "make": [{}, {"requestId": "x"}]}
    theirs = json.loads(run_official(OFFICIAL, stdin=json.dumps(case).encode()))
    assert theirs["one"] == [7, "hello", {"requestId": "r-1", "ts": "1"}, "ok"]
    assert theirs["many"] == [[1, "a", {}], [2, "b", {"k": "v"}]]

    records = DataFrameListCodec.decode(unb64(theirs["made"]))
    assert isinstance(records, DataFrameList) and len(records) == 2
    assert [(r.index, r.data, r.tags, r.message) for r in records] == [
        (1, b"payload-0", {}, "m"),
        (2, b"payload-1", {"requestId": "x"}, "m"),
    ]
    assert records[1].tags["requestId"] == "x"
    assert DataFrameCodec.decode(one).data == b"hello"
