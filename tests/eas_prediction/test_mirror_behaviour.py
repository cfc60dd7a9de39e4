"""The mirror's own pieces behave as the official ones: a script changed only in
its imports gives the same bytes; endpoints, the ONNX helper, the signature headers."""

from __future__ import annotations

import base64
import collections
import json
import logging
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest

SCRIPT = r"""
import base64, json
import numpy as np
from eas_prediction import TFRequest, OnnxRequest, OnnxDataHelper, OnnxData
from eas_prediction.tf_request_pb2 import PredictRequest
from eas_prediction import blade_pb2
from eas_prediction.exception import PredictException
from eas_prediction.blade_tf_request import TFRequest as BladeTF
from eas_prediction.easyrec_request import EasyRecRequest
from eas_prediction.torchrec_request import TorchRecRequest
from eas_prediction.onnx_processor_data_helper import from_array, to_array

out = {}
r = TFRequest("serving_default")
r.add_feed("x", [1, 3], TFRequest.DT_FLOAT, [1.0, 2.0, 3.0])
r.add_fetch("y")
out["tf"] = r.to_string()
m = PredictRequest(); m.ParseFromString(out["tf"]); out["tf_sig"] = m.signature_name.encode()
b = BladeTF("sig"); b.add_feed("x", [1, 2], BladeTF.DT_FLOAT, [1.0, 2.0]); out["blade"] = b.to_string()
out["blade_dt"] = str(blade_pb2.DT_FLOAT).encode()
o = OnnxRequest(); o.add_tensor(from_array(np.arange(6, dtype=np.int64).reshape(2, 3), "ids"))
out["onnx"] = o.to_string()
t = OnnxData.TensorProto(); t.ParseFromString(OnnxDataHelper.from_array(np.ones(2, np.float32), "f").SerializeToString())
out["onnx_back"] = to_array(t).tobytes()
e = EasyRecRequest(); e.add_user_fea_str("u", "1"); e.add_user_fea_int("a", 2)
e.request_data.item_ids.extend(["i1", "i2"]); e.set_faiss_neigh_num(10); out["easyrec"] = e.to_string()
q = TorchRecRequest(); q.add_user_fea("u", {"b": 1, "a": 2}, "MAP<STRING,INT>"); q.add_item_id(3)
out["torchrec"] = q.to_string()
out["exc"] = str(PredictException(404, "no such service")).encode()
print(json.dumps({k: base64.b64encode(v).decode() for k, v in out.items()}))
"""


def test_a_script_changed_only_in_its_imports_sends_the_same_bytes(run_official, tmp_path):
    theirs = json.loads(run_official(SCRIPT))
    ours_script = SCRIPT.replace("from eas_prediction", "from easlab.eas_prediction")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(ours_script)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    ours = json.loads(proc.stdout)
    differ = {
        k: (base64.b64decode(ours[k]), base64.b64decode(v))
        for k, v in theirs.items()
        if ours[k] != v
    }
    assert not differ, differ


# Official calls the audit of easlab (REPORT D3, D4, D6, D8) found failing: iterable
# content, the official keyword names, the protobuf messages behind requests and
# responses, and StringRequest.to_string() giving back what it was given.
OFFICIAL_FORMS = r"""
import base64, json
from eas_prediction import TFRequest, TorchRequest, BladeRequest, OnnxRequest, StringRequest
from eas_prediction import TFResponse, TorchResponse, BladeResponse, OnnxResponse
from eas_prediction import OnnxDataHelper
from eas_prediction.blade_tf_request import TFRequest as BladeTF
from eas_prediction.tf_request_pb2 import PredictRequest, PredictResponse
from eas_prediction import pytorch_predict_pb2 as pt_pb, blade_pb2
from eas_prediction import onnx_processor_data_pb2 as onnx_pb
import numpy as np

out = {}
b64 = lambda b: base64.b64encode(b).decode()

# D3: any iterable content, as protobuf's extend() reads it
r = TFRequest("s")
r.add_feed("f", [3], TFRequest.DT_FLOAT, map(float, "1.5 2 3".split()))
r.add_feed("i", [2], TFRequest.DT_INT32, map(int, ["4", "-5"]))
r.add_feed("l", [2], TFRequest.DT_INT64, {"a": 2**40, "b": -1}.values())
r.add_feed("w", [2], TFRequest.DT_STRING, (w.encode() for w in ["ab", "c"]))
r.add_feed("b", [2], TFRequest.DT_BOOL, (v for v in [True, False]))
r.add_feed("d", [1], TFRequest.DT_DOUBLE, iter([0.25]))
out["tf_iter"] = b64(r.to_string())
t = TorchRequest()
t.add_feed(0, [2], TorchRequest.DT_FLOAT, (x / 2 for x in range(2)))
t.add_feed(1, [2], TorchRequest.DT_INT64, map(int, "7 8".split()))
t.add_feed_map("m", [1], TorchRequest.DT_UINT8, {3: None}.keys())
out["torch_iter"] = b64(t.to_string())

# D6: the official keyword names
r = TFRequest("x")
r.set_signature_name(singature_name="renamed")
r.add_feed(input_name="v", shape=[1], content_type=TFRequest.DT_FLOAT, content=[1.0])
out["tf_kw"] = b64(r.to_string())
b = BladeRequest("sig")
b.add_feed(input_name="x", batchsize=1, shape=[1, 2], content_type=BladeRequest.DT_FLOAT,
           content=[1.0, 2.0])
b.add_fetch(output_name="y", output_type=BladeRequest.DT_FLOAT)
out["blade_kw"] = b64(b.to_string())

# D4: request_data is the request's message (read, edited, and sent as edited)
r = TFRequest("s")
r.add_feed("x", [2], TFRequest.DT_FLOAT, [1.0, 2.0])
out["tf_data"] = [type(r.request_data).__name__, r.request_data.signature_name,
                  list(r.request_data.inputs["x"].float_val)]
r.request_data.output_filter.append("edited")
out["tf_edited"] = b64(r.to_string())
t = TorchRequest()
t.add_feed(0, [1], TorchRequest.DT_INT32, [3])
out["torch_data"] = [type(t.request_data).__name__, list(t.request_data.inputs[0].int_val)]
b = BladeRequest("sig")
b.add_feed("x", 1, [1], BladeRequest.DT_INT64, [5])
out["blade_data"] = [type(b.request_data).__name__, b.tf_signature_name,
                     b.request_data.tf_signature_name, list(b.request_data.inputs[0].int64_val)]
bt = BladeTF("tfsig")
bt.add_feed("x", [1], BladeTF.DT_FLOAT, [0.5])
out["bladetf_data"] = [type(bt.request_data).__name__, bt.tf_signature_name,
                       list(bt.request_data.inputs[0].float_val)]
o = OnnxRequest()
o.add_tensor(OnnxDataHelper.from_array(np.ones((1, 2), np.float32), "a"))
o.add_tensor(OnnxDataHelper.from_array(np.zeros(3, np.int64), "b"))
o.add_tensor(OnnxDataHelper.from_array(np.ones(2, np.float32), "a"))  # replaces "a" in place
out["onnx_data"] = [type(o.request_data).__name__, o.name_index_map,
                    [t.name for t in o.request_data.tensors], list(o.request_data.tensors[0].dims)]
out["onnx_bytes"] = b64(o.to_string())

# D4: response is the answer's message
m = PredictResponse()
m.outputs["y"].dtype = 1; m.outputs["y"].array_shape.dim.extend([2]); m.outputs["y"].float_val.extend([0.5, 1.5])
resp = TFResponse(m.SerializeToString())
out["tf_resp"] = [type(resp.response).__name__, list(resp.response.outputs["y"].float_val),
                  list(resp.response.outputs["y"].array_shape.dim)]
pm = pt_pb.PredictResponse()
o0 = pm.outputs.add(); o0.dtype = pt_pb.DT_INT64; o0.int64_val.extend([9])
resp = TorchResponse(pm.SerializeToString())
out["torch_resp"] = [type(resp.response).__name__, list(resp.response.outputs[0].int64_val)]
bm = blade_pb2.Response()
a0 = bm.outputs.add(); a0.name_in_dl_model = "p"; a0.batchsize = 1; a0.float_val.extend([0.25])
resp = BladeResponse(bm.SerializeToString())
out["blade_resp"] = [type(resp.response).__name__, resp.response.outputs[0].name_in_dl_model,
                     list(resp.response.outputs[0].float_val)]
dm = onnx_pb.DataProto()
dm.tensors.add().CopyFrom(OnnxDataHelper.from_array(np.arange(2, dtype=np.float32), "z"))
resp = OnnxResponse(dm.SerializeToString())
out["onnx_resp"] = [type(resp.response).__name__, resp.response.tensors[0].name,
                    resp.get_tensor(0).name]

# D8: to_string() gives back what StringRequest was given
out["string"] = [repr(StringRequest("abc").to_string()), repr(StringRequest().to_string()),
                 repr(StringRequest(b"raw").to_string())]
print(json.dumps(out))
"""


def test_official_forms_give_the_same_results(run_official):
    theirs = json.loads(run_official(OFFICIAL_FORMS))
    ours_script = OFFICIAL_FORMS.replace("from eas_prediction", "from easlab.eas_prediction")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(ours_script)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    ours = json.loads(proc.stdout)
    assert set(ours) == set(theirs)
    differ = {k: (ours[k], theirs[k]) for k in theirs if ours[k] != theirs[k]}
    assert not differ, differ


CUSTOM_URLS = [
    "http://h:1/api/predict/svc",
    "h:1/api/predict/svc",
    "http://h:1/api/predict/svc/",
    "http://c/x",
]
GATEWAY_CUSTOM_URLS = r"""
import json, logging
from eas_prediction.gateway_endpoint import GatewayEndpoint

log = logging.getLogger("test")
print(json.dumps([GatewayEndpoint("ep", "svc", log, url).get() for url in URLS]))
"""


def test_gateway_endpoint_takes_a_custom_url_with_the_service_path(run_official):
    """A custom_url is the service's whole URL: the official endpoint gives it back;
    easlab's refused one holding /api/predict/NAME ("the endpoint ... holds the service's
    path"), a check meant for the endpoint, which the service's path is appended to."""
    from easlab.eas_prediction.gateway_endpoint import GatewayEndpoint

    theirs = json.loads(run_official(GATEWAY_CUSTOM_URLS.replace("URLS", repr(CUSTOM_URLS))))
    log = logging.getLogger("test")
    ours = [GatewayEndpoint("ep", "svc", log, url).get() for url in CUSTOM_URLS]
    assert ours == theirs
    assert theirs[0] == theirs[1] == theirs[2] == "http://h:1/api/predict/svc"


def test_gateway_endpoint_as_the_official_one():
    from easlab.eas_prediction.gateway_endpoint import GatewayEndpoint

    log = logging.getLogger("test")
    assert GatewayEndpoint("1.2.3.4:8080/", "svc", log).get() == "http://1.2.3.4:8080"
    assert GatewayEndpoint("ep", "svc", log, "http://custom/x").get() == "http://custom/x"
    assert GatewayEndpoint("https://ep.example", "svc", log).get_size() == 1


def test_endpoint_and_scheduler_follow_the_weights():
    from easlab.eas_prediction.endpoint import Endpoint, PredictException
    from easlab.eas_prediction.weighted_round_robin import WRRScheduler

    ep = Endpoint(logging.getLogger("test"))
    with pytest.raises(PredictException):
        ep.get()
    ep.set_endpoints([({"ip": "10.0.0.1", "port": 80}, 1), ({"ip": "10.0.0.2", "port": 81}, 3)])
    assert ep.get_size() == 2
    picks = collections.Counter(ep.get() for _ in range(400))
    assert picks == {"10.0.0.1:80": 100, "10.0.0.2:81": 300}
    sched = WRRScheduler([({"ip": "h", "port": 1}, 2)])
    assert sched.get_next() == ({"ip": "h", "port": 1}, 2)
    assert len(sched.get_next(3)) == 3
    sched.reset()
    assert sched.schedule() is None


def test_onnx_helper_round_trip():
    from easlab.eas_prediction import OnnxDataHelper

    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    t = OnnxDataHelper.from_array(x, "x")
    assert list(t.dims) == [3, 4] and t.name == "x"
    np.testing.assert_array_equal(OnnxDataHelper.to_array(t), x)
    OnnxDataHelper.convert_endian(t)
    assert OnnxDataHelper.to_array(t)[0, 1] != 1.0


def test_generate_singaure_signs_as_predict_does():
    from easlab import _auth
    from easlab.eas_prediction.predict_client import PredictClient

    client = PredictClient("http://127.0.0.1:1", "svc")
    client.set_token("secret-token")
    headers = client.generate_singaure(b"body")
    assert headers["Content-Length"] == "4"
    assert headers["Authorization"].startswith("EAS ")
    assert _auth.verify(
        "secret-token",
        headers["Authorization"],
        b"body",
        headers["Content-Type"],
        headers["Date"],
        "/api/predict/svc",
    )
    assert not _auth.verify(
        "other",
        headers["Authorization"],
        b"body",
        headers["Content-Type"],
        headers["Date"],
        "/api/predict/svc",
    )


# Responses as text: the official protobuf (3.20, pure Python) writes map entries
# sorted by key and floats at their shortest; str() of a upb message does neither.
RESPONSE_TEXT = r"""
import base64, json
import numpy as np
from eas_prediction import TFResponse, TorchResponse, BladeResponse, OnnxResponse, OnnxDataHelper
from eas_prediction.tf_request_pb2 import PredictResponse
from eas_prediction import pytorch_predict_pb2 as pt_pb, blade_pb2, onnx_processor_data_pb2 as onnx_pb
from eas_prediction.easyrec_predict_pb2 import PBResponse as EasyRecAnswer
from eas_prediction.torchrec_predict_pb2 import PBResponse as TorchRecAnswer

def fill(array, i):
    array.dtype = 1
    array.array_shape.dim.extend([3])
    array.float_val.extend([1 / 3, 3.0, 0.1 * i])

tf = PredictResponse()
for i, name in enumerate(["zeta", "alpha", "mid", "beta", "c"]):
    fill(tf.outputs[name], i)
tf.outputs["s"].dtype = 7
tf.outputs["s"].string_val.extend([b"\xff\x00'", "é".encode()])
tf.outputs["d"].dtype = 2
tf.outputs["d"].double_val.extend([1 / 3, 1e300])
torch = pt_pb.PredictResponse()
fill(torch.outputs.add(), 1)
for i, name in enumerate(["z", "a", "m"]):
    fill(torch.map_outputs[name], i)
blade = blade_pb2.Response()
out = blade.outputs.add(); out.name_in_dl_model = "p"; out.batchsize = 1; out.float_val.extend([1 / 3, 2.0])
onnx = onnx_pb.DataProto()
onnx.tensors.add().CopyFrom(OnnxDataHelper.from_array(np.arange(2, dtype=np.float32), "z"))
easyrec = EasyRecAnswer()
for i, name in enumerate(["z", "a", "m"]):
    fill(easyrec.tf_outputs[name], i)
torchrec = TorchRecAnswer()
for i, name in enumerate(["z", "a", "m"]):
    fill(torchrec.map_outputs[name], i)

out = {}
for kind, message, cls in [("tf", tf, TFResponse), ("torch", torch, TorchResponse),
                           ("blade", blade, BladeResponse), ("onnx", onnx, OnnxResponse)]:
    data = message.SerializeToString()
    resp = cls(data)
    out[kind] = {"data": base64.b64encode(data).decode(), "str": str(resp),
                 "to_string": resp.to_string() if hasattr(resp, "to_string") else None}
for kind, message in [("easyrec", easyrec), ("torchrec", torchrec)]:
    out[kind] = {"data": base64.b64encode(message.SerializeToString()).decode(), "str": str(message)}
print(json.dumps(out))
"""


def test_responses_as_text_are_the_official_text(run_official):
    from easlab.eas_prediction import BladeResponse, OnnxResponse, TFResponse, TorchResponse
    from easlab.eas_prediction.easyrec_request import EasyRecRequest
    from easlab.eas_prediction.torchrec_request import TorchRecRequest

    theirs = json.loads(run_official(RESPONSE_TEXT))
    assert theirs["tf"]["str"].index('key: "alpha"') < theirs["tf"]["str"].index('key: "zeta"')
    differ = {}
    for kind, cls in [
        ("tf", TFResponse),
        ("torch", TorchResponse),
        ("blade", BladeResponse),
        ("onnx", OnnxResponse),
    ]:
        resp = cls(base64.b64decode(theirs[kind]["data"]))
        if str(resp) != theirs[kind]["str"]:
            differ[kind + " str"] = (str(resp), theirs[kind]["str"])
        if theirs[kind]["to_string"] is not None and resp.to_string() != theirs[kind]["to_string"]:
            differ[kind + " to_string"] = (resp.to_string(), theirs[kind]["to_string"])
    for kind, request in [("easyrec", EasyRecRequest()), ("torchrec", TorchRecRequest())]:
        answer = request.parse_response(base64.b64decode(theirs[kind]["data"]))
        if str(answer) != theirs[kind]["str"]:
            differ[kind + " str"] = (str(answer), theirs[kind]["str"])
    assert not differ, differ


GENERATE_SINGAURE = r"""
import json
from eas_prediction import PredictClient
out = []
for custom in ["", "http://127.0.0.1:1/custom"]:
    for token in ["", "tok"]:
        for content_type, extra in [("", {}), ("a/b", {}), ("", {"Content-Type": "c/d"})]:
            client = PredictClient("127.0.0.1:1", "svc", custom_url=custom)
            client.set_token(token)
            client.set_content_type(content_type)
            client.add_extra_headers(extra)
            headers = client.generate_singaure(bytearray(b"body"))
            out.append([custom, token, content_type, extra, headers])
print(json.dumps(out))
"""


def test_generate_singaure_gives_the_official_headers_with_or_without_a_token(run_official):
    """User code signs its own requests with it: the official method signs whether or not
    a token is set, and always names the content type."""
    from easlab import _auth
    from easlab.eas_prediction import PredictClient

    cases = json.loads(run_official(GENERATE_SINGAURE))
    assert len(cases) == 12
    for custom, token, content_type, extra, theirs in cases:
        client = PredictClient("127.0.0.1:1", "svc", custom_url=custom)
        client.set_token(token)
        client.set_content_type(content_type)
        client.add_extra_headers(extra)
        ours = client.generate_singaure(bytearray(b"body"))
        where = (custom, token, content_type, extra)
        assert sorted(ours) == sorted(theirs), where
        for key in ("Content-Type", "Content-Length", "Content-MD5"):
            assert ours.get(key) == theirs.get(key), (where, key)
        if custom:
            assert ours["Authorization"] == theirs["Authorization"] == token
        else:
            assert _auth.verify(
                token,
                ours["Authorization"],
                b"body",
                ours["Content-Type"],
                ours["Date"],
                "/api/predict/svc",
            ), where


ONNX_HELPER_FAILURES = r"""
import json
import numpy as np
from eas_prediction import OnnxRequest, OnnxDataHelper, OnnxData

def failure(fn):
    try:
        fn()
    except Exception as exc:
        return type(exc).__name__
    return None

undefined = OnnxData.TensorProto(); undefined.name = "u"
unknown = OnnxData.TensorProto(); unknown.name = "k"; unknown.data_type = 8  # STRING
request = OnnxRequest()
request.add_tensor(OnnxDataHelper.from_array(np.arange(3, dtype=np.int64), "ids"))
request.add_tensor(OnnxDataHelper.from_array(np.ones((1, 2), np.float32), "x"))
print(json.dumps({
    "from_array str": failure(lambda: OnnxDataHelper.from_array(np.array(["a"]), "s")),
    "from_array complex": failure(lambda: OnnxDataHelper.from_array(np.ones(1, np.complex64), "c")),
    "to_array undefined": failure(lambda: OnnxDataHelper.to_array(undefined)),
    "to_array unknown": failure(lambda: OnnxDataHelper.to_array(unknown)),
    "str(request)": str(request),
}))
"""


def test_onnx_helper_failures_and_request_text_as_the_official_ones(run_official):
    """Code catching the official helper's RuntimeError / TypeError / KeyError still
    catches easlab's errors, and print(OnnxRequest) is the request's protobuf text."""
    import builtins

    from easlab.eas_prediction import OnnxData, OnnxDataHelper, OnnxRequest

    theirs = json.loads(run_official(ONNX_HELPER_FAILURES))
    undefined = OnnxData.TensorProto(name="u")
    unknown = OnnxData.TensorProto(name="k", data_type=8)
    calls = {
        "from_array str": lambda: OnnxDataHelper.from_array(np.array(["a"]), "s"),
        "from_array complex": lambda: OnnxDataHelper.from_array(np.ones(1, np.complex64), "c"),
        "to_array undefined": lambda: OnnxDataHelper.to_array(undefined),
        "to_array unknown": lambda: OnnxDataHelper.to_array(unknown),
    }
    for what, call in calls.items():
        official = getattr(builtins, theirs[what])
        with pytest.raises(official) as caught:
            call()
        assert "tensor" in str(caught.value) and not str(caught.value).startswith('"'), what
    request = OnnxRequest()
    request.add_tensor(OnnxDataHelper.from_array(np.arange(3, dtype=np.int64), "ids"))
    request.add_tensor(OnnxDataHelper.from_array(np.ones((1, 2), np.float32), "x"))
    assert str(request) == theirs["str(request)"]


WRR_ORDER = r"""
import json, logging
from eas_prediction.weighted_round_robin import WRRScheduler
from eas_prediction.endpoint import Endpoint

def hosts(weights):
    return [({"ip": "10.0.0.%d" % i, "port": 80 + i}, w) for i, w in enumerate(weights)]

def picks(scheduler, n):
    return [None if p is None else p[0]["ip"] for p in (scheduler.get_next() for _ in range(n))]

WEIGHTS = [[1, 3], [3, 1], [2, 4, 6], [5, 0, 5], [1], [4, 6, 9], [100, 100, 50], [7, 3, 0, 2]]
out = {"schedulers": [picks(WRRScheduler(hosts(w)), 20) for w in WEIGHTS]}
s = WRRScheduler(hosts([1, 2])); s.get_next()
s.set_data(hosts([2, 1]))
out["after set_data"] = picks(s, 6)
e = Endpoint(logging.getLogger("wrr"))
e.set_endpoints(hosts([1, 3])[::-1])
out["endpoint"] = [e.get() for _ in range(8)]
print(json.dumps({"weights": WEIGHTS, **out}))
"""


def test_wrr_scheduler_picks_in_the_official_order(run_official):
    """Code that builds a WRRScheduler or an Endpoint by hand gets the official sequence
    of picks, not only the official shares."""
    from easlab.eas_prediction.endpoint import Endpoint
    from easlab.eas_prediction.weighted_round_robin import WRRScheduler

    theirs = json.loads(run_official(WRR_ORDER))

    def hosts(weights):
        return [({"ip": f"10.0.0.{i}", "port": 80 + i}, w) for i, w in enumerate(weights)]

    def picks(scheduler, n):
        return [None if p is None else p[0]["ip"] for p in (scheduler.get_next() for _ in range(n))]

    ours = [picks(WRRScheduler(hosts(w)), 20) for w in theirs["weights"]]
    assert ours == theirs["schedulers"]
    s = WRRScheduler(hosts([1, 2]))
    s.get_next()
    s.set_data(hosts([2, 1]))
    assert picks(s, 6) == theirs["after set_data"]
    e = Endpoint(logging.getLogger("wrr"))
    e.set_endpoints(hosts([1, 3])[::-1])
    assert [e.get() for _ in range(8)] == theirs["endpoint"]
    # zero weights are no backend (SPEC.md §1), where the official scheduler alternates
    # None with a zero-weight host
    assert picks(WRRScheduler(hosts([0, 0])), 4) == [None] * 4


MISSING_OUTPUTS = r"""
import base64, json
from eas_prediction import TorchResponse, BladeResponse, BladeRequest
from eas_prediction import pytorch_predict_pb2 as pt_pb, blade_pb2
from eas_prediction.blade_tf_request import TFResponse as BladeTFResponse

torch = pt_pb.PredictResponse()
for i in range(3):
    out = torch.outputs.add(); out.dtype = pt_pb.DT_INT64; out.array_shape.dim.extend([1]); out.int64_val.append(10 + i)
blade = blade_pb2.Response()
out = blade.outputs.add(); out.name_in_dl_model = "p"; out.batchsize = 1; out.float_val.append(0.5)

def failure(fn):
    try:
        fn()
    except Exception as exc:
        return type(exc).__name__
    return None

t = TorchResponse(torch.SerializeToString())
b = BladeResponse(blade.SerializeToString())
bt = BladeTFResponse(blade.SerializeToString())
print(json.dumps({
    "torch": base64.b64encode(torch.SerializeToString()).decode(),
    "blade": base64.b64encode(blade.SerializeToString()).decode(),
    "negative": [list(t.get_values(-1)), t.get_tensor_shape(-3)],
    "failures": {
        "torch get_values 3": failure(lambda: t.get_values(3)),
        "torch get_tensor_shape -4": failure(lambda: t.get_tensor_shape(-4)),
        "blade get_values q": failure(lambda: b.get_values("q", BladeRequest.DT_FLOAT)),
        "blade get_tensor_shape q": failure(lambda: b.get_tensor_shape("q")),
        "blade-tf get_values q": failure(lambda: bt.get_values("q")),
    },
}))
"""


def test_missing_outputs_raise_what_the_official_responses_raise(run_official):
    """A loop reading Torch outputs until IndexError, or code catching Blade's
    AssertionError, works unchanged; negative Torch indices count from the end."""
    import builtins

    from easlab.eas_prediction import BladeRequest, BladeResponse, TorchResponse
    from easlab.eas_prediction.blade_tf_request import TFResponse as BladeTFResponse

    theirs = json.loads(run_official(MISSING_OUTPUTS))
    t = TorchResponse(base64.b64decode(theirs["torch"]))
    b = BladeResponse(base64.b64decode(theirs["blade"]))
    bt = BladeTFResponse(base64.b64decode(theirs["blade"]))
    assert [t.get_values(-1), t.get_tensor_shape(-3)] == theirs["negative"]
    calls = {
        "torch get_values 3": lambda: t.get_values(3),
        "torch get_tensor_shape -4": lambda: t.get_tensor_shape(-4),
        "blade get_values q": lambda: b.get_values("q", BladeRequest.DT_FLOAT),
        "blade get_tensor_shape q": lambda: b.get_tensor_shape("q"),
        "blade-tf get_values q": lambda: bt.get_values("q"),
    }
    for what, call in calls.items():
        with pytest.raises(getattr(builtins, theirs["failures"][what])) as caught:
            call()
        assert isinstance(caught.value, KeyError), what  # easlab's own type stays
        assert "it has" in str(caught.value), what


FAILURE = """
def failure(fn):
    try:
        fn()
    except Exception as exc:
        return type(exc).__name__
    return None
"""


def official_failures(imports: str, calls: str) -> str:
    """A script for the official venv: each of ``calls``' table's exception type names."""
    return (
        f"import json\n{imports}\n{FAILURE}\n{calls}\n"
        "print(json.dumps({what: failure(call) for what, call in calls.items()}))\n"
    )


def easlab_calls(calls: str, **classes: object) -> dict[str, Any]:
    """The same ``calls`` table with easlab's classes under the official names."""
    namespace: dict[str, Any] = dict(classes)
    exec(calls, namespace)  # the table's source is this file's own
    return namespace["calls"]


BLADE_CALLS = r"""
calls = {
    "batch size 0": lambda: BladeRequest("s").add_feed("x", 0, [1], BladeRequest.DT_FLOAT, [1.0]),
    "volume": lambda: BladeRequest("s").add_feed("x", 1, [1, 360, 128], BladeRequest.DT_FLOAT, [1.0] * 7),
    "volume int64": lambda: BladeRequest("s").add_feed("x", 1, [3], BladeRequest.DT_INT64, [1]),
    "empty name": lambda: BladeRequest("s").add_feed("", 1, [1], BladeRequest.DT_FLOAT, [1.0]),
    "shape not a list": lambda: BladeRequest("s").add_feed("x", 1, 1, BladeRequest.DT_FLOAT, [1.0]),
    "fetch empty name": lambda: BladeRequest("s").add_fetch("", BladeRequest.DT_FLOAT),
    "tf volume": lambda: BladeTF("s").add_feed("x", [3], BladeTF.DT_FLOAT, [1.0]),
    "tf empty name": lambda: BladeTF("s").add_feed("", [1], BladeTF.DT_FLOAT, [1.0]),
    "tf fetch empty name": lambda: BladeTF("s").add_fetch(""),
}
"""
BLADE_IMPORTS = (
    "from eas_prediction import BladeRequest\n"
    "from eas_prediction.blade_tf_request import TFRequest as BladeTF"
)


def test_blade_request_errors_are_the_official_assertion_errors_too(run_official):
    """The official Blade builders raise AssertionError for every bad argument; easlab's
    ValueError naming the input (SPEC.md §2) is an AssertionError there as well."""
    from easlab.eas_prediction import BladeRequest
    from easlab.eas_prediction.blade_tf_request import TFRequest as BladeTF

    theirs = json.loads(run_official(official_failures(BLADE_IMPORTS, BLADE_CALLS)))
    assert set(theirs.values()) == {"AssertionError"}
    calls = easlab_calls(BLADE_CALLS, BladeRequest=BladeRequest, BladeTF=BladeTF)
    assert set(calls) == set(theirs)
    for what, call in calls.items():
        with pytest.raises(AssertionError) as caught:
            call()
        assert isinstance(caught.value, ValueError), what
        assert "name" in str(caught.value) or "'x'" in str(caught.value), what
    with pytest.raises(AssertionError, match="holds 46080 values but the content has 7"):
        calls["volume"]()


ARGUMENT_CALLS = r"""
calls = {
    "tf int32 text": lambda: TFRequest("s").add_feed("x", [1], TFRequest.DT_INT32, ["a"]),
    "tf int32 1.5": lambda: TFRequest("s").add_feed("x", [1], TFRequest.DT_INT32, [1.5]),
    "tf float None": lambda: TFRequest("s").add_feed("x", [1], TFRequest.DT_FLOAT, [None]),
    "tf string 1": lambda: TFRequest("s").add_feed("x", [1], TFRequest.DT_STRING, [1]),
    "tf shape 1.5": lambda: TFRequest("s").add_feed("x", [1.5], TFRequest.DT_FLOAT, [1.0]),
    "tf name None": lambda: TFRequest("s").add_feed(None, [1], TFRequest.DT_FLOAT, [1.0]),
    "tf name 1": lambda: TFRequest("s").add_feed(1, [1], TFRequest.DT_FLOAT, [1.0]),
    "tf fetch None": lambda: TFRequest("s").add_fetch(None),
    "tf signature 5": lambda: TFRequest(5).add_feed("x", [1], TFRequest.DT_FLOAT, [1.0]),
    "torch float text": lambda: TorchRequest().add_feed(0, [1], TorchRequest.DT_FLOAT, ["a"]),
    "torch index text": lambda: TorchRequest().add_feed("a", [1], TorchRequest.DT_FLOAT, [1.0]),
    "torch fetch text": lambda: TorchRequest().add_fetch("a"),
    "torch map name 1": lambda: TorchRequest().add_feed_map(1, [1], TorchRequest.DT_FLOAT, [1.0]),
    "torch debug text": lambda: TorchRequest().set_debug_level("a"),
}
"""


def test_arguments_of_the_wrong_type_raise_type_errors_as_officially(run_official):
    """The official client's protobuf raises TypeError for a name, index or value of the
    wrong type; easlab raises its RequestError that is a TypeError too, at the call
    (a non-str name used to pass add_feed and fail in to_string with AttributeError)."""
    from easlab.eas_prediction import TFRequest, TorchRequest

    imports = "from eas_prediction import TFRequest, TorchRequest"
    theirs = json.loads(run_official(official_failures(imports, ARGUMENT_CALLS)))
    assert set(theirs.values()) == {"TypeError"}
    calls = easlab_calls(ARGUMENT_CALLS, TFRequest=TFRequest, TorchRequest=TorchRequest)
    assert set(calls) == set(theirs)
    for what, call in calls.items():
        with pytest.raises(TypeError) as caught:
            call()
        assert isinstance(caught.value, ValueError), what  # still easlab's RequestError
        assert "must be" in str(caught.value) or "input" in str(caught.value), what
    # bytes names are text, as protobuf's string fields take them
    ok = TFRequest(b"s").add_feed(b"x", [1], TFRequest.DT_FLOAT, [1.0]).add_fetch(b"y")
    assert ok.to_string() == TFRequest("s").add_feed("x", [1], 1, [1.0]).add_fetch("y").to_string()


TORCHREC_BOOLS = r"""
import base64
from eas_prediction.torchrec_request import TorchRecRequest
r = TorchRecRequest()
r.add_user_fea("is_new", True, "INT")
r.add_user_fea("clicked", False, "BIGINT")
r.add_context_fea("flags", [True, False, 1], "LIST<INT>")
r.add_item_fea("seen", {"a": True, "b": 2}, "MAP<STRING,BIGINT>")
r.add_user_fea("score", True, "DOUBLE")
print(base64.b64encode(r.to_string()).decode())
"""


def test_torchrec_bool_features_and_mismatched_values_as_officially(run_official):
    """True/False in an integer feature is 1/0 (the official protobuf 3.20 takes them; a
    modern protobuf refused them); a value that fits no dtype is a TypeError naming it."""
    from easlab.eas_prediction.torchrec_request import TorchRecRequest

    theirs = base64.b64decode(run_official(TORCHREC_BOOLS))
    r = TorchRecRequest()
    r.add_user_fea("is_new", True, "INT")
    r.add_user_fea("clicked", False, "BIGINT")
    r.add_context_fea("flags", [True, False, 1], "LIST<INT>")
    r.add_item_fea("seen", {"a": True, "b": 2}, "MAP<STRING,BIGINT>")
    r.add_user_fea("score", True, "DOUBLE")
    assert r.to_string() == theirs
    for value, dtype in [(5, "STRING"), ("5", "INT"), ("1.5", "FLOAT"), (1.5, "BIGINT")]:
        with pytest.raises(TypeError, match=f"feature value .* TorchRec dtype '{dtype}'"):
            TorchRecRequest().add_user_fea("f", value, dtype)


TF_SIGNATURE_BYTES = r"""
import base64, json
from eas_prediction import TFRequest

def feed(r):
    r.add_feed("x", [1], TFRequest.DT_FLOAT, [1.0])
    return r

def fetch(r, name="out"):
    r.add_fetch(name)
    return r

def renamed(r, name):
    r.set_signature_name(name)
    return r

def read_then(r, then):
    r.request_data  # from here the message is the request
    return then(r)

cases = {
    "nothing": TFRequest(),
    "signature only": TFRequest("sig"),
    "signature and fetch": fetch(TFRequest("sig")),
    "fetch only": fetch(TFRequest()),
    "set signature only": renamed(TFRequest(), "s2"),
    "set signature and fetch": fetch(renamed(TFRequest(), "s2")),
    "signature and feed": feed(TFRequest("sig")),
    "empty signature and feed": feed(TFRequest("")),
    "feed after set": feed(renamed(TFRequest(), "s2")),
    "read, then fetch": read_then(TFRequest("sig"), fetch),
    "read, then feed": read_then(TFRequest("sig"), feed),
    "read, then set": read_then(TFRequest("sig"), lambda r: renamed(r, "s3")),
}
out = {what: base64.b64encode(r.to_string()).decode() for what, r in cases.items()}
out["message before a feed"] = TFRequest("sig").request_data.signature_name
print(json.dumps(out))
"""


def test_tf_signature_name_is_sent_with_the_feeds_as_officially(run_official):
    """The official TFRequest writes the signature name into its message at add_feed, so
    a request without feeds (nothing, fetches only, a signature only) carries none; easlab
    used to send it in every request (0a03736967... where the official sent nothing)."""
    theirs = json.loads(run_official(TF_SIGNATURE_BYTES))
    ours_script = TF_SIGNATURE_BYTES.replace("from eas_prediction", "from easlab.eas_prediction")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(ours_script)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    ours = json.loads(proc.stdout)
    assert theirs["signature only"] == "" and theirs["fetch only"] != ""
    assert ours == theirs


def test_tf_signature_set_after_the_feeds_is_sent():
    """Where easlab keeps its own way: the official client goes on sending the name the
    last add_feed saw, a set_signature_name after it is lost; easlab sends the name set."""
    from easlab.eas_prediction import TFRequest
    from easlab.eas_prediction.tf_request_pb2 import PredictRequest

    for read_first in (False, True):
        r = TFRequest("old").add_feed("x", [1], TFRequest.DT_FLOAT, [1.0])
        if read_first:
            assert r.request_data.signature_name == "old"
        r.set_signature_name("new")
        sent = PredictRequest.FromString(r.to_string())
        assert sent.signature_name == "new", read_first


ENDPOINT_LOG = r"""
import json, logging
from eas_prediction.endpoint import Endpoint
from eas_prediction.cacheserver_endpoint import CacheServerEndpoint

records = []

class Keep(logging.Handler):
    def emit(self, record):
        records.append([record.name, record.levelname, record.getMessage()])

log = logging.getLogger("hand-built")
log.setLevel(logging.DEBUG)
log.addHandler(Keep())
ep = Endpoint(log)
ep.set_endpoints([({"ip": "10.0.0.1", "port": 80}, 1)])
ep.set_endpoints([({"ip": "10.0.0.1", "port": 80}, 1)])
ep.set_endpoints([({"ip": "10.0.0.2", "port": 81}, 2)])
CacheServerEndpoint("127.0.0.1:1", "svc/sink", log)
print(json.dumps(records))
"""


def test_hand_built_endpoints_log_as_the_official_ones(run_official):
    """easlab's Endpoint logged "Service endpoints set to" where the official one says
    "initialized to" and then "changed to"; a CacheServerEndpoint names its discovery endpoint."""
    theirs = json.loads(run_official(ENDPOINT_LOG))
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            ENDPOINT_LOG.replace("from eas_prediction", "from easlab.eas_prediction"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == theirs
    assert [level for _, level, _ in theirs] == ["INFO", "DEBUG", "INFO", "INFO"]
