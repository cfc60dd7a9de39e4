"""``%eas`` / ``%%eas``: deploy, inspect, call and load-test services from a notebook.

``%load_ext easlab`` registers ``EasMagic``. Each subcommand is a thin shell
over a public function (``KernelClient`` methods, ``easlab.bench``,
``easlab.debug``); its arguments are parsed with IPython's ``magic_arguments``,
so ``%eas create --help`` documents itself. Settings: ``%config EasMagic.target``,
``EasMagic.timeout``, ``EasMagic.show_token``.

Failures the user can fix (a bad field, an unknown service, a wrong token, a
wrong shape, no kernel) print one red line, not a traceback.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, Float, Unicode

from easlab.errors import EaslabError, PredictException

__all__ = ["EasMagic", "load_ipython_extension", "unload_ipython_extension", "substitute"]


# ----------------------------------------------------------------------------- cell templating

_DOLLAR = re.compile(r"\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)")
_BRACES = re.compile(r"(?<!\{)\{([A-Za-z_]\w*)\}")


def substitute(text: str, namespace: dict[str, Any]) -> str:
    """Replace ``$var``, ``${var}`` and ``{var}`` with values from ``namespace``.

    ``{name}`` is replaced only when ``name`` is a variable in the namespace,
    so JSON braces and unknown words stay as written; ``$name`` with an
    unknown name is an error (it can only be a typo).
    """

    def dollar(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in namespace:
            raise ValueError(
                f"${name} in the cell: no variable {name!r} in the notebook; define it first"
            )
        return str(namespace[name])

    def braces(m: re.Match[str]) -> str:
        name = m.group(1)
        return str(namespace[name]) if name in namespace else m.group(0)

    return _BRACES.sub(braces, _DOLLAR.sub(dollar, text))


# ----------------------------------------------------------------------------- argument parsers
# One parser per subcommand; the functions only carry the decorators' parsers.


@magic_arguments(name="%eas create")
@argument("var", nargs="?", metavar="VAR", help="variable that receives the Service")
@argument(
    "--dry-run",
    action="store_true",
    help="validate and diff against the deployed service; deploy nothing",
)
@argument("--target", help="'local' (default) or a kernel URL such as http://127.0.0.1:8080")
@argument(
    "-r", "--blue-green", action="store_true", help="create a blue-green sibling (eascmd create -r)"
)
@argument(
    "--allow-cpu-fallback", action="store_true", help="run a GPU service on CPU if there is no GPU"
)
@argument("-h", "--help", action="store_true", help="show this help")
def _create_args() -> None:
    """Create a service from the cell body: a service.json in JSON or YAML, with
    $var / {var} filled in from the notebook's variables."""


@magic_arguments(name="eas ls")
@argument("-o", "--output", metavar="VAR", help="store the table (DataFrame) in VAR")
@argument("-h", "--help", action="store_true", help="show this help")
def _ls_args() -> None:
    """List the services of the kernel (eascmd ls)."""


# Positional arguments come in the CLI's order (``easlab <cmd> --help``, itself
# eascmd's): %eas version NAME ID, %eas release NAME -w P, %eas logs NAME -n 50.
# ``@argument`` lines are listed top to bottom in that order.


@magic_arguments(name="eas desc")
@argument("name", metavar="NAME", help="service name")
@argument("-o", "--output", metavar="VAR", help="store the description (dict) in VAR")
@argument("-h", "--help", action="store_true", help="show this help")
def _desc_args() -> None:
    """Describe a service (eascmd desc)."""


@magic_arguments(name="eas w")
@argument("name", metavar="NAME", help="service name")
@argument("-o", "--output", metavar="VAR", help="store the table (DataFrame) in VAR")
@argument("-h", "--help", action="store_true", help="show this help")
def _w_args() -> None:
    """Show a service's instances (eascmd w / showworkers)."""


@magic_arguments(name="eas stop")
@argument("name", metavar="NAME", help="service name")
@argument("-o", "--output", metavar="VAR", help="store the description (dict) in VAR")
@argument("-h", "--help", action="store_true", help="show this help")
def _stop_args() -> None:
    """Stop a service's instances; it keeps its name and versions (eascmd stop)."""


@magic_arguments(name="eas start")
@argument("name", metavar="NAME", help="service name")
@argument("-o", "--output", metavar="VAR", help="store the description (dict) in VAR")
@argument("-h", "--help", action="store_true", help="show this help")
def _start_args() -> None:
    """Start a stopped service (eascmd start)."""


@magic_arguments(name="eas delete")
@argument("name", metavar="NAME", help="service name")
@argument("-o", "--output", metavar="VAR", help="store the kernel's answer in VAR")
@argument("-h", "--help", action="store_true", help="show this help")
def _delete_args() -> None:
    """Delete a service; no confirmation (eascmd delete -y)."""


@magic_arguments(name="eas modify")
@argument("name", metavar="NAME", help="service name")
@argument(
    "-D",
    dest="overrides",
    action="append",
    default=[],
    metavar="KEY=VALUE",
    help="field to set, e.g. -Dmetadata.instance=2 (repeatable)",
)
@argument(
    "-s",
    dest="spec",
    metavar="JSON",
    help="partial service.json (a file, or JSON text); model/processor fields make a new version",
)
@argument("-o", "--output", metavar="VAR", help="store the new description (dict) in VAR")
@argument("-h", "--help", action="store_true", help="show this help")
def _modify_args() -> None:
    """Change a service (eascmd modify): %eas modify NAME -Dmetadata.instance=2,
    %eas modify NAME -s service.json, or %%eas modify NAME with a partial
    service.json (JSON or YAML, $var / {var} filled in) as the cell body.
    Changed model or processor fields make a new version."""


@magic_arguments(name="eas version")
@argument("name", metavar="NAME", help="service name")
@argument("version", type=int, metavar="ID", help="version id, as listed by %%eas desc NAME")
@argument("-f", "--force", action="store_true", help="force the switch")
@argument("-o", "--output", metavar="VAR", help="store the new description (dict) in VAR")
@argument("-h", "--help", action="store_true", help="show this help")
def _version_args() -> None:
    """Switch a service to another of its versions (eascmd version NAME ID)."""


@magic_arguments(name="eas release")
@argument("name", metavar="NAME", help="the blue-green service (created with %%%%eas create -r)")
@argument(
    "-w",
    "--weight",
    type=int,
    required=True,
    metavar="PERCENT",
    help="percent of the entry endpoint's traffic, 0-100",
)
@argument("-o", "--output", metavar="VAR", help="store the new description (dict) in VAR")
@argument("-h", "--help", action="store_true", help="show this help")
def _release_args() -> None:
    """Send a share of the entry endpoint's traffic to a blue-green service (eascmd release)."""


@magic_arguments(name="eas logs")
@argument("name", metavar="NAME", help="service name")
@argument("-n", type=int, default=50, help="number of lines (default 50)")
@argument("-o", "--output", metavar="VAR", help="store the lines (list of str) in VAR")
@argument("-h", "--help", action="store_true", help="show this help")
def _logs_args() -> None:
    """Show the last lines of a service's logs."""


@magic_arguments(name="eas gpu")
@argument("-o", "--output", metavar="VAR", help="store the table (DataFrame) in VAR")
@argument("-h", "--help", action="store_true", help="show this help")
def _gpu_args() -> None:
    """Show the GPUs the kernel sees."""


@magic_arguments(name="%eas predict")
@argument(
    "service", metavar="SERVICE", help="service name on the kernel, or a variable holding a Service"
)
@argument(
    "var",
    nargs="?",
    metavar="VAR",
    help="variable that receives the answer (numpy dict, DataFrame, JSON ...)",
)
@argument("--signature", help="signature name for TF/Blade requests")
@argument("--fetch", help="comma-separated outputs to fetch, e.g. scores,classes")
@argument(
    "--raw",
    action="store_true",
    help="send the cell text byte for byte and keep the answer as bytes",
)
@argument("-h", "--help", action="store_true", help="show this help")
def _predict_args() -> None:
    """Call a service. The body is JSON/text sent as-is, or a Python expression:
    a dict of numpy arrays (encoded from the service signature), a DataFrame
    (PMML JSON), bytes or str."""


@magic_arguments(name="eas bench")
@argument(
    "service", metavar="SERVICE", help="service name on the kernel, or a variable holding a Service"
)
@argument("--body", required=True, help="variable or expression giving the request body")
@argument("-n", type=int, default=1000, help="requests per concurrency level (default 1000)")
@argument("-c", "--concurrency", type=int, default=8, help="parallel connections (default 8)")
@argument("--duration", help="run for a time instead of -n requests, e.g. 10s")
@argument("--sweep", help="concurrency levels to run in turn, e.g. 1,2,4,8,16")
@argument("-o", "--output", metavar="VAR", help="store the BenchResult in VAR and return it")
@argument("-h", "--help", action="store_true", help="show this help")
def _bench_args() -> None:
    """Load-test a service: latency percentiles, throughput, errors and plots."""


@magic_arguments(name="eas debug")
@argument(
    "service", metavar="SERVICE", help="service name on the kernel, or a variable holding a Service"
)
@argument("-h", "--help", action="store_true", help="show this help")
def _debug_args() -> None:
    """Open the interactive debug widget for a service."""


_PARSERS: dict[str, Any] = {
    "create": _create_args,
    "ls": _ls_args,
    "list": _ls_args,
    "desc": _desc_args,
    "w": _w_args,
    "showworkers": _w_args,
    "stop": _stop_args,
    "start": _start_args,
    "delete": _delete_args,
    "modify": _modify_args,
    "version": _version_args,
    "release": _release_args,
    "logs": _logs_args,
    "gpu": _gpu_args,
    "predict": _predict_args,
    "bench": _bench_args,
    "debug": _debug_args,
}


def _help_text(parser: Any) -> str:
    """A subcommand's help, starting ``usage: %eas ...``.

    IPython's formatter writes usage as a reST literal block (``::``) for
    docstrings; in a cell's output a plain ``usage:`` line reads better.
    """
    text = str(parser.parser.format_help())
    if text.startswith("::"):
        text = "usage: " + text[2:].lstrip("\n ")
    return text


def _usage() -> str:
    seen: list[Any] = []
    lines = ["Subcommands (%eas SUBCOMMAND --help, or %eas help SUBCOMMAND, shows one):", ""]
    for parser in _PARSERS.values():
        if parser in seen:
            continue
        seen.append(parser)
        first = _help_text(parser).split("\n\n")
        usage = " ".join(first[0][len("usage: ") :].split())
        description = " ".join(first[1].split()) if len(first) > 1 else ""
        summary = re.split(r"(?<=[a-z)])[.:] ", description + " ", maxsplit=1)[0].rstrip(". ")
        lines.append(f"  {usage}\n      {summary}")
    return "\n".join(lines)


# subcommands whose handler receives the cell body (None when used as a line magic)
_TAKES_CELL = ("create", "predict", "modify")


def _one_line_usage(parser: Any) -> str:
    return " ".join(_help_text(parser).split("\n\n")[0][len("usage: ") :].split())


def _wants_help(rest: str) -> bool:
    """``-h``/``--help`` anywhere among the arguments: checked before parsing, since
    argparse reports a missing positional before it looks at ``-h``."""
    from IPython.utils.process import arg_split

    try:
        tokens = arg_split(rest, strict=False)
    except ValueError:  # unbalanced quotes: let the parser report them
        return False
    return any(t in ("-h", "--help") for t in tokens)


# ----------------------------------------------------------------------------- the magics


def _show(obj: Any) -> None:
    from IPython.display import display

    display(obj)


class _Html:
    """Raw HTML with a plain-text fallback for terminal IPython."""

    def __init__(self, html: str, text: str) -> None:
        self.html = html
        self.text = text

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text


@magics_class
class EasMagic(Magics):
    """The ``%eas`` line magic and ``%%eas`` cell magic."""

    target = Unicode(
        "",
        help="Kernel endpoint the magics talk to; empty means the local kernel "
        "(started in the background when none runs).",
    ).tag(config=True)
    timeout = Float(30.0, help="Seconds to wait for a prediction answer.").tag(config=True)
    show_token = Bool(False, help="Show service tokens in clear instead of masked.").tag(
        config=True
    )

    # -- entry point ----------------------------------------------------------------------
    @line_cell_magic
    def eas(self, line: str, cell: str | None = None) -> Any:
        """Work with easlab services: %eas SUBCOMMAND ... or %%eas SUBCOMMAND ... (see below)."""
        from IPython.core.error import UsageError

        sub, _, rest = line.strip().partition(" ")
        if sub in ("", "-h", "--help", "help"):
            topic = rest.strip()
            if topic in _PARSERS:
                print(_help_text(_PARSERS[topic]))
            elif topic:
                self._error(f"no subcommand {topic!r}; one of: {', '.join(sorted(_PARSERS))}")
            else:
                print(EasMagic.eas.__doc__)
            return None
        parser = _PARSERS.get(sub)
        if parser is None:
            self._error(
                f"unknown subcommand {sub!r}; one of: {', '.join(sorted(_PARSERS))} (%eas help)"
            )
            return None
        if _wants_help(rest):
            print(_help_text(parser))
            return None
        try:
            args = parse_argstring(parser, rest)
        except UsageError as exc:
            self._error(f"%eas {sub}: {exc} (usage: {_one_line_usage(parser)})")
            return None
        handler = getattr(self, f"_do_{sub.replace('showworkers', 'w').replace('list', 'ls')}")
        if sub in ("create", "predict") and cell is None:
            self._error(f"{sub} takes a cell body: write it as %%eas {sub} ... on the first line")
            return None
        try:
            return handler(args, cell) if sub in _TAKES_CELL else handler(args)
        except (EaslabError, ValueError) as exc:
            self._error(str(exc))
            return None

    def _error(self, message: str) -> None:
        from easlab.notebook.display import ErrorLine

        _show(ErrorLine(message))

    # -- helpers --------------------------------------------------------------------------
    @property
    def _ns(self) -> dict[str, Any]:
        return self.shell.user_ns  # type: ignore[no-any-return,union-attr]

    def _store(self, var: str | None, value: Any) -> None:
        if var:
            if not var.isidentifier():
                raise ValueError(f"{var!r} is not a valid variable name")
            self._ns[var] = value

    def _kernel(self, target: str | None = None, start: bool = False) -> Any:
        from easlab.client.control import connect

        endpoint = target if target is not None else self.target
        if endpoint in ("", "local"):
            return connect(None, start=start)
        return connect(endpoint)

    def _resolve(self, service: str) -> Any:
        """A ``Target`` for a service name or a notebook variable holding a Service/URL."""
        from easlab.notebook import _target

        value = self._ns.get(service, service) if service.isidentifier() else service
        if isinstance(value, str) and "://" not in value:
            desc = self._kernel().describe(value)
            return _target.Target(
                str(desc["url"]), str(desc["name"]), desc.get("token"), self.timeout
            )
        return _target.resolve(value, timeout=self.timeout)

    def _table(self, df: Any, output: str | None) -> Any:
        self._store(output, df)
        _show(df)

    # -- create ---------------------------------------------------------------------------
    def _do_create(self, args: Any, cell: str) -> Any:
        from easlab.kernel.spec import diff_specs, load_spec_source, parse_spec
        from easlab.notebook.display import ServiceSummary

        text = substitute(cell, self._ns)
        data, _ = load_spec_source(text)
        spec = parse_spec(data)  # SpecError names the field before anything is sent
        if args.dry_run:
            return self._dry_run(args, spec, diff_specs)
        kernel = self._kernel(args.target, start=True)
        service = self._with_progress(
            kernel,
            spec.name,
            lambda: kernel.create(
                data, blue_green=args.blue_green, allow_cpu_fallback=args.allow_cpu_fallback
            ),
        )
        self._store(args.var, service)
        title = f"service {service.name} created"
        if service.desc.get("status") == "Failed":
            title = f"service {service.name} failed to start"
        _show(ServiceSummary(service.desc, self.show_token, title))
        return None

    def _with_progress(self, kernel: Any, name: str, call: Callable[[], Any]) -> Any:
        """Run ``call`` (create, modify, version, start) while a live status line shows
        how the instances come up; return its result once the service has settled."""
        progress = _Progress(kernel, name)
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["value"] = call()
                _wait_settled(kernel, name)
            except BaseException as exc:  # handed to the notebook thread below
                result["error"] = exc

        worker = threading.Thread(target=run, name="easlab-progress", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(timeout=0.3)
            progress.poll()
        progress.finish(failed="error" in result)
        if "error" in result:
            raise result["error"]
        return result["value"]

    def _dry_run(self, args: Any, spec: Any, diff_specs: Callable[..., list[str]]) -> None:
        from easlab.errors import KernelError
        from easlab.notebook.display import escape

        new = spec.to_dict()
        try:
            old = self._kernel(args.target).describe(spec.name).get("spec") or {}
            verb = "would update"
        except KernelError as exc:
            if getattr(exc, "status", 0) not in (0, 404):
                raise
            old, verb = {}, "would create"
        changes = diff_specs(old, new) if old else [f"+ {line}" for line in _flat_lines(new)]
        warnings = [f"warning: {w}" for w in spec.warnings]
        head = f"{spec.name}: valid; {verb} ({len(changes)} change{'s' * (len(changes) != 1)})"
        if old and not changes:
            head = f"{spec.name}: valid; no change against the deployed service"
        text = "\n".join([head, *changes, *warnings])
        colours = {"+": "#1e7d32", "-": "#b3261e", "~": "#8a6d00", "w": "#8a6d00"}
        rows = "".join(
            f"<div style='color:{colours.get(line[:1], 'inherit')}'>{escape(line)}</div>"
            for line in [*changes, *warnings]
        )
        _show(_Html(f"<b>{escape(head)}</b><pre>{rows}</pre>", text))
        self._store(args.var, changes)

    # -- control verbs --------------------------------------------------------------------
    def _do_ls(self, args: Any) -> None:
        import pandas as pd

        rows = [
            {
                "NAME": d.get("name"),
                "STATUS": d.get("status"),
                "INSTANCES": f"{d.get('running_instance', 0)}/{d.get('total_instance', 0)}",
                "WEIGHT": d.get("weight", 100),
                "PROCESSOR": d.get("processor"),
                "VERSION": d.get("current_version"),
                "SERVICEPATH": d.get("service_path"),
                "CREATED": d.get("create_time"),
            }
            for d in self._kernel().list()
        ]
        df = pd.DataFrame(
            rows,
            columns=[
                "NAME",
                "STATUS",
                "INSTANCES",
                "WEIGHT",
                "PROCESSOR",
                "VERSION",
                "SERVICEPATH",
                "CREATED",
            ],
        )
        self._table(df, args.output)

    def _summary(self, desc: dict[str, Any], args: Any, title: str = "") -> None:
        from easlab.notebook.display import ServiceSummary

        self._store(args.output, desc)
        _show(ServiceSummary(desc, self.show_token, title))

    def _do_desc(self, args: Any) -> None:
        self._summary(self._kernel().describe(args.name), args)

    def _do_w(self, args: Any) -> None:
        import pandas as pd

        self._table(pd.DataFrame(self._kernel().workers(args.name)), args.output)

    def _do_stop(self, args: Any) -> None:
        self._summary(self._kernel().stop(args.name), args, f"service {args.name} stopped")

    def _do_start(self, args: Any) -> None:
        kernel = self._kernel()
        self._with_progress(kernel, args.name, lambda: kernel.start(args.name))
        self._summary(kernel.describe(args.name), args, f"service {args.name} started")

    def _do_delete(self, args: Any) -> None:
        answer = self._kernel().delete(args.name)
        self._store(args.output, answer)
        print(f"deleted service {answer.get('deleted', args.name)}")

    def _do_modify(self, args: Any, cell: str | None = None) -> None:
        overrides: dict[str, str] = {}
        for item in args.overrides:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"-D{item}: expected -DKEY=VALUE, e.g. -Dmetadata.instance=2")
            overrides[key.strip()] = value
        body = cell if cell is not None and cell.strip() else None
        given = [
            what
            for what, value in (("-D fields", overrides), ("-s", args.spec), ("a cell body", body))
            if value
        ]
        if len(given) != 1:
            how = "nothing" if not given else " and ".join(given)
            raise ValueError(
                f"modify takes one of -DKEY=VALUE, -s <json file or text>, or a cell body "
                f"(%%eas modify {args.name}); got {how}"
            )
        kernel = self._kernel()
        before = kernel.describe(args.name).get("current_version")
        if overrides:
            change = partial(kernel.modify, args.name, set=overrides)
        else:
            # a cell is a partial service.json, filled in like %%eas create's
            spec = args.spec if body is None else substitute(body, self._ns)
            change = partial(kernel.modify, args.name, spec=spec)
        self._with_progress(kernel, args.name, change)
        desc = kernel.describe(args.name)
        after = desc.get("current_version")
        title = f"service {args.name} modified"
        if after != before:
            title = f"service {args.name} modified: now at version {after}"
        if desc.get("status") == "Failed":
            title = f"service {args.name} failed after the change"
        self._summary(desc, args, title)

    def _do_version(self, args: Any) -> None:
        kernel = self._kernel()
        self._with_progress(
            kernel, args.name, lambda: kernel.version(args.name, args.version, force=args.force)
        )
        desc = kernel.describe(args.name)
        self._summary(desc, args, f"service {args.name} now at version {args.version}")

    def _do_release(self, args: Any) -> None:
        desc = self._kernel().release(args.name, args.weight)
        self._summary(desc, args, f"{args.name} receives {args.weight}% of the traffic")

    def _do_logs(self, args: Any) -> None:
        lines = self._kernel().logs(args.name, args.n)
        self._store(args.output, lines)
        print("\n".join(lines) if lines else f"(no log lines for {args.name})")

    def _do_gpu(self, args: Any) -> None:
        import pandas as pd

        info = self._kernel().gpu()
        df = pd.DataFrame(info.get("gpus", []))
        if df.empty:
            print(f"no GPU found (source: {info.get('source', 'none')})")
            self._store(args.output, df)
            return
        self._table(df, args.output)

    # -- predict --------------------------------------------------------------------------
    def _do_predict(self, args: Any, cell: str) -> None:
        from easlab.notebook import _call

        target = self._resolve(args.service)
        fetch = [f.strip() for f in args.fetch.split(",") if f.strip()] if args.fetch else None
        text = cell.strip("\n")
        value = text.encode("utf-8") if args.raw else self._body_value(text)
        record = _call.call(target, value, args.signature, fetch)
        if record.status != 200:
            raise PredictException(record.status, record.message())
        self._store(args.var, record.value)
        _show(record)

    def _body_value(self, text: str, strict: bool = False) -> Any:
        """JSON text is sent as written; otherwise a Python expression in the notebook's
        namespace; text that is not valid Python (or names no variable) is sent as text,
        unless ``strict`` (``bench --body`` must name a value)."""
        stripped = text.strip()
        try:
            json.loads(stripped)
            return stripped
        except ValueError:
            pass
        try:
            code = compile(stripped, "<%%eas predict>", "eval")
        except SyntaxError:
            if strict:
                raise ValueError(f"--body {text!r} is not a Python expression") from None
            return text
        try:
            return eval(code, self._ns)  # noqa: S307 - the user's own notebook expression
        except NameError as exc:
            if strict:
                raise ValueError(f"--body: {exc} in the notebook") from None
            print(f"(no variable {_missing_name(exc)!r} in the notebook: sent the cell as text)")
            return text

    # -- bench / debug --------------------------------------------------------------------
    def _do_bench(self, args: Any) -> Any:
        from easlab.notebook.loadtest import bench

        target = self._resolve(args.service)
        body = self._body_value(args.body, strict=True)
        result = bench(
            target,
            body,
            n=args.n,
            concurrency=args.concurrency,
            duration=args.duration,
            sweep=args.sweep,
        )
        if args.output:
            self._store(args.output, result)
            return result  # displayed by IPython, like %timeit -o
        _show(result)
        return None

    def _do_debug(self, args: Any) -> None:
        from easlab.notebook.widget import debug

        _show(debug(self._resolve(args.service), namespace=self._ns))


def _missing_name(exc: NameError) -> str:
    return str(getattr(exc, "name", None) or exc)


def _flat_lines(spec: dict[str, Any], prefix: str = "") -> list[str]:
    lines = []
    for key, value in spec.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            lines += _flat_lines(value, path + ".")
        else:
            shown = "****" if key == "token" else json.dumps(value, default=str)
            lines.append(f"{path}: {shown}")
    return lines


# statuses a service stays in until someone acts (eascmd waits for one of them too)
_SETTLED = ("Running", "Failed", "Stopped")
_SETTLE_TIMEOUT_S = 600.0


def _wait_settled(kernel: Any, name: str) -> None:
    """Poll the service until it runs, has failed or is stopped (instances roll over
    after ``modify``/``version`` answer)."""
    deadline = time.monotonic() + _SETTLE_TIMEOUT_S
    while kernel.describe(name).get("status") not in _SETTLED:
        if time.monotonic() > deadline:
            raise EaslabError(
                f"service {name} has not settled after {_SETTLE_TIMEOUT_S:.0f} s; "
                f"see %eas desc {name} and %eas logs {name}"
            )
        time.sleep(0.2)  # polling a remote status, not synchronising threads


class _Progress:
    """A live status line (updated in place) while a service's instances come up.

    It appears only once the call has taken ``DELAY_S``: a quick change (or a
    quick failure) shows just its summary or its one error line.
    """

    DELAY_S = 1.0

    def __init__(self, kernel: Any, name: str) -> None:
        self.kernel = kernel
        self.name = name
        self.started = time.monotonic()
        self.last_poll = 0.0
        self.text = ""
        self.handle: Any = None

    def _line(self, text: str) -> _Html:
        return _Html(f"<span style='font-family:monospace'>{text}</span>", text)

    def poll(self) -> None:
        from easlab.errors import KernelError

        now = time.monotonic()
        if now - self.started < self.DELAY_S or now - self.last_poll < 1.0:
            return
        self.last_poll = now
        try:
            d = self.kernel.describe(self.name)
            state = (
                f"{d.get('status', '?')}, {d.get('running_instance', 0)}/"
                f"{d.get('total_instance', 0)} instances running"
            )
        except KernelError:
            state = "fetching model and processor"
        if state == self.text:
            return
        self.text = state
        line = self._line(f"⏳ {self.name}: {state} ({now - self.started:.0f} s)")
        if self.handle is None:
            from IPython.display import display

            self.handle = display(line, display_id=True)
        else:
            self.handle.update(line)

    def finish(self, failed: bool = False) -> None:
        if self.handle is not None:
            elapsed = time.monotonic() - self.started
            verb = "failed after" if failed else "done in"
            self.handle.update(self._line(f"{self.name}: {verb} {elapsed:.1f} s"))


EasMagic.eas.__doc__ = (EasMagic.eas.__doc__ or "") + "\n\n" + _usage()


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext easlab``: register ``%eas``/``%%eas`` and make ``%config EasMagic`` work."""
    magic = EasMagic(shell=ipython, parent=ipython)
    ipython.register_magics(magic)
    if magic not in ipython.configurables:
        ipython.configurables.append(magic)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext easlab``: drop the magics and their configurable."""
    ipython.configurables[:] = [c for c in ipython.configurables if not isinstance(c, EasMagic)]
    magics = ipython.magics_manager.magics
    for kind in ("line", "cell"):
        magics[kind].pop("eas", None)
