"""GPU detection through nvidia-smi, and the "no GPU" answer.

No GPU exists on the test machine, so a small shell script named
``nvidia-smi`` on PATH stands in for the real tool: it prints what the real
one prints for two GPUs. NVML is switched off with EASLAB_DISABLE_NVML=1 so
the fallback path is the one exercised.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from easlab.kernel.gpu import GpuReport, detect_gpus, format_gpu_table

FAKE_SMI = r"""#!/bin/sh
# stand-in for nvidia-smi (no GPU on this machine): two A10s, driver 535.104.05
case "$*" in
  *--query-gpu=index,name,memory.total,memory.free,driver_version,uuid*--format=csv,noheader,nounits*)
    echo "0, NVIDIA A10, 23028, 22500, 535.104.05, GPU-11111111-2222-3333-4444-555555555555"
    echo "1, NVIDIA A10, 23028, [N/A], 535.104.05, GPU-66666666-7777-8888-9999-000000000000"
    ;;
  "")
    echo "+---------------------------------------------------------------------------------------+"
    echo "| NVIDIA-SMI 535.104.05             Driver Version: 535.104.05   CUDA Version: 12.2     |"
    echo "+---------------------------------------------------------------------------------------+"
    ;;
  *) echo "unexpected arguments: $*" >&2; exit 9 ;;
esac
"""

BROKEN_SMI = """#!/bin/sh
echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." >&2
exit 9
"""


def install(bin_dir: Path, script: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    exe = bin_dir / "nvidia-smi"
    exe.write_text(script)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def no_nvml(monkeypatch, tmp_path):
    monkeypatch.setenv("EASLAB_DISABLE_NVML", "1")
    # PATH holds only our folder, so a real nvidia-smi elsewhere cannot answer
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def test_two_gpus_from_nvidia_smi(no_nvml: Path):
    install(no_nvml, FAKE_SMI)
    report = detect_gpus()
    assert report.source == "nvidia-smi"
    assert [g.index for g in report.gpus] == [0, 1]
    first = report.gpus[0]
    assert first.name == "NVIDIA A10"
    assert (first.memory_total_mb, first.memory_free_mb) == (23028, 22500)
    assert first.driver == "535.104.05" and first.cuda_version == "12.2"
    assert first.uuid.startswith("GPU-1111")
    assert report.gpus[1].memory_free_mb == 0  # "[N/A]"
    data = report.to_dict()
    assert data["source"] == "nvidia-smi" and data["gpus"][1]["index"] == 1
    table = format_gpu_table(report)
    assert "NVIDIA A10" in table and "23028 MiB" in table and "12.2" in table
    assert "source: nvidia-smi" in table


def test_no_gpu_when_nothing_answers(no_nvml: Path):
    report = detect_gpus()
    assert report == GpuReport([], "none", report.message)
    assert "nvidia-smi not found" in report.message
    assert "EASLAB_DISABLE_NVML" in report.message
    assert format_gpu_table(report).startswith("no GPU found")
    assert report.to_dict()["gpus"] == []


def test_broken_driver_is_reported(no_nvml: Path):
    install(no_nvml, BROKEN_SMI)
    report = detect_gpus()
    assert report.source == "none"
    assert "couldn't communicate with the NVIDIA driver" in report.message


def test_nvml_without_a_driver_falls_back(monkeypatch, tmp_path: Path):
    # NVML is enabled here; this machine has no libnvidia-ml, so it must fail
    # cleanly and the nvidia-smi stand-in answers
    monkeypatch.delenv("EASLAB_DISABLE_NVML", raising=False)
    if any(
        Path(p, "libnvidia-ml.so.1").exists() for p in ("/usr/lib/x86_64-linux-gnu", "/usr/lib64")
    ):
        pytest.skip("a real NVIDIA driver is installed: NVML would answer")
    bin_dir = tmp_path / "bin"
    install(bin_dir, FAKE_SMI)
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ.get("PATH", ""))
    report = detect_gpus()
    assert report.source == "nvidia-smi" and len(report.gpus) == 2
