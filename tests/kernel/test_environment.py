"""A kernel knows its environment: its Python, its easlab, the runtimes it can load.

The "other virtualenv" is a real one (``python -m venv``) whose site-packages
links every package of the project's venv except onnxruntime: a separate
Python that lacks one runtime, made in a second instead of a minute of pip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import warnings
from pathlib import Path

import pytest

from easlab import runtime
from easlab.client.connect import KernelEnvironmentWarning, connect
from easlab.client.control import KernelClient
from easlab.errors import SpecError

TOKEN = "other-env-admin-token-0123456789"


def test_the_kernel_reports_its_python_version_and_runtimes(kernel):
    import easlab

    info = kernel.client.info()
    assert info["python"] == sys.executable and info["version"] == easlab.__version__
    assert info["runtimes"]["onnxruntime"] is True


def _venv_without_onnxruntime(root: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    ours = Path(sysconfig.get_paths()["purelib"])
    theirs = next((root / "lib").glob("python3*/site-packages"))
    for entry in ours.iterdir():
        if entry.name.lower().startswith("onnxruntime") or (theirs / entry.name).exists():
            continue
        (theirs / entry.name).symlink_to(entry)
    return root / "bin" / "python"


@pytest.fixture
def other_kernel(tmp_path: Path, monkeypatch):
    python = _venv_without_onnxruntime(tmp_path / "venv")
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EASLAB_ENDPOINT")}
    env.update(EASLAB_HOME=str(home), EASLAB_ADMIN_TOKEN=TOKEN, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [str(python), "-m", "easlab.kernel", "--port", "0", "--state-dir", str(tmp_path / "s")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line, line + proc.stdout.read()
        endpoint = line.split("listening on ", 1)[1].strip()
        monkeypatch.setenv("EASLAB_HOME", str(home))
        monkeypatch.delenv("EASLAB_ENDPOINT", raising=False)
        yield python, endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_create_whose_runtime_is_missing_names_the_package_and_the_python(other_kernel, tmp_path):
    python, endpoint = other_kernel
    client = KernelClient(endpoint, admin_token=TOKEN)
    assert client.info()["runtimes"]["onnxruntime"] is False
    (tmp_path / "m.onnx").write_bytes(b"not read: the runtime check comes first")
    spec = {
        "name": "needs_ort",
        "processor": "onnx",
        "model_path": str(tmp_path / "m.onnx"),
        "metadata": {"instance": 1},
    }
    with pytest.raises(SpecError) as info:
        client.create(spec)
    message = str(info.value)
    assert info.value.field == "processor"
    assert "onnxruntime" in message and str(python) in message
    assert f"{python} -m pip install 'onnxruntime'" in message
    assert client.list() == []  # nothing half-created


def test_connect_warns_about_a_kernel_from_another_environment(other_kernel):
    python, endpoint = other_kernel
    assert runtime.read_runtime() is not None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = connect()
    assert client.endpoint == endpoint
    found = [w for w in caught if issubclass(w.category, KernelEnvironmentWarning)]
    assert len(found) == 1
    text = str(found[0].message)
    assert str(python) in text and sys.executable in text and "onnxruntime" in text
