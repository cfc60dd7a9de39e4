"""GPU assignment by the kernel: disjoint CUDA_VISIBLE_DEVICES, refusal, CPU fallback.

A fake ``nvidia-smi`` on PATH reports two GPUs (NVML is switched off), so the
kernel's allocation is exercised on a machine without GPUs.
"""

from __future__ import annotations

import os
import stat

import pytest
from kernel_helpers import post

from easlab.client.local import LocalKernel
from easlab.errors import SpecError

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
    return {
        "name": name,
        "token": TOKEN,
        "processor_type": "python",
        "processor_path": str(folder),
        "processor_entry": "app.py",
        "metadata": {"instance": 1, **meta},
    }


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
    with pytest.raises(SpecError, match="1 free"):  # a version switch starts it too
        gpu_kernel.client.version("gpu_stopped", 1, force=True)
    assert post(taker.url, b"x", TOKEN).text == "'0'"

    gpu_kernel.client.delete("gpu_taker")
    desc = gpu_kernel.client.start("gpu_stopped")
    assert desc["status"] == "Running"
    assert sorted(w["gpus"] for w in gpu_kernel.client.workers("gpu_stopped")) == [[0], [1]]
    gpu_kernel.client.delete("gpu_stopped")
