"""KernelClient and Service against a real local kernel (LocalKernel on port 0)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from easlab.client.connect import connect
from easlab.client.control import KernelClient, Service
from easlab.errors import KernelError, SpecError

APP = """\
import allspark


class EchoProcessor(allspark.BaseProcessor):
    def initialize(self):
        self.prefix = {prefix!r}

    def process(self, data):
        return self.prefix + data, 200
"""

BROKEN_APP = """\
import allspark


class Broken(allspark.BaseProcessor):
    def initialize(self):
        raise RuntimeError("model file is corrupt: weights.bin truncated")

    def process(self, data):
        return data, 200
"""


def write_app(folder: Path, prefix: bytes = b"v1:", text: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.py").write_text(text if text is not None else APP.format(prefix=prefix))
    return folder


def echo_spec(name: str, path: str, **meta) -> dict:
    return {
        "name": name,
        "processor_type": "python",
        "processor_path": path,
        "processor_entry": "app.py",
        "metadata": {"instance": 1, **meta},
    }


@pytest.fixture(scope="module")
def kernel(tmp_path_factory) -> Iterator[KernelClient]:
    from easlab.client.local import LocalKernel

    home = tmp_path_factory.mktemp("easlab-home")
    old = os.environ.get("EASLAB_HOME")
    os.environ["EASLAB_HOME"] = str(home)
    try:
        with LocalKernel(port=0) as local:
            client = KernelClient(local.endpoint)
            yield client
            client.close()
    finally:
        if old is None:
            os.environ.pop("EASLAB_HOME", None)
        else:
            os.environ["EASLAB_HOME"] = old


def test_info_gpu_and_connect_via_runtime_file(kernel: KernelClient, monkeypatch):
    info = kernel.info()
    assert info["endpoint"].rstrip("/") == kernel.endpoint and info["pid"] > 0
    gpu = kernel.gpu()
    assert gpu["source"] in ("nvml", "nvidia-smi", "none") and isinstance(gpu["gpus"], list)
    monkeypatch.delenv("EASLAB_ENDPOINT", raising=False)
    assert connect().endpoint == kernel.endpoint  # found through $EASLAB_HOME/kernel.json


def test_service_lifecycle(kernel: KernelClient, tmp_path: Path, monkeypatch):
    write_app(tmp_path / "v1", b"v1:")
    write_app(tmp_path / "v2", b"v2:")
    spec_file = tmp_path / "service.json"
    spec_file.write_text(json.dumps(echo_spec("life_echo", "./v1")))
    monkeypatch.chdir("/")  # relative paths resolve against the file's folder, not cwd

    svc = kernel.create(spec_file)
    assert isinstance(svc, Service)
    assert svc.status == "Running", svc.desc.get("message")
    assert svc.url == f"{kernel.endpoint}/api/predict/life_echo"
    assert svc.token  # generated when the file has none (SPEC §1)
    assert svc.token not in repr(svc)
    assert svc.predict(b"hello").to_string() == "v1:hello"
    client = svc.client(timeout=5000, retry_count=1)
    assert client.predict(b"again").to_string() == "v1:again"

    assert "life_echo" in [d["name"] for d in kernel.list()]
    assert kernel.describe("life_echo")["running_instance"] == 1
    assert len(kernel.workers("life_echo")) == 1

    desc = kernel.modify("life_echo", set={"metadata.instance": 2})
    assert desc["total_instance"] == 2 and desc["current_version"] == 1
    assert len(kernel.workers("life_echo")) == 2

    desc = kernel.modify("life_echo", spec={"processor_path": str(tmp_path / "v2")})
    assert (desc["latest_version"], desc["current_version"]) == (2, 2)
    assert kernel.service("life_echo").predict(b"x").to_string() == "v2:x"

    desc = kernel.version("life_echo", 1)
    assert desc["current_version"] == 1
    assert svc.refresh().desc["current_version"] == 1
    assert svc.predict(b"x").to_string() == "v1:x"

    assert kernel.stop("life_echo")["status"] == "Stopped"
    assert kernel.start("life_echo")["status"] in ("Running", "Creating")
    assert isinstance(kernel.logs("life_echo", n=5), list)

    assert kernel.delete("life_echo") == {"deleted": "life_echo"}
    with pytest.raises(KernelError) as info:
        kernel.describe("life_echo")
    assert info.value.status == 404


def test_blue_green_release(kernel: KernelClient, tmp_path: Path):
    write_app(tmp_path / "blue", b"blue:")
    write_app(tmp_path / "green", b"green:")
    kernel.create(echo_spec("bg_echo", str(tmp_path / "blue")))
    try:
        green = kernel.create(echo_spec("bg_echo", str(tmp_path / "green")), blue_green=True)
        assert green.name.startswith("bg_echo_") and green.status == "Running"
        desc = kernel.release(green.name, 100)
        assert desc["name"] == green.name
        entry = kernel.service("bg_echo")
        assert entry.predict(b"?").to_string() == "green:?"  # all traffic on the new side
        with pytest.raises(ValueError, match="between 0 and 100"):
            kernel.release(green.name, 101)
        kernel.delete(green.name)
        assert entry.predict(b"?").to_string() == "blue:?"  # deleting one side sends all back
    finally:
        kernel.delete("bg_echo")


def test_errors_map_to_exceptions(kernel: KernelClient, tmp_path: Path):
    write_app(tmp_path / "app")
    kernel.create(echo_spec("dup_echo", str(tmp_path / "app")))
    try:
        with pytest.raises(KernelError) as info:
            kernel.create(echo_spec("dup_echo", str(tmp_path / "app")))
        assert info.value.status == 409 and "already exists" in info.value.message
    finally:
        kernel.delete("dup_echo")
    # validated by the kernel (the folder is checked there): a SpecError naming the field
    with pytest.raises(SpecError) as spec_info:
        kernel.create(echo_spec("nofolder", str(tmp_path / "missing")))
    assert spec_info.value.field == "processor_path"
    assert "missing" in spec_info.value.message
    with pytest.raises(KernelError) as info:
        kernel.stop("no_such_service")
    assert info.value.status == 404


def test_failed_service_reports_why(kernel: KernelClient, tmp_path: Path):
    write_app(tmp_path / "broken", text=BROKEN_APP)
    svc = kernel.create(echo_spec("broken_echo", str(tmp_path / "broken")))
    try:
        assert svc.status == "Failed"
        assert "weights.bin truncated" in svc.desc["message"]
    finally:
        kernel.delete("broken_echo")


def test_service_predict_reuses_one_connection_and_leaves_no_socket_open(
    kernel: KernelClient, tmp_path: Path
):
    """``svc.predict(x)`` in a loop: before, each call made a client of its own and dropped
    it, leaving its socket open (a ResourceWarning per call, a new connection each time)."""
    import gc
    import warnings

    write_app(tmp_path / "app", b"p:")
    svc = kernel.create(echo_spec("predict_loop", str(tmp_path / "app")))
    try:
        gc.collect()  # what earlier tests left behind is not this test's
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            answers = [svc.predict(b"%d" % i).to_string() for i in range(20)]
            gc.collect()
            del svc  # its kept client is closed with it
            gc.collect()
        assert answers == [f"p:{i}" for i in range(20)]
        assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    finally:
        kernel.delete("predict_loop")
