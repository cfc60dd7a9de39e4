"""Per-instance resource readings: CPU and memory (/proc, or psutil), GPU (NVML when present).

Read once a second by the kernel's monitor tick (control.py), never per
request, in the event loop: a request in flight waits for the reading. So on
Linux a process's ``/proc/<pid>/stat`` and ``statm`` stay open and each reading
is one ``pread`` of each; psutil (elsewhere) opened and parsed more files and took
3-4 ms a reading on the 2-core VM of benchmarks/FINDINGS.md, against about 1 ms this way
(issue 16: the identity p99 at c=1). A process's CPU percentage is the CPU time
it used since the previous reading over the time between them (100 = one core, as
psutil's ``cpu_percent(None)``), so the sampler keeps one reader per pid. GPU
readings are the mean utilisation of the instance's devices and the
memory its own process holds there (the devices' memory in use when NVML
cannot see the process, as in a container); with no NVML (no driver,
``EASLAB_DISABLE_NVML``) or no GPU for the instance they are None.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

__all__ = ["ResourceSampler"]

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def cpu_percent(before: tuple[float, float], now: tuple[float, float]) -> float:
    """CPU use between two (CPU seconds, wall seconds) readings; 100 = one core."""
    wall = now[1] - before[1]
    return round(max(0.0, now[0] - before[0]) / wall * 100, 1) if wall > 0 else 0.0


class ProcReader:
    """One process's CPU seconds and resident bytes from its /proc files, kept open."""

    def __init__(self, pid: int) -> None:
        self.stat = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
        try:
            self.statm = os.open(f"/proc/{pid}/statm", os.O_RDONLY)
        except OSError:
            os.close(self.stat)
            raise
        self.last: tuple[float, float] | None = None

    def read(self) -> tuple[float, float]:
        """(CPU seconds, user and system, since the process began; resident bytes)."""
        stat = os.pread(self.stat, 1024, 0)
        # the name in parentheses may hold spaces: fields count from the last ')'
        fields = stat[stat.rindex(b")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / _TICKS
        return cpu, float(int(os.pread(self.statm, 256, 0).split()[1]) * _PAGE)

    def close(self) -> None:
        os.close(self.stat)
        os.close(self.statm)


class _PsutilReader:
    """The same readings through psutil, where there is no /proc."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.last: tuple[float, float] | None = None

    def read(self) -> tuple[float, float]:
        times = self.proc.cpu_times()
        return times.user + times.system, float(self.proc.memory_info().rss)

    def close(self) -> None:
        return


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
            reader = self._procs.get(pid)
            if reader is None:
                reader = self._procs[pid] = _reader(pid)
            cpu, rss = reader.read()
            now = (cpu, time.monotonic())
            # the first reading only starts the clock
            out["cpu_percent"] = cpu_percent(reader.last, now) if reader.last else 0.0
            out["rss_bytes"] = rss
            reader.last = now
        except Exception:  # the process is gone (or, without /proc, psutil is missing)
            self._drop(pid)
        if gpus:
            out.update(self._gpu(pid, gpus))
        return out

    def forget(self, live: set[int]) -> None:
        """Drop the processes that are no longer instances."""
        for pid in list(self._procs):
            if pid not in live:
                self._drop(pid)

    def _drop(self, pid: int) -> None:
        reader = self._procs.pop(pid, None)
        if reader is not None:
            reader.close()

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


def _reader(pid: int) -> ProcReader | _PsutilReader:
    return ProcReader(pid) if sys.platform.startswith("linux") else _PsutilReader(pid)
