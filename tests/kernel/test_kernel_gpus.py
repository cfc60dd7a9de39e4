"""GPU assignment by the kernel: disjoint CUDA_VISIBLE_DEVICES, refusal, CPU fallback.

A fake ``nvidia-smi`` on PATH reports two GPUs (NVML is switched off), so the
kernel's allocation is exercised on a machine without GPUs.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest
from kernel_helpers import app_spec, post, wait_for

from easlab.client.local import LocalKernel
from easlab.errors import SpecError
from easlab.kernel.control import Kernel
from easlab.kernel.gpu_ledger import GpuLedger
from easlab.kernel.service import Service
from easlab.spec import parse_spec

TOKEN = "gpu-token-123"

FAKE_SMI = r"""#!/bin/sh
case "$*" in
  *--query-gpu=*)
    echo "0, NVIDIA A10, 23028, 22500, 535.104.05, GPU-11111111-2222-3333-4444-555555555555"
    echo "1, NVIDIA A10, 23028, 22000, 535.104.05, GPU-66666666-7777-8888-9999-000000000000"
    ;;
  *) echo "| NVIDIA-SMI 535.104.05   Driver Version: 535.104.05   CUDA Version: 12.2 |" ;;
esac
"""

ENV_APP = """
import os
import allspark

class Env(allspark.BaseProcessor):
    def process(self, data):
        return repr(os.environ.get("CUDA_VISIBLE_DEVICES")).encode(), 200
"""


@pytest.fixture(scope="module")
def gpu_kernel(tmp_path_factory, easlab_home):
    bin_dir = tmp_path_factory.mktemp("fake_smi_bin")
    smi = bin_dir / "nvidia-smi"
    smi.write_text(FAKE_SMI)
    smi.chmod(smi.stat().st_mode | stat.S_IXUSR)
    mp = pytest.MonkeyPatch()
    mp.setenv("EASLAB_DISABLE_NVML", "1")
    mp.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    mp.setenv("EASLAB_HOME", str(tmp_path_factory.mktemp("gpu_home")))
    try:
        with LocalKernel(port=0, state_dir=tmp_path_factory.mktemp("gpu_state")) as k:
            yield k
    finally:
        mp.undo()


def spec(name, folder, **meta):
    return {**app_spec(name, folder, **meta), "token": TOKEN}


def test_instances_get_disjoint_devices_and_shortage_is_refused(gpu_kernel, make_app):
    app = make_app("gpu_env", ENV_APP)
    svc = gpu_kernel.create(spec("gpu_two", app, instance=2, gpu=1))
    assert svc.status == "Running", svc.desc["message"]
    assert sorted(w["gpus"] for w in gpu_kernel.client.workers("gpu_two")) == [[0], [1]]
    seen = {post(svc.url, b"x", TOKEN).text for _ in range(10)}
    assert seen <= {"'0'", "'1'"} and seen

    with pytest.raises(SpecError) as info:
        gpu_kernel.create(spec("gpu_more", app, gpu=1))
    assert info.value.field == "metadata.gpu"
    assert "2 GPU(s), 0 free" in str(info.value) and "allow-cpu-fallback" in str(info.value)

    # a GPU processor code asks for one GPU per instance even without metadata.gpu
    model = make_app("gpu_model", "")
    with pytest.raises(SpecError, match="needs 1 GPU"):
        gpu_kernel.create(
            {
                "name": "gpu_code",
                "processor": "pytorch_gpu_1.6",
                "model_path": str(model),
                "metadata": {"instance": 1},
            }
        )

    fallback = gpu_kernel.create(spec("gpu_fallback", app, gpu=1), allow_cpu_fallback=True)
    assert fallback.status == "Running" and fallback.desc["cpu_fallback"] is True
    assert post(fallback.url, b"x", TOKEN).text == "''"

    gpu_kernel.client.delete("gpu_two")  # frees both devices
    again = gpu_kernel.create(spec("gpu_again", app, gpu=1))
    assert again.status == "Running" and gpu_kernel.client.workers("gpu_again")[0]["gpus"] == [0]


def test_start_of_a_stopped_service_is_refused_while_its_gpus_are_taken(gpu_kernel, make_app):
    app = make_app("gpu_restart", ENV_APP)
    for name in [s["name"] for s in gpu_kernel.client.list()]:
        gpu_kernel.client.delete(name)
    gpu_kernel.create(spec("gpu_stopped", app, instance=2, gpu=1))
    gpu_kernel.client.stop("gpu_stopped")  # gives both devices back
    taker = gpu_kernel.create(spec("gpu_taker", app, gpu=1))
    assert gpu_kernel.client.workers("gpu_taker")[0]["gpus"] == [0]

    # was: it started, its second instance with no device and no CUDA_VISIBLE_DEVICES,
    # so that it saw (and used) gpu_taker's device
    with pytest.raises(SpecError) as info:
        gpu_kernel.client.start("gpu_stopped")
    assert info.value.field == "metadata.gpu" and "2 GPU(s), 1 free" in str(info.value)
    assert gpu_kernel.client.describe("gpu_stopped")["status"] == "Stopped"
    # a version switch leaves it stopped: no device is taken, nothing is refused
    desc = gpu_kernel.client.version("gpu_stopped", 1, force=True)
    assert desc["status"] == "Stopped" and gpu_kernel.client.workers("gpu_stopped") == []
    assert post(taker.url, b"x", TOKEN).text == "'0'"

    gpu_kernel.client.delete("gpu_taker")
    desc = gpu_kernel.client.start("gpu_stopped")
    assert desc["status"] == "Running"
    assert sorted(w["gpus"] for w in gpu_kernel.client.workers("gpu_stopped")) == [[0], [1]]
    gpu_kernel.client.delete("gpu_stopped")


def test_a_new_version_asking_for_more_gpus_gets_them_all(gpu_kernel, make_app):
    """modify -Dmetadata.gpu=2 on a service with one device: its new instance gets two.

    Was: Running with gpu: 2, its instance on one device ([[1]]): the new instance was
    sized from the old version, and the check counted the old devices as free while
    the new instance started beside the old one. Two devices on this host, one of them
    the old instance's: the new version can only start once the old one stops, so the
    update is a restart (said in the answer's message and the log), not a rolling one."""
    app = make_app("gpu_grow", ENV_APP)
    for name in [s["name"] for s in gpu_kernel.client.list()]:
        gpu_kernel.client.delete(name)
    svc = gpu_kernel.create(spec("gpu_grow", app, gpu=1))
    assert _devices(gpu_kernel, "gpu_grow") == [[0]]

    # a free device for the new instance: it rolls as before, the old instance serving
    # until the new one runs, on a device of its own
    desc = gpu_kernel.client.modify("gpu_grow", set={"metadata.rpc.worker_threads": 3})
    assert desc["status"] == "Running" and "restart" not in desc["message"], desc
    assert _devices(gpu_kernel, "gpu_grow") == [[1]]

    desc = gpu_kernel.client.modify("gpu_grow", set={"metadata.gpu": 2})
    assert desc["status"] == "Running" and desc["gpu"] == 2, desc
    assert _devices(gpu_kernel, "gpu_grow") == [[0, 1]]
    assert post(svc.url, b"x", TOKEN).text == "'0,1'"
    assert "restart" in desc["message"] and "GPU" in desc["message"], desc["message"]
    assert any(desc["message"] in line for line in gpu_kernel.client.logs("gpu_grow", 0))
    gpu_kernel.client.delete("gpu_grow")


BROKEN_APP = """
import allspark

class Broken(allspark.BaseProcessor):
    def initialize(self):
        raise RuntimeError("no model here")

    def process(self, data):
        return data, 200
"""


def test_a_restart_for_gpus_whose_new_version_fails_brings_the_old_one_back(gpu_kernel, make_app):
    """The old instances were stopped to free their devices for the new version, which
    then failed: the old version starts again on them, and the answer says both."""
    app, broken = make_app("gpu_back", ENV_APP), make_app("gpu_broken", BROKEN_APP)
    for name in [s["name"] for s in gpu_kernel.client.list()]:
        gpu_kernel.client.delete(name)
    svc = gpu_kernel.create(spec("gpu_back", app, gpu=1))
    gpu_kernel.create(spec("gpu_other", app, gpu=1))  # the other device
    desc = gpu_kernel.client.modify(
        "gpu_back", spec={"processor_path": str(broken), "metadata": {"gpu": 1}}
    )
    assert desc["status"] == "Running" and desc["current_version"] == 1, desc
    assert "version 2 failed to start" in desc["failed"], desc
    assert "version 1 was started again" in desc["failed"], desc
    assert _devices(gpu_kernel, "gpu_back") == [[0]]
    assert post(svc.url, b"x", TOKEN).text == "'0'"
    logs = gpu_kernel.client.logs("gpu_back", 0)
    assert any("a restart, not a rolling update" in line for line in logs), logs
    for name in ("gpu_back", "gpu_other"):
        gpu_kernel.client.delete(name)


def test_an_instance_that_cannot_get_all_its_devices_does_not_start(tmp_path, make_app):
    """The last guard, below the kernel's checks: a start short of devices fails, saying
    so, rather than start an instance on fewer (was: on device 0 alone, and one given
    none had no CUDA_VISIBLE_DEVICES, so it saw every GPU)."""
    app = make_app("gpu_short", ENV_APP)
    seen: dict[str, object] = {}

    async def main() -> None:
        kernel = Kernel(tmp_path, asyncio.get_running_loop())
        kernel.gpus = GpuLedger(
            SimpleNamespace(gpus=[SimpleNamespace(index=0), SimpleNamespace(index=1)], message="")
        )
        version = await kernel._build_version(parse_spec(spec("gpu_short", app, gpu=2)), 1)
        service = Service(kernel, "gpu_short", TOKEN, version)
        kernel.gpus.allocate(service, 1)  # device 0, as another service's instance holds it
        try:
            await service.start()
            seen["status"], seen["message"] = service.status, service.message
            seen["instances"] = [inst.gpus for inst in service.instances]
        finally:
            await service.stop()
        seen["used"] = sorted({0, 1} - set(kernel.gpus.free()))

    asyncio.run(main())
    assert seen["status"] == "Failed" and seen["instances"] == [], seen
    assert seen["message"] == (
        "each of 1 instance(s) needs 2 GPU(s), but only 1 of this host's 2 GPU(s) are "
        "free; no instance was started with fewer (it would run on the wrong "
        "devices, or with none on every GPU). Free GPUs (stop or scale down a service using "
        "them) or lower metadata.gpu/metadata.instance"
    )
    assert seen["used"] == [0]  # device 1 was given back


STANDIN = Path(__file__).parent / "nvml_standin"


def _statuses(kernel) -> dict[str, str]:
    return {d["name"]: d["status"] for d in kernel.client.list()}


def _restored(kernel, names) -> dict[str, str]:
    """Wait until every one of ``names`` is listed and no longer Creating."""

    def settled():
        now = _statuses(kernel)
        return set(names) <= set(now) and all(now[n] != "Creating" for n in names)

    wait_for(settled, 120, f"{names} restored")
    return _statuses(kernel)


def _devices(kernel, name):
    return sorted(w["gpus"] for w in kernel.client.workers(name))


def test_a_restarted_kernel_gives_back_each_services_gpus_or_leaves_it_stopped(
    easlab_home, make_app, tmp_path
):
    """Restore checks GPUs as `start` does: each service gets the devices it had when they
    are free; one whose devices are gone or taken stays Stopped, saying why. Before, a
    restore started every service on whatever was free: the second of two services on a
    machine now with one GPU ran with no CUDA_VISIBLE_DEVICES, so it saw every GPU."""
    app = make_app("gpu_restore", ENV_APP)
    state = tmp_path / "state"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("EASLAB_DISABLE_NVML", raising=False)
        mp.setenv("PYTHONPATH", os.pathsep.join([str(STANDIN), os.environ.get("PYTHONPATH", "")]))
        mp.setenv("EASLAB_HOME", str(tmp_path / "home"))
        mp.setenv("EASLAB_STANDIN_GPUS", "2")
        with LocalKernel(port=0, state_dir=state) as first:
            first.create(spec("gr_a", app, gpu=1))
            first.create(spec("gr_b", app, gpu=1))
            assert _devices(first, "gr_b") == [[1]]
            first.client.stop("gr_a")  # device 0 free; gr_a's record says stopped
        with LocalKernel(port=0, state_dir=state) as same:
            assert _restored(same, ["gr_a", "gr_b"]) == {"gr_a": "Stopped", "gr_b": "Running"}
            # what it had, not the first free device (was: [[0]])
            assert _devices(same, "gr_b") == [[1]]
            assert same.client.start("gr_a")["status"] == "Running"
            assert _devices(same, "gr_a") == [[0]]
        mp.setenv("EASLAB_STANDIN_GPUS", "1")  # the machine has one GPU now
        with LocalKernel(port=0, state_dir=state) as smaller:
            # was: both Running, gr_b with no device and so every device in sight
            assert _restored(smaller, ["gr_a", "gr_b"]) == {"gr_a": "Running", "gr_b": "Stopped"}
            assert _devices(smaller, "gr_a") == [[0]]
            assert smaller.client.workers("gr_b") == []
            message = smaller.client.describe("gr_b")["message"]
            assert "not started after the kernel restarted" in message
            assert "GPU 1" in message and "1 GPU (0)" in message, message
            assert "start gr_b" in message, message
            assert any(message in line for line in smaller.client.logs("gr_b", 0))
        # records from an easlab that did not write down devices: what is free, or Stopped
        # when that is not enough (gr_a, first in the records, takes device 0)
        for record in (state / "services").glob("gr_*.json"):
            data = json.loads(record.read_text())
            data.pop("gpus", None)
            data["running"] = True
            record.write_text(json.dumps(data))
        with LocalKernel(port=0, state_dir=state) as legacy:
            assert _restored(legacy, ["gr_a", "gr_b"]) == {"gr_a": "Running", "gr_b": "Stopped"}
            assert _devices(legacy, "gr_a") == [[0]]
            message = legacy.client.describe("gr_b")["message"]
            assert "needs 1 GPU" in message and "0 free" in message, message
        # two records naming device 0 (a state dir copied from another machine): the
        # first takes it, never both
        for record in (state / "services").glob("gr_*.json"):
            data = json.loads(record.read_text())
            data["gpus"] = [0]
            data["running"] = True
            record.write_text(json.dumps(data))
        with LocalKernel(port=0, state_dir=state) as overlapping:
            statuses = _restored(overlapping, ["gr_a", "gr_b"])
            assert statuses == {"gr_a": "Running", "gr_b": "Stopped"}
            message = overlapping.client.describe("gr_b")["message"]
            assert "GPU 0" in message and "gr_a" in message, message
