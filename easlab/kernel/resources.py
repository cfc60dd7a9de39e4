"""Per-instance resource readings: CPU and memory (psutil), GPU (NVML when present).

Read once a second by the kernel's monitor tick (control.py), never per
request. A process's CPU percentage is the time it used since the previous
reading (psutil's ``cpu_percent(None)``), so the sampler keeps one
``psutil.Process`` per pid. GPU readings are per device (utilisation, memory
in use) plus the memory the instance's own process holds there, when NVML
can say; with no NVML (no driver, ``EASLAB_DISABLE_NVML``) they are None.
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
        util = used = 0.0
        try:
            for index in gpus:
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                util += nvml.nvmlDeviceGetUtilizationRates(handle).gpu
                for proc in nvml.nvmlDeviceGetComputeRunningProcesses(handle):
                    if proc.pid == pid and proc.usedGpuMemory is not None:
                        used += proc.usedGpuMemory
        except Exception:
            return {}
        return {"gpu_util": util / len(gpus), "gpu_memory_bytes": used}

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
