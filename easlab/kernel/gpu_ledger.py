"""Which GPUs of this host each service's instances hold, and which are free.

The kernel's control plane (control.py) asks the ledger before it creates, changes or
starts a service (``check``), sets devices aside while a version builds (``reserve``,
``promise``), and after a restart gives each recorded service the devices it ran on
(``fit``); a service's instances take theirs as they start (``allocate``) and give
them back as they stop (``release``). An instance given no device sees every GPU,
those of other services too: so a service short of devices does not start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from easlab.errors import SpecError

if TYPE_CHECKING:
    from easlab.kernel.gpu import GpuReport
    from easlab.kernel.service import Service

__all__ = ["GpuLedger", "devices_text", "held_by"]


class GpuLedger:
    """The devices held and set aside in one kernel process."""

    def __init__(self, report: GpuReport | None = None) -> None:
        self._report = report  # detected on first use (NVML or nvidia-smi)
        self._used: set[int] = set()
        #: devices set aside for a service about to start (a restart's ``fit``, a
        #: modify's new version): counted as used, and its instances take them first
        self._promised: dict[Service, list[int]] = {}

    def report(self) -> GpuReport:
        if self._report is None:
            from easlab.kernel.gpu import detect_gpus

            self._report = detect_gpus()
        return self._report

    def need(self, spec: Any, cpu_fallback: bool) -> int:
        """Devices one instance of ``spec`` takes (none when it runs on CPU)."""
        from easlab.spec import wants_gpu

        return 0 if cpu_fallback else wants_gpu(spec)

    def free(self) -> list[int]:
        return [g.index for g in self.report().gpus if g.index not in self._used]

    def check(
        self,
        spec: Any,
        instances: int,
        allow_cpu_fallback: bool,
        held: Sequence[int] = (),
    ) -> bool:
        """Whether the service must run on CPU; SpecError when GPUs are short and no fallback.

        ``held``: the devices of the service's own instances, which a change of it
        (modify) can take: its new instances start beside the old ones, or in their
        place when they do not fit beside them (``Service.roll_to``)."""
        from easlab.spec import wants_gpu

        need = wants_gpu(spec)
        if need == 0:
            return False
        free = len(self.free())
        if need * instances <= free + len(held):
            return False
        if allow_cpu_fallback:
            return True
        report = self.report()
        why = f" ({report.message})" if getattr(report, "message", "") else ""
        short = (
            f"needs {need} GPU(s) per instance x {instances} instance(s), but this host has "
            f"{len(report.gpus)} GPU(s), {free} free{why}"
        )
        if held:
            # was: "4 GPU(s), 0 free" alone, for a service holding all 4, as if its own
            # devices had not been counted
            short = (
                f"needs {need} GPU(s) per instance x {instances} instance(s) = "
                f"{need * instances}, but this host has {len(report.gpus)} GPU(s): {free} "
                f"free besides its own {devices_text(sorted(held), count=True)}, which count for "
                "this change (a restart stops its old instances first when the new ones do "
                f"not fit beside them), so at most {free + len(held)} GPU(s) are there for "
                f"it{why}"
            )
        fallback = "create with --allow-cpu-fallback (allow_cpu_fallback: true) to run on CPU"
        code = str(spec.processor or "")
        if need > int(spec.metadata.gpu or 0):
            # the need comes from the processor code (pytorch_gpu_1.6), not metadata.gpu
            lowered = code.lower()
            cpu = (
                lowered.replace("_gpu", "_cpu", 1)
                if "_gpu" in lowered
                else "blade_cpu"
                if lowered.startswith("blade_cuda")
                else None
            )
            instead = f"use its CPU code '{cpu}'" if cpu else "run it on a host with a GPU"
            raise SpecError(
                "processor",
                f"service '{spec.name}': processor '{code}' runs on a GPU (metadata.gpu "
                f"{spec.metadata.gpu or 0} does not change that): it {short}. "
                f"Either {instead}, or {fallback}",
            )
        raise SpecError(
            "metadata.gpu",
            f"service '{spec.name}' {short}. Lower metadata.gpu/metadata.instance, free GPUs, "
            f"or {fallback}",
        )

    def allocate(self, service: Service, count: int) -> list[int]:
        """``count`` devices for a new instance of ``service``: those set aside for it
        first (a restart gives it the devices it had), then free ones."""
        if count <= 0:
            return []
        promised = self._promised.get(service, [])
        chosen = promised[:count]
        del promised[:count]
        if not promised:
            self._promised.pop(service, None)
        chosen += self.free()[: count - len(chosen)]
        self._used.update(chosen)
        return chosen

    def reserve(self, spec: Any, instances: int, cpu_fallback: bool) -> list[int]:
        """Take the free devices ``instances`` instances of ``spec`` need (those
        ``check`` just counted), counted as used from now: a create hands them to its
        service's start (``promise``), or gives them back (``release``)."""
        need = self.need(spec, cpu_fallback) * instances
        chosen = self.free()[:need] if need > 0 else []
        self._used.update(chosen)
        return chosen

    def promise(self, service: Service, devices: list[int]) -> None:
        """Set ``devices`` (already counted as used) aside for ``service``'s instances."""
        self._promised.setdefault(service, []).extend(devices)

    def promised(self, service: Service) -> list[int]:
        return list(self._promised.get(service, []))

    def free_for(self, service: Service) -> int:
        """How many devices a new instance of ``service`` could take now: the free ones
        and those set aside for it."""
        return len(self.free()) + len(self._promised.get(service, []))

    def release(self, gpus: list[int]) -> None:
        self._used.difference_update(gpus)

    def release_promise(self, service: Service) -> None:
        """Give back what was set aside for ``service`` and its start did not take."""
        self.release(self._promised.pop(service, []))

    def fit(self, services: list[Service], records: list[dict[str, Any]]) -> list[Service]:
        """The services, in order, that get the GPUs they need, set aside for their start
        (``promise``). Each gets the devices its record says it ran on; one whose
        devices this machine no longer has, or an earlier one got, stays Stopped and
        says why, as one that needs more devices than are free (a record without
        devices takes free ones). Its record still says running and names its devices.
        Before, each took what was free as it started: a service short of devices ran
        with none, and so saw every GPU, those of other services too."""
        recorded: dict[str, list[int]] = {}
        for record in records:
            name = str((record.get("spec") or {}).get("name"))
            recorded[name] = [int(g) for g in record.get("gpus") or []]
        present = [g.index for g in self.report().gpus]
        holders: dict[int, str] = {}  # device -> the service it is set aside for
        refused: dict[Service, str] = {}
        needs = {
            svc: self.need(svc.spec, svc.cpu_fallback) * svc.spec.metadata.instance
            for svc in services
        }
        # first the devices the records name, so that a service with none recorded
        # does not take another's
        for service in services:
            need, had = needs[service], recorded.get(service.name, [])[: needs[service]]
            if not need or not had:
                continue
            gone = [g for g in had if g not in present]
            taken = [g for g in had if g in holders or g in self._used]
            if gone:
                refused[service] = (
                    f"it ran on {devices_text(gone)}, which this machine no longer has (it has "
                    f"{devices_text(present, count=True)})"
                )
            elif taken:
                other = holders.get(taken[0])
                by = f"'{other}', restored before it, has" if other else "another service has"
                refused[service] = f"it ran on {devices_text(taken)}, which {by} now"
            else:
                holders.update((g, service.name) for g in had)
                self._promised[service] = list(had)
        for service in services:
            need = needs[service]
            if not need or service in refused:
                continue
            have = self._promised.get(service, [])
            free = [g for g in present if g not in holders and g not in self._used]
            if len(have) + len(free) < need:
                per = self.need(service.spec, service.cpu_fallback)
                refused[service] = (
                    f"it needs {per} GPU(s) per instance x {service.spec.metadata.instance} "
                    f"instance(s), but this machine has {len(present)} GPU(s), "
                    f"{len(have) + len(free)} free"
                )
                self._unpromise(service, holders)
                continue
            extra = free[: need - len(have)]
            holders.update((g, service.name) for g in extra)
            self._promised[service] = [*have, *extra]
        for devices in self._promised.values():
            self._used.update(devices)
        for service, why in refused.items():
            service.message = (
                f"not started after the kernel restarted: {why}. `start {service.name}` "
                "runs it on free GPUs once enough are free (stop or delete a service that "
                "holds some), or create it with allow_cpu_fallback to run on CPU"
            )
            service.log("kernel", service.message)
        return [svc for svc in services if svc not in refused]

    def _unpromise(self, service: Service, holders: dict[int, str]) -> None:
        for device in self._promised.pop(service, []):
            holders.pop(device, None)


def held_by(service: Service) -> list[int]:
    """The devices the instances of ``service`` hold."""
    return sorted(g for inst in service.instances for g in inst.gpus)


def devices_text(indexes: list[int], count: bool = False) -> str:
    """``GPU 1``, ``GPUs 0, 1``; with ``count``: ``1 GPU (0)``, ``2 GPUs (0, 1)``, ``no GPU``."""
    listed = ", ".join(str(g) for g in indexes)
    if count:
        if not indexes:
            return "no GPU"
        return f"{len(indexes)} GPU{'s' if len(indexes) > 1 else ''} ({listed})"
    return f"GPU{'s' if len(indexes) > 1 else ''} {listed}"
