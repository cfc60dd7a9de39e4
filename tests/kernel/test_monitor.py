"""Service monitoring: the per-second counts (no server), and the JSON and /metrics views over HTTP."""

from __future__ import annotations

import time

import numpy as np
import pytest
import requests

from easlab.kernel.monitor import HISTORY_S, Stats, _bin
from tests.kernel.kernel_helpers import post, wait_for

CHECKER_APP = """
import allspark

class Checker(allspark.BaseProcessor):
    def process(self, data):
        if data == b"bad":
            return b"bad body", 400
        return data, 200
"""


# -- the counts, without a server ------------------------------------------------------------


def test_windows_count_every_answer_and_percentiles_follow_latency():
    stats = Stats()
    stats.add_instance(0, "svc-0", 1)
    now = time.monotonic()
    for _ in range(1000):
        stats.record(200, now - 0.010, now, 0)  # 10 ms
    for _ in range(10):
        stats.record(200, now - 1.0, now, 0)  # 1 s: the slow 1%
    for code in (401, 401, 400, 408, 450, 503):
        stats.record(code, now - 0.001, now, -1 if code in (401, 450, 503) else 0)
    stats.fold()
    w = stats.window(60)
    assert w["requests"] == 1016
    assert (w["2xx"], w["4xx"], w["5xx"]) == (1010, 5, 1)
    assert (w["401"], w["408"], w["450"]) == (2, 1, 1)
    assert w["p50_ms"] == pytest.approx(10, rel=0.07)
    assert w["p99_ms"] == pytest.approx(10, rel=0.07)  # 1% + 6 answers above: still 10 ms
    assert stats.window(60, instance=0)["requests"] == 1012
    assert stats.window(60, version=1)["requests"] == 1012
    assert stats.to_dict()["by_status"] == {
        "200": 1010,
        "400": 1,
        "401": 2,
        "408": 1,
        "450": 1,
        "503": 1,
    }


@pytest.mark.parametrize("order", ["one instance", "sorted runs", "shuffled"])
def test_the_buckets_count_each_second_instance_and_status_as_a_plain_count_does(order):
    """Answers are counted into their second as they are recorded; whatever the order of
    instances and times, the buckets hold plain counts."""
    rng = np.random.default_rng(7)
    n = 5000
    # three wall-clock seconds in time order, each answer well inside its second (the
    # monotonic readings are stamped in wall time: keep every one off a boundary)
    offset = time.time() - time.monotonic()
    wall = int(time.time()) + rng.integers(0, 3, n) + rng.uniform(0.1, 0.9, n)
    now = np.sort(wall) - offset
    inst = np.zeros(n, int) if order == "one instance" else rng.integers(0, 3, n)
    status = rng.choice([200, 200, 200, 400, 408, 503], n)
    if order == "sorted runs":
        inst = np.sort(inst)
    if order == "shuffled":  # answers of late instances recorded out of time order
        now = rng.permutation(now)
    stats = Stats()
    for t, i, code in zip(now.tolist(), inst.tolist(), status.tolist(), strict=True):
        stats.record(code, t - 1e-4, t, i)
    stats.fold()
    want: dict[tuple[int, int, int], int] = {}
    for t, i, code in zip(now.tolist(), inst.tolist(), status.tolist(), strict=True):
        key = (int(np.floor(t + offset)), i, code)
        want[key] = want.get(key, 0) + 1
    got = {
        (b.second, i, code): k
        for b in stats.buckets
        for i, (_, by, _) in b.instances.items()
        for code, k in by.items()
    }
    assert got == want
    assert sum(b.count for b in stats.buckets) == n
    for b in stats.buckets:
        assert int(b.hist.sum()) == b.count == sum(c for c, _, _ in b.instances.values())
        assert sum(int(h.sum()) for _, _, h in b.instances.values()) == b.count


def test_memory_is_fixed_whatever_the_traffic():
    """One open second of counts per instance, and at most HISTORY_S buckets."""
    stats = Stats()
    now = time.monotonic()
    for i in range(20_000):  # 20 seconds of answers from 3 instances
        stats.record(200, now, now + i / 1000, i % 3)
        assert len(stats._open) <= 3 and all(len(c.hist) == 160 for c in stats._open.values())
    stats.fold()
    assert sum(b.count for b in stats.buckets) == stats.requests == 20_000
    for _ in range(2000):  # the per-second buckets are bounded
        stats._bucket(stats.buckets[-1].second + 1)
    assert len(stats.buckets) == HISTORY_S


def test_each_answer_lands_in_its_latency_bin():
    """The bin record() computes inline is monitor._bin's, bin edges included."""
    edges = [1e-5 * 1.12**i for i in range(0, 170, 7)]
    latencies = [0.0, 1e-9, 5e-6, *edges, *(e * 1.0001 for e in edges), 1e3, 1e6]
    now = time.monotonic()
    for took in latencies:
        stats = Stats()
        stats.record(200, now - took, now, 0)
        hist = stats._open[0].hist
        assert hist.index(1) == _bin(now - (now - took)), took
    assert _bin(1e-5) == 0 and _bin(1.12e-5) == 1 and _bin(1e6) == 159


def test_a_read_closes_the_open_second_and_later_answers_still_count():
    stats = Stats()
    now = time.monotonic()
    stats.record(200, now - 0.01, now, 0)
    stats.fold()  # a read: the open second goes into its bucket, and stays open
    stats.record(500, now - 0.01, now, 0)
    stats.record(200, now - 0.01, now, 1)
    stats.record_batch(2)
    stats.fold()
    bucket = stats.buckets[-1]
    assert len(stats.buckets) == 1 and bucket.count == 3
    assert bucket.by_status == {200: 2, 500: 1}
    assert (bucket.batches, bucket.batched) == (1, 2)
    assert stats.cumulative == {(0, 200): 1, (0, 500): 1, (1, 200): 1}
    assert int(stats.cumulative_hist.sum()) == 3


def test_disabled_monitor_keeps_the_totals():
    stats = Stats(enabled=False)
    now = time.monotonic()
    for _ in range(10):
        stats.record(200, now, now, 0)
    stats.fold()
    assert stats.requests == 10 and stats.to_dict()["ok"] == 10
    assert stats.window(60)["requests"] == 0


# -- through real HTTP ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def checker(python_service):
    desc = python_service("mon_checker", CHECKER_APP, token="tok-monitor-1234").desc
    assert desc["status"] == "Running", desc
    return desc


def test_counts_match_what_was_sent(kernel, checker):
    url = checker["url"]
    good, wrong, bad = 40, 7, 5
    with requests.Session() as s:
        for _ in range(good):
            assert s.post(url, data=b"hi", headers={"Authorization": checker["token"]}).ok
        for _ in range(wrong):
            r = s.post(url, data=b"hi", headers={"Authorization": "nope"})
            assert r.status_code == 401
        for _ in range(bad):
            r = s.post(url, data=b"bad", headers={"Authorization": checker["token"]})
            assert r.status_code == 400
    r = requests.get(
        f"{kernel.endpoint}/easlab/v1/services/mon_checker/metrics?window=60",
        headers=kernel.admin_headers(),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    m = r.json()
    assert m["totals"]["by_status"] == {"200": good, "400": bad, "401": wrong}
    w = m["windows"]["900s"]
    assert (w["requests"], w["2xx"], w["4xx"], w["401"]) == (52, good, 12, wrong)
    assert w["p50_ms"] is not None and w["p99_ms"] >= w["p50_ms"]
    assert m["versions"]["1"]["900s"]["requests"] == good + bad  # 401s reach no version
    (inst,) = m["instances"]
    assert inst["name"] == "mon_checker-0" and inst["windows"]["900s"]["requests"] == 45
    assert len(m["series"]) == 60 and sum(row["requests"] for row in m["series"]) == 52
    # the monitor's 1 Hz tick reads the instance's CPU and memory
    wait_for(
        lambda: (
            requests.get(
                f"{kernel.endpoint}/easlab/v1/services/mon_checker/metrics",
                headers=kernel.admin_headers(),
                timeout=10,
            )
            .json()["instances"][0]["resources"]
            .get("rss_bytes")
        ),
        what="an instance memory reading",
    )
    listing = requests.get(
        f"{kernel.endpoint}/easlab/v1/metrics?window=10", headers=kernel.admin_headers(), timeout=10
    ).json()
    assert listing["services"]["mon_checker"]["windows"]["900s"]["requests"] == 52
    assert len(listing["services"]["mon_checker"]["series"]) == 10


def test_metrics_route_checks_its_window(kernel, checker):
    r = requests.get(
        f"{kernel.endpoint}/easlab/v1/services/mon_checker/metrics?window=abc",
        headers=kernel.admin_headers(),
        timeout=10,
    )
    assert r.status_code == 400 and r.json()["field"] == "window"


def test_prometheus_metrics_are_locked_and_parse(kernel, checker):
    from prometheus_client.parser import text_string_to_metric_families

    post(checker["url"], b"hi", checker["token"])
    assert requests.get(f"{kernel.endpoint}/metrics", timeout=10).status_code == 401
    wrong = requests.get(
        f"{kernel.endpoint}/metrics", headers={"Authorization": "Bearer nope"}, timeout=10
    )
    assert wrong.status_code == 401
    foreign = requests.get(
        f"{kernel.endpoint}/metrics",
        headers={**kernel.admin_headers(), "Origin": "http://evil.example"},
        timeout=10,
    )
    assert foreign.status_code == 403
    r = requests.get(f"{kernel.endpoint}/metrics", headers=kernel.admin_headers(), timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    total = {
        s.labels["code"]: s.value
        for s in families["easlab_requests"].samples
        if s.labels["service"] == "mon_checker" and s.name == "easlab_requests_total"
    }
    sent = requests.get(
        f"{kernel.endpoint}/easlab/v1/services/mon_checker",
        headers=kernel.admin_headers(),
        timeout=10,
    ).json()["stats"]["by_status"]
    assert total == {k: float(v) for k, v in sent.items()}
    hist = families["easlab_request_latency_seconds"]
    count = next(
        s.value
        for s in hist.samples
        if s.name.endswith("_count") and s.labels["service"] == "mon_checker"
    )
    assert count == sum(sent.values())
    memory = families["easlab_instance_memory_bytes"].samples
    assert [s.labels["instance"] for s in memory if s.labels["service"] == "mon_checker"] == [
        "mon_checker-0"
    ]
    assert "easlab_queue_depth" in families and "easlab_requests_per_second" in families


def test_resource_sampler_reads_cpu_memory_and_nvml_gpu():
    import os
    from types import SimpleNamespace

    from easlab.kernel.resources import ResourceSampler

    sampler = ResourceSampler()
    first = sampler.sample(os.getpid(), [])
    assert first["cpu_percent"] == 0.0 and first["rss_bytes"] > 0 and first["gpu_util"] is None
    assert sampler.sample(os.getpid(), [])["cpu_percent"] >= 0.0

    # NVML as nvidia-ml-py answers it (no GPU on the test machine): device utilisation,
    # averaged over the instance's GPUs, and the memory its own process holds there
    fake = SimpleNamespace(
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetUtilizationRates=lambda h: SimpleNamespace(gpu=40 + 20 * h),
        nvmlDeviceGetComputeRunningProcesses=lambda h: [
            SimpleNamespace(pid=os.getpid(), usedGpuMemory=2**30),
            SimpleNamespace(pid=1, usedGpuMemory=5 * 2**30),
        ],
    )
    sampler._nvml = fake
    got = sampler.sample(os.getpid(), [0, 1])
    assert got["gpu_util"] == 50.0 and got["gpu_memory_bytes"] == 2 * 2**30
    sampler.forget(set())
    assert sampler._procs == {}
    assert sampler.sample(None, [0])["rss_bytes"] is None


def test_proc_readings_match_psutil_and_the_cpu_percent_is_cpu_over_wall():
    """/proc read with the files kept open gives what psutil gives; a reader of a process
    that has gone is dropped, its files closed, and the readings are None."""
    import os
    import subprocess
    import sys

    import psutil

    from easlab.kernel.resources import ProcReader, ResourceSampler, cpu_percent

    assert cpu_percent((2.0, 10.0), (2.5, 11.0)) == 50.0  # half a core for a second
    assert cpu_percent((2.0, 10.0), (4.0, 11.0)) == 200.0  # two cores
    assert cpu_percent((2.0, 10.0), (2.0, 10.0)) == 0.0  # no time between them

    child = subprocess.Popen(
        [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE,
    )
    try:
        # its start-up over (a busy machine can still be exec'ing it): nothing moves now
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        proc = psutil.Process(child.pid)
        reader = ProcReader(child.pid)
        # an instance started later must not inherit the kernel's view of another process
        assert not os.get_inheritable(reader.stat) and not os.get_inheritable(reader.statm)
        for _ in range(50):  # until the child's start-up is over: nothing moves
            cpu, rss = reader.read()
            times = proc.cpu_times()
            if rss == proc.memory_info().rss and cpu == times.user + times.system:
                break
        else:
            raise AssertionError(
                f"/proc gave {reader.read()}, psutil {times}, {proc.memory_info()}"
            )
        reader.close()

        sampler = ResourceSampler()
        assert sampler.sample(child.pid, [])["cpu_percent"] == 0.0
        fds = len(os.listdir("/proc/self/fd"))
        assert sampler.sample(child.pid, [])["rss_bytes"] == proc.memory_info().rss
        assert len(os.listdir("/proc/self/fd")) == fds  # the files stay open, none added
        child.kill()
        child.wait()
        gone = sampler.sample(child.pid, [])
        assert gone["cpu_percent"] is None and gone["rss_bytes"] is None
        assert sampler._procs == {} and len(os.listdir("/proc/self/fd")) == fds - 2
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()


def test_the_tick_reads_resources_once_a_second_and_nothing_else_folds(tmp_path):
    """The monitor's only work in the event loop is the tick every SAMPLE_S (queue depth
    and resources); the answers are in their buckets without it."""
    from types import SimpleNamespace

    from easlab.kernel.control import SAMPLE_S, Kernel

    class Loop:  # the event loop's timer and clock, moved by the test
        def __init__(self) -> None:
            self.now = 100.0
            self.delays: list[float] = []

        def time(self) -> float:
            return self.now

        def call_later(self, delay: float, callback: object) -> None:
            self.delays.append(delay)

    loop = Loop()
    kernel = Kernel(tmp_path, loop)  # type: ignore[arg-type]
    stats = Stats()
    instance = SimpleNamespace(pid=4242, index=0, gpus=[])
    memory: list[tuple[object, object]] = []
    service = SimpleNamespace(
        stats=stats,
        instances=[instance],
        queue_depth=lambda: 3,
        check_memory=lambda inst, rss: memory.append((inst, rss)),
    )
    kernel.services["svc"] = service  # type: ignore[assignment]
    read: list[int] = []
    kernel._sampler = SimpleNamespace(
        sample=lambda pid, gpus: read.append(pid) or {"cpu_percent": 1.0},
        forget=lambda live: None,
    )
    kernel.start_monitor()
    answered = time.monotonic()
    for _ in range(5):
        stats.record(200, answered - 0.001, answered, 0)
    assert stats.window(60)["requests"] == 0  # counted, in the open second
    kernel._monitor_tick()
    kernel._monitor_tick()
    assert loop.delays == [SAMPLE_S] * 3  # the start, and each tick re-arms
    assert read == [4242, 4242]
    assert memory == [(instance, None), (instance, None)]  # metadata.memory checked each read
    assert stats.window(60)["requests"] == 5
    assert stats.buckets[-1].queue == 3
    assert stats.buckets[-1].resources == {0: {"cpu_percent": 1.0}}


def test_an_earlier_second_gets_its_own_bucket_in_time_order():
    stats = Stats()
    for second in (10, 12, 11, 9, 12, 13):
        stats._bucket(second).count += 1
    assert [(b.second, b.count) for b in stats.buckets] == [
        (9, 1),
        (10, 1),
        (11, 1),
        (12, 2),
        (13, 1),
    ]
    for second in range(14, 14 + HISTORY_S - 5):  # fill the history
        stats._bucket(second)
    assert len(stats.buckets) == HISTORY_S and stats.buckets[0].second == 9
    stats._bucket(8).count += 1  # older than all of a full history: its oldest second
    assert stats.buckets[0].second == 9 and stats.buckets[0].count == 2
    assert stats._bucket(20) is stats.buckets[20 - 9]  # inside it: found, not made
    assert len(stats.buckets) == HISTORY_S


def test_prometheus_with_the_monitor_off_counts_every_answer():
    # EASLAB_MONITOR=0: /metrics had no easlab_requests_total sample at all while the
    # service answered, and a latency histogram of count 0 with the sum of every answer
    from types import SimpleNamespace

    from prometheus_client.parser import text_string_to_metric_families

    from easlab.kernel.prometheus import exposition

    def service(enabled: bool) -> SimpleNamespace:
        stats = Stats(enabled=enabled)
        stats.add_instance(0, "svc-0", 1)
        now = time.monotonic()
        for status in [200] * 7 + [400] * 2:
            stats.record(status, now - 0.003, now, 0)
        return SimpleNamespace(stats=stats, instances=[], starting=[], queue_depth=lambda: 0)

    services = {"off": service(False), "on": service(True)}
    kernel = SimpleNamespace(
        services=services, fold_all=lambda: [s.stats.fold() for s in services.values()]
    )
    text = exposition(kernel).decode()
    families = {f.name: f.samples for f in text_string_to_metric_families(text)}
    counts = {
        (s.labels["service"], s.labels["code"]): s.value
        for s in families["easlab_requests"]
        if s.name == "easlab_requests_total"
    }
    assert counts == {("off", "200"): 7, ("off", "400"): 2, ("on", "200"): 7, ("on", "400"): 2}
    latency = {(s.labels["service"], s.name) for s in families["easlab_request_latency_seconds"]}
    assert ("on", "easlab_request_latency_seconds_count") in latency
    assert not {service for service, _ in latency} - {"on"}  # no latencies were kept for "off"
    qps = {s.labels["service"] for s in families["easlab_requests_per_second"]}
    assert qps == {"on"}  # not a rate of 0 while it answers


def test_a_latency_past_the_last_bin_is_only_in_the_inf_bucket():
    # the last bin holds every latency past ~600 s: a 1000 s answer was counted under
    # le="669.37", as if it had taken less
    stats = Stats()
    now = time.monotonic()
    stats.record(200, now - 1000.0, now, 0)
    stats.record(200, now - 0.002, now, 0)
    stats.fold()
    buckets = stats.latency_buckets()
    edge, count = buckets[-1]
    assert edge < 1000.0 and count == 1  # the 2 ms answer only
    assert all(c <= 1 for _, c in buckets)
    assert int(stats.cumulative_hist.sum()) == 2  # the +Inf bucket: both
