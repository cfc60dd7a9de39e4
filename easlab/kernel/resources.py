"""Per-instance resource readings: CPU and memory (psutil), GPU (NVML when present).

Read once a second by the kernel's monitor tick (control.py), never per
request. A process's CPU percentage is the time it used since the previous
reading (psutil's ``cpu_percent(None)``), so the sampler keeps one
``psutil.Process`` per pid. GPU readings are the mean utilisation of the instance's devices and the
memory its own process holds there (the devices' memory in use when NVML
cannot see the process, as in a container); with no NVML (no driver,
``EASLAB_DISABLE_NVML``) or no GPU for the instance they are None.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["ResourceSampler"]


class ResourceSampler:
    """Reads CPU, memory and GPU use of instance processes."""

    def __init__(self) -> None:
        self._procs: dict[int, Any] = {}
        self._nvml: Any = None  # the pynvml module once initialised, False when unusable

    def sample(self, pid: int | None, gpus: list[int]) -> dict[str, float | None]:
        out: dict[str, float | None] = {
            "cpu_percent": None,
            "rss_bytes": None,
            "gpu_util": None,
            "gpu_memory_bytes": None,
        }
        if pid is None:
            return out
        try:
            import psutil

            proc = self._procs.get(pid)
            if proc is None:
                proc = self._procs[pid] = psutil.Process(pid)
                proc.cpu_percent(None)  # the first reading only starts the clock
                out["cpu_percent"] = 0.0
            else:
                out["cpu_percent"] = round(proc.cpu_percent(None), 1)
            out["rss_bytes"] = float(proc.memory_info().rss)
        except Exception:  # the process is gone, or psutil is missing
            self._procs.pop(pid, None)
        if gpus:
            out.update(self._gpu(pid, gpus))
        return out

    def forget(self, live: set[int]) -> None:
        """Drop the processes that are no longer instances."""
        for pid in list(self._procs):
            if pid not in live:
                del self._procs[pid]

    def _gpu(self, pid: int, gpus: list[int]) -> dict[str, float | None]:
        nvml = self._nvml_module()
        if not nvml:
            return {}
        utils: list[float] = []
        used: float | None = None
        for index in gpus:
            try:
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
            except Exception:  # the device went away, or NVML did
                continue
            try:
                utils.append(float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu))
            except Exception:  # NVMLError_NotSupported on some boards
                pass
            held = self._held(nvml, handle, pid)
            if held is not None:
                used = (used or 0.0) + held
        return {
            "gpu_util": round(sum(utils) / len(utils), 1) if utils else None,
            "gpu_memory_bytes": used,
        }

    @staticmethod
    def _held(nvml: Any, handle: Any, pid: int) -> float | None:
        """The GPU memory ``pid`` holds on one device, or the device's memory in use.

        In a container NVML lists processes by the host's pids, so the instance's
        own process is often not found; the kernel gives each instance devices of
        its own (control.py), so what the device has in use is then the instance's.
        """
        try:
            for proc in nvml.nvmlDeviceGetComputeRunningProcesses(handle):
                if proc.pid == pid and proc.usedGpuMemory is not None:
                    return float(proc.usedGpuMemory)
        except Exception:  # not supported here: fall back to the device's memory
            pass
        try:
            return float(nvml.nvmlDeviceGetMemoryInfo(handle).used)
        except Exception:
            return None

    def _nvml_module(self) -> Any:
        if self._nvml is None:
            self._nvml = False
            if os.environ.get("EASLAB_DISABLE_NVML", "").strip() in ("", "0"):
                try:
                    import pynvml

                    pynvml.nvmlInit()
                    self._nvml = pynvml
                except Exception:
                    pass
        return self._nvml
