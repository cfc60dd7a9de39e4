"""eascmd's verbs as Python functions: ``easlab.create(spec)``, ``easlab.modify(name, ...)``.

These are the functions the ``easlab`` command and the ``%eas`` magics call
(easlab/verbs.py declares each verb once and builds both parsers from it);
each talks to a kernel's control API through a ``KernelClient``.

>>> svc = easlab.create("service.json")                      # doctest: +SKIP
>>> easlab.modify("mnist", ["metadata.instance=2"])          # doctest: +SKIP
>>> print(easlab.create("v2.json", dry_run=True))            # doctest: +SKIP
mnist: valid; would update (1 change)
~ model_path: "./v1.onnx" -> "./v2.onnx"

``kernel`` (a ``KernelClient``) defaults to ``easlab.connect()``; ``progress``
is called with each description polled while a service settles.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from easlab.client.control import Progress, wait_settled
from easlab.errors import KernelError
from easlab.spec import SpecDiff, SpecError, flat_lines

if TYPE_CHECKING:  # pragma: no cover
    from easlab.client.control import KernelClient, Service
    from easlab.client.queue_view import QueueView

__all__ = [
    "LocalPlan",
    "SpecDiff",
    "create",
    "delete",
    "desc",
    "gpu",
    "kernel",
    "logs",
    "ls",
    "modify",
    "parse_overrides",
    "queue",
    "release",
    "start",
    "stop",
    "upload",
    "version",
    "w",
    "wait_settled",
]

DEFAULT_TIMEOUT_S = 600.0


def _kernel(kernel: KernelClient | None, start: bool = False) -> KernelClient:
    if kernel is not None:
        return kernel
    from easlab.client.connect import connect

    return connect(start=start)


def parse_overrides(items: Mapping[str, Any] | Iterable[str] | None) -> dict[str, str]:
    """eascmd's ``-Dkey=value`` list (or a dict) → ``{"metadata.instance": "2"}``."""
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in items.items()}
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ValueError(f"-D{item}: write -Dkey=value, e.g. -Dmetadata.instance=2")
        out[key.strip()] = value
    return out


# ----------------------------------------------------------------------------- dry run


@dataclass(repr=False)
class LocalPlan(SpecDiff):
    """A dry run against the local kernel: the ``SpecDiff``, and what the kernel would say.

    ``refused``: why ``create`` would be refused (the service exists, the host lacks
    the GPUs); the CLI then exits 1. ``unchecked``: why no kernel was asked (the
    description was only validated), empty when one answered. ``exists``: the create's
    refusal is only that the service exists; the plan is then the diff against it (what
    ``modify -s`` would change), which the notebook shows without failing the cell.
    """

    refused: str = ""
    unchecked: str = ""
    exists: bool = False

    @property
    def headline(self) -> str:
        return f"{self.name}: valid, but {self.refused}" if self.refused else super().headline

    def lines(self) -> list[str]:
        note = [f"note: {self.unchecked}"] if self.unchecked else []
        return [*note, *super().lines()]


def _gpu_refusal(
    client: KernelClient, spec: Any, allow_cpu_fallback: bool, verb: str = "create"
) -> tuple[str, str]:
    """(refusal, warning) of the kernel's GPU check (gpu_ledger.py GpuLedger.check) for a new
    service, or a service's new spec (``verb`` "modify"): only what is certain from the
    host's GPU count (the kernel also counts the GPUs other services hold)."""
    from easlab.spec import wants_gpu

    need = wants_gpu(spec)
    if need == 0:
        return "", ""
    report = client.gpu()
    have = len(report.get("gpus") or [])
    instances = int(spec.metadata.instance or 0)
    if need * instances <= have:
        return "", ""
    why = f" ({report['message']})" if report.get("message") else ""
    short = (
        f"{need} GPU(s) per instance x {instances} instance(s) asked for, this host has {have}{why}"
    )
    if allow_cpu_fallback:
        return "", f"{short}: it would run on CPU (--allow-cpu-fallback)"
    fallback = "or create with --allow-cpu-fallback to run on CPU"
    if need > int(spec.metadata.gpu or 0):
        from easlab.cloud.portability import cpu_code_for

        cpu = cpu_code_for(str(spec.processor))
        instead = f"use its CPU code '{cpu}'" if cpu else "run it on a host with a GPU"
        return (
            f"{verb} would be refused: processor '{spec.processor}' runs on a GPU: {short}. "
            f"Either {instead}, {fallback}",
            "",
        )
    return (
        f"{verb} would be refused: metadata.gpu: {short}. Lower metadata.gpu/metadata.instance, "
        f"{fallback}",
        "",
    )


def _capacity_refusal(client: KernelClient, spec: Any, verb: str) -> str:
    """Why the kernel's instance limits (control.py ``check_instances``, the limits its
    ``info`` gives) would refuse ``spec``: "" when they would not, or the kernel does not
    say them. A dry run said "valid" to ``-Dmetadata.instance=1e9`` and the modify was
    refused."""
    info = client.info()
    most, most_threads = info.get("max_instances"), info.get("max_worker_threads")
    if most is None or most_threads is None:
        return ""
    threads = int(spec.metadata.worker_threads)
    if threads > most_threads:
        return (
            f"{verb} would be refused: metadata.rpc.worker_threads: service '{spec.name}' "
            f"asks for {threads} worker threads in each instance; an instance here runs at "
            f"most {most_threads} (EAS's default is 5). For more concurrency, add instances "
            "(metadata.instance)"
        )
    others = sum(
        int(d.get("total_instance") or 0)
        for d in client.list()
        # a modify's own instances are replaced; a create (-r) adds to what runs
        if (verb == "create" or d.get("name") != spec.name)
        and d.get("status") in ("Creating", "Running", "Updating")
    )
    asked = int(spec.metadata.instance or 0)
    if others + asked <= most:
        return ""
    held = f", {others} of them held by other services" if others else ""
    return (
        f"{verb} would be refused: metadata.instance: service '{spec.name}' asks for {asked} "
        f"instance(s), each a process on this machine; this kernel runs at most {most}{held}. "
        "Lower metadata.instance, stop or scale down another service, or start the kernel "
        "with EASLAB_MAX_INSTANCES set higher"
    )


def _runtime_warnings(client: KernelClient | None, spec: Any) -> list[str]:
    """What the local kernel's create would warn of in its answer that the spec alone
    does not say: a ``pytorch_cpu_1.0`` its torch 2.x serves (the kernel's versions, from
    its ``info``; this Python's when no kernel runs, the one a kernel started from here
    would have)."""
    from easlab.kernel.processors import runtime_versions, version_warning

    if client is not None and getattr(client, "target", "local") != "local":
        return []
    versions = client.info().get("runtime_versions") if client is not None else None
    if client is None:
        versions = runtime_versions()
    if not isinstance(versions, dict):
        return []  # a kernel that does not say its versions
    warning = version_warning(spec.processor, versions)
    return [warning] if warning else []


def _app_warnings(spec: Any) -> list[str]:
    """What the local kernel's create warns of in a python app's own start (``worker_processes``
    it does not run), read from a local folder or file as the kernel does; an archive
    or a URL is read by the create only."""
    from easlab.kernel.fetch import check_location, is_archive
    from easlab.kernel.processors import PYTHON, processor_target
    from easlab.kernel.processors.python import worker_processes_warning

    if not spec.processor_path:
        return []
    try:
        if processor_target(spec.processor, spec.processor_type, spec.processor_entry) != PYTHON:
            return []
        path = check_location(spec.processor_path, spec.base_dir, field="processor_path")
    except SpecError:
        return []  # the dry run's refusal names it
    if path is None or (path.is_file() and is_archive(path.name)):
        return []
    entry = spec.processor_entry or path.name
    folder = path if path.is_dir() else path.parent
    warning = worker_processes_warning(folder / entry, Path(entry).as_posix())
    return [warning] if warning else []


def _path_refusal(spec: Any, verb: str = "create") -> str:
    """Why the local kernel would refuse ``model_path``/``processor_path`` (an OSS path,
    a local path that is not there), found without fetching: "" when it would not. A
    dry run said "valid; would create" (or "would update") and the ``verb`` itself was
    refused."""
    from easlab.kernel.fetch import check_location

    for field in ("model_path", "processor_path"):
        value = getattr(spec, field, None)
        if not isinstance(value, str) or not value.strip():
            continue
        try:
            check_location(value, spec.base_dir, field=field)
        except SpecError as exc:
            return f"{verb} would be refused: {exc}"
    return ""


def _diff_against_deployed(
    kernel: KernelClient | None,
    spec: Any,
    *,
    creating: bool = False,
    blue_green: bool = False,
    allow_cpu_fallback: bool = False,
) -> LocalPlan:
    """The dry run of a create (``creating``) or modify: the diff against the deployed
    service and, for a create, the kernel's refusals (it exists: 409; GPUs short).
    With no kernel running, the description is only validated, and the plan says so."""
    from easlab.client.control import _absolutize
    from easlab.spec import diff_specs, local_refusal

    # as KernelClient.create sends it: relative local paths resolved (the kernel stores them so)
    new = _absolutize(spec.to_dict(), spec.base_dir)
    unchecked = ""
    client: KernelClient | None = None
    try:
        client = _kernel(kernel)
        old = client.describe(spec.name).get("spec") or {}
    except KernelError as exc:
        if exc.status == 404:
            old = {}
        elif exc.status == 0:  # no kernel runs (KernelNotRunning) or none answers
            from easlab.errors import KernelNotRunning

            where = (
                "no easlab kernel runs"
                if isinstance(exc, KernelNotRunning) or client is None
                else f"no kernel answers at {client.endpoint}"
            )
            old, client = {}, None
            unchecked = (
                f"{where}: validated only, not checked against a kernel (whether "
                f"'{spec.name}' exists, whether this host has the GPUs it asks for)"
            )
        else:
            raise
    refused = warning = ""
    exists = False
    if creating and blue_green and not old and client is not None:
        from easlab.spec import blue_green_without_base

        names = [str(d.get("name")) for d in client.list()]
        refused = blue_green_without_base(spec.name, names)
    elif creating and old and not blue_green:
        refused = (
            f"'{spec.name}' exists: create would be refused (409); use "
            f"`modify {spec.name} -s FILE` (the changes below) or create -r for a sibling"
        )
        exists = True
    elif creating and client is not None:
        refused, warning = _gpu_refusal(client, spec, allow_cpu_fallback)
    if client is not None and not refused and getattr(client, "target", "local") == "local":
        refused = _capacity_refusal(client, spec, "create" if creating else "modify")
    if creating and not refused:
        refused = _path_refusal(spec)
    if not refused and local_refusal(spec) is not None:
        refused = str(local_refusal(spec))
    warnings = [*spec.warnings, *([warning] if warning else [])]
    warnings += _runtime_warnings(client, spec) + _app_warnings(spec)
    if old:
        return LocalPlan(
            spec.name,
            "would update",
            diff_specs(old, new),
            warnings,
            True,
            refused=refused,
            exists=exists,
        )
    return LocalPlan(
        spec.name,
        "would create",
        [f"+ {line}" for line in flat_lines(new)],
        warnings,
        refused=refused,
        unchecked=unchecked,
    )


def _plan_modify(
    client: KernelClient,
    name: str,
    fields: dict[str, str],
    spec: dict[str, Any] | str | Path | None,
    allow_unknown_keys: bool,
) -> LocalPlan:
    """The dry run of a modify: the diff against the deployed service and, for the
    local kernel, its refusal of a new version's ``model_path``/``processor_path``."""
    from easlab.client.control import _absolute_overrides, _absolutize
    from easlab.spec import (
        apply_overrides,
        check_typos,
        load_spec_source,
        makes_new_version,
        merge_specs,
        overridden_fields,
        parse_spec,
        rename_refusal,
    )

    described = client.describe(name)
    current = described.get("spec") or {}
    base_dir: Path | None = None  # relative -D paths: from the current folder
    if fields:
        new = apply_overrides(current, fields)
        typed = apply_overrides({}, fields)
        # as KernelClient.modify sends them, which the kernel compares with the deployed
        sent = apply_overrides(current, _absolute_overrides(fields))
        changes = overridden_fields(sent, fields)
    else:
        assert spec is not None
        typed, base_dir = load_spec_source(spec)  # relative paths: from the file's folder
        new = merge_specs(current, typed)
        changes = _absolutize(typed, base_dir)
    renamed = rename_refusal(typed, name)
    if renamed is not None:
        # as the modify itself is refused (was: "valid", the name quietly dropped)
        raise renamed
    if not allow_unknown_keys:
        check_typos(typed)
    parsed = parse_spec({**new, "name": name}, allow_unknown_keys=True)
    parsed.base_dir = base_dir  # as create's: the diff and the path check resolve from it
    plan = _diff_against_deployed(client, parsed)
    # the local kernel reads the paths when the modify makes a new version (its
    # _plan_modify decides by the same rule); PAI-EAS reads OSS and uploads local ones
    new_version = makes_new_version(str(described.get("status") or ""), current, changes)
    if new_version and getattr(client, "target", "local") == "local" and not plan.refused:
        plan.refused = _path_refusal(parsed, "modify")
    local = getattr(client, "target", "local") == "local"  # PAI-EAS: no host's GPUs to count
    if local and described.get("status") != "Stopped" and not plan.refused:
        # as the modify is refused (was: "would update" for more GPUs than the host has);
        # a stopped service's devices are checked at its start
        fallback = bool(described.get("cpu_fallback"))
        plan.refused = _gpu_refusal(client, parsed, fallback, "modify")[0]
    return plan


# ----------------------------------------------------------------------------- the verbs


def create(
    spec: dict[str, Any] | str | Path,
    *,
    blue_green: bool = False,
    allow_cpu_fallback: bool = False,
    allow_unknown_keys: bool = False,
    dry_run: bool = False,
    wait: bool = True,
    timeout: float = DEFAULT_TIMEOUT_S,
    progress: Progress | None = None,
    kernel: KernelClient | None = None,
    exist_ok: bool = False,
) -> Service | SpecDiff:
    """Create a service from a service.json / YAML file, text or dict (eascmd ``create``).

    ``blue_green`` is ``create -r``; ``dry_run`` validates and returns the
    ``SpecDiff`` against the deployed service instead; with ``wait`` it returns
    once the service runs or has failed (``status``, ``message`` say why). With
    no ``kernel``, a background kernel starts if none runs.

    ``exist_ok`` (what ``%%eas create`` passes, so that a notebook runs again from
    the top): a service of that name deployed from this same description on the
    local kernel is the one returned (``Service.existed``), with a new version when
    its local model or processor files changed since it loaded them
    (``Service.reloaded``); one that differs is still refused (409), naming the
    differences and how to apply them.
    """
    from easlab.spec import parse_spec

    # SpecError names the field (and a typo's intended key) before anything is sent
    parsed = parse_spec(spec, allow_unknown_keys=allow_unknown_keys)
    if getattr(kernel, "target", "local") != "local" and parsed.base_dir is not None:
        # PAI-EAS: local paths relative to the service.json's folder, not the current one
        # (the portability check looks inside a local package; the upload packs it)
        from easlab.client.control import _absolutize

        # as written (PaiClient sends the file so): not the local kernel's to_dict form
        spec = {**_absolutize(parsed.raw, parsed.base_dir)}
    if dry_run:
        plan = getattr(kernel, "plan_create", None)  # PAI-EAS: the service.json it would send
        if plan is not None:
            return plan(  # type: ignore[no-any-return]
                spec,
                blue_green=blue_green,
                allow_cpu_fallback=allow_cpu_fallback,
                allow_unknown_keys=allow_unknown_keys,
            )
        return _diff_against_deployed(
            kernel,
            parsed,
            creating=True,
            blue_green=blue_green,
            allow_cpu_fallback=allow_cpu_fallback,
        )
    client = _kernel(kernel, start=True)
    try:
        service = client.create(
            spec,
            blue_green=blue_green,
            allow_cpu_fallback=allow_cpu_fallback,
            wait=False,
            allow_unknown_keys=allow_unknown_keys,
        )
    except KernelError as exc:
        local = getattr(client, "target", "local") == "local"
        if exc.status != 409 or not exist_ok or blue_green or not local:
            raise
        service = _the_same_service(client, parsed, exc)
    if wait and not service.desc.get("failed"):  # a reload that did not take: said as is
        service.desc = wait_settled(client, service.desc, timeout, progress)
    return service


#: how long a create(exist_ok=True) waits for a restarted kernel to rebuild the service
RESTORED_WITHIN_S = 10.0


def _the_same_service(client: KernelClient, spec: Any, refused: KernelError) -> Service:
    """The deployed service a create was refused for (409), when it was deployed from
    this same description; else the refusal, with what differs and how to apply it."""
    from easlab.client.control import Service, _absolutize
    from easlab.spec import diff_specs

    deadline = time.monotonic() + RESTORED_WITHIN_S
    try:
        desc = client.describe(spec.name)
        # a restarted kernel describes a service without its description until it has
        # rebuilt it from its record (its instances start after that)
        while "spec" not in desc and time.monotonic() < deadline:
            time.sleep(0.2)
            desc = client.describe(spec.name)
    except KernelError:
        raise refused from None  # another kind of name (a queue's path) or gone since
    if desc.get("status") == "Failed" or "spec" not in desc:
        raise refused  # it says so: after a fix, delete it and create it again
    wanted = _absolutize(spec.to_dict(), spec.base_dir)
    changes = diff_specs(desc.get("spec") or {}, wanted)
    if changes:
        raise KernelError(
            409,
            f"service '{spec.name}' exists, deployed from another description "
            f"({'; '.join(changes)}): apply them with `modify`, delete it first, or "
            "create a blue-green sibling with `create -r`",
        ) from None
    service = Service(client, desc)
    service.existed = True
    local = {
        field: wanted[field]
        for field in ("model_path", "processor_path")
        if isinstance(wanted.get(field), str) and "://" not in wanted[field]
    }
    if local:
        # the same description, but a local model is loaded from where it lies: saved
        # again after training, the kernel makes a version to load it (control.py
        # _files_changed); files as they were change nothing
        answer = client.modify(spec.name, spec=local)
        if answer.get("current_version") != desc.get("current_version") or answer.get("failed"):
            service = Service(client, answer)
            service.existed = True
            service.reloaded = answer.get("current_version")
    return service


def ls(*, kernel: KernelClient | None = None) -> list[dict[str, Any]]:
    """Every service's description (eascmd ``ls``)."""
    return _kernel(kernel).list()


def desc(name: str, *, kernel: KernelClient | None = None) -> dict[str, Any]:
    """One service's description (eascmd ``desc``)."""
    return _kernel(kernel).describe(name)


def w(name: str, *, kernel: KernelClient | None = None) -> list[dict[str, Any]]:
    """A service's instances (eascmd ``w`` / ``showworkers``)."""
    return _kernel(kernel).workers(name)


def modify(
    name: str,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    spec: dict[str, Any] | str | Path | None = None,
    *,
    allow_unknown_keys: bool = False,
    dry_run: bool = False,
    wait: bool = True,
    timeout: float = DEFAULT_TIMEOUT_S,
    progress: Progress | None = None,
    kernel: KernelClient | None = None,
) -> dict[str, Any] | SpecDiff:
    """Change a service (eascmd ``modify``): ``overrides`` (``-Dkey=value``) or a partial ``spec``.

    ``modify("mnist", ["metadata.instance=3"])``, ``modify("mnist", {"metadata.instance": 3})``
    or ``modify("mnist", spec="v2.json")``; model or processor fields make a new version.
    """
    fields = parse_overrides(overrides)
    if bool(fields) == bool(spec):
        raise ValueError(
            "modify takes -Dkey=value overrides or -s <json> (a partial service.json; in a "
            f"notebook also a cell body), one of the two; got {'both' if fields else 'neither'}"
        )
    client = _kernel(kernel)
    if dry_run:
        return _plan_modify(client, name, fields, spec, allow_unknown_keys)
    if fields:
        answer = client.modify(name, set=fields, allow_unknown_keys=allow_unknown_keys)
    else:
        answer = client.modify(name, spec=spec, allow_unknown_keys=allow_unknown_keys)
    return wait_settled(client, answer, timeout, progress) if wait else answer


def version(
    name: str,
    version: int,
    *,
    force: bool = False,
    wait: bool = True,
    timeout: float = DEFAULT_TIMEOUT_S,
    progress: Progress | None = None,
    kernel: KernelClient | None = None,
) -> dict[str, Any]:
    """Switch a service to another of its versions (eascmd ``version NAME ID``)."""
    client = _kernel(kernel)
    answer = client.version(name, version, force=force)
    return wait_settled(client, answer, timeout, progress) if wait else answer


def stop(name: str, *, kernel: KernelClient | None = None) -> dict[str, Any]:
    """Stop a service's instances; it keeps its name and versions (eascmd ``stop``)."""
    return _kernel(kernel).stop(name)


def start(
    name: str,
    *,
    wait: bool = True,
    timeout: float = DEFAULT_TIMEOUT_S,
    progress: Progress | None = None,
    kernel: KernelClient | None = None,
) -> dict[str, Any]:
    """Start a stopped service (eascmd ``start``)."""
    client = _kernel(kernel)
    answer = client.start(name)
    return wait_settled(client, answer, timeout, progress) if wait else answer


def delete(
    name: str, *, missing_ok: bool = False, kernel: KernelClient | None = None
) -> dict[str, Any]:
    """Delete a service, without asking (the CLI asks first unless ``-y``).

    ``missing_ok``: a service that does not exist (or no kernel at all) is not an
    error: clean-up code deletes what it may have made.
    """
    from easlab.errors import KernelNotRunning

    try:
        return _kernel(kernel).delete(name)
    except (KernelError, KernelNotRunning) as exc:
        if missing_ok and (isinstance(exc, KernelNotRunning) or exc.status == 404):
            return {"deleted": None, "missing": name}
        raise


def release(name: str, weight: int, *, kernel: KernelClient | None = None) -> dict[str, Any]:
    """Send ``weight`` % of the entry endpoint's traffic to blue-green service ``name``."""
    return _kernel(kernel).release(name, weight)


def logs(name: str, n: int = 50, *, kernel: KernelClient | None = None) -> list[str]:
    """The last ``n`` log lines of a service (0 for all)."""
    if n < 0:
        raise ValueError(f"n must be a number of lines (0 for all), got {n}")
    return _kernel(kernel).logs(name, n)


def queue(
    name: str,
    interval: float = 1.0,
    seconds: float | None = None,
    *,
    kernel: KernelClient | None = None,
) -> QueueView:
    """A service's queues now: depth, in flight, throughput, oldest record's age.

    ``name``: a queue service or an asynchronous service (its input queue and
    ``NAME/sink``). The view is polled once; ``view.poll()`` polls again and gives
    throughput from the difference. In a notebook ``%eas queue NAME`` updates
    live each ``interval`` seconds (for ``seconds``, if given); ``easlab queue
    NAME --watch`` keeps printing.

    >>> easlab.queue("jobs").rows[0]["depth"]   # doctest: +SKIP
    12
    """
    from easlab.client.queue_view import QueueView

    view = QueueView(name, _kernel(kernel), interval, seconds)
    view.poll()
    return view


def gpu(*, kernel: KernelClient | None = None) -> dict[str, Any]:
    """The GPUs the kernel sees (``{"gpus": [...], "source", "message"}``); with no
    kernel given, this machine's (NVML, else nvidia-smi)."""
    if kernel is not None:
        return kernel.gpu()
    from easlab.kernel.gpu import detect_gpus

    return detect_gpus().to_dict()  # type: ignore[no-any-return]


#: what `easlab upload` says with the local kernel, which needs no upload
LOCAL_UPLOAD = (
    "the local kernel reads model_path / processor_path straight from your disk (or an "
    "http(s) URL): put the local path in service.json, nothing needs uploading. To upload "
    "for PAI-EAS: easlab upload FILE --target pai --oss oss://BUCKET/PREFIX"
)


def upload(file: str, *, kernel: Any = None) -> str:
    """Upload a local file (a folder is packed first) to OSS for PAI-EAS; its ``oss://`` path.

    eascmd's ``upload``: the key is ``<--oss prefix>/<sha256[:16]>/<name>``, so an
    unchanged file is not sent twice. Needs ``connect(target="pai", oss=...)``.
    """
    send = getattr(kernel, "upload", None)
    if not callable(send):
        raise ValueError(LOCAL_UPLOAD)
    return str(send(file))


# ----------------------------------------------------------------------------- the kernel itself


def kernel(
    action: str = "status",
    *,
    all: bool = False,
    kernel: KernelClient | None = None,  # noqa: A002
) -> list[dict[str, Any]]:
    """See and control the serving kernels of this ``$EASLAB_HOME`` (``easlab kernel ...``).

    ``status``: every live kernel (endpoint, pid, Python, services, idle timeout);
    ``start``: a background kernel from this environment, unless the default one runs
    (its ``state`` says which: "started" or "already running");
    ``stop``: stop the default kernel (or ``kernel``'s, or ``all`` of them);
    ``restart``: stop it and start a background one from this environment.
    Returns the kernels acted on, one dict each.
    """
    from easlab import runtime
    from easlab.client.control import KernelClient

    if action not in ("status", "start", "stop", "restart"):
        raise ValueError(f"kernel takes status, start, stop or restart, not {action!r}")
    if action == "start":
        if kernel is not None:
            raise ValueError(
                "kernel start starts a background kernel on this machine; a kernel at "
                "--endpoint is started where it runs (easlab serve there)"
            )
        return [_start_background()]
    found = runtime.live_kernels()
    default = runtime.read_runtime()
    if kernel is not None:
        chosen = [k for k in found if runtime.same_endpoint(str(k["endpoint"]), kernel.endpoint)]
        if not chosen:  # a kernel elsewhere: only its own answer tells about it
            chosen = [{"endpoint": kernel.endpoint, "admin_token": kernel.admin_token}]
    elif all or action == "status":
        chosen = found
    else:
        chosen = found[:1] if default is not None else []
    rows = []
    for record in chosen:
        client = kernel or KernelClient(
            str(record["endpoint"]), timeout=5, admin_token=record.get("admin_token")
        )
        rows.append(_kernel_row(client, record, default))
    if action == "status":
        return rows
    for row, record in zip(rows, chosen, strict=True):
        if kernel is not None:
            # its own answer: a wrong admin token, or nothing there (was: "stopped")
            kernel.shutdown()
        elif row["state"] == "running":
            KernelClient(row["endpoint"], admin_token=record.get("admin_token")).shutdown()
        else:  # a live pid whose kernel does not answer: not stopped; its state says why
            continue
        _wait_gone(row)
        row["state"] = "stopped"
    if action == "restart":
        from easlab.client.local import start_background

        state_dir = next((r.get("state_dir") for r in chosen if r.get("state_dir")), None)
        endpoint, token = start_background(state_dir=state_dir)
        fresh = KernelClient(endpoint, admin_token=token)
        rows.append(_kernel_row(fresh, {"endpoint": endpoint}, runtime.read_runtime()))
    return rows


def _start_background() -> dict[str, Any]:
    """The default kernel's row: the one running, else a background one started now."""
    from easlab import runtime
    from easlab.client.control import KernelClient
    from easlab.client.local import start_background

    before = runtime.read_runtime()  # None when there is none, or its pid is dead
    endpoint, token = start_background()
    now = runtime.read_runtime()
    row = _kernel_row(KernelClient(endpoint, admin_token=token), {"endpoint": endpoint}, now)
    if row["state"] == "running":
        same = before is not None and now is not None and before.get("pid") == now.get("pid")
        row["state"] = "already running" if same else "started"
    return row


def _kernel_row(
    client: KernelClient, record: dict[str, Any], default: dict[str, Any] | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "endpoint": str(record["endpoint"]),
        "pid": record.get("pid"),
        "default": default is not None and default.get("pid") == record.get("pid"),
        "state": "running",
    }
    try:
        info = client.info()
        services = client.list()
    except KernelError as exc:
        # no answer at all, or an answer refusing (a wrong admin token: it said "not answering")
        row["state"] = f"{'refused' if exc.status else 'not answering'}: {exc}"
        return row
    row.update(
        pid=info.get("pid"),
        python=info.get("python"),
        started_at=info.get("started_at"),
        services=len(services),
        idle_timeout=info.get("idle_timeout"),
        state_dir=info.get("state_dir"),
    )
    if default is not None and default.get("pid") == info.get("pid"):
        row["default"] = True
    return row


def _wait_gone(row: dict[str, Any], timeout: float = 30.0) -> None:
    from easlab.runtime import pid_alive

    pid = row.get("pid")
    deadline = time.monotonic() + timeout
    while pid and pid_alive(int(pid)) and time.monotonic() < deadline:
        time.sleep(0.05)  # waiting for another process to exit
