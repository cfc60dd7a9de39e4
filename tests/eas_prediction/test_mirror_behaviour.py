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
