"""The ``easlab`` command: eascmd's verbs against the local kernel (SPEC §5).

``easlab serve`` runs a kernel; ``create``, ``ls``, ``desc``, ``w``,
``modify``, ``version``, ``stop``, ``start``, ``delete``, ``release``,
``logs`` talk to it over the control API; ``test`` serves one service in the
foreground; ``gpu`` lists devices. Every command takes ``--endpoint`` and
``--json``. Errors are one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from easlab._table import format_table
from easlab.errors import EaslabError

__all__ = ["main"]

_FINAL = ("Running", "Failed", "Stopped")


class _CliError(EaslabError):
    """A usage problem found by the CLI itself (exit status 2)."""


def _seconds(text: str) -> float:
    """``--pai-timeout``'s value: a finite number of seconds above 0."""
    import math

    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (seconds > 0 and math.isfinite(seconds)):  # nan too
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds greater than 0, e.g. --pai-timeout 120"
        )
    return seconds


def _pai_region(args: argparse.Namespace) -> str | None:
    """The PAI-EAS region this command talks to, or None for the local kernel:
    ``--target pai`` (``--region``, else the default chain), ``--endpoint pai://REGION``,
    or, with neither ``--target`` nor ``--endpoint``, ``$EASLAB_ENDPOINT=pai://REGION``
    ("" for ``--target pai`` without a region: ``connect_pai`` finds the default)."""
    target = getattr(args, "target", None)
    endpoint = getattr(args, "endpoint", None) or ""
    if target is None and not endpoint:
        endpoint = os.environ.get("EASLAB_ENDPOINT", "").strip()
    if target == "local" or (target != "pai" and not endpoint.startswith("pai://")):
        return None
    given = getattr(args, "region", None) or ""
    return given or (endpoint[len("pai://") :].strip("/") if endpoint.startswith("pai://") else "")


#: the options only PAI-EAS has, by their dest
_PAI_ONLY = (
    ("--region", "region"),
    ("--pai-endpoint", "pai_endpoint"),
    ("--pai-timeout", "pai_timeout"),
    ("--oss", "oss"),
)


def _check_pai_options(args: argparse.Namespace) -> None:
    """Refuse PAI-EAS's own options on a command that goes to the local kernel: `easlab
    delete NAME -y --region cn-hangzhou` deleted the local kernel's service of that name,
    the region not looked at."""
    if _pai_region(args) is not None:
        return
    given = [(flag, getattr(args, dest)) for flag, dest in _PAI_ONLY if getattr(args, dest, None)]
    if not given:
        return
    flags = " ".join(f"{flag} {value}" for flag, value in given)
    region = dict(given).get("--region")
    pai = f"--target pai (or --endpoint pai://{region})" if region else "--target pai"
    them = "it" if len(given) == 1 else "them"
    raise _CliError(
        f"{flags}: PAI-EAS's {'option' if len(given) == 1 else 'options'}, and this command "
        f"goes to the local kernel; add {pai} to send it to PAI-EAS, or drop {them} for the "
        "local kernel"
    )


def _client(args: argparse.Namespace) -> Any:
    from easlab.client.connect import connect

    region = _pai_region(args)
    if region is not None:
        client = connect(
            target="pai",
            region=region or None,
            pai_endpoint=getattr(args, "pai_endpoint", None),
            oss=getattr(args, "oss", None),
            pai_timeout=getattr(args, "pai_timeout", None),
        )
        if not args.json:
            from easlab.cloud.progress import print_upload_progress

            client.upload_progress = print_upload_progress  # type: ignore[attr-defined]
        return client
    admin_token = getattr(args, "admin_token", None)
    if args.endpoint and not args.endpoint.startswith("pai://"):
        from easlab.client.control import KernelClient

        # a wrong --endpoint is told in the command's terms, not connect()'s
        return KernelClient(args.endpoint, admin_token=admin_token, given_as="--endpoint")
    return connect(args.endpoint, admin_token=admin_token, target=getattr(args, "target", None))


def _print_json(data: Any) -> None:
    from easlab.spec import masked_descs

    # a service.json's secrets (dockerAuth, a mount's password, an env's DB_PASSWORD) are
    # masked here as in the table: `desc --json` is pasted into issues and CI logs
    data = masked_descs(data)
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    try:
        text.encode(getattr(sys.stdout, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        # a terminal that is not UTF-8: \u escapes, still the same JSON once read
        text = json.dumps(data, indent=2, default=str)
    print(text)


def _tolerant_stdout() -> None:
    """A terminal that is not UTF-8 (PYTHONIOENCODING=ascii, LANG=C without UTF-8 mode)
    gets ``\\xe8`` for a character it cannot show, as stderr does: a service's "è"
    ended ``easlab desc`` with "'ascii' codec can't encode character" and no table."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if callable(reconfigure):
        try:
            reconfigure(errors="backslashreplace")
        except (ValueError, OSError):  # a closed or detached stream: nothing to print to
            pass


def _confirm(question: str, assume_yes: bool, flag: str = "-y") -> bool:
    """eascmd's ``[Y/n]`` prompt (Enter means yes); refuse without a terminal."""
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        raise _CliError(
            f"{question} needs a confirmation, and stdin is not a terminal: pass {flag}"
        )
    answer = input(f"{question} [Y/n] ").strip().lower()
    return answer in ("", "y", "yes")


def _spec_from_stdin(given: str) -> str:
    """The service description piped in for ``-`` (``cat service.json | easlab create -``);
    its relative paths are from the current folder, as for a description given as text."""
    if sys.stdin.isatty():
        print("reading the service description from stdin (end it with Ctrl-D)", file=sys.stderr)
    text = sys.stdin.read()
    if not text.strip():
        raise _CliError(
            f"`{given}` reads the service description from stdin, and stdin was empty: pipe "
            "one in (`cat service.json | easlab create -`) or give the file's path"
        )
    return text


# ----------------------------------------------------------------------------- rendering


def _instances(desc: dict[str, Any]) -> str:
    return f"[Total: {desc.get('total_instance', 0)}, Pending: {desc.get('pending_instance', 0)}, Running: {desc.get('running_instance', 0)}]"


def _memory(desc: dict[str, Any]) -> str:
    memory = desc.get("memory")
    return f"{memory}M" if memory not in (None, "") else "-"


def _gpu(desc: dict[str, Any]) -> str:
    gpu = desc.get("gpu") or 0
    return f"{gpu} (cpu fallback)" if desc.get("cpu_fallback") else str(gpu)


def _region(desc: dict[str, Any]) -> str:
    spec = desc.get("spec") or {}
    return str(desc.get("region") or (spec.get("metadata") or {}).get("region") or "local")


SERVICE_COLUMNS = [
    "NAME",
    "REGION",
    "INSTANCE",
    "CPU",
    "MEMORY",
    "GPU",
    "STATUS",
    "WEIGHT",
    "SERVICEPATH",
    "TYPE",
    "CREATETIME",
    "UPDATETIME",
]
WORKER_COLUMNS = [
    "NAME",
    "INNERIP",
    "PID",
    "STARTAT",
    "RESTARTS",
    "STATUS",
    "READY",
    "GPUS",
    "REASON",
]


def service_rows(services: list[dict[str, Any]]) -> list[list[Any]]:
    """``ls``'s rows (eascmd's columns, SERVICE_COLUMNS): the CLI's table and the magic's DataFrame."""
    return [
        [
            d.get("name"),
            _region(d),
            d.get("total_instance", 0),
            d.get("cpu") if d.get("cpu") is not None else "-",
            _memory(d),
            _gpu(d),
            d.get("status"),
            d.get("weight", 100),
            d.get("service_path") or f"/api/predict/{d.get('name')}",
            d.get("type") or "Standard",
            d.get("create_time") or "",
            d.get("update_time") or "",
        ]
        for d in services
    ]


def format_services(services: list[dict[str, Any]]) -> str:
    """``easlab ls``: one row per service, eascmd's columns."""
    if not services:
        return "no services (create one with `easlab create service.json`)"
    return format_table(SERVICE_COLUMNS, service_rows(services))


def format_desc(desc: dict[str, Any]) -> str:
    """``easlab desc``: eascmd's two-column Key/Value table."""
    rows: list[list[Any]] = [
        ["Status", desc.get("status")],
        ["ServiceName", desc.get("name")],
        ["Region", _region(desc)],
        ["CreateTime", desc.get("create_time")],
        ["UpdateTime", desc.get("update_time")],
        ["Token", desc.get("token") or ""],
        ["TotalInstance", desc.get("total_instance", 0)],
        ["RunningInstance", desc.get("running_instance", 0)],
        ["PendingInstance", desc.get("pending_instance", 0)],
        ["CPU", desc.get("cpu") if desc.get("cpu") is not None else "-"],
        ["GPU", _gpu(desc)],
        ["Memory", _memory(desc)],
        ["Processor", desc.get("processor") or ""],
        ["Weight", desc.get("weight", 100)],
        ["LatestVersion", desc.get("latest_version")],
        ["CurrentVersion", desc.get("current_version")],
        ["Message", desc.get("message") or ""],
        ["Endpoint", desc.get("url") or desc.get("endpoint")],
    ]
    if desc.get("python"):
        # a package's own ENV/bin/python runs it (README: desc shows which); JSON had it alone
        after = next(i for i, row in enumerate(rows) if row[0] == "Processor") + 1
        rows.insert(after, ["Python", desc["python"]])
    queues = desc.get("queues")
    if queues:
        rows.append(["Type", desc.get("type") or ""])
        rows.append(
            [
                "Queues",
                "\n".join(
                    f"{path}: length {q.get('length')}, in flight {q.get('in_flight')}, "
                    f"puts {q.get('puts')}, consumed {q.get('consumed')}"
                    for path, q in queues.items()
                ),
            ]
        )
    traffic = desc.get("traffic")
    if traffic:
        rows.append(["Traffic", "\n".join(f"{k}: {v}%" for k, v in traffic.items())])
    if desc.get("warnings"):
        rows.append(["Warnings", "\n".join(desc["warnings"])])
    spec = desc.get("spec")
    if spec is not None:
        from easlab.spec import masked

        # the token has its own row; a registry's dockerAuth, a password are shown nowhere
        shown = masked(spec)
        rows.append(["ServiceConfig", json.dumps(shown, indent=2, ensure_ascii=False)])
    return format_table(None, rows)


def _ready(ready: Any) -> Any:
    """READY as eascmd's ready/total processes: PAI-EAS's rows say "1/1"; the local kernel's
    instance (one process to EAS) is ready or not (the table said "True")."""
    if isinstance(ready, bool):
        return "1/1" if ready else "0/1"
    return ready


def worker_rows(workers: list[dict[str, Any]]) -> list[list[Any]]:
    """``w``'s rows (WORKER_COLUMNS), for the CLI's table and the magic's DataFrame."""
    return [
        [
            w.get("name", ""),
            f"{w.get('ip', '')}:{w.get('port')}" if w.get("port") else w.get("ip", ""),
            w.get("pid", ""),
            w.get("start_time", ""),
            w.get("restarts", 0),
            w.get("status", ""),
            _ready(w.get("ready", "")),
            ",".join(map(str, w.get("gpus") or [])) or "-",
            w.get("reason") or "",
        ]
        for w in workers
    ]


def format_workers(workers: list[dict[str, Any]]) -> str:
    """``easlab w``: one row per instance."""
    if not workers:
        return "no instances"
    return format_table(WORKER_COLUMNS, worker_rows(workers))


KERNEL_COLUMNS = [
    "ENDPOINT",
    "PID",
    "DEFAULT",
    "STATE",
    "SERVICES",
    "IDLESTOP",
    "PYTHON",
    "STARTED",
]


def kernel_rows(kernels: list[dict[str, Any]]) -> list[list[Any]]:
    """``kernel status``'s rows (KERNEL_COLUMNS), for the CLI's table and the magic's DataFrame."""
    return [
        [
            k.get("endpoint"),
            k.get("pid") or "-",
            "yes" if k.get("default") else "",
            k.get("state"),
            k.get("services", "-"),
            f"{k['idle_timeout']:g} s" if k.get("idle_timeout") else "never",
            k.get("python") or "-",
            k.get("started_at") or "-",
        ]
        for k in kernels
    ]


#: what ``easlab kernel stop|start|restart`` did to a kernel when it did what was asked
_KERNEL_OK = ("stopped", "started", "already running", "running")


def _show_kernels(rows: list[dict[str, Any]], args: argparse.Namespace) -> int:
    """``easlab kernel ...``'s table or lines; exit 1 when a kernel was not stopped (it
    does not answer)."""
    _show_value(rows, args, lambda r: format_kernels(r, args.action))
    failed = args.action != "status" and any(r["state"] not in _KERNEL_OK for r in rows)
    return 1 if failed else 0


def _duration(seconds: float) -> str:
    """``3600`` as "1 h", ``600`` as "10 min", anything else in seconds."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def format_kernels(kernels: list[dict[str, Any]], action: str = "status") -> str:
    """``easlab kernel``: the kernels seen, stopped or started."""
    if action == "status":
        if not kernels:
            return (
                "no easlab kernel running (start one with `easlab kernel start` in the "
                "background, `easlab serve` in this terminal, or easlab.connect(start=True) "
                "in Python)"
            )
        return format_table(KERNEL_COLUMNS, kernel_rows(kernels))
    if not kernels:
        return "no easlab kernel running: nothing to stop"
    lines = [
        f"{'[OK]' if k['state'] in _KERNEL_OK else '[FAILED]'} kernel {k['endpoint']} "
        f"(pid {k.get('pid')}) {k['state']}"
        for k in kernels
    ]
    if action == "start" and kernels[0]["state"] in ("started", "already running"):
        idle = kernels[0].get("idle_timeout")
        stops = (
            f"it stops by itself after {_duration(idle)} with no services and no requests "
            "($EASLAB_IDLE_TIMEOUT), or with "
            if idle
            else "it runs until "
        )
        lines.append(f"{stops}`easlab kernel stop`")
    return "\n".join(lines)


def _endpoint_table(desc: dict[str, Any]) -> str:
    return format_table(None, [["Endpoint", desc.get("url")], ["Token", desc.get("token") or ""]])


# ----------------------------------------------------------------------------- commands


#: the seconds an instance has spent starting, in the kernel's Waiting message
_ELAPSED = re.compile(r", (\d+) s\)")


class _Waiting:
    """eascmd's progress while a service settles: the endpoint first, then Waiting lines."""

    def __init__(self, quiet: bool, endpoint_first: bool = False) -> None:
        self.quiet = quiet
        self.endpoint_first = endpoint_first
        self.headed = False
        #: the last description polled: the service the control call has started to change
        self.seen: dict[str, Any] | None = None
        self.last: tuple[str, int] | None = None

    def header(self, desc: dict[str, Any]) -> None:
        """The endpoint (create) and the warnings (a mistyped key is kept: say so), once."""
        if self.headed or self.quiet:
            return
        self.headed = True
        if self.endpoint_first:
            print(_endpoint_table(desc))
        for warning in desc.get("warnings") or []:
            print(f"[WARN] {warning}")

    def __call__(self, desc: dict[str, Any]) -> None:
        self.seen = desc
        self.header(desc)
        line = f"[OK] Waiting {_instances(desc)}"
        if desc.get("message"):  # why it waits (EAS: "Insufficient resources ..."), as eascmd
            line += f" {desc['message']}"
        # the kernel's message counts an instance's seconds in initialize() ("(pid 7, 12 s)"):
        # said again when something else changes, or every 30 s, not at each poll
        seconds = [int(s) for s in _ELAPSED.findall(line)]
        key = (_ELAPSED.sub(")", line), max(seconds, default=0) // 30)
        if key != self.last and not self.quiet:
            print(line, flush=True)
            self.last = key


def _report_final(desc: dict[str, Any], args: argparse.Namespace, ok_line: str) -> int:
    failed = desc.get("status") == "Failed" or bool(desc.get("failed"))
    if args.json:
        _print_json(desc)
    elif desc.get("status") == "Failed":
        print(f"[FAILED] Service {desc.get('name')} failed to start:", file=sys.stderr)
        print(desc.get("message") or "(no message)", file=sys.stderr)
    elif desc.get("failed"):
        # the change did not take; the service goes on as before (control.py: _outcome)
        print(
            f"[FAILED] Service {desc.get('name')} was not changed: it still serves version "
            f"{desc.get('current_version')}, {_instances(desc)}:",
            file=sys.stderr,
        )
        print(desc["failed"], file=sys.stderr)
    else:
        print(ok_line)
    return 1 if failed else 0


def cmd_serve(args: argparse.Namespace) -> int:
    from easlab.kernel.__main__ import serve_from_args

    return serve_from_args(args)


def _show_value(result: Any, args: argparse.Namespace, text: Callable[[Any], str]) -> int:
    if args.json:
        _print_json(result)
    else:
        print(text(result))
    return 0


def _show_settled(verb: str, desc: Any, args: argparse.Namespace) -> int:
    from easlab.ops import SpecDiff

    if isinstance(desc, SpecDiff):
        _show_value(vars(desc), args, lambda _: str(desc))
        # a dry run is a gate (CI): what the verb would refuse exits as its refusal does
        return 1 if plan_refused(desc) else 0
    existed = bool(getattr(desc, "existed", False))  # create --exist-ok found it
    reloaded = getattr(desc, "reloaded", None)  # ... and made a version to load new files
    if hasattr(desc, "desc"):  # a Service from create
        desc = desc.desc
    name = desc.get("name")
    if verb in ("create", "start") and desc.get("status") == "Stopped":
        # stopped while it started (`easlab stop NAME`, as the Waiting message offers):
        # it said "[OK] Service is running"
        if args.json:
            _print_json(desc)
        else:
            print(
                f"[STOPPED] Service {name} was stopped before it ran; `easlab start {name}` "
                "starts it",
                file=sys.stderr,
            )
        return 1
    if verb in ("modify", "version") and desc.get("status") == "Stopped" and not args.json:
        # a stopped service stays stopped (was: "is updated"/"is at version", and before
        # that, it started without a word)
        print(
            f"[OK] Service [{name}] is stopped: version {desc.get('current_version')} of "
            f"{desc.get('latest_version')} is its current version; `easlab start {name}` "
            "serves it"
        )
        return 0
    ok = {
        "create": f"[OK] Service [{name}] exists, deployed from this same description"
        + (
            f"; its model files changed since it loaded them: version {reloaded} serves them"
            if reloaded
            else ": running"
        )
        if existed
        else "[OK] Service is running",
        "modify": f"[OK] Service [{name}] is updated: version {desc.get('current_version')} "
        f"of {desc.get('latest_version')}, {_instances(desc)}",
        "version": f"[OK] Service [{name}] is at version {desc.get('current_version')}",
        "start": f"[OK] Service [{name}] is running",
    }[verb]
    return _report_final(desc, args, ok)


def plan_refused(plan: Any) -> bool:
    """Whether a dry run's plan says the create (or modify) would be refused: the local kernel's
    (``LocalPlan.refused``) or PAI-EAS's (``error:`` lines of ``CloudPlan.portability``)."""
    if getattr(plan, "refused", ""):
        return True
    return any(str(line).startswith("error:") for line in getattr(plan, "portability", []))


def gpu_text(data: dict[str, Any]) -> str:
    """``gpu``'s table, or "no GPU found" with the reason."""
    from easlab.kernel.gpu import GpuInfo, GpuReport, format_gpu_table

    report = GpuReport(
        [GpuInfo(**gpu) for gpu in data.get("gpus", [])],
        data.get("source", "none"),
        data.get("message", ""),
    )
    return format_gpu_table(report)


#: how the CLI shows each verb's value (the magic has its own, easlab/notebook/magics.py)
_RENDER: dict[str, Callable[[Any, argparse.Namespace], int]] = {
    "ls": lambda r, a: _show_value(r, a, format_services),
    "desc": lambda r, a: _show_value(r, a, format_desc),
    "w": lambda r, a: _show_value(r, a, format_workers),
    "stop": lambda r, a: _show_value(
        r, a, lambda d: f"[OK] Service [{a.name}] is {str(d.get('status', 'stopped')).lower()}"
    ),
    "delete": lambda r, a: _show_value(
        r, a, lambda _: f"[OK] Service [{a.name}] was deleted successfully"
    ),
    "release": lambda r, a: _show_value(
        r, a, lambda _: f"[OK] Service [{a.name}] is weighted to {a.weight}% now"
    ),
    "logs": lambda r, a: _show_value(r, a, "\n".join),
    "gpu": lambda r, a: _show_value(r, a, gpu_text),
    # sent now or found there already (the progress on stderr says which): on OSS either way
    "upload": lambda r, a: _show_value(r, a, lambda uri: f"[OK] {a.file} is on OSS\n{uri}"),
    "kernel": _show_kernels,
    "queue": lambda r, a: _show_queue(r, a),
}


def _show_queue(view: Any, args: argparse.Namespace) -> int:
    """``easlab queue NAME``: the table once; ``--watch``: again each --interval (--seconds)."""
    import time

    if args.json:
        _print_json(view.rows)
    else:
        print(view.text(), flush=True)
    if not args.watch:
        return 0
    ends = None if view.seconds is None else time.monotonic() + view.seconds
    try:
        while ends is None or time.monotonic() < ends:
            time.sleep(view.interval)  # the pace of a terminal display, not a synchronisation
            view.poll()
            if args.json:
                _print_json(view.rows)
            else:
                print(f"\n{time.strftime('%H:%M:%S')}  {view.name} ({view.status})")
                print(view.text(), flush=True)
    except KeyboardInterrupt:
        pass  # Ctrl-C ends the watch, not an error
    return 0


def run_verb(verb_name: str, args: argparse.Namespace) -> int:
    """Run one verb of the table (easlab/verbs.py) and print its result as eascmd does."""
    from easlab.verbs import call_kwargs, verb_named

    verb = verb_named(verb_name)
    assert verb is not None
    kwargs = call_kwargs(verb, args, "cli")
    if verb.name in ("create", "modify") and kwargs.get("spec") == "-":
        kwargs["spec"] = _spec_from_stdin("create -" if verb.name == "create" else "modify -s -")
    if verb.name == "release" and not 0 <= args.weight <= 100:
        raise ValueError(f"weight must be a percentage between 0 and 100, got {args.weight}")
    region = ""
    if verb.name in ("delete", "release") and not args.y:
        # the service must be there before its Y/n question: a typo answered "not
        # found" only after the prompt (or after "pass -y" in a script)
        desc = _client(args).describe(args.name)
        if _pai_region(args) is not None and desc.get("region"):
            region = f" in [{desc['region']}]"  # eascmd names PAI-EAS's region it deletes in
        if verb.name == "release" and "blue_green_of" in desc and desc["blue_green_of"] is None:
            # the local kernel refuses it: say so before asking (was: after the Y)
            raise EaslabError(
                f"service '{args.name}' is not a blue-green sibling, so it has no traffic to "
                "take; create one with `create -r` and release that"
            )
        if verb.name == "release" and desc.get("entry_deleted"):
            # the same for a sibling whose entry was deleted (was: asked, then refused)
            entry = desc.get("blue_green_of")
            raise EaslabError(
                f"'{entry}', the service '{args.name}' is the blue-green sibling of, was "
                f"deleted, so there is nothing to release; to try another version, `create -r` "
                f"a sibling of '{args.name}' and release that"
            )
    if verb.name == "delete" and not _confirm(
        f"Are you sure to delete the service [{args.name}]{region}?", args.y
    ):
        print("[CANCELLED] nothing deleted")
        return 1
    if verb.name == "release":
        # eascmd's question, naming the service (it asks "this service")
        question = f"Confirmed to release the service [{args.name}] at weight [{args.weight}%]?"
        if not _confirm(question, args.y):
            print("[CANCELLED] nothing changed")
            return 1
    waiting = _Waiting(args.json, endpoint_first=verb.name == "create")
    if verb.waits:
        kwargs["progress"] = waiting
    if verb.local:  # a tool that needs no kernel (easlab aiges ...)
        return int(verb.resolve()(**kwargs))
    if verb.name == "upload" and _pai_region(args) is None:
        from easlab.ops import LOCAL_UPLOAD

        if not Path(args.file).expanduser().exists():
            # the path this service.json would name: a typo is said now, not at create
            raise EaslabError(f"{args.file}: no such file or folder; {LOCAL_UPLOAD}")
        print(f"[OK] nothing to upload: {LOCAL_UPLOAD}")
        return 0
    if verb.name == "create" and kwargs.get("dry_run") and _pai_region(args) is None:
        # validating needs no kernel (as the magic's dry run): the plan says what was not checked
        from easlab.errors import KernelNotRunning

        try:
            kwargs["kernel"] = _client(args)
        except KernelNotRunning:
            kwargs["kernel"] = None
    else:
        if verb.name == "create":
            # the file's own faults first: they do not depend on which kernel is running
            from easlab.spec import parse_spec

            parse_spec(kwargs["spec"], allow_unknown_keys=kwargs.get("allow_unknown_keys", False))
        if verb.name not in ("gpu", "kernel") or args.endpoint:
            kwargs["kernel"] = _client(args)
        if verb.name == "upload":
            from easlab.cloud.portability import package_env_problem

            # eascmd sends it all the same; said before a package of gigabytes goes up
            # only to fail on EAS once a service names it (create --target pai refuses it)
            problem = package_env_problem(Path(args.file).expanduser())
            if problem:
                print(f"[WARN] for PAI-EAS: {problem}", file=sys.stderr)
        if verb.name == "upload" and args.inner:
            # eascmd upload --inner: from inside the region, its internal host (no traffic fee)
            client = kwargs["kernel"]
            client.oss_upload_endpoint = f"oss-{client.region}-internal.aliyuncs.com"
    try:
        result = verb.resolve()(**kwargs)
    except KeyboardInterrupt:
        if waiting.seen is None:  # before the control call answered: nothing to follow
            raise
        name = waiting.seen.get("name")
        aborts = (
            f", `easlab stop {name}` stops it, `easlab delete {name}` removes it"
            if verb.name in ("create", "start")
            else ""
        )
        raise KeyboardInterrupt(
            f"[INTERRUPTED] stopped waiting; service {name} is {waiting.seen.get('status')} "
            f"and goes on: `easlab desc {name}` follows it{aborts}"
        ) from None
    if verb.waits:
        if hasattr(result, "desc") or isinstance(result, dict):
            waiting.header(getattr(result, "desc", result))
        return _show_settled(verb.name, result, args)
    return _RENDER[verb.name](result, args)


def _stop_on_terminate() -> None:
    """Treat SIGTERM/SIGHUP like Ctrl-C: the kernel runs in its own session, so only
    our ``with LocalKernel`` block stops it; a plain exit would leave it serving."""
    import signal

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), interrupt)


#: the request a processor's own code documents (``easlab pysdk init``'s app.py:
#: ``curl http://127.0.0.1:8080/test -d '10 20'``)
_DOCUMENTED_CURL = re.compile(r"curl \S+ -d '([^'\n]*)'")


def _sample_body(spec: Any) -> str:
    """The body ``easlab test`` suggests to curl: the one the entry file's own example
    sends (a pysdk project's app.py parses "10 20", and failed on the generic "hello
    eas"), read from a local folder or archive; else eascmd's "hello eas"."""
    import tarfile

    entry = (spec.processor_entry or "").strip().removeprefix("./")
    path = Path(spec.processor_path or "")
    text = ""
    try:
        if entry and path.is_dir():
            text = (path / entry).read_text(errors="replace")
        elif entry and path.is_file() and tarfile.is_tarfile(path):
            with tarfile.open(path) as archive:
                names = {m.name.removeprefix("./"): m for m in archive.getmembers() if m.isfile()}
                member = names.get(entry)
                got = archive.extractfile(member) if member is not None else None
                text = got.read(1 << 20).decode(errors="replace") if got is not None else ""
    except (OSError, tarfile.TarError):
        text = ""
    found = _DOCUMENTED_CURL.search(text)
    return found.group(1) if found else "hello eas"


def cmd_test(args: argparse.Namespace) -> int:
    """Serve one service in the foreground (eascmd ``test``, without Docker)."""
    from easlab.client.control import _absolutize
    from easlab.client.local import LocalKernel
    from easlab.kernel.fetch import check_location
    from easlab.spec import load_spec_source, parse_spec

    if args.spec == "-":
        data, base_dir = load_spec_source(_spec_from_stdin("test -"))
    else:
        data, base_dir = load_spec_source(
            Path(args.spec) if Path(args.spec).is_file() else args.spec
        )
    if "metadata" not in data:
        # eascmd's own `test` example has no metadata block (SPEC §5 seed manual)
        data["metadata"] = {"instance": 1}
        print("[WARN] no metadata given: serving 1 instance")
    data = _absolutize(data, base_dir)
    spec = parse_spec(data)  # errors before a kernel starts
    for field in ("model_path", "processor_path"):
        location = getattr(spec, field)
        if isinstance(location, str) and location.strip():
            # a path that is not there (a package not packed yet), before a kernel starts:
            # the kernel's own create refuses it too, once one is up in the state dir
            check_location(location, spec.base_dir, field=field)
    _stop_on_terminate()
    from easlab import ops

    with LocalKernel(
        host=args.host, port=args.port, state_dir=args.state_dir, with_this_process=True
    ) as kernel:
        # exist_ok: the service an earlier `easlab test` of this same file left in the
        # state dir (killed before it could delete it) is used, not a 409
        svc = ops.create(
            data, kernel=kernel.client, allow_cpu_fallback=args.allow_cpu_fallback, exist_ok=True
        )
        existed = bool(getattr(svc, "existed", False))
        try:
            return _serve_in_foreground(args, spec, kernel, svc)
        finally:
            if not existed:
                # a foreground debug leaves nothing behind (eascmd's test container goes
                # with it): the next `easlab test` of the file starts it anew
                with contextlib.suppress(EaslabError, OSError):
                    kernel.client.delete(spec.name)


def _serve_in_foreground(args: argparse.Namespace, spec: Any, kernel: Any, svc: Any) -> int:
    """``easlab test``'s banner, then wait for Ctrl-C (0) or the kernel's end (1)."""
    desc = svc.desc
    if desc.get("status") == "Failed":
        print(f"[FAILED] Service {spec.name} failed to start:", file=sys.stderr)
        print(desc.get("message") or "(no message)", file=sys.stderr)
        return 1
    # the banner inside the try: a Ctrl-C the moment it is read (before wait() began)
    # is the same clean stop, not a KeyboardInterrupt out of main (exit 130)
    try:
        if args.json:
            _print_json(desc)
        else:
            print(_endpoint_table(desc))
            auth = f" -H 'Authorization: {svc.token}'" if svc.token else ""
            body = _sample_body(spec)
            print(f"[OK] Service is running; try:\n  curl {svc.url}{auth} -d '{body}'")
            print(
                f"Logs: `easlab logs {spec.name} --endpoint {kernel.endpoint}` "
                f"(kernel log: {kernel.log_path}). Press Ctrl-C to stop.",
                flush=True,
            )
        assert kernel.process is not None
        code = kernel.process.wait()
    except KeyboardInterrupt:
        print("\n[OK] stopping")
        return 0
    print(f"[FAILED] the kernel exited with code {code}; see {kernel.log_path}", file=sys.stderr)
    return 1


# ----------------------------------------------------------------------------- parser

#: eascmd verbs that have no meaning here, and what to use instead
_ELSEWHERE = {
    "config": "easlab's local kernel needs no cloud credentials; for PAI-EAS itself use "
    "eascmd config (or the Alibaba Cloud console)",
    "resource": "resource groups are PAI-EAS's dedicated machines; the local kernel serves "
    "on this one (`easlab gpu` lists its GPUs, `easlab kernel status` its kernels); for "
    "PAI-EAS's own use eascmd resource (or the console)",
}


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """Options every verb takes, before or after the verb (``easlab --json ls``, ``easlab ls --json``).

    On the verbs' parsers they default to SUPPRESS, so a value given before the
    verb is not reset by the verb's own parser.
    """
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--endpoint",
        default=default,
        help="kernel URL, e.g. http://127.0.0.1:8080 (default: $EASLAB_ENDPOINT or the running kernel)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print machine-readable JSON",
    )
    parser.add_argument(
        "--admin-token",
        default=default,
        metavar="TOKEN",
        help="the kernel's control-API token (default: $EASLAB_ADMIN_TOKEN, or read from the "
        "runtime file of a kernel on this machine); with serve, the token it requires",
    )
    # PAI-EAS itself as the target (easlab/cloud): the same verbs, over the official SDK
    parser.add_argument(
        "--target",
        choices=("local", "pai"),
        default=argparse.SUPPRESS if suppress else None,
        help="local (the easlab kernel, default) or pai (PAI-EAS, credentials from the "
        "standard Alibaba Cloud chain); $EASLAB_ENDPOINT=pai://REGION is --target pai",
    )
    parser.add_argument(
        "--region",
        default=default,
        help="PAI-EAS region, e.g. cn-hangzhou (default: $EASLAB_PAI_REGION, "
        "$ALIBABA_CLOUD_REGION_ID, then region_id of the aliyun CLI's profile)",
    )
    parser.add_argument(
        "--pai-endpoint",
        default=default,
        metavar="HOST[:PORT]",
        help="PAI-EAS API host (default: pai-eas.<region>.aliyuncs.com; $EASLAB_PAI_ENDPOINT; "
        "http only for loopback)",
    )
    parser.add_argument(
        "--pai-timeout",
        type=_seconds,
        default=default,
        metavar="SECONDS",
        help="how long each PAI-EAS API call waits for its answer (default: "
        "$EASLAB_PAI_TIMEOUT, else 60)",
    )
    parser.add_argument(
        "--oss",
        default=default,
        metavar="oss://BUCKET/PREFIX",
        help="where local model_path/processor_path are uploaded for PAI-EAS ($EASLAB_OSS)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``easlab`` parser: ``serve`` and ``test``, then every CLI verb of easlab/verbs.py."""
    from easlab import __version__
    from easlab.kernel.__main__ import add_serve_arguments
    from easlab.verbs import VERBS, add_arguments

    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    parser = argparse.ArgumentParser(
        prog="easlab",
        description="A local PAI-EAS: serve models and manage services like eascmd, without Docker.",
    )
    parser.add_argument("--version", action="version", version=f"easlab {__version__}")
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(
        name: str, func: Any, help: str, aliases: Sequence[str] = ()
    ) -> argparse.ArgumentParser:  # noqa: A002
        p = sub.add_parser(
            name, help=help, description=help, aliases=list(aliases), parents=[common]
        )
        # main() names a flag this command lacks with this command's usage, not easlab's
        p.set_defaults(func=func, command_parser=p)
        return p

    p = add("serve", cmd_serve, "run a kernel in the foreground")
    add_serve_arguments(p, token=False)

    for verb in VERBS:
        if "cli" not in verb.fronts:
            continue
        p = add(
            verb.name, lambda args, name=verb.name: run_verb(name, args), verb.help, verb.aliases
        )
        add_arguments(p, verb, "cli")

    p = add("test", cmd_test, "serve one service in the foreground for a local debug")
    p.add_argument("spec", help="service description (.json or .yaml; - reads it from stdin)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port", type=int, default=8080, help="port to listen on (default 8080; 0: a free one)"
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="the kernel's logs, model cache and services (default $EASLAB_HOME/state)",
    )
    p.add_argument(
        "--allow-cpu-fallback",
        action="store_true",
        help="run a GPU service on CPU when the host lacks GPUs",
    )
    return parser


#: the global options (``_global_options``) that take a value: the word after one is
#: that value, not the command
_VALUED_GLOBALS = (
    "--endpoint",
    "--admin-token",
    "--target",
    "--region",
    "--pai-endpoint",
    "--pai-timeout",
    "--oss",
)


def _command_word(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names (``easlab --target pai ls`` -> ``ls``), if any."""
    words = iter(argv)
    for word in words:
        if word in _VALUED_GLOBALS:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _commands() -> list[str]:
    """Every command name and alias the parser takes."""
    from easlab.verbs import VERBS

    names = ["serve", "test"]
    for verb in VERBS:
        if "cli" in verb.fronts:
            names += [verb.name, *verb.aliases]
    return names


def _run(args: argparse.Namespace) -> int:
    """The command's function; a failure ends an upload's half-drawn progress line first,
    so that the error is said on a line of its own."""
    try:
        return int(args.func(args))
    except BaseException:
        from easlab.cloud.progress import end_line

        end_line()
        raise


def _notebook_only(word: str | None) -> str:
    """What to use for a verb that only the notebook has (``bench``, ``predict`` ...),
    or "" for any other word."""
    from easlab.verbs import MAGIC, verb_named

    verb = verb_named(word) if word else None
    if verb is None or verb.fronts != MAGIC:
        return ""
    magic = "%%eas" if verb.cell == "required" else "%eas"
    if verb.name == "predict":
        python = (
            "PredictClient(...).predict(...) or svc.client().predict(...) in Python; from a "
            "shell, curl the endpoint and token that `easlab desc SERVICE` shows"
        )
    else:
        python = f"easlab.{verb.name}(...) in Python"
    return (
        f"a notebook command, not one of the shell's: `{magic} {verb.name}` in a notebook, "
        f"or {python} (`easlab -h` lists the shell's commands)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``easlab`` command; returns the exit status."""
    argv = list(argv) if argv is not None else sys.argv[1:]
    verb = _command_word(argv)
    if verb in _ELSEWHERE:
        print(f"easlab {verb}: not an easlab command: {_ELSEWHERE[verb]}", file=sys.stderr)
        return 2
    notebook_only = _notebook_only(verb)
    if notebook_only:
        print(f"easlab {verb}: {notebook_only}", file=sys.stderr)
        return 2
    if verb is not None and verb not in _commands():
        import difflib

        close = difflib.get_close_matches(verb, _commands(), n=1)
        guess = f"did you mean `easlab {close[0]}`? " if close else ""
        print(f"easlab: {verb!r} is not a command; {guess}`easlab -h` lists them", file=sys.stderr)
        return 2
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # argparse said it with easlab's own usage ("easlab [-h] [--version] ... COMMAND"),
        # which lists no option of the command typed: `easlab delete NAME --yes`
        args.command_parser.error(
            f"unrecognized arguments: {' '.join(unknown)} (`easlab {args.command} -h` lists "
            "its options)"
        )
    _tolerant_stdout()
    try:
        _check_pai_options(args)
        return _run(args)
    except _CliError as exc:
        print(f"easlab {args.command}: {exc}", file=sys.stderr)
        return 2
    except EaslabError as exc:  # SpecError is a ValueError too: it is the kernel's answer kind
        print(f"easlab {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a usage mistake found before anything was sent
        print(f"easlab {args.command}: {exc}", file=sys.stderr)
        return 2
    except EOFError:  # Ctrl-D at a question (delete's [Y/n], pysdk init's version)
        print(f"\neaslab {args.command}: cancelled: no answer (end of input)", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        # end the ^C line; a wait that was cut says what goes on without it (run_verb)
        print(f"\n{exc}" if exc.args else "", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `easlab desc x --json | head`: the reader left; stop quietly, and point
        # stdout at /dev/null so the interpreter's final flush does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            # `easlab ls --json > out.json` on a full disk: a traceback; say it in one line,
            # and let the interpreter's last flush go nowhere
            why = exc.strerror or str(exc)
            print(f"easlab {args.command}: cannot write the output: {why}", file=sys.stderr)
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        print(f"easlab {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
