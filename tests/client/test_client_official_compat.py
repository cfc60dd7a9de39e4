"""Code written for eas_prediction runs on easlab with only its import line changed.

Each snippet runs twice against the same stub service: with the official client
(eas-prediction 0.36, in its own venv) and, in this process, with ``easlab``.
"""

from __future__ import annotations

import contextlib
import io
import json
import textwrap
from collections import Counter

from stub_http import Reply, Seen
from test_predict_client import TOKEN, signature_checker

SNIPPET = """
from eas_prediction import PredictClient
from eas_prediction import StringRequest
from eas_prediction import PredictException

if __name__ == '__main__':
    client = PredictClient('{url}', 'scorecard_pmml_example')
    client.set_token('{token}')
    client.set_timeout(3000)
    client.set_retry_count(3)
    client.set_max_connection_count(10)
    client.add_extra_headers({{'X-Request-From': 'snippet'}})
    client.init()

    request = StringRequest('[{{"fea1": 1, "fea2": 2}}]')
    for x in range(0, 3):
        resp = client.predict(request)
        print(resp.to_string())

    missing = PredictClient('{url}', 'missing')
    missing.init()
    try:
        missing.predict(StringRequest('[]'))
    except PredictException as e:
        print('error', e.code)
    client.destroy()
"""


def run_with_easlab(snippet: str) -> str:
    """Run an eas_prediction snippet here after replacing only its import lines."""
    code = snippet.replace("from eas_prediction import", "from easlab import")
    assert code.count("from easlab import") == snippet.count("from eas_prediction import")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(textwrap.dedent(code), "<snippet>", "exec"), {"__name__": "__main__"})
    return out.getvalue()


def test_official_snippet_runs_unchanged_on_easlab(stub_server, run_official):
    checker = signature_checker(TOKEN, "scorecard_pmml_example")

    def service(seen: Seen) -> Reply:
        if seen.path == "/api/predict/missing":
            return Reply(404, b"service missing not found")
        return checker(seen)  # 401 unless the signature is exact

    server = stub_server(service)
    snippet = SNIPPET.format(url=server.url, token=TOKEN)

    official_out = run_official(snippet).decode()
    official_seen = list(server.seen)
    server.seen.clear()
    easlab_out = run_with_easlab(snippet)
    easlab_seen = list(server.seen)

    for out in (official_out, easlab_out):
        lines = out.splitlines()
        assert len(lines) == 4, out
        assert all('[{"fea1": 1, "fea2": 2}]' in line for line in lines[:3]), out
        assert lines[3] == "error 404"
    # Same requests on the wire: path, body, and the headers that carry meaning.
    assert [(s.method, s.path, s.body) for s in easlab_seen] == [
        (s.method, s.path, s.body) for s in official_seen
    ]
    for ours, theirs in zip(easlab_seen, official_seen, strict=True):
        for name in ("Content-Type", "Content-MD5", "X-Request-From"):
            assert ours.headers.get(name) == theirs.headers.get(name), name
        # Signed (the stub checked it) for the token's service; none for the other.
        assert ("Authorization" in ours.headers) == ("Authorization" in theirs.headers)


def _two_backends_and_discovery(stub_server):
    """Backends A (weight 1) and B (weight 3) of service ``svc``, and a stub discovery
    listing them as EAS's does."""
    a = stub_server(lambda seen: Reply(200, b"A"))
    b = stub_server(lambda seen: Reply(200, b"B"))
    items = [
        {"app": "svc", "ip": "127.0.0.1", "port": a.port, "weight": 1},
        {"app": "svc", "ip": "127.0.0.1", "port": b.port, "weight": 3},
    ]
    answer = json.dumps({"correlative": ["svc"], "endpoints": {"items": items}}).encode()
    return a, b, stub_server(lambda seen: Reply(200, answer))


def test_discovery_answer_is_what_the_official_client_reads(stub_server, run_official):
    """Both clients, in direct mode against one stub discovery, split 1:3 the same way."""
    a, b, disco = _two_backends_and_discovery(stub_server)
    snippet = f"""
from eas_prediction import PredictClient, StringRequest, ENDPOINT_TYPE_DIRECT

client = PredictClient('{disco.address}', 'svc')
client.set_endpoint_type(ENDPOINT_TYPE_DIRECT)
client.init()
for _ in range(40):
    resp = client.predict(StringRequest('x'))
    print('A' if 'A' in resp.to_string() else 'B')
client.destroy()
"""
    official = Counter(run_official(snippet).decode().split())
    ours = Counter(run_with_easlab(snippet).split())
    assert official == ours == {"A": 10, "B": 30}


TF_SNIPPET = """
from eas_prediction import PredictClient
from eas_prediction import TFRequest

client = PredictClient('{url}', 'mnist_saved_model_example')
client.set_token('{token}')
client.init()
req = TFRequest('predict_images')
req.add_feed('images', [1, 4], TFRequest.DT_FLOAT, [1.0, 2.0, 3.0, 4.0])
req.add_fetch('scores')
resp = client.predict(req)
print(list(resp.get_tensor_shape('scores')))
print([round(float(v), 4) for v in resp.get_values('scores')])
"""


def test_official_tf_snippet_runs_unchanged_on_easlab(stub_server, run_official):
    from easlab.wire.proto import tf_predict_pb2

    answer = tf_predict_pb2.PredictResponse()
    scores = answer.outputs["scores"]
    scores.dtype = tf_predict_pb2.DT_FLOAT
    scores.array_shape.dim.extend([1, 3])
    scores.float_val.extend([0.1, 0.2, 0.7])
    checker = signature_checker(TOKEN, "mnist_saved_model_example")

    def service(seen: Seen) -> Reply:
        reply = checker(seen)
        if reply.status != 200:
            return reply
        request = tf_predict_pb2.PredictRequest.FromString(seen.body)
        assert list(request.inputs["images"].float_val) == [1.0, 2.0, 3.0, 4.0]
        return Reply(200, answer.SerializeToString())

    server = stub_server(service)
    snippet = TF_SNIPPET.format(url=server.url, token=TOKEN)
    official_out = run_official(snippet).decode()
    easlab_out = run_with_easlab(snippet)
    assert official_out == easlab_out == "[1, 3]\n[0.1, 0.2, 0.7]\n"
    assert server.seen[0].body == server.seen[1].body  # byte-identical requests


POOL_SNIPPET = """
from eas_prediction import PredictClient, StringRequest

client = PredictClient('{url}', 'echo')
print('before init', client.connection_pool is None, client.stop)
client.init()
print('after init', client.connection_pool is not None, client.stop)
answer = client.connection_pool.request('POST', '{url}/api/predict/echo', body=b'raw', retries=0)
print('pool request', answer.status, answer.data)
print('predict', client.predict(StringRequest('x')).response_data)
client.connection_pool.clear()
print('predict after clear', client.predict(StringRequest('y')).response_data)
client.destroy()
print('after destroy', client.stop)
"""


def test_connection_pool_and_stop_as_official_code_uses_them(stub_server, run_official):
    """REPORT D4: ``connection_pool`` (its ``request`` and ``clear``) and the ``stop`` flag."""
    server = stub_server(lambda seen: Reply(200, seen.body))
    snippet = POOL_SNIPPET.format(url=server.url)
    official_out = run_official(snippet).decode()
    easlab_out = run_with_easlab(snippet)
    assert official_out == easlab_out
    assert official_out.splitlines()[-1] == "after destroy True"


ENDPOINT_SNIPPET = """
from eas_prediction import PredictClient, StringRequest, ENDPOINT_TYPE_DIRECT

gateway = PredictClient('{url}', 'svc')
gateway.init()
ep = gateway.endpoint
ep.sync()
ep.set_endpoints([])
print('gateway', ep.get(), ep.get_size(), ep.domain)

client = PredictClient('{disco}', 'svc')
client.set_endpoint_type(ENDPOINT_TYPE_DIRECT)
client.init()
client.predict(StringRequest('x'))  # waits for the first discovery answer
ep = client.endpoint
print('direct size', ep.get_size())
print('direct get', sorted(ep.get() for _ in range(4)))
print('direct endpoints', sorted((e[0]['ip'], e[0]['port'], e[1]) for e in ep.endpoints))
print('direct domain', ep.domain)
ep.sync()
print('direct size after sync', ep.get_size())
client.destroy()  # its discovery thread stops (it ran on after the test, polling a closed server)
gateway.destroy()
"""


def test_the_client_endpoint_answers_as_the_official_one(stub_server, run_official):
    """``client.endpoint`` has the official endpoint's methods and values: easlab's had
    only ``get()`` (``get_size()``, ``sync()``, ``set_endpoints()``, ``domain`` and
    ``endpoints`` raised AttributeError), and in direct mode ``get()`` gave
    ``http://ip:port`` where the official one gives ``ip:port``."""
    a, b, disco = _two_backends_and_discovery(stub_server)
    snippet = ENDPOINT_SNIPPET.format(url=a.url, disco=disco.address)
    official = run_official(snippet).decode()
    ours = run_with_easlab(snippet)
    assert ours == official
    assert f"gateway {a.url} 1 {a.url}" in ours
    assert f"direct get {sorted([a.address] + [b.address] * 3)}" in ours


def test_set_endpoints_replaces_the_backends_until_the_next_refresh(stub_server):
    from easlab import ENDPOINT_TYPE_DIRECT, PredictClient

    a = stub_server(lambda seen: Reply(200, b"A"))
    b = stub_server(lambda seen: Reply(200, b"B"))
    items = [{"ip": "127.0.0.1", "port": s.port, "weight": 1} for s in (a, b)]
    answer = json.dumps({"endpoints": {"items": items}}).encode()
    disco = stub_server(lambda seen: Reply(200, answer))
    client = PredictClient(disco.address, "svc")
    client.set_endpoint_type(ENDPOINT_TYPE_DIRECT)
    client.set_discovery_interval(3600)  # one answer, then none within the test
    client.init()
    assert client.predict(b"x").data in (b"A", b"B")
    client.endpoint.set_endpoints([({"ip": "127.0.0.1", "port": b.port}, 7)])
    assert client.endpoint.endpoints == [({"ip": "127.0.0.1", "port": b.port}, 7)]
    assert {client.predict(b"x").data for _ in range(3)} == {b"B"}
    client.endpoint.sync()  # discovery's list again
    assert client.endpoint.get_size() == 2
    client.destroy()
