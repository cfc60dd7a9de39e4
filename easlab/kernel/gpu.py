"""GPU detection: NVML (``nvidia-ml-py``), else ``nvidia-smi``, else none.

``EASLAB_DISABLE_NVML=1`` skips NVML (tests use it with a stand-in
``nvidia-smi`` on PATH; it also helps where NVML is broken but the tool works).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["GpuInfo", "GpuReport", "detect_gpus", "format_gpu_table"]

_SMI_QUERY = "index,name,memory.total,memory.free,driver_version,uuid"


@dataclass
class GpuInfo:
    """One device as the driver reports it."""

    index: int
    name: str
    memory_total_mb: int
    memory_free_mb: int
    driver: str
    cuda_version: str | None
    uuid: str


@dataclass
class GpuReport:
    """The devices found, where the answer came from, and why none when empty."""

    gpus: list[GpuInfo] = field(default_factory=list)
    source: str = "none"  # "nvml" | "nvidia-smi" | "none"
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "gpus": [asdict(gpu) for gpu in self.gpus],
            "source": self.source,
            "message": self.message,
        }


def detect_gpus() -> GpuReport:
    """List the host's NVIDIA GPUs: NVML first, then ``nvidia-smi``, else an empty report."""
    reasons: list[str] = []
    if os.environ.get("EASLAB_DISABLE_NVML", "").strip() not in ("", "0"):
        reasons.append("NVML disabled by EASLAB_DISABLE_NVML")
    else:
        try:
            return GpuReport(_from_nvml(), "nvml")
        except Exception as exc:  # pynvml raises NVMLError subclasses, or ImportError
            reasons.append(f"NVML: {exc or type(exc).__name__}")
    try:
        return GpuReport(_from_nvidia_smi(), "nvidia-smi")
    except _SmiUnavailable as exc:
        reasons.append(str(exc))
    return GpuReport([], "none", "no GPU found (" + "; ".join(reasons) + ")")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _from_nvml() -> list[GpuInfo]:
    import pynvml

    pynvml.nvmlInit()
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        try:
            cuda_int = int(pynvml.nvmlSystemGetCudaDriverVersion())
            cuda: str | None = f"{cuda_int // 1000}.{(cuda_int % 1000) // 10}"
        except pynvml.NVMLError:
            cuda = None
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append(
                GpuInfo(
                    index=index,
                    name=_text(pynvml.nvmlDeviceGetName(handle)),
                    memory_total_mb=int(memory.total) // (1024 * 1024),
                    memory_free_mb=int(memory.free) // (1024 * 1024),
                    driver=driver,
                    cuda_version=cuda,
                    uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
                )
            )
        return gpus
    finally:
        pynvml.nvmlShutdown()


class _SmiUnavailable(Exception):
    pass


def _run_smi(args: list[str], exe: str) -> str:
    try:
        proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _SmiUnavailable(f"nvidia-smi: {exc}") from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise _SmiUnavailable(
            f"nvidia-smi exited {proc.returncode}: {detail[0] if detail else 'no output'}"
        )
    return proc.stdout


def _from_nvidia_smi() -> list[GpuInfo]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        raise _SmiUnavailable("nvidia-smi not found on PATH")
    out = _run_smi([f"--query-gpu={_SMI_QUERY}", "--format=csv,noheader,nounits"], exe)
    cuda: str | None = None
    try:
        # only the plain table's header carries "CUDA Version: 12.2"
        match = re.search(r"CUDA Version:\s*([\d.]+)", _run_smi([], exe))
        cuda = match.group(1) if match else None
    except _SmiUnavailable:
        cuda = None
    gpus = []
    for line in out.splitlines():
        if not line.strip():
            continue
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) != 6:
            raise _SmiUnavailable(f"nvidia-smi printed an unexpected line: {line!r}")
        index, name, total, free, driver, uuid = cells
        gpus.append(
            GpuInfo(
                index=int(index),
                name=name,
                memory_total_mb=_int_or_zero(total),
                memory_free_mb=_int_or_zero(free),
                driver=driver,
                cuda_version=cuda,
                uuid=uuid,
            )
        )
    return gpus


def _int_or_zero(text: str) -> int:
    # nvidia-smi prints "[N/A]" for fields some devices (MIG, vGPU) do not report
    try:
        return int(float(text))
    except ValueError:
        return 0


def format_gpu_table(report: GpuReport) -> str:
    """A text table of the devices, or a one-line "no GPU" explanation."""
    from easlab._table import format_table

    if not report.gpus:
        return report.message or "no GPU found"
    rows = [
        [
            str(gpu.index),
            gpu.name,
            f"{gpu.memory_total_mb} MiB",
            f"{gpu.memory_free_mb} MiB",
            gpu.driver,
            gpu.cuda_version or "-",
            gpu.uuid,
        ]
        for gpu in report.gpus
    ]
    table = format_table(["INDEX", "NAME", "MEMORY", "FREE", "DRIVER", "CUDA", "UUID"], rows)
    return f"{table}\nsource: {report.source}"
