"""Every verb declared once: name, arguments, help, and the function that does the work.

The ``easlab`` command's argparse parser and the ``%eas`` magic's parser are
both generated from ``VERBS``; an argument is shared unless marked for one
front only (``cli``: a file path where the magic has its cell body, ``-y``;
``magic``: the destination variable). Both fronts call ``Verb.function``
(easlab/ops.py, or a notebook function) with the shared arguments as keywords,
so a verb behaves the same wherever it is typed; only the rendering differs.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Arg", "Verb", "VERBS", "verb_named", "add_arguments", "call_kwargs", "wait_seconds"]

BOTH = frozenset({"cli", "magic"})
CLI = frozenset({"cli"})
MAGIC = frozenset({"magic"})


@dataclass(frozen=True)
class Arg:
    """One argument: argparse's flags and keywords, and the fronts that have it."""

    flags: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    fronts: frozenset[str] = BOTH
    #: passed to the verb's function under this keyword (None: front-only, not passed)
    keyword: str | None = None

    @property
    def dest(self) -> str:
        if "dest" in self.options:
            return str(self.options["dest"])
        long = next((f for f in self.flags if f.startswith("--")), self.flags[0])
        return long.lstrip("-").replace("-", "_")


def percentage(text: str) -> int:
    """``-w 30`` or ``-w 30%`` (as the console shows weights): a whole percentage."""
    value = text.strip().removesuffix("%").strip()
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole percentage: give 0-100, e.g. -w 30 (or -w 30%)"
        ) from None


def arg(*flags: str, fronts: frozenset[str] = BOTH, passed: bool = True, **options: Any) -> Arg:
    a = Arg(tuple(flags), options, fronts)
    return Arg(a.flags, a.options, a.fronts, a.dest if passed else None)


@dataclass(frozen=True)
class Verb:
    """One verb of both the CLI and the magic."""

    name: str
    help: str
    #: "module:attribute" of the public function that does the work, imported when the
    #: verb runs (predict, bench, debug need the notebook's namespace: the magic turns the
    #: cell into that function's arguments)
    function: str
    args: tuple[Arg, ...] = ()
    aliases: tuple[str, ...] = ()
    fronts: frozenset[str] = BOTH
    #: the magic takes a cell body: "required", "optional" or None
    cell: str | None = None
    #: the verb gives a value: the magic stores it in VAR / -o VAR and returns it
    produces: bool = True
    #: the verb waits for the service to settle (--timeout)
    waits: bool = False
    #: the verb needs no kernel: its function prints and returns the exit code
    local: bool = False

    def resolve(self) -> Callable[..., Any]:
        module, _, attr = self.function.partition(":")
        target: Any = importlib.import_module(module)
        for part in attr.split("."):
            target = getattr(target, part)
        return target  # type: ignore[no-any-return]

    def args_for(self, front: str) -> list[Arg]:
        own = [a for a in self.args if front in a.fronts]
        if self.waits:
            own.append(
                arg(
                    "--timeout",
                    type=wait_seconds,
                    default=600.0,
                    help="seconds to wait for the service to settle (default 600)",
                )
            )
        return own


def wait_seconds(text: str) -> float:
    """``--timeout``'s value: seconds to wait, more than 0 (``-1`` sent the create and then
    said "still Creating after -1 s")."""
    import math

    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not seconds > 0:  # nan too
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds greater than 0, e.g. --timeout 600"
        )
    return seconds


NAME = arg("name", metavar="NAME", help="service name")
UNKNOWN_KEYS = arg(
    "--allow-unknown-keys",
    action="store_true",
    help="keep keys that look like typos of known ones (a field easlab does not know yet)",
)
DRY_RUN = arg(
    "--dry-run",
    action="store_true",
    help="validate and show the changes against the deployed service; change nothing",
)
YES = arg("-y", action="store_true", help="do not ask", fronts=CLI, passed=False)

#: seldon-core-microservice's service types, and OUTPUT_TRANSFORMER (easlab/seldon/serve.py)
SELDON_SERVICE_TYPES = (
    "MODEL",
    "ROUTER",
    "TRANSFORMER",
    "COMBINER",
    "OUTPUT_TRANSFORMER",
    "OUTLIER_DETECTOR",
)
#: seldon-core-microservice arguments easlab accepts and ignores (easlab/seldon/serve.py)
SELDON_IGNORED: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("--persistence", "deprecated in seldon-core too", {"nargs": "?", "type": int, "const": 1}),
    ("--tracing", "no Jaeger tracing", {"nargs": "?", "type": int, "const": 1}),
    ("--workers", "one process serves; see --threads", {"type": int}),
    ("--max-requests", "no gunicorn worker recycling", {"type": int}),
    ("--max-requests-jitter", "no gunicorn worker recycling", {"type": int}),
    ("--keepalive", "HTTP/1.1 keep-alive always on", {"type": int}),
    ("--grpc-port", "REST only", {"type": int}),
    ("--grpc-threads", "REST only", {"type": int}),
    ("--grpc-workers", "REST only", {"type": int}),
)

VERBS: tuple[Verb, ...] = (
    Verb(
        "create",
        "create a service from a service.json / YAML description",
        "easlab.ops:create",
        (
            arg(
                "spec",
                help="service description (.json or .yaml; - reads it from stdin)",
                fronts=CLI,
            ),
            arg(
                "-r",
                "--blue-green",
                action="store_true",
                help="create a blue-green sibling <name>_<suffix> (eascmd create -r)",
            ),
            arg(
                "--allow-cpu-fallback",
                action="store_true",
                help="run a GPU service on CPU when the host lacks GPUs",
            ),
            UNKNOWN_KEYS,
            DRY_RUN,
            # A notebook runs again from the top, so there the create cell's own service
            # is found by default; a CLI create refuses it, as eascmd's does, unless asked.
            arg(
                "--exist-ok",
                action="store_true",
                help="a service of this name deployed from this same description is the "
                "one created (one that differs is still refused)",
                fronts=CLI,
            ),
            arg(
                "--exist-ok",
                action="store_true",
                default=True,
                help="the default in a notebook: a service of this name deployed from this "
                "same cell is found and used (one that differs is still refused)",
                fronts=MAGIC,
            ),
        ),
        cell="required",
        waits=True,
    ),
    Verb("ls", "list services", "easlab.ops:ls", aliases=("list",)),
    Verb("desc", "describe a service", "easlab.ops:desc", (NAME,)),
    Verb("w", "show a service's instances", "easlab.ops:w", (NAME,), aliases=("showworkers",)),
    Verb(
        "modify",
        "change a service: -Dmetadata.instance=N ..., -s <json>, or (magic) a cell body",
        "easlab.ops:modify",
        (
            NAME,
            arg(
                "-D",
                dest="overrides",
                action="append",
                default=None,
                metavar="KEY=VALUE",
                help="field to set, e.g. -Dmetadata.instance=2 (repeatable)",
            ),
            arg(
                "-s",
                dest="spec",
                metavar="JSON",
                help="partial service description (file, JSON text, or - to read it from "
                "stdin); model/processor fields make a new version",
            ),
            UNKNOWN_KEYS,
            DRY_RUN,
        ),
        cell="optional",
        waits=True,
    ),
    Verb(
        "version",
        "switch a service to another of its versions",
        "easlab.ops:version",
        (
            NAME,
            arg("version", type=int, metavar="ID", help="version id, as `desc` lists them"),
            arg(
                "-f",
                "--force",
                action="store_true",
                help="switch even to the version it serves now (its instances restart)",
            ),
        ),
        waits=True,
    ),
    Verb("stop", "stop a service; it keeps its name and versions", "easlab.ops:stop", (NAME,)),
    Verb("start", "start a stopped service", "easlab.ops:start", (NAME,), waits=True),
    Verb(
        "delete",
        "delete a service (the CLI asks Y/n unless -y)",
        "easlab.ops:delete",
        (NAME, YES),
    ),
    Verb(
        "release",
        "send a percentage of the entry endpoint's traffic to a blue-green service",
        "easlab.ops:release",
        (
            arg("name", metavar="NAME", help="the blue-green service (create -r)"),
            arg(
                "-w",
                "--weight",
                type=percentage,
                required=True,
                metavar="PERCENT",
                help="percent of the entry endpoint's traffic, 0-100",
            ),
            YES,
        ),
    ),
    Verb(
        "logs",
        "show a service's last log lines",
        "easlab.ops:logs",
        (NAME, arg("-n", type=int, default=50, help="how many lines (default 50; 0 for all)")),
    ),
    Verb(
        "upload",
        "upload a file to OSS for PAI-EAS, printing its oss:// path (--target pai --oss "
        "oss://BUCKET/PREFIX; a folder is packed); the local kernel reads local paths directly",
        "easlab.ops:upload",
        (
            arg("file", metavar="FILE", help="the file (e.g. a pysdk pack archive) or folder"),
            arg(
                "--inner",
                action="store_true",
                help="eascmd's: upload through the region's internal OSS host "
                "(oss-REGION-internal.aliyuncs.com), from inside Alibaba Cloud (PAI-DSW, an "
                "ECS instance of the region); the local kernel uploads nothing either way",
                passed=False,
            ),
        ),
        fronts=CLI,
    ),
    Verb(
        "queue",
        "show a queue service's or async service's queues: depth, in flight, puts/s, "
        "consumed/s, oldest record's age (live in a notebook; --watch in a terminal)",
        "easlab.ops:queue",
        (
            arg("name", metavar="NAME", help="queue service or asynchronous service"),
            arg("--interval", type=float, default=1.0, help="seconds between polls (default 1)"),
            arg(
                "--seconds",
                type=float,
                default=None,
                help="stop updating after N seconds (default: until stopped)",
            ),
            arg(
                "--watch",
                action="store_true",
                help="keep printing every --interval seconds (Ctrl-C stops)",
                fronts=CLI,
                passed=False,
            ),
        ),
    ),
    Verb("gpu", "list the GPUs the kernel sees (NVML, else nvidia-smi)", "easlab.ops:gpu"),
    Verb(
        "kernel",
        "see or control the serving kernels: status (every live one), start (in the "
        "background), stop, restart",
        "easlab.ops:kernel",
        (
            arg(
                "action",
                nargs="?",
                default="status",
                choices=("status", "start", "stop", "restart"),
                help="status (default), start, stop or restart",
            ),
            arg("--all", action="store_true", help="stop every kernel of this EASLAB_HOME"),
        ),
    ),
    Verb(
        "aiges",
        "iFlytek aiges wrappers: schema (the webgate JSON), run (init, exec, fini once), "
        "create (a new wrapper project)",
        "easlab.aiges.tools:aiges",
        (
            arg("action", choices=("schema", "run", "create"), help="schema, run or create"),
            arg("target", nargs="?", metavar="WRAPPER", help="wrapper.py or its folder"),
            arg("-n", "--name", help="create: the project name"),
            arg("--path", default=".", help="create: the folder to create it in (default .)"),
            arg(
                "--param",
                action="append",
                metavar="KEY=VALUE",
                help="run: a parameter instead of its declared test value (repeatable)",
            ),
            arg(
                "--input",
                action="append",
                metavar="KEY=FILE",
                help="run: an input's data from FILE instead of its declared test value",
            ),
            arg("--out", default=".", help="run: folder for binary outputs (default .)"),
            arg(
                "--config",
                help=(
                    "run: wrapperInit's config (a JSON object, text or file, its values "
                    "handed over as strings as the loader does; default: the [wrapper] "
                    "section of an aiges.toml next to the wrapper, else the class's config)"
                ),
            ),
        ),
        fronts=CLI,
        local=True,
    ),
    Verb(
        "seldon",
        "serve a Seldon Core Python component standalone, at the root, as "
        "seldon-core-microservice does (its arguments; gunicorn/gRPC ones ignored)",
        "easlab.seldon.serve:seldon",
        (
            arg("interface_name", metavar="MyModel", help="the class, from ./MyModel.py"),
            arg(
                "--service-type",
                default="MODEL",
                choices=SELDON_SERVICE_TYPES,
                help="the component's role in the graph (default MODEL)",
            ),
            arg(
                "--parameters",
                default=None,
                metavar="JSON",
                help='[{"name", "value", "type"}] for __init__ ($PREDICTIVE_UNIT_PARAMETERS)',
            ),
            arg(
                "--http-port",
                type=int,
                default=None,
                help="REST port (default $PREDICTIVE_UNIT_HTTP_SERVICE_PORT or 9000; 0: a free one)",
            ),
            arg(
                "--host",
                default="127.0.0.1",
                help="easlab only: address to bind (default 127.0.0.1; seldon-core binds 0.0.0.0)",
            ),
            arg(
                "--metrics-port",
                type=int,
                default=None,
                help="Prometheus port: GET /metrics, the custom metrics (default "
                "$PREDICTIVE_UNIT_METRICS_SERVICE_PORT or 6000; 0: a free one)",
            ),
            arg(
                "--log-level",
                default="INFO",
                choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                help="the component's logging level (default INFO)",
            ),
            arg("--debug", nargs="?", type=bool, const=True, default=None, help="log DEBUG"),
            arg(
                "--threads",
                type=int,
                default=None,
                help="requests served at once (default $GUNICORN_THREADS or 1)",
            ),
            arg("--single-threaded", type=int, default=None, help="1: one request at a time"),
            arg(
                "--access-log",
                nargs="?",
                type=bool,
                const=True,
                default=None,
                help="log each request (at INFO, with the component's log)",
            ),
            arg("--pidfile", default=None, help="write the process id there while serving"),
            *(
                arg(flag, help="accepted, ignored: " + why, **options)
                for flag, why, options in SELDON_IGNORED
            ),
        ),
        fronts=CLI,
        local=True,
    ),
    Verb(
        "pysdk",
        "python processor projects, as eascmd pysdk: init (ENV with allspark, app.py, "
        "app.json) and pack (DIR.tar.gz holding ENV/ and the code at its root)",
        "easlab.pysdk:pysdk",
        (
            arg("action", choices=("init", "pack"), help="init or pack"),
            arg("directory", metavar="DIR", help="the project folder"),
            arg(
                "--python",
                metavar="VERSION",
                help="init: ENV's Python, a version (3.11) or an interpreter "
                "(default: asks; Enter keeps easlab's)",
            ),
            arg(
                "--force",
                action="store_true",
                help="init: write into a non-empty DIR (keeps its ENV, app.py and app.json)",
            ),
            arg(
                "--without-pip",
                action="store_true",
                help="init: no pip in ENV (faster; install packages some other way)",
            ),
            arg("-o", "--output", metavar="FILE", help="pack: the archive (default DIR.tar.gz)"),
        ),
        fronts=CLI,
        local=True,
    ),
    Verb(
        "predict",
        "call a service with the cell body: a Python expression (a dict: a tensor request "
        "from the service's signature, JSON for a service without one; a DataFrame, bytes, "
        "'quoted text'), JSON, or text that is not Python; an undefined name is a NameError",
        "easlab.client.predict_client:PredictClient.predict",
        (
            arg(
                "service",
                metavar="SERVICE",
                help="service name on the kernel, or a variable holding a Service",
            ),
            arg("--signature", help="signature name for TF/Blade requests"),
            arg("--fetch", help="comma-separated outputs to fetch, e.g. scores,classes"),
            arg(
                "--raw",
                action="store_true",
                help="send the cell text byte for byte and keep the answer as bytes",
            ),
        ),
        fronts=MAGIC,
        cell="required",
    ),
    Verb(
        "bench",
        "load-test a service: latency percentiles, throughput, errors and plots",
        "easlab.notebook.loadtest:bench",
        (
            arg(
                "service",
                metavar="SERVICE",
                help="service name on the kernel, or a variable holding a Service",
            ),
            arg("--body", required=True, help="variable or expression giving the request body"),
            arg("-n", type=int, default=1000, help="requests per concurrency level (default 1000)"),
            arg(
                "-c", "--concurrency", type=int, default=8, help="parallel connections (default 8)"
            ),
            arg("--duration", help="run for a time instead of -n requests, e.g. 10s"),
            arg("--sweep", help="concurrency levels to run in turn, e.g. 1,2,4,8,16"),
        ),
        fronts=MAGIC,
    ),
    Verb(
        "monitor",
        "plot a service's traffic as the kernel counts it: requests/s, status mix, latency "
        "percentiles, CPU/memory per instance; live while the cell's output is shown",
        "easlab.notebook.monitor:monitor",
        (
            arg("service", metavar="SERVICE", help="service name on the kernel"),
            arg("--window", type=int, default=60, help="seconds shown, 1 to 900 (default 60)"),
            arg("--interval", type=float, default=1.0, help="seconds between redraws (default 1)"),
            arg("--duration", type=float, default=None, help="stop redrawing after N seconds"),
            arg("--once", action="store_true", help="draw a snapshot; do not update"),
        ),
        fronts=MAGIC,
    ),
    Verb(
        "debug",
        "open the interactive debug widget for a service",
        "easlab.notebook.debug:debug",
        (
            arg(
                "service",
                metavar="SERVICE",
                help="service name on the kernel, or a variable holding a Service",
            ),
        ),
        fronts=MAGIC,
        produces=False,
    ),
)


def verb_named(name: str) -> Verb | None:
    """The verb called ``name`` or one of its aliases."""
    for verb in VERBS:
        if name == verb.name or name in verb.aliases:
            return verb
    return None


def add_arguments(parser: argparse.ArgumentParser, verb: Verb, front: str) -> None:
    """Add ``verb``'s arguments for ``front`` ("cli" or "magic") to ``parser``."""
    for a in verb.args_for(front):
        parser.add_argument(*a.flags, **a.options)


def call_kwargs(verb: Verb, args: argparse.Namespace, front: str) -> dict[str, Any]:
    """The keywords ``verb.function`` gets from parsed arguments: the same on both fronts."""
    out: dict[str, Any] = {}
    for a in verb.args_for(front):
        if a.keyword is not None and hasattr(args, a.dest):
            out[a.keyword] = getattr(args, a.dest)
    return out
