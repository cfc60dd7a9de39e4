"""EasyRec and TorchRec requests through PredictClient: the body as built, the answer parsed."""

from __future__ import annotations

from easlab.client.predict_client import PredictClient
from easlab.client.transport import MockTransport, Response
from easlab.wire.easyrec import EasyRecRequest, EasyRecResponse
from easlab.wire.proto import easyrec_predict_pb2, torchrec_predict_pb2
from easlab.wire.torchrec import TorchRecRequest, TorchRecResponse


def _client(answer: bytes, seen: list[bytes]) -> PredictClient:
    def handler(request):
        seen.append(request.body)
        return Response(200, answer)

    client = PredictClient("http://127.0.0.1:1", "rec", transport=MockTransport(handler))
    client.set_token("token")
    client.init()
    return client


def test_easyrec_request_goes_out_as_built_and_comes_back_parsed():
    answer = easyrec_predict_pb2.PBResponse(item_ids=["i1"], outputs=["probs"])
    answer.results["i1"].scores.append(0.5)
    seen: list[bytes] = []
    request = EasyRecRequest().add_user_features({"age": 3}).add_item_ids(["i1"])
    response = _client(answer.SerializeToString(), seen).predict(request)
    assert seen == [request.to_string()]
    assert isinstance(response, EasyRecResponse)
    assert response.to_dataframe().loc["i1", "probs"] == 0.5


def test_torchrec_request_goes_out_as_built_and_comes_back_parsed():
    answer = torchrec_predict_pb2.PBResponse(item_ids=["a"])
    seen: list[bytes] = []
    request = TorchRecRequest()
    request.add_user_fea("u", "x", "STRING")
    response = _client(answer.SerializeToString(), seen).predict(request)
    assert seen == [request.to_string()]
    assert isinstance(response, TorchRecResponse) and list(response.item_ids) == ["a"]
