"""Changes of GPU services on a kernel with four devices: a modify short of devices.

The devices are the NVML stand-in's (tests/kernel/nvml_standin, as in
test_kernel_gpus.py): there is no GPU here, the kernel's allocation is what is tested.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from easlab.client.local import LocalKernel
from easlab.errors import SpecError

TOKEN = "gpu-changes-token"
STANDIN = Path(__file__).parent / "nvml_standin"

#: answers its CUDA_VISIBLE_DEVICES; with the file HOLD beside it, initialize() says
#: so (the file STARTING) and waits, as a large model loading on its GPU does
HOLD_APP = """
import os
import time
from pathlib import Path

import allspark

HERE = Path(__file__).parent


class Env(allspark.BaseProcessor):
    def initialize(self):
        if (HERE / "HOLD").exists():
            (HERE / "STARTING").write_text(str(os.getpid()))
            time.sleep(600)

    def process(self, data):
        return repr(os.environ.get("CUDA_VISIBLE_DEVICES")).encode(), 200
"""


@pytest.fixture(scope="module")
def gpu4(tmp_path_factory, easlab_home):
    mp = pytest.MonkeyPatch()
    mp.delenv("EASLAB_DISABLE_NVML", raising=False)
    mp.setenv("PYTHONPATH", os.pathsep.join([str(STANDIN), os.environ.get("PYTHONPATH", "")]))
    mp.setenv("EASLAB_HOME", str(tmp_path_factory.mktemp("gpu4_home")))
    mp.setenv("EASLAB_STANDIN_GPUS", "4")
    try:
        with LocalKernel(port=0, state_dir=tmp_path_factory.mktemp("gpu4_state")) as k:
            yield k
    finally:
        mp.undo()


@pytest.fixture
def clean(gpu4):
    for name in [s["name"] for s in gpu4.client.list()]:
        gpu4.client.delete(name)
    yield gpu4
    for name in [s["name"] for s in gpu4.client.list()]:
        gpu4.client.delete(name)


def spec(name, folder, **meta):
    return {
        "name": name,
        "token": TOKEN,
        "processor_type": "python",
        "processor_path": str(folder),
        "processor_entry": "app.py",
        "metadata": {"instance": 1, **meta},
    }


def _devices(kernel, name):
    return sorted(w["gpus"] for w in kernel.client.workers(name))


def test_a_modify_short_of_gpus_says_the_services_own_devices_were_counted(clean, make_app):
    """Was: "needs 3 GPU(s) per instance x 2 instance(s), but this host has 4 GPU(s),
    0 free" for a service holding all four, as if its own had not been counted."""
    app = make_app("gpu4_all", HOLD_APP)
    clean.create(spec("g4_all", app, instance=2, gpu=2))
    assert _devices(clean, "g4_all") == [[0, 1], [2, 3]]
    with pytest.raises(SpecError) as info:
        clean.client.modify("g4_all", set={"metadata.gpu": 3})
    message = str(info.value)
    assert info.value.field == "metadata.gpu"
    assert "x 2 instance(s) = 6" in message, message
    assert "0 free besides its own 4 GPUs (0, 1, 2, 3), which count for this change" in message
    assert "a restart stops its old instances first" in message, message
    assert "at most 4 GPU(s) are there for it" in message, message
    desc = clean.client.describe("g4_all")
    assert (desc["status"], desc["gpu"]) == ("Running", 2)
    assert _devices(clean, "g4_all") == [[0, 1], [2, 3]]
