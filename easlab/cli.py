"""The ``easlab`` command: eascmd's verbs against the local kernel (SPEC §5).

``easlab serve`` runs a kernel; ``create``, ``ls``, ``desc``, ``w``,
``modify``, ``version``, ``stop``, ``start``, ``delete``, ``release``,
``logs`` talk to it over the control API; ``test`` serves one service in the
foreground; ``gpu`` lists devices. Every command takes ``--endpoint`` and
``--json``. Errors are one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from easlab._table import format_table
from easlab.errors import EaslabError

__all__ = ["main"]

_FINAL = ("Running", "Failed", "Stopped")


class _CliError(EaslabError):
    """A usage problem found by the CLI itself (exit status 2)."""


def _client(args: argparse.Namespace) -> Any:
    from easlab.client.control import connect

    return connect(args.endpoint, admin_token=getattr(args, "admin_token", None))


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


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
    return str((spec.get("metadata") or {}).get("region") or "local")


def format_services(services: list[dict[str, Any]]) -> str:
    """``easlab ls``: one row per service, eascmd's columns."""
    if not services:
        return "no services (create one with `easlab create service.json`)"
    rows = [
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
            d.get("create_time") or "",
            d.get("update_time") or "",
        ]
        for d in services
    ]
    return format_table(
        [
            "NAME",
            "REGION",
            "INSTANCE",
            "CPU",
            "MEMORY",
            "GPU",
            "STATUS",
            "WEIGHT",
            "SERVICEPATH",
            "CREATETIME",
            "UPDATETIME",
        ],
        rows,
    )


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
    traffic = desc.get("traffic")
    if traffic:
        rows.append(["Traffic", "\n".join(f"{k}: {v}%" for k, v in traffic.items())])
    if desc.get("warnings"):
        rows.append(["Warnings", "\n".join(desc["warnings"])])
    if desc.get("spec") is not None:
        rows.append(["ServiceConfig", json.dumps(desc["spec"], indent=2, ensure_ascii=False)])
    return format_table(None, rows)


def format_workers(workers: list[dict[str, Any]]) -> str:
    """``easlab w``: one row per instance."""
    if not workers:
        return "no instances"
    rows = [
        [
            w.get("name", ""),
            f"{w.get('ip', '')}:{w.get('port')}" if w.get("port") else w.get("ip", ""),
            w.get("pid", ""),
            w.get("start_time", ""),
            w.get("restarts", 0),
            w.get("status", ""),
            w.get("ready", ""),
            ",".join(map(str, w.get("gpus") or [])) or "-",
            w.get("reason") or "",
        ]
        for w in workers
    ]
    return format_table(
        ["NAME", "INNERIP", "PID", "STARTAT", "RESTARTS", "STATUS", "READY", "GPUS", "REASON"], rows
    )


def _endpoint_table(desc: dict[str, Any]) -> str:
    return format_table(None, [["Endpoint", desc.get("url")], ["Token", desc.get("token") or ""]])


# ----------------------------------------------------------------------------- commands


def _wait_final(kernel: Any, desc: dict[str, Any], timeout: float, quiet: bool) -> dict[str, Any]:
    """Poll ``desc`` until the service runs, fails or stops, printing eascmd's Waiting lines."""
    last = ""
    deadline = time.monotonic() + timeout
    while desc.get("status") not in _FINAL:
        line = f"[OK] Waiting {_instances(desc)}"
        if line != last and not quiet:
            print(line, flush=True)
            last = line
        if time.monotonic() > deadline:
            raise _CliError(
                f"service {desc.get('name')} is still {desc.get('status')} after {timeout:g} s; "
                f"see `easlab desc {desc.get('name')}` and `easlab logs {desc.get('name')}`"
            )
        time.sleep(0.2)  # polling a remote status, not synchronising threads
        desc = kernel.describe(desc["name"])
    return desc


def _report_final(desc: dict[str, Any], args: argparse.Namespace, ok_line: str) -> int:
    if args.json:
        _print_json(desc)
    elif desc.get("status") == "Failed":
        print(f"[FAILED] Service {desc.get('name')} failed to start:", file=sys.stderr)
        print(desc.get("message") or "(no message)", file=sys.stderr)
    else:
        print(ok_line)
    return 1 if desc.get("status") == "Failed" else 0


def cmd_serve(args: argparse.Namespace) -> int:
    from easlab.kernel.limits import HttpLimits
    from easlab.kernel.server import serve_forever

    serve_forever(
        args.host,
        args.port,
        args.state_dir,
        max_body=args.max_body,
        admin_token=args.admin_token,
        allow_hosts=tuple(args.allow_host or ()),
        allow_origins=tuple(args.allow_origin or ()),
        limits=HttpLimits.from_args(args),
    )
    return 0


def cmd_create(args: argparse.Namespace) -> int:
    kernel = _client(args)
    svc = kernel.create(
        args.spec,
        blue_green=args.r,
        allow_cpu_fallback=args.allow_cpu_fallback,
        wait=False,
    )
    desc = svc.desc
    if not args.json:
        print(_endpoint_table(desc))
        for warning in desc.get("warnings") or []:
            print(f"[WARN] {warning}")
    desc = _wait_final(kernel, desc, args.timeout, quiet=args.json)
    return _report_final(desc, args, "[OK] Service is running")


def cmd_ls(args: argparse.Namespace) -> int:
    services = _client(args).list()
    if args.json:
        _print_json(services)
    else:
        print(format_services(services))
    return 0


def cmd_desc(args: argparse.Namespace) -> int:
    desc = _client(args).describe(args.name)
    if args.json:
        _print_json(desc)
    else:
        print(format_desc(desc))
    return 0


def cmd_workers(args: argparse.Namespace) -> int:
    workers = _client(args).workers(args.name)
    if args.json:
        _print_json(workers)
    else:
        print(format_workers(workers))
    return 0


def cmd_modify(args: argparse.Namespace) -> int:
    overrides: dict[str, str] = {}
    for item in args.D or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise _CliError(f"-D{item}: write -Dkey=value, e.g. -Dmetadata.instance=2")
        overrides[key.strip()] = value
    if bool(overrides) == bool(args.s):
        raise _CliError("modify takes -Dkey=value overrides or -s <json>, one of the two")
    kernel = _client(args)
    if overrides:
        desc = kernel.modify(args.name, set=overrides)
    else:
        desc = kernel.modify(args.name, spec=args.s)
    if not args.json:
        # as create does: a mistyped key (-Dmetadata.instanse=2) is kept, so say so
        for warning in desc.get("warnings") or []:
            print(f"[WARN] {warning}")
    desc = _wait_final(kernel, desc, args.timeout, quiet=args.json)
    return _report_final(
        desc,
        args,
        f"[OK] Service [{desc.get('name')}] is updated: version {desc.get('current_version')} "
        f"of {desc.get('latest_version')}, {_instances(desc)}",
    )


def cmd_version(args: argparse.Namespace) -> int:
    kernel = _client(args)
    desc = kernel.version(args.name, args.version, force=args.f)
    desc = _wait_final(kernel, desc, args.timeout, quiet=args.json)
    return _report_final(
        desc, args, f"[OK] Service [{desc.get('name')}] is at version {desc.get('current_version')}"
    )


def cmd_stop(args: argparse.Namespace) -> int:
    desc = _client(args).stop(args.name)
    if args.json:
        _print_json(desc)
    else:
        print(f"[OK] Service [{args.name}] is {str(desc.get('status', 'stopped')).lower()}")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    kernel = _client(args)
    desc = _wait_final(kernel, kernel.start(args.name), args.timeout, quiet=args.json)
    return _report_final(desc, args, f"[OK] Service [{args.name}] is running")


def cmd_delete(args: argparse.Namespace) -> int:
    kernel = _client(args)
    if not _confirm(f"Are you sure to delete the service [{args.name}]?", args.y):
        print("[CANCELLED] nothing deleted")
        return 1
    result = kernel.delete(args.name)
    if args.json:
        _print_json(result)
    else:
        print(f"[OK] Service [{args.name}] was deleted successfully")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    if not 0 <= args.w <= 100:
        raise _CliError(f"-w {args.w}: the weight is a percentage between 0 and 100")
    kernel = _client(args)
    if not _confirm(f"Confirmed to release this service at weight [{args.w}%]?", args.y):
        print("[CANCELLED] traffic unchanged")
        return 1
    desc = kernel.release(args.name, args.w)
    if args.json:
        _print_json(desc)
    else:
        print(f"[OK] Service [{args.name}] is weighted to {args.w}% now")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    lines = _client(args).logs(args.name, args.n)
    if args.json:
        _print_json(lines)
    else:
        for line in lines:
            print(line)
    return 0


def cmd_gpu(args: argparse.Namespace) -> int:
    from easlab.kernel.gpu import GpuInfo, GpuReport, detect_gpus, format_gpu_table

    if args.endpoint:
        data = _client(args).gpu()
        report = GpuReport(
            [GpuInfo(**gpu) for gpu in data.get("gpus", [])],
            data.get("source", "none"),
            data.get("message", ""),
        )
    else:
        report = detect_gpus()
    if args.json:
        _print_json(report.to_dict())
    else:
        print(format_gpu_table(report))
    return 0


def _stop_on_terminate() -> None:
    """Treat SIGTERM/SIGHUP like Ctrl-C: the kernel runs in its own session, so only
    our ``with LocalKernel`` block stops it; a plain exit would leave it serving."""
    import signal

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), interrupt)


def cmd_test(args: argparse.Namespace) -> int:
    """Serve one service in the foreground (eascmd ``test``, without Docker)."""
    from easlab.client.control import _absolutize
    from easlab.kernel.local import LocalKernel
    from easlab.kernel.spec import load_spec_source, parse_spec

    data, base_dir = load_spec_source(Path(args.spec) if Path(args.spec).is_file() else args.spec)
    if "metadata" not in data:
        # eascmd's own `test` example has no metadata block (SPEC §5 seed manual)
        data["metadata"] = {"instance": 1}
        print("[WARN] no metadata given: serving 1 instance")
    data = _absolutize(data, base_dir)
    spec = parse_spec(data)  # errors before a kernel starts
    _stop_on_terminate()
    with LocalKernel(host=args.host, port=args.port, state_dir=args.state_dir) as kernel:
        svc = kernel.client.create(data, allow_cpu_fallback=args.allow_cpu_fallback)
        desc = svc.desc
        if desc.get("status") == "Failed":
            print(f"[FAILED] Service {spec.name} failed to start:", file=sys.stderr)
            print(desc.get("message") or "(no message)", file=sys.stderr)
            return 1
        if args.json:
            _print_json(desc)
        else:
            print(_endpoint_table(desc))
            auth = f" -H 'Authorization: {svc.token}'" if svc.token else ""
            print(f"[OK] Service is running; try:\n  curl {svc.url}{auth} -d 'hello eas'")
            print(
                f"Logs: `easlab logs {spec.name} --endpoint {kernel.endpoint}` "
                f"(kernel log: {kernel.log_path}). Press Ctrl-C to stop.",
                flush=True,
            )
        try:
            assert kernel.process is not None
            code = kernel.process.wait()
        except KeyboardInterrupt:
            print("\n[OK] stopping")
            return 0
    print(f"[FAILED] the kernel exited with code {code}; see {kernel.log_path}", file=sys.stderr)
    return 1


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from easlab.kernel.guard import add_security_arguments
    from easlab.kernel.limits import add_arguments as add_limit_arguments

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--endpoint",
        help="kernel URL, e.g. http://127.0.0.1:8080 (default: $EASLAB_ENDPOINT or the running kernel)",
    )
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    common.add_argument(
        "--admin-token",
        metavar="TOKEN",
        help="the kernel's control-API token (default: $EASLAB_ADMIN_TOKEN, or read from the "
        "runtime file of a kernel on this machine); with serve, the token it requires",
    )
    wait = argparse.ArgumentParser(add_help=False)
    wait.add_argument(
        "--timeout", type=float, default=600, help="seconds to wait for the service (default 600)"
    )

    parser = argparse.ArgumentParser(
        prog="easlab",
        description="A local PAI-EAS: serve models and manage services like eascmd, without Docker.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(
        name: str, func: Any, help: str, aliases: Sequence[str] = (), parents: Sequence[Any] = ()
    ) -> argparse.ArgumentParser:  # noqa: A002
        p = sub.add_parser(
            name, help=help, description=help, aliases=list(aliases), parents=[common, *parents]
        )
        p.set_defaults(func=func)
        return p

    p = add("serve", cmd_serve, "run a kernel in the foreground")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    p.add_argument("--state-dir", type=Path, default=None, help="where services and caches live")
    p.add_argument(
        "--max-body",
        type=int,
        default=None,
        metavar="BYTES",
        help="largest request body accepted (413 above)",
    )
    add_security_arguments(p, token=False)
    add_limit_arguments(p)

    p = add(
        "create", cmd_create, "create a service from a service.json / YAML file", parents=[wait]
    )
    p.add_argument("spec", help="service description (.json or .yaml)")
    p.add_argument("-r", action="store_true", help="create a blue-green sibling <name>_<suffix>")
    p.add_argument(
        "--allow-cpu-fallback",
        action="store_true",
        help="run a GPU service on CPU when the host lacks GPUs",
    )

    add("ls", cmd_ls, "list services", aliases=["list"])

    p = add("desc", cmd_desc, "describe a service")
    p.add_argument("name")

    p = add("w", cmd_workers, "show a service's instances", aliases=["showworkers"])
    p.add_argument("name")

    p = add(
        "modify",
        cmd_modify,
        "change a service: -Dmetadata.instance=N ... or -s <json>",
        parents=[wait],
    )
    p.add_argument("name")
    p.add_argument("-D", action="append", metavar="KEY=VALUE", help="e.g. -Dmetadata.instance=2")
    p.add_argument(
        "-s",
        metavar="JSON",
        help="partial service description; model/processor fields make a new version",
    )

    p = add("version", cmd_version, "switch a service to another version", parents=[wait])
    p.add_argument("name")
    p.add_argument("version", type=int)
    p.add_argument("-f", action="store_true", help="force the switch")

    p = add("stop", cmd_stop, "stop a service")
    p.add_argument("name")

    p = add("start", cmd_start, "start a stopped service", parents=[wait])
    p.add_argument("name")

    p = add("delete", cmd_delete, "delete a service (asks Y/n)")
    p.add_argument("name")
    p.add_argument("-y", action="store_true", help="do not ask")

    p = add(
        "release",
        cmd_release,
        "send a percentage of the original endpoint's traffic to a blue-green service",
    )
    p.add_argument("name", help="the new (blue-green) service")
    p.add_argument("-w", type=int, required=True, metavar="PERCENT")
    p.add_argument("-y", action="store_true", help="do not ask")

    p = add("test", cmd_test, "serve one service in the foreground for a local debug")
    p.add_argument("spec", help="service description (.json or .yaml)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--state-dir", type=Path, default=None)
    p.add_argument("--allow-cpu-fallback", action="store_true")

    add("gpu", cmd_gpu, "list GPUs (NVML, else nvidia-smi)")

    p = add("logs", cmd_logs, "show a service's last log lines")
    p.add_argument("name")
    p.add_argument("-n", type=int, default=50, help="how many lines (default 50; 0 for all)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``easlab`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        return int(args.func(args))
    except _CliError as exc:
        print(f"easlab {args.command}: {exc}", file=sys.stderr)
        return 2
    except EaslabError as exc:
        print(f"easlab {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `easlab desc x --json | head`: the reader left; stop quietly, and point
        # stdout at /dev/null so the interpreter's final flush does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
