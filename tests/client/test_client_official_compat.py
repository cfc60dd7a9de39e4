"""Code written for eas_prediction runs on easlab with only its import line changed.

Each snippet runs twice against the same stub service: with the official client
(eas-prediction 0.36, in its own venv) and, in this process, with ``easlab``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import subprocess
import sys
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


LOGGING_SNIPPET = """
import json, logging, sys, time
from eas_prediction import PredictClient, StringRequest, QueueClient, ENDPOINT_TYPE_DIRECT

records = []

class Keep(logging.Handler):
    def emit(self, record):
        records.append([record.name, record.levelname, record.getMessage()])

logging.getLogger().addHandler(Keep())


def taken():
    got = list(records)
    records.clear()
    return got


def wait_for_records():
    deadline = time.monotonic() + 20
    while not records and time.monotonic() < deadline:
        time.sleep(0.01)


out = {{}}
client = PredictClient('{url}', 'svc')
out['logger'] = [client.logger.name, client.logger.level, client.logger.propagate,
                 [h.stream is sys.stdout for h in client.logger.handlers]]
client.set_token('secret-token-123')
client.init()
client.predict(StringRequest('x'))
out['gateway, default level'] = taken()
client.set_log_level(logging.DEBUG)
client.predict(StringRequest('x'))
out['gateway, debug'] = taken()

refused = PredictClient('{refused}', 'svc')
refused.set_log_level('DEBUG')
refused.set_retry_count(2)
refused.init()
try:
    refused.predict(StringRequest('x'))
except Exception as exc:
    out['refused raises'] = type(exc).__name__
out['refused'] = taken()

direct = PredictClient('{disco}', 'svc')
direct.set_endpoint_type(ENDPOINT_TYPE_DIRECT)
direct.set_log_level(logging.DEBUG)
direct.init()
direct.predict(StringRequest('x'))
direct.destroy()
out['direct'] = taken()

lost = PredictClient('{lost}', 'svc')
lost.set_endpoint_type(ENDPOINT_TYPE_DIRECT)
lost.init()  # its discovery answers 404: an ERROR, printed to stdout at the default level
wait_for_records()
lost.destroy()
out['discovery failed'] = taken()[:1]

queue = QueueClient('{url}', 'q')
before = queue.logger.name
queue.init()
out['queue logger'] = [before, queue.logger.name, queue.logger.level]
print(json.dumps(out))
"""


def _logged(text: str) -> dict:
    """The snippet's records with the transports' own words cut: urllib3 and easlab name
    a refused connection differently, and so their discovery failures."""
    out: dict = json.loads(text.splitlines()[-1])
    for key, value in out.items():
        if not key.startswith("logger") and isinstance(value, list):
            for record in value:
                if isinstance(record, list) and record[2].startswith("Request failed, err:"):
                    assert record[2].endswith(", retrying"), record
                    record[2] = "Request failed, err: ..., retrying"
                if isinstance(record, list) and record[2].startswith("sync service endpoints"):
                    record[2] = "sync service endpoints error ..."
    return out


def test_logging_goes_where_and_as_the_official_client_logs(stub_server, closed_port, run_official):
    """A logging configuration written for the official client works the same: the
    client's logger is named ``endpoint/service`` (easlab's was ``easlab.client.svc``),
    at ERROR with a handler printing to stdout (easlab's had neither: debug lines went
    nowhere after set_log_level(DEBUG)); the same lines at the same levels for a call,
    a retried failure and discovery (whose failures were WARNINGs of
    ``easlab.client.discovery``); a QueueClient's init() switches to
    ``eas_prediction.queue_client`` at INFO. The token is in no line."""
    a, b, disco = _two_backends_and_discovery(stub_server)
    lost = stub_server(lambda seen: Reply(404, b"no such service"))
    snippet = LOGGING_SNIPPET.format(
        url=a.url, refused=f"127.0.0.1:{closed_port}", disco=disco.address, lost=lost.address
    )
    theirs_text = run_official(snippet).decode()
    ours_proc = subprocess.run(
        [
            sys.executable,
            "-c",
            snippet.replace("from eas_prediction", "from easlab.eas_prediction"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ours_proc.returncode == 0, ours_proc.stderr
    theirs, ours = _logged(theirs_text), _logged(ours_proc.stdout)
    assert "secret-token-123" not in theirs_text + ours_proc.stdout + ours_proc.stderr
    # The one line easlab leaves out: the official client starts a sync thread in
    # gateway mode too, where it has nothing to sync; easlab starts none there.
    started = [f"127.0.0.1:{closed_port}/svc", "DEBUG", "Endpoint sync thread started"]
    assert theirs["refused"][0] == started
    del theirs["refused"][0]
    # Discovery refreshes in the background: which lines came before the call ended
    # depends on timing, not what they say.
    for out in (theirs, ours):
        out["direct"] = sorted(
            {tuple(r) for r in out["direct"] if r[2] != "Service endpoints unchanged, skip it"}
        )
    # In direct mode the official line names the backend's URL without its scheme
    # (urllib3 adds http://); easlab's names the URL as sent.
    ours["direct"] = [
        (name, level, text.replace("Request to url: http://", "Request to url: "))
        for name, level, text in ours["direct"]
    ]
    assert ours == theirs
    assert theirs["logger"] == [f"{a.url}/svc", logging.ERROR, True, [True]]
    assert theirs["discovery failed"] == [
        [f"{lost.address}/svc", "ERROR", "sync service endpoints error ..."]
    ]
    # printed to stdout by the client's own handler: what the level lets through
    for text in (theirs_text, ours_proc.stdout):
        lines = text.splitlines()
        assert f"Request to url: {a.url}/api/predict/svc" in lines, text
        assert any(line.startswith("sync service endpoints error") for line in lines), text


DESTROY_SNIPPET = """
from eas_prediction import PredictClient, StringRequest, ENDPOINT_TYPE_DIRECT

gateway = PredictClient('{url}', 'svc')
gateway.init()
endpoint, pool = gateway.endpoint, gateway.connection_pool
gateway.destroy()
print('gateway kept', gateway.endpoint is endpoint, gateway.connection_pool is pool, gateway.stop)
print('gateway get', gateway.endpoint.get())
print('gateway answers', gateway.predict(StringRequest('x')).response_data, gateway.stop)

direct = PredictClient('{disco}', 'svc')
direct.set_endpoint_type(ENDPOINT_TYPE_DIRECT)
direct.init()
direct.predict(StringRequest('x'))  # waits for the first discovery answer
endpoint = direct.endpoint
direct.destroy()
print('direct kept', direct.endpoint is endpoint, direct.connection_pool is not None, direct.stop)
print('direct size', direct.endpoint.get_size())
print('direct answers', sorted(direct.predict(StringRequest('x')).response_data for _ in range(4)))
print('direct stop', direct.stop)
"""


def test_destroy_keeps_the_endpoint_and_stops_discovery_as_officially(stub_server, run_official):
    """After destroy() the official client keeps ``endpoint`` and ``connection_pool``, and
    a call still goes out, to the last backends, with no discovery started again; easlab
    set ``endpoint`` and ``connection_pool`` to None and its next call ran init() again,
    restarting a discovery thread the user had stopped."""
    a, b, disco = _two_backends_and_discovery(stub_server)
    snippet = DESTROY_SNIPPET.format(url=a.url, disco=disco.address)
    asked = len(disco.seen)
    official = run_official(snippet).decode()
    official_asked, asked = len(disco.seen) - asked, len(disco.seen)
    ours = run_with_easlab(snippet)
    ours_asked = len(disco.seen) - asked
    assert ours == official
    assert f"gateway get {a.url}" in ours and "direct answers [b'A', b'B', b'B', b'B']" in ours
    # one discovery call each, at init(): none after destroy()
    assert official_asked == ours_asked == 1


def test_clients_of_one_name_print_each_line_once(capsys):
    """Every official PredictClient adds a stdout handler to the logger of its name, so
    with two clients of one service each line is printed twice; easlab's add one,
    also when made in several threads at once."""
    import threading

    from easlab import PredictClient

    barrier = threading.Barrier(8)
    clients: list[PredictClient] = []

    def make() -> None:
        barrier.wait()
        clients.append(PredictClient("http://127.0.0.1:9", "twice"))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    clients.append(PredictClient("http://127.0.0.1:9", "twice"))
    logger = clients[0].logger
    assert all(c.logger is logger for c in clients) and len(logger.handlers) == 1
    logger.error("once")
    assert capsys.readouterr().out == "once\n"


ENDPOINT_CLASSES_SNIPPET = """
from eas_prediction import PredictClient, StringRequest, ENDPOINT_TYPE_DIRECT
from eas_prediction.endpoint import Endpoint
from eas_prediction.gateway_endpoint import GatewayEndpoint
from eas_prediction.cacheserver_endpoint import CacheServerEndpoint

def described(client):
    ep = client.endpoint
    return [type(ep).__name__, isinstance(ep, Endpoint), isinstance(ep, GatewayEndpoint),
            isinstance(ep, CacheServerEndpoint), ep.logger is client.logger,
            getattr(ep, 'service_name', None)]

gateway = PredictClient('{url}', 'svc')
gateway.init()
print('gateway', described(gateway))
custom = PredictClient(custom_url='{url}/api/predict/svc')
custom.init()
print('custom', described(custom), custom.endpoint.get())
direct = PredictClient('{disco}', 'svc/sink')
direct.set_endpoint_type(ENDPOINT_TYPE_DIRECT)
direct.init()
print('direct', described(direct))
direct.destroy()

by_hand = CacheServerEndpoint('{disco}', 'svc', gateway.logger)
by_hand.sync()
print('by hand', by_hand.get_size(), sorted(by_hand.get() for _ in range(4)))
"""


def test_the_client_endpoint_is_of_the_official_class(stub_server, run_official):
    """``client.endpoint`` is a ``GatewayEndpoint`` (gateway mode or a custom_url) or a
    ``CacheServerEndpoint`` (direct mode) with the client's logger, as officially:
    easlab's were a ``StaticEndpoint`` / ``DiscoveredEndpoint`` of its own, so code that
    checked ``isinstance(client.endpoint, GatewayEndpoint)`` went the other way. A
    CacheServerEndpoint built by hand asks the same discovery, once per ``sync()``."""
    a, b, disco = _two_backends_and_discovery(stub_server)
    snippet = ENDPOINT_CLASSES_SNIPPET.format(url=a.url, disco=disco.address)
    official = run_official(snippet).decode()
    ours = run_with_easlab(snippet.replace("from eas_prediction.", "from easlab.eas_prediction."))
    assert ours == official
    assert "gateway ['GatewayEndpoint', True, True, False, True, None]" in ours
    assert "direct ['CacheServerEndpoint', True, False, True, True, 'svc']" in ours
    assert f"by hand 2 {sorted([a.address] + [b.address] * 3)}" in ours
