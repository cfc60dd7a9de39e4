"""A stand-in for nvidia-ml-py's ``pynvml``: there is no GPU (and no NVIDIA driver) here.

The tests put this folder first on the kernel's ``PYTHONPATH`` so that
``import pynvml`` finds it, and the kernel's GPU detection (gpu.py) and its
per-instance resource sampler (resources.py) take the NVML path they would
take on a GPU host. It implements only the calls easlab makes, answering as
nvidia-ml-py does (objects with ``.gpu``, ``.used``/``.total``/``.free``,
``.pid``/``.usedGpuMemory``):

- ``EASLAB_STANDIN_GPUS`` devices (default 2), utilisation ``30 + 20 * index`` %;
- a device's compute processes are the live processes whose environment has
  ``CUDA_VISIBLE_DEVICES`` naming it — how the kernel pins an instance to its
  GPU — each holding ``(index + 1) * 256 MiB``;
- ``EASLAB_STANDIN_NO_PROCESSES=1`` lists no process at all, as NVML does in a
  container whose pids it cannot see (the device's memory in use stays).
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

MIB = 1024 * 1024
TOTAL = 24 * 1024 * MIB


class NVMLError(Exception):
    pass


def nvmlInit() -> None:
    pass


def nvmlShutdown() -> None:
    pass


def nvmlSystemGetDriverVersion() -> str:
    return "535.104.05 (stand-in)"


def nvmlSystemGetCudaDriverVersion() -> int:
    return 12020


def nvmlDeviceGetCount() -> int:
    return int(os.environ.get("EASLAB_STANDIN_GPUS", "2"))


def nvmlDeviceGetHandleByIndex(index: int) -> int:
    if not 0 <= index < nvmlDeviceGetCount():
        raise NVMLError(f"Invalid Argument: no device {index}")
    return index


def nvmlDeviceGetName(handle: int) -> str:
    return "NVIDIA A10 (stand-in)"


def nvmlDeviceGetUUID(handle: int) -> str:
    return f"GPU-00000000-0000-0000-0000-00000000000{handle}"


def nvmlDeviceGetUtilizationRates(handle: int) -> Any:
    return SimpleNamespace(gpu=30 + 20 * handle, memory=10)


def _pids_on(handle: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        for item in env:
            if item.startswith(b"CUDA_VISIBLE_DEVICES="):
                devices = item.split(b"=", 1)[1].decode().split(",")
                if str(handle) in devices:
                    pids.append(int(entry))
    return pids


def nvmlDeviceGetComputeRunningProcesses(handle: int) -> list[Any]:
    if os.environ.get("EASLAB_STANDIN_NO_PROCESSES") == "1":
        return []
    return [
        SimpleNamespace(pid=p, usedGpuMemory=(handle + 1) * 256 * MIB) for p in _pids_on(handle)
    ]


def nvmlDeviceGetMemoryInfo(handle: int) -> Any:
    used = (handle + 1) * 256 * MIB  # what its one instance holds
    return SimpleNamespace(total=TOTAL, used=used, free=TOTAL - used)
