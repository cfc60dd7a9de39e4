"""Direct mode: service discovery, smooth weighted round robin, failover, background refresh."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
from stub_http import Reply, Seen, TextRequest, wait_for

from easlab import ENDPOINT_TYPE_DIRECT, ENDPOINT_TYPE_VIPSERVER, PredictClient, PredictException
from easlab.client import discovery
from easlab.client.discovery import (
    Backend,
    ServiceDiscovery,
    WeightedRoundRobin,
    parse_upstreams,
    upstreams_url,
)

# -- weighted round robin -------------------------------------------------------------------


def test_smooth_wrr_interleaves_and_keeps_the_ratio():
    a, b = Backend("10.0.0.1", 80, 1), Backend("10.0.0.2", 80, 3)
    wrr = WeightedRoundRobin([a, b])
    picks = [wrr.pick() for _ in range(8)]
    assert picks == [b, a, b, b] * 2  # smooth: never more than the weight allows in a row
    wrr = WeightedRoundRobin([Backend("h", 1, 5), Backend("h", 2, 1), Backend("h", 3, 1)])
    counts = Counter(wrr.pick().port for _ in range(700))
    assert counts == {1: 500, 2: 100, 3: 100}


def test_zero_weights_are_no_backend():
    wrr = WeightedRoundRobin([Backend("h", 1, 0), Backend("h", 2, 0)])
    assert wrr.pick() is None
    wrr.set_backends([Backend("h", 1, 0), Backend("h", 2, 2)])
    assert {wrr.pick().port for _ in range(5)} == {2}


def test_exclusions_and_failures_are_preferences():
    a, b = Backend("h", 1, 1), Backend("h", 2, 1)
    wrr = WeightedRoundRobin([a, b])
    assert {wrr.pick(exclude=[a]) for _ in range(4)} == {b}
    # A lone backend still gets its retries.
    assert wrr.pick(exclude=[a, b]) in (a, b)
    wrr.mark_failed(a, for_s=60)
    assert {wrr.pick() for _ in range(4)} == {b}
    wrr.mark_failed(b, for_s=60)
    assert {wrr.pick() for _ in range(4)} == {a, b}  # all failed: try them all again
    wrr.mark_failed(a, for_s=0)
    wrr.mark_failed(b, for_s=0)
    assert {wrr.pick() for _ in range(4)} == {a, b}


def test_set_backends_reports_changes():
    wrr = WeightedRoundRobin()
    assert wrr.pick() is None
    assert wrr.set_backends([Backend("h", 1, 1)]) is True
    assert wrr.set_backends([Backend("h", 1, 1)]) is False
    assert wrr.set_backends([Backend("h", 1, 2)]) is True


# -- discovery answers and URLs -------------------------------------------------------------


def upstreams(*backends: tuple[str, int, int]) -> bytes:
    items = [{"app": "svc", "ip": ip, "port": port, "weight": w} for ip, port, w in backends]
    return json.dumps({"correlative": ["svc"], "endpoints": {"items": items}}).encode()


def test_parse_upstreams():
    assert parse_upstreams(upstreams(("10.0.0.1", 8080, 100), ("10.0.0.2", 9090, 50))) == [
        Backend("10.0.0.1", 8080, 100),
        Backend("10.0.0.2", 9090, 50),
    ]
    assert parse_upstreams(b'{"correlative": [], "endpoints": {"items": null}}') == []
    with pytest.raises(ValueError, match="endpoints"):
        parse_upstreams(b'{"hosts": []}')


def test_upstreams_url(monkeypatch):
    monkeypatch.delenv("NAMESPACE", raising=False)
    monkeypatch.delenv("POD_NAME", raising=False)
    assert upstreams_url("pai-eas-vpc.cn-shanghai.aliyuncs.com", "svc/sink") == (
        "http://pai-eas-vpc.cn-shanghai.aliyuncs.com/api/v1/servicediscovery/upstreams/svc"
    )
    assert upstreams_url("https://h:1/", "svc").startswith("https://h:1/api/v1/")
    monkeypatch.setenv("NAMESPACE", "ns")
    assert not upstreams_url("h", "svc").endswith("?internal=true")
    monkeypatch.setenv("POD_NAME", "pod-0")
    assert upstreams_url("h", "svc").endswith("/upstreams/svc?internal=true")


def test_first_pick_waits_for_discovery_then_fails():
    def failing() -> list[Backend]:
        raise ConnectionError("discovery down")

    sd = ServiceDiscovery(failing, describe="test", refresh_s=0.02, first_wait_s=0.2)
    sd.start()
    started = time.monotonic()
    with pytest.raises(PredictException) as info:
        sd.pick()
    assert 0.15 < time.monotonic() - started < 3
    assert info.value.code == 500
    assert "discovery down" in info.value.message
    sd.stop()


def test_first_pick_returns_as_soon_as_discovery_answers():
    calls = []

    def slow_then_ok() -> list[Backend]:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("not yet")
        return [Backend("h", 1, 1)]

    sd = ServiceDiscovery(slow_then_ok, describe="test", refresh_s=0.02, first_wait_s=5)
    sd.start()
    assert sd.pick() == Backend("h", 1, 1)
    sd.stop()


# -- the client in direct mode ----------------------------------------------------------------


class Cluster:
    """A discovery server listing backend servers; ``listing`` may change at any time."""

    def __init__(self, stub_server) -> None:
        self.stub_server = stub_server
        self.backends = {}
        self.listing: list[tuple[str, int]] = []  # (backend name, weight)
        self.discovery = stub_server(self._discover)

    def _discover(self, seen: Seen) -> Reply:
        rows = [("127.0.0.1", self.backends[n].port, w) for n, w in self.listing]
        return Reply(200, upstreams(*rows))

    def add(self, name: str, handler=None) -> None:
        self.backends[name] = self.stub_server(handler or (lambda seen: Reply(200, name.encode())))

    def client(self, service: str = "svc", retry_count: int = 5) -> PredictClient:
        client = PredictClient(self.discovery.address, service)
        client.set_endpoint_type(ENDPOINT_TYPE_DIRECT)
        client.set_discovery_interval(0.05)
        client.set_retry_count(retry_count)
        client.init()
        return client


def ask(client: PredictClient) -> str:
    return client.predict(TextRequest(b"x")).data.decode()


def test_weights_1_to_3_split_the_traffic(stub_server):
    cluster = Cluster(stub_server)
    cluster.add("A")
    cluster.add("B")
    cluster.listing = [("A", 1), ("B", 3)]
    client = cluster.client()
    counts = Counter(ask(client) for _ in range(400))
    assert abs(counts["A"] / 400 - 0.25) <= 0.05, counts
    assert counts["A"] + counts["B"] == 400
    assert cluster.backends["A"].seen[0].path == "/api/predict/svc"
    assert cluster.discovery.seen[0].path == "/api/v1/servicediscovery/upstreams/svc"
    client.destroy()


def test_a_dead_backend_is_skipped(stub_server):
    cluster = Cluster(stub_server)
    cluster.add("A")
    cluster.add("B")
    cluster.listing = [("A", 1), ("B", 1)]
    client = cluster.client()
    assert {ask(client) for _ in range(4)} == {"A", "B"}
    cluster.backends["A"].close()  # still listed by discovery
    assert [ask(client) for _ in range(20)] == ["B"] * 20
    client.destroy()


@pytest.mark.parametrize("status", [450, 503])
def test_a_backend_answering_450_or_5xx_is_retried_on_another(stub_server, status):
    cluster = Cluster(stub_server)
    cluster.add("A", lambda seen: Reply(status, b"busy"))
    cluster.add("B")
    cluster.listing = [("A", 1), ("B", 1)]
    client = cluster.client()
    assert [ask(client) for _ in range(10)] == ["B"] * 10
    assert cluster.backends["A"].seen  # it was tried
    client.destroy()


def test_lone_backend_450_raises_450_after_the_attempts(stub_server):
    cluster = Cluster(stub_server)
    cluster.add("A", lambda seen: Reply(450, b"queue full"))
    cluster.listing = [("A", 1)]
    client = cluster.client(retry_count=3)
    with pytest.raises(PredictException) as info:
        ask(client)
    assert info.value.code == 450
    assert len(cluster.backends["A"].seen) == 3
    client.destroy()


def test_backends_are_refreshed_in_the_background(stub_server):
    cluster = Cluster(stub_server)
    cluster.add("A")
    cluster.add("C")
    cluster.listing = [("A", 1)]
    client = cluster.client()
    assert ask(client) == "A"
    cluster.listing = [("C", 1)]
    wait_for(lambda: ask(client) == "C", timeout=5, what="the new backend C")
    assert [ask(client) for _ in range(5)] == ["C"] * 5
    thread = client._discovery._thread
    assert thread is not None and thread.is_alive()
    client.destroy()
    assert not thread.is_alive()  # destroy() stops the refresh thread


def test_zero_weights_raise_500(stub_server):
    cluster = Cluster(stub_server)
    cluster.add("A")
    cluster.listing = [("A", 0)]
    client = cluster.client()
    with pytest.raises(PredictException) as info:
        ask(client)
    assert info.value.code == 500
    assert "No backend found" in info.value.message
    assert cluster.backends["A"].seen == []
    client.destroy()


def test_internal_discovery_inside_an_eas_pod(stub_server, monkeypatch):
    monkeypatch.setenv("NAMESPACE", "ns")
    monkeypatch.setenv("POD_NAME", "pod-0")
    cluster = Cluster(stub_server)
    cluster.add("A")
    cluster.listing = [("A", 1)]
    client = cluster.client(service="svc/sink")
    assert ask(client) == "A"
    seen = cluster.discovery.seen[0]
    assert (seen.path, seen.query) == ("/api/v1/servicediscovery/upstreams/svc", "internal=true")
    assert cluster.backends["A"].seen[0].path == "/api/predict/svc/sink"
    client.destroy()


def test_vipserver_mode(stub_server, monkeypatch):
    backend = stub_server(lambda seen: Reply(200, b"V"))
    hosts = {"hosts": [
        {"ip": "127.0.0.1", "port": backend.port, "weight": 1, "valid": True},
        {"ip": "127.0.0.1", "port": 1, "weight": 100, "valid": False},
    ]}  # fmt: skip
    vip = stub_server(lambda seen: Reply(200, json.dumps(hosts).encode()))
    serverlist = stub_server(lambda seen: Reply(200, f"{vip.address}\n".encode()))
    monkeypatch.setattr(discovery, "VIPSERVER_SERVERLIST_URL", f"{serverlist.url}/serverlist")
    client = PredictClient("my.vip.domain", "svc")
    client.set_endpoint_type(ENDPOINT_TYPE_VIPSERVER)
    client.init()
    assert ask(client) == "V"
    seen = vip.seen[0]
    assert seen.path == "/vipserver/api/srvIPXT"
    assert seen.query == "dom=my.vip.domain&clusters=DEFAULT"
    client.destroy()


def test_direct_mode_needs_an_endpoint():
    client = PredictClient("", "svc")
    client.set_endpoint_type(ENDPOINT_TYPE_DIRECT)
    with pytest.raises(PredictException, match="set_endpoint"):
        client.init()


def test_threads_that_all_call_predict_first_share_one_lazy_init(stub_server):
    # predict() calls init() when it was never called; threads racing into it must
    # not stop each other's discovery (one would wait 5 s and fail with 500).
    import threading

    cluster = Cluster(stub_server)
    cluster.add("A")
    cluster.listing = [("A", 1)]
    client = PredictClient(cluster.discovery.address, "svc")
    client.set_endpoint_type(ENDPOINT_TYPE_DIRECT)
    client.set_discovery_interval(0.05)
    client.set_retry_count(1)
    start = threading.Barrier(8)
    results: list[object] = []

    def call() -> None:
        start.wait()
        try:
            results.append(ask(client))
        except PredictException as e:
            results.append(e)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert results == ["A"] * 8
    mine = f"easlab-discovery http://{cluster.discovery.address}/"
    assert sum(t.name.startswith(mine) for t in threading.enumerate()) == 1
    client.destroy()
