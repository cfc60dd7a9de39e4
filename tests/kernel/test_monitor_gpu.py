"""Per-instance GPU utilisation and memory, through NVML, in every view of the monitor.

There is no GPU on the test machine: ``nvml_standin/pynvml.py`` stands in for
nvidia-ml-py (its docstring says what it answers). It goes first on the
kernel's ``PYTHONPATH``, so the kernel detects two GPUs through "NVML", pins
each instance to one, and samples them once a second. Without NVML or a GPU
the same views carry null or no GPU fields, and nothing fails.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest
import requests
from kernel_helpers import post, wait_for
from prometheus_client.parser import text_string_to_metric_families

import easlab
from easlab.client.local import LocalKernel

STANDIN = Path(__file__).parent / "nvml_standin"
TOKEN = "gpu-monitor-token-1234"
MIB = 1024 * 1024
APP = """
import allspark

class Echo(allspark.BaseProcessor):
    def process(self, data):
        return data, 200
"""


@pytest.fixture(scope="module")
def nvml_kernel(tmp_path_factory, easlab_home):
    mp = pytest.MonkeyPatch()
    mp.delenv("EASLAB_DISABLE_NVML", raising=False)
    mp.setenv("PYTHONPATH", os.pathsep.join([str(STANDIN), os.environ.get("PYTHONPATH", "")]))
    mp.setenv("EASLAB_HOME", str(tmp_path_factory.mktemp("nvml_home")))
    try:
        with LocalKernel(port=0, state_dir=tmp_path_factory.mktemp("nvml_state")) as k:
            yield k
    finally:
        mp.undo()


def _spec(name: str, folder: Path, **meta) -> dict:
    return {
        "name": name,
        "token": TOKEN,
        "processor_type": "python",
        "processor_path": str(folder),
        "processor_entry": "app.py",
        "metadata": {"instance": 1, **meta},
    }


def _metrics_text(kernel) -> dict:
    r = requests.get(f"{kernel.endpoint}/metrics", headers=kernel.admin_headers(), timeout=10)
    assert r.status_code == 200, r.text
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def _gauge(families: dict, name: str, service: str) -> dict[str, float]:
    return {
        s.labels["instance"]: s.value
        for s in families[name].samples
        if s.labels["service"] == service
    }


def test_gpu_per_instance_in_json_metrics_and_dataframe(nvml_kernel, make_app):
    app = make_app("gpu_mon_app", APP)
    svc = nvml_kernel.create(_spec("gpu_mon", app, instance=2, gpu=1))
    assert svc.status == "Running", svc.desc["message"]
    devices = {w["name"]: w["gpus"] for w in nvml_kernel.client.workers("gpu_mon")}
    assert sorted(devices.values()) == [[0], [1]]
    # what the stand-in answers for device d: utilisation 30 + 20 d %, (d + 1) * 256 MiB held
    expect = {n: (30.0 + 20 * g[0], float((g[0] + 1) * 256 * MIB)) for n, g in devices.items()}
    for _ in range(20):
        assert post(svc.url, b"x", TOKEN).status_code == 200

    def sampled():
        data = nvml_kernel.client.metrics("gpu_mon", 30)
        got = {
            i["name"]: (i["resources"].get("gpu_util"), i["resources"].get("gpu_memory_bytes"))
            for i in data["instances"]
        }
        return data if got == expect else None

    data = wait_for(sampled, timeout=20, what="GPU readings of both instances in the JSON")
    rows = [r for r in data["resources"] if r.get("gpu_util") is not None]
    assert {r["instance"] for r in rows} == set(expect)

    families = _metrics_text(nvml_kernel)
    util = _gauge(families, "easlab_instance_gpu_utilization_percent", "gpu_mon")
    memory = _gauge(families, "easlab_instance_gpu_memory_bytes", "gpu_mon")
    assert util == {n: u for n, (u, _) in expect.items()}
    assert memory == {n: m for n, (_, m) in expect.items()}

    df = easlab.monitor("gpu_mon", window=30, kernel=nvml_kernel.client).to_dataframe()
    for name, (u, m) in expect.items():
        assert df[f"gpu_util[{name}]"].dropna().iloc[-1] == u
        assert df[f"gpu_memory_bytes[{name}]"].dropna().iloc[-1] == m
        assert f"cpu_percent[{name}]" in df and f"rss_bytes[{name}]" in df


def test_no_gpu_means_null_or_absent_gpu_fields(kernel, make_app):
    """The session kernel: no GPU here, NVML unusable or disabled."""
    app = make_app("no_gpu_app", APP)
    svc = kernel.create(_spec("no_gpu_mon", app))
    assert svc.status == "Running", svc.desc["message"]
    for _ in range(5):
        assert post(svc.url, b"x", TOKEN).status_code == 200

    def sampled():
        data = kernel.client.metrics("no_gpu_mon", 30)
        res = data["instances"][0]["resources"] if data["instances"] else {}
        return data if res.get("rss_bytes") else None

    data = wait_for(sampled, timeout=20, what="CPU/memory readings")
    res = data["instances"][0]["resources"]
    assert res.get("gpu_util") is None and res.get("gpu_memory_bytes") is None
    assert all(r.get("gpu_util") is None for r in data["resources"])

    families = _metrics_text(kernel)
    assert _gauge(families, "easlab_instance_gpu_utilization_percent", "no_gpu_mon") == {}
    assert _gauge(families, "easlab_instance_gpu_memory_bytes", "no_gpu_mon") == {}
    assert _gauge(families, "easlab_instance_memory_bytes", "no_gpu_mon")

    df = easlab.monitor("no_gpu_mon", window=30, kernel=kernel.client).to_dataframe()
    assert "rss_bytes[no_gpu_mon-0]" in df
    assert not [c for c in df.columns if c.startswith("gpu_")]
    kernel.client.delete("no_gpu_mon")


def test_sampler_falls_back_to_device_memory_when_nvml_cannot_see_the_process(monkeypatch):
    """In a container NVML lists host pids: the instance's device memory in use stands in."""
    from easlab.kernel.resources import ResourceSampler

    monkeypatch.syspath_prepend(str(STANDIN))
    monkeypatch.delitem(sys.modules, "pynvml", raising=False)
    monkeypatch.delenv("EASLAB_DISABLE_NVML", raising=False)
    monkeypatch.setenv("EASLAB_STANDIN_NO_PROCESSES", "1")
    standin = importlib.import_module("pynvml")
    assert Path(standin.__file__).parent == STANDIN
    got = ResourceSampler().sample(os.getpid(), [1])
    assert got["gpu_util"] == 50.0 and got["gpu_memory_bytes"] == 512 * MIB
    assert ResourceSampler().sample(os.getpid(), [])["gpu_util"] is None
    monkeypatch.delitem(sys.modules, "pynvml")
