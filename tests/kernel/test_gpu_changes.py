"""Changes of GPU services on a kernel with four devices: a modify short of devices,
two creates at once, a stop while a GPU restart is under way.

The devices are the NVML stand-in's (tests/kernel/nvml_standin, as in
test_kernel_gpus.py): there is no GPU here, the kernel's allocation is what is tested.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from kernel_helpers import HeldModelServer, app_spec, wait_for

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
    return {**app_spec(name, folder, **meta), "token": TOKEN}


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


def test_two_creates_at_once_cannot_both_count_the_same_free_devices(clean, make_app):
    """The first create passes the GPU check (4 free, it needs 3) and then downloads
    its model; a second create needing 3 came meanwhile. Was: it passed the same check
    (nothing was taken yet) and ran on devices 0-2, and the first then failed at its
    start, "only 1 of this host's 4 GPU(s) are free". Now the first takes its devices
    with the check: the second is refused at once, saying 1 is free."""
    app = make_app("gpu4_race", HOLD_APP)
    first: dict[str, object] = {}
    with HeldModelServer() as model:

        def create_first() -> None:
            try:
                first["desc"] = clean.create(
                    {**spec("g4_first", app, gpu=3), "model_path": model.url}
                ).desc
            except Exception as exc:  # noqa: BLE001 - the test reads it
                first["error"] = exc

        thread = threading.Thread(target=create_first)
        try:
            thread.start()
            wait_for(model.asked.is_set, 60, "the first create downloading its model")
            with pytest.raises(SpecError) as info:
                clean.create(spec("g4_second", app, gpu=3))
            assert "this host has 4 GPU(s), 1 free" in str(info.value), str(info.value)
        finally:
            model.go.set()
            thread.join(120)
    assert "error" not in first, first
    desc = first["desc"]
    assert desc["status"] == "Running", desc  # type: ignore[index]
    assert _devices(clean, "g4_first") == [[0, 1, 2]]
    assert "g4_second" not in [s["name"] for s in clean.client.list()]
    # and the devices the first did not take are free for the next one
    assert clean.create(spec("g4_third", app, gpu=1)).status == "Running"
    assert _devices(clean, "g4_third") == [[3]]


def test_a_stop_during_a_gpu_restart_shows_stopped_not_failed(clean, make_app):
    """A change that needs the devices the old instances hold is a restart: the old
    instances stop, the new ones start. A stop while they start ends it. Was: the
    service went Failed ("did not start again: start aborted: the service was
    stopped"), the modify's answer said so, until the stop took its turn."""
    app = make_app("gpu4_stop", HOLD_APP)
    clean.create(spec("g4_stop", app, instance=2, gpu=2))
    (app / "HOLD").write_text("")  # the new instances' initialize() waits
    answer: dict[str, object] = {}

    def modify() -> None:
        answer["desc"] = clean.client.modify("g4_stop", set={"metadata.rpc.worker_threads": 3})

    thread = threading.Thread(target=modify)
    thread.start()
    try:
        wait_for((app / "STARTING").exists, 60, "a new instance starting")
        stopped = clean.client.stop("g4_stop")
    finally:
        thread.join(120)
    desc = answer["desc"]
    assert desc["status"] == "Stopped", desc  # type: ignore[index]
    assert "stopped while it restarted" in desc["message"], desc  # type: ignore[index]
    assert stopped["status"] == "Stopped"
    # the change did not happen: what a restarted kernel brings back is what desc shows
    # (was: the record kept rpc.worker_threads 3 for version 1, desc and start had none)
    record = json.loads((clean.state_dir / "services" / "g4_stop.json").read_text())
    assert record["versions"]["1"]["metadata"] == desc["spec"]["metadata"], record  # type: ignore[index]
    logs = "\n".join(clean.client.logs("g4_stop", 0))
    assert "did not start again" not in logs, logs
    assert clean.client.workers("g4_stop") == []
    (app / "HOLD").unlink()
    assert clean.client.start("g4_stop")["status"] == "Running"
    assert _devices(clean, "g4_stop") == [[0, 1], [2, 3]]


def test_a_modify_dry_run_says_when_the_host_has_too_few_gpus(clean, make_app):
    """Was: "would update" for -Dmetadata.gpu=3 of 2 instances on a host of 4 GPUs, a
    modify the kernel then refused; the dry run of a create said it already."""
    from easlab import ops

    app = make_app("gpu4_dry", HOLD_APP)
    clean.create(spec("g4_dry", app, instance=2, gpu=2))
    plan = ops.modify("g4_dry", {"metadata.gpu": 3}, dry_run=True, kernel=clean.client)
    assert plan.refused.startswith("modify would be refused: metadata.gpu: "), plan.refused
    assert "3 GPU(s) per instance x 2 instance(s) asked for, this host has 4" in plan.refused
    with pytest.raises(SpecError):  # as the modify itself
        clean.client.modify("g4_dry", set={"metadata.gpu": 3})
    fits = ops.modify("g4_dry", {"metadata.gpu": 1}, dry_run=True, kernel=clean.client)
    assert not fits.refused, fits.refused


BROKEN_APP = """
import allspark

class Broken(allspark.BaseProcessor):
    def initialize(self):
        raise RuntimeError("no model here")

    def process(self, data):
        return data, 200
"""


def test_a_stop_while_a_failed_gpu_restart_starts_the_old_version_again_shows_stopped(
    clean, make_app
):
    """The new version of a GPU restart failed; while the old one starts again on its
    devices, a stop. Was: Failed, "version 1 did not start again: start aborted: the
    service was stopped", as the stop during the new version's start was."""
    app, broken = make_app("gpu4_again", HOLD_APP), make_app("gpu4_broken", BROKEN_APP)
    clean.create(spec("g4_again", app, instance=2, gpu=2))
    (app / "HOLD").write_text("")  # version 1's instances, started again, wait
    answer: dict[str, object] = {}

    def modify() -> None:
        answer["desc"] = clean.client.modify("g4_again", spec={"processor_path": str(broken)})

    thread = threading.Thread(target=modify)
    thread.start()
    try:
        wait_for((app / "STARTING").exists, 60, "version 1 starting again")
        clean.client.stop("g4_again")
    finally:
        thread.join(120)
    desc = answer["desc"]
    assert desc["status"] == "Stopped", desc  # type: ignore[index]
    assert "version 2 failed to start" in desc["message"], desc  # type: ignore[index]
    assert "stopped before version 1 started again" in desc["message"], desc  # type: ignore[index]
    assert clean.client.workers("g4_again") == []
    (app / "HOLD").unlink()
    assert clean.client.start("g4_again")["status"] == "Running"
    assert _devices(clean, "g4_again") == [[0, 1], [2, 3]]


def test_a_create_during_a_modify_cannot_take_the_devices_the_modify_counted(clean, make_app):
    """A modify making a new version that needs more devices passed the GPU check and
    then downloaded its model; a create meanwhile passed the same check and took the
    free devices. Was: the create ran on 1-3 and the modify, checked first, failed at
    its start ("version 2 failed to start: each of 1 instance(s) needs 2 GPU(s), but
    only 0 ..."). Now the modify sets its devices aside with its check."""
    app = make_app("gpu4_mod", HOLD_APP)
    clean.create(spec("g4_mod", app, gpu=1))
    assert _devices(clean, "g4_mod") == [[0]]
    answer: dict[str, object] = {}
    with HeldModelServer() as model:

        def modify() -> None:
            answer["desc"] = clean.client.modify(
                "g4_mod", spec={"model_path": model.url, "metadata": {"gpu": 2}}
            )

        thread = threading.Thread(target=modify)
        try:
            thread.start()
            wait_for(model.asked.is_set, 60, "the modify downloading its model")
            with pytest.raises(SpecError) as info:
                clean.create(spec("g4_taker", app, gpu=3))
            assert "this host has 4 GPU(s), 1 free" in str(info.value), str(info.value)
        finally:
            model.go.set()
            thread.join(120)
    desc = answer["desc"]
    assert "failed" not in desc, desc  # type: ignore[operator]
    assert (desc["status"], desc["current_version"]) == ("Running", 2), desc  # type: ignore[index]
    assert _devices(clean, "g4_mod") == [[1, 2]]
    # what the modify did not keep is free again: the old device and the last one
    assert clean.create(spec("g4_next", app, gpu=2)).status == "Running"
    assert _devices(clean, "g4_next") == [[0, 3]]


def test_a_new_version_of_a_failed_gpu_service_starts_on_the_devices_set_aside(clean, make_app):
    """A failed service holds no device; the modify that gives it a new version sets
    the free ones aside for it and its start takes them (not refused as taken)."""
    app, broken = make_app("gpu4_fixed", HOLD_APP), make_app("gpu4_failed", BROKEN_APP)
    failed = clean.create(spec("g4_failed", broken, gpu=4))
    assert failed.status == "Failed" and clean.client.workers("g4_failed") == []
    desc = clean.client.modify("g4_failed", spec={"processor_path": str(app)})
    assert (desc["status"], desc["current_version"]) == ("Running", 2), desc
    assert _devices(clean, "g4_failed") == [[0, 1, 2, 3]]
