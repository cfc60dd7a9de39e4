"""The easlab kernel against its peers: every server back to back in one run, with wrk.

Each server answers an identity ("echo the body") request; wrk measures it at
one connection, at sixteen, and with a 600 KB body. The Markdown section has the
absolute numbers (noisy on a shared machine) and the ratios that decide
easlab's targets (BENCH-ANCHORS.md), which hold within one run.

Peers live in their own virtualenvs under ``.venv-bench/<peer>`` (made by
``benchmarks/setup_peers.sh``); a peer whose venv is missing is reported as
skipped, never silently dropped.
"""

from __future__ import annotations

import atexit
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
PEERS_DIR = ROOT / "benchmarks" / "peers"
BENCH_VENVS = ROOT / ".venv-bench"

SMALL_BODY = b"easlab-bench:" + b"0123456789" * 3 + b"-identity"  # ~50 B
BIG_BODY_SIZE = 600 * 1024
EASLAB_TOKEN = "bench-token"
#: the bench kernel's control-API token (its own EASLAB_HOME holds it too)
ADMIN_TOKEN = "bench-admin-token-0123456789"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

READY_TIMEOUT_S = 240.0  # BentoML and MLServer import a lot; the machine is shared
STOP_TIMEOUT_S = 15.0

T = TypeVar("T")


@dataclass(frozen=True)
class Durations:
    """How long each wrk phase runs, in seconds."""

    warmup_s: int
    run_s: int


FULL = Durations(warmup_s=2, run_s=10)
QUICK = Durations(warmup_s=1, run_s=3)


# ---------------------------------------------------------------- wrk output


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured; ``ok`` is False when any request failed."""

    requests_per_sec: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())

    @property
    def ok(self) -> bool:
        return self.requests > 0 and self.errors == 0

    def describe_errors(self) -> str:
        parts = [f"{self.non_2xx} non-2xx"] if self.non_2xx else []
        parts += [f"{n} {kind}" for kind, n in self.socket_errors.items() if n]
        if self.requests == 0:
            parts.append("no request completed")
        return ", ".join(parts)


_LATENCY_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_REQUESTS = re.compile(r"^\s*(\d+) requests in ", re.M)
_NON_2XX = re.compile(r"^\s*Non-2xx or 3xx responses:\s+(\d+)", re.M)
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def parse_wrk(output: str) -> WrkResult:
    """Parse the text of ``wrk --latency``; raises ValueError naming what is missing."""
    rps = _RPS.search(output)
    requests = _REQUESTS.search(output)
    percentiles = {
        m.group(1): float(m.group(2)) * _LATENCY_UNITS_MS[m.group(3)]
        for m in _PERCENTILE.finditer(output)
    }
    missing = [
        name
        for name, found in (
            ("'Requests/sec:'", rps),
            ("'N requests in'", requests),
            ("'50%' latency (run wrk with --latency)", "50" in percentiles),
            ("'99%' latency (run wrk with --latency)", "99" in percentiles),
        )
        if not found
    ]
    if missing or rps is None or requests is None:
        raise ValueError(f"wrk output lacks {', '.join(missing)}:\n{output.strip()}")
    non_2xx = _NON_2XX.search(output)
    socket_errors: dict[str, int] = {}
    sock = _SOCKET_ERRORS.search(output)
    if sock:
        socket_errors = dict(
            zip(
                ("connect", "read", "write", "timeout"),
                (int(g) for g in sock.groups()),
                strict=True,
            )
        )
    return WrkResult(
        requests_per_sec=float(rps.group(1)),
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        requests=int(requests.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=socket_errors,
    )


def lua_script(body_file: Path, headers: dict[str, str]) -> str:
    """A wrk script that POSTs the bytes of ``body_file`` with ``headers``."""
    lines = [
        'wrk.method = "POST"',
        f'local f = assert(io.open({json.dumps(str(body_file))}, "rb"))',
        'wrk.body = f:read("*a")',
        "f:close()",
    ]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    return "\n".join(lines) + "\n"


def run_wrk(url: str, script: Path, threads: int, connections: int, seconds: int) -> WrkResult:
    """Run wrk once against ``url`` and parse its latency report."""
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    return parse_wrk(done.stdout)


# ---------------------------------------------------------------- CPU accounting


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of a process group."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        # fields[0] is the state (stat field 3): pgrp is field 5, utime 14, stime 15
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def parse_proc_stat(text: str) -> tuple[float, float, float]:
    """(busy, steal, all) CPU seconds of every core since boot, from ``/proc/stat``.

    Its first line counts clock ticks: user nice system idle iowait irq softirq
    steal (guest time is already inside user). Busy is what ran here: user, nice,
    system and interrupts; steal is what the hypervisor gave to other guests.
    """
    first = text.split("\n", 1)[0].split()
    if not first or first[0] != "cpu" or len(first) < 9:
        raise ValueError(f"/proc/stat starts with {text[:80]!r}, not the 'cpu' totals")
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    tick = os.sysconf("SC_CLK_TCK")
    busy = user + nice + system + irq + softirq
    return busy / tick, steal / tick, (busy + idle + iowait + steal) / tick


@dataclass(frozen=True)
class CpuUse:
    """Where every core's time went while one wrk run measured a server (seconds)."""

    machine_s: float  # all that ran on the machine: user, system, interrupts
    capacity_s: float  # all the cores had in that time, idle and stolen included
    server_s: float  # the server's process group: the kernel and its instances
    client_s: float  # wrk
    steal_s: float = 0.0

    @property
    def busy_share(self) -> float:
        return self.machine_s / self.capacity_s if self.capacity_s else 0.0

    @property
    def other_s(self) -> float:
        """The rest of the machine: this bench process, the host's own work."""
        return max(0.0, self.machine_s - self.server_s - self.client_s)


def measured_cpu(pgid: int, run: Callable[[], T]) -> tuple[T, CpuUse]:
    """``run()`` (a wrk run, a subprocess waited for), and the CPU it and the server
    ``pgid`` used meanwhile. wrk's share is this process's waited-for children's
    (``RUSAGE_CHILDREN``), so nothing else may exit in between."""
    proc_stat = Path("/proc/stat")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy, steal, total = parse_proc_stat(proc_stat.read_text())
    server = group_cpu_s(pgid)
    result = run()
    server = group_cpu_s(pgid) - server
    busy2, steal2, total2 = parse_proc_stat(proc_stat.read_text())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)

    # /proc/stat counts whole ticks: the differences of their seconds are rounded back
    # to them, or a machine busy throughout showed a hair more busy than it had cores
    # (1.5800000000017462 s of 1.5799999999871943)
    def tick(seconds: float) -> float:
        return round(seconds, 6)

    return result, CpuUse(
        tick(busy2 - busy), tick(total2 - total), server, client, tick(steal2 - steal)
    )


# ---------------------------------------------------------------- servers


def free_port() -> int:
    """A loopback port free right now (the server binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_RUNNING: set[ServerProcess] = set()


class ServerProcess:
    """A server in its own process group, so stopping it stops its workers too."""

    def __init__(
        self, name: str, argv: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        _RUNNING.add(self)

    def exited(self) -> int | None:
        return self.proc.poll()

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it if it lingers."""
        _RUNNING.discard(self)
        pgid = self.proc.pid  # start_new_session: the group id is the leader's pid
        for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                continue
            # The leader is gone; workers in its group may still be finishing.
            if not _group_alive(pgid, wait_s):
                break
        if self.proc.poll() is None:
            self.proc.wait(timeout=5)


def _group_alive(pgid: int, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.05)
    return True


@atexit.register
def _stop_all() -> None:
    for server in list(_RUNNING):
        server.stop()


def post(
    port: int, path: str, body: bytes, headers: dict[str, str], timeout: float = 30.0
) -> tuple[int, bytes]:
    """One POST over a fresh loopback connection: (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


# ---------------------------------------------------------------- peers


@dataclass(frozen=True)
class Payload:
    body: bytes
    content_type: str


@dataclass
class Bench:
    """A running server and how to talk to it."""

    server: ServerProcess
    port: int
    path: str
    small: Payload
    big: Payload
    headers: dict[str, str] = field(default_factory=dict)
    check: Callable[[bytes, bytes], bool] = lambda sent, got: True


@dataclass(frozen=True)
class Peer:
    """One row of the table: how to start the server, and whether it is installed."""

    label: str
    venv: str | None  # .venv-bench/<venv>; None: not a Python peer
    dist: str | None  # distribution whose version goes into the label
    model_server: bool
    start: Callable[[Path], Bench]

    def missing(self) -> str | None:
        if self.venv is None:
            return None
        venv = BENCH_VENVS / self.venv
        if not (venv / ".installed").exists():
            return (
                f"{venv.relative_to(ROOT)} is not installed "
                f"(run benchmarks/setup_peers.sh {self.venv})"
            )
        return None

    def version(self) -> str:
        if self.venv is None or self.dist is None:
            return ""
        found = sorted(
            (BENCH_VENVS / self.venv).glob(f"lib/python*/site-packages/{self.dist}-*.dist-info")
        )
        return found[0].name[len(self.dist) + 1 : -len(".dist-info")] if found else "?"


def _echo_check(sent: bytes, got: bytes) -> bool:
    return got == sent


def _json_echo_check(sent: bytes, got: bytes) -> bool:
    """JSON peers wrap the answer; the sent numbers (or the long string) must come back."""
    compact = got.replace(b" ", b"")
    return b"1,2,3" in compact if len(sent) < 1024 else len(got) >= BIG_BODY_SIZE


def _big_json(make: Callable[[str], object]) -> Payload:
    text = "a" * BIG_BODY_SIZE
    return Payload(json.dumps(make(text)).encode(), "application/json")


def _big_binary() -> Payload:
    return Payload(bytes(range(256)) * (BIG_BODY_SIZE // 256), "application/octet-stream")


def _venv_bin(venv: str, tool: str) -> str:
    return str(BENCH_VENVS / venv / "bin" / tool)


def start_nginx(tmp: Path) -> Bench:
    port = free_port()
    prefix = tmp / "nginx"
    prefix.mkdir()
    temps = " ".join(
        f"{kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = prefix / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
daemon off;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    {temps}
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200; }}
    }}
}}
""")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    server = ServerProcess(
        "nginx", [nginx, "-p", str(prefix), "-c", str(conf)], prefix, tmp / "nginx.log"
    )
    return Bench(server, port, "/", Payload(SMALL_BODY, "application/octet-stream"), _big_binary())


def _uvicorn(tmp: Path, name: str, app: str, path: str) -> Bench:
    port = free_port()
    argv = [
        _venv_bin("asgi", "python"),
        "-m",
        "uvicorn",
        app,
        "--app-dir",
        str(PEERS_DIR),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
        "--workers",
        "1",
    ]
    server = ServerProcess(name, argv, PEERS_DIR, tmp / f"{name}.log")
    return Bench(
        server,
        port,
        path,
        Payload(SMALL_BODY, "application/octet-stream"),
        _big_binary(),
        check=_echo_check,
    )


def start_asgi(tmp: Path) -> Bench:
    return _uvicorn(tmp, "asgi", "asgi_echo:app", "/")


def start_fastapi(tmp: Path) -> Bench:
    return _uvicorn(tmp, "fastapi", "fastapi_echo:app", "/echo")


def _mlserver(tmp: Path, name: str, parallel_workers: int) -> Bench:
    port = free_port()
    env = {
        "MLSERVER_HOST": "127.0.0.1",
        "MLSERVER_HTTP_PORT": str(port),
        "MLSERVER_GRPC_PORT": str(free_port()),
        "MLSERVER_METRICS_PORT": str(free_port()),
        "MLSERVER_PARALLEL_WORKERS": str(parallel_workers),
        "MLSERVER_LOGGING_LEVEL": "WARNING",
    }
    server = ServerProcess(
        name,
        [_venv_bin("mlserver", "mlserver"), "start", "."],
        PEERS_DIR / "mlserver_echo",
        tmp / f"{name}.log",
        env,
    )
    small = {"inputs": [{"name": "x", "shape": [3], "datatype": "INT32", "data": [1, 2, 3]}]}
    return Bench(
        server,
        port,
        "/v2/models/echo/infer",
        Payload(json.dumps(small).encode(), "application/json"),
        _big_json(
            lambda s: {"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "data": [s]}]}
        ),
        check=_json_echo_check,
    )


def start_mlserver_single(tmp: Path) -> Bench:
    return _mlserver(tmp, "mlserver-single", parallel_workers=0)


def start_mlserver_default(tmp: Path) -> Bench:
    return _mlserver(tmp, "mlserver-default", parallel_workers=1)


def start_seldon(tmp: Path) -> Bench:
    port = free_port()
    argv = [
        _venv_bin("seldon", "seldon-core-microservice"),
        "EchoModel",
        "--service-type",
        "MODEL",
        "--http-port",
        str(port),
        "--grpc-port",
        str(free_port()),
        "--metrics-port",
        str(free_port()),
        "--workers",
        "1",
        "--threads",
        "1",
    ]
    server = ServerProcess(
        "seldon",
        argv,
        PEERS_DIR / "seldon_echo",
        tmp / "seldon.log",
        {"GUNICORN_ACCESSLOG": "", "SELDON_LOG_LEVEL": "WARNING"},
    )
    return Bench(
        server,
        port,
        "/api/v1.0/predictions",
        Payload(b'{"data":{"ndarray":[[1,2,3]]}}', "application/json"),
        _big_json(lambda s: {"strData": s}),
        check=_json_echo_check,
    )


def start_litserve(tmp: Path) -> Bench:
    port = free_port()
    server = ServerProcess(
        "litserve",
        [_venv_bin("litserve", "python"), "litserve_echo.py", str(port)],
        PEERS_DIR,
        tmp / "litserve.log",
    )
    return Bench(
        server,
        port,
        "/predict",
        Payload(b'{"input":[1,2,3]}', "application/json"),
        _big_json(lambda s: {"input": s}),
        check=_json_echo_check,
    )


def start_bentoml(tmp: Path) -> Bench:
    port = free_port()
    argv = [
        _venv_bin("bentoml", "bentoml"),
        "serve",
        "service:Echo",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    server = ServerProcess(
        "bentoml",
        argv,
        PEERS_DIR / "bentoml_echo",
        tmp / "bentoml.log",
        {"BENTOML_HOME": str(tmp / "bentoml-home"), "BENTOML_DO_NOT_TRACK": "True"},
    )
    return Bench(
        server,
        port,
        "/predict",
        Payload(b'{"input":[1,2,3]}', "application/json"),
        _big_json(lambda s: {"input": s}),
        check=_json_echo_check,
    )


ECHO_APP = """import allspark


class Echo(allspark.BaseProcessor):
    def initialize(self):
        pass

    def process(self, data):
        return data, 200
"""


def start_kernel(
    tmp: Path, env: dict[str, str] | None = None, root: Path = ROOT
) -> tuple[ServerProcess, int]:
    """``easlab serve`` on a free port, in its own state dir; returns once its API answers.
    ``root``: the source tree it runs in (``ab_trees.py`` starts one of another commit)."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "easlab",
        "serve",
        "--port",
        str(port),
        "--state-dir",
        str(tmp / "easlab-state"),
    ]
    # Its own EASLAB_HOME: the bench kernel must not replace a user's runtime file.
    server = ServerProcess(
        "easlab",
        argv,
        root,
        tmp / "easlab.log",
        {"EASLAB_HOME": str(tmp / "easlab-home"), "EASLAB_ADMIN_TOKEN": ADMIN_TOKEN, **(env or {})},
    )
    _wait_for(server, lambda: _get_status(port, "/easlab/v1/kernel") == 200, "its control API")
    return server, port


def create_python_service(
    port: int, name: str, app_source: str, tmp: Path, metadata: dict[str, object]
) -> str:
    """Create a python-processor service running ``app_source``; its prediction path."""
    processor_dir = tmp / f"{name}-app"
    processor_dir.mkdir()
    (processor_dir / "app.py").write_text(app_source)
    spec = {
        "name": name,
        "token": EASLAB_TOKEN,
        "processor_type": "python",
        "processor_path": str(processor_dir),
        "processor_entry": "app.py",
        "metadata": metadata,
    }
    status, answer = post(
        port,
        "/easlab/v1/services",
        json.dumps({"spec": spec, "wait": True}).encode(),
        {"Content-Type": "application/json", **ADMIN_HEADERS},
        timeout=READY_TIMEOUT_S,
    )
    desc = json.loads(answer) if answer.startswith(b"{") else {}
    if status != 200 or desc.get("status") != "Running":
        raise RuntimeError(f"creating the {name} service answered {status}: {answer[:500]!r}")
    return str(desc.get("service_path") or f"/api/predict/{name}")


def start_easlab(tmp: Path, env: dict[str, str] | None = None) -> Bench:
    """A local kernel with one identity python-processor instance behind token auth."""
    server, port = start_kernel(tmp, env)
    path = create_python_service(
        port, "echo", ECHO_APP, tmp, {"instance": 1, "rpc.worker_threads": 1}
    )
    _check_easlab_setup(port, path)
    return Bench(
        server,
        port,
        path,
        Payload(SMALL_BODY, "application/octet-stream"),
        _big_binary(),
        headers={"Authorization": EASLAB_TOKEN},
        check=_echo_check,
    )


def _check_easlab_setup(port: int, path: str) -> None:
    """The row must measure what the targets name: token auth on, one separate instance process."""
    status, _ = post(port, path, SMALL_BODY, {"Content-Type": "application/octet-stream"})
    if status != 401:  # SPEC.md §1 (Auth): a missing token is 401
        raise RuntimeError(
            f"easlab answered {status} to a request without the token; "
            "the bench must measure a token-protected service"
        )
    kernel_pid = json.loads(_get(port, "/easlab/v1/kernel")[1])["pid"]
    workers = json.loads(_get(port, "/easlab/v1/services/echo/workers")[1])["workers"]
    pids = [worker.get("pid") for worker in workers]
    if len(pids) != 1 or pids[0] in (None, kernel_pid):
        raise RuntimeError(
            f"expected one instance process apart from the kernel (pid "
            f"{kernel_pid}), the workers API lists pids {pids}"
        )


def _get(port: int, path: str) -> tuple[int, bytes]:
    """One GET; control-API paths carry the bench kernel's admin token."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=ADMIN_HEADERS if path.startswith("/easlab/") else {})
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def _get_status(port: int, path: str) -> int | None:
    try:
        return _get(port, path)[0]
    except OSError:
        return None


def _wait_for(server: ServerProcess, ready: Callable[[], bool], what: str) -> None:
    """Poll ``ready`` until it holds; fail fast if the server exits."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        code = server.exited()
        if code is not None:
            raise RuntimeError(
                f"{server.name} exited with {code} before {what} answered:\n{server.log_tail()}"
            )
        if ready():
            return
        time.sleep(0.2)
    raise RuntimeError(
        f"{server.name}: {what} did not answer within {READY_TIMEOUT_S:.0f} s:\n{server.log_tail()}"
    )


def _verify(bench: Bench) -> None:
    """Wait for the server, then check it echoes both payloads (a wrong answer is no benchmark)."""
    last = "no answer yet"

    def answers() -> bool:
        nonlocal last
        try:
            status, got = _send(bench, bench.small, timeout=5)
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
            return False
        last = f"{status} {got[:200]!r}"
        return status == 200

    try:
        _wait_for(bench.server, answers, f"POST {bench.path}")
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}\n(last answer: {last})") from None
    for payload in (bench.small, bench.big):
        status, got = _send(bench, payload)
        if status != 200 or not bench.check(payload.body, got):
            raise RuntimeError(
                f"{bench.server.name}: POST {bench.path} with {len(payload.body)} B "
                f"answered {status} {got[:200]!r}, not the echo"
            )


def _send(bench: Bench, payload: Payload, timeout: float = 30.0) -> tuple[int, bytes]:
    return post(
        bench.port,
        bench.path,
        payload.body,
        {"Content-Type": payload.content_type, **bench.headers},
        timeout,
    )


PEERS = [
    Peer("nginx `return 200` (1 worker) — absolute floor", None, None, False, start_nginx),
    Peer("raw ASGI echo on uvicorn {v} + uvloop + httptools", "asgi", "uvicorn", False, start_asgi),
    Peer("FastAPI {v} on the same uvicorn", "asgi", "fastapi", False, start_fastapi),
    Peer("MLServer {v}, single process", "mlserver", "mlserver", True, start_mlserver_single),
    Peer(
        "MLServer {v}, default (1 inference worker)",
        "mlserver",
        "mlserver",
        True,
        start_mlserver_default,
    ),
    Peer(
        "seldon-core {v} microservice (gunicorn, 1 worker)",
        "seldon",
        "seldon_core",
        True,
        start_seldon,
    ),
    Peer(
        "LitServe {v} (API process + inference worker)",
        "litserve",
        "litserve",
        True,
        start_litserve,
    ),
    Peer("BentoML {v} (1 worker, access log off)", "bentoml", "bentoml", True, start_bentoml),
    Peer(
        "**easlab** kernel, python identity processor, token auth, 1 instance",
        None,
        None,
        False,
        start_easlab,
    ),
]
RAW_ASGI = PEERS[1]
EASLAB = PEERS[-1]
# easlab runs right after the raw uvicorn echo, so the ratio that decides compares neighbours.
RUN_ORDER = [PEERS[0], RAW_ASGI, EASLAB, *PEERS[2:-1]]
#: other names accepted by EASLAB_BENCH_PEERS
_PEER_ALIASES = {"uvicorn": "asgi", "mlserver": "mlserver_single"}


def peer_key(peer: Peer) -> str:
    """The short name of a peer for ``EASLAB_BENCH_PEERS`` (its start function, less ``start_``)."""
    return peer.start.__name__.removeprefix("start_")


def chosen_peers(selection: str | None = None) -> list[Peer]:
    """The peers to run: all, or those named in ``EASLAB_BENCH_PEERS`` (e.g. ``uvicorn,easlab``).

    A partial run is for iterating on one server; the committed report runs them all.
    """
    text = os.environ.get("EASLAB_BENCH_PEERS", "") if selection is None else selection
    names = [_PEER_ALIASES.get(n.strip(), n.strip()) for n in text.split(",") if n.strip()]
    if not names:
        return list(RUN_ORDER)
    known = {peer_key(peer) for peer in RUN_ORDER}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"EASLAB_BENCH_PEERS names unknown peer(s) {', '.join(unknown)}; "
            f"the peers are {', '.join(sorted(known | set(_PEER_ALIASES)))}"
        )
    return [peer for peer in RUN_ORDER if peer_key(peer) in names]


# ---------------------------------------------------------------- measuring


@dataclass
class Row:
    label: str
    model_server: bool
    c1: WrkResult | None = None
    c16: WrkResult | None = None
    big: WrkResult | None = None
    failure: str | None = None


def measure(peer: Peer, tmp: Path, durations: Durations) -> Row:
    """Start one server, check its echo, run the wrk phases, stop it."""
    label = peer.label.format(v=peer.version())
    row = Row(label, peer.model_server)
    missing = peer.missing()
    if missing:
        row.failure = f"skipped: {missing}"
        return row
    workdir = tmp / re.sub(r"\W+", "-", peer.start.__name__)
    workdir.mkdir()
    bench: Bench | None = None
    print(f"bench_kernel: {label}", file=sys.stderr, flush=True)
    try:
        bench = peer.start(workdir)
        _verify(bench)
        url = f"http://127.0.0.1:{bench.port}{bench.path}"
        scripts = {}
        for name, payload in (("small", bench.small), ("big", bench.big)):
            body_file = workdir / f"{name}.body"
            body_file.write_bytes(payload.body)
            script = workdir / f"{name}.lua"
            script.write_text(
                lua_script(body_file, {"Content-Type": payload.content_type, **bench.headers})
            )
            scripts[name] = script
        run_wrk(url, scripts["small"], 1, 1, durations.warmup_s)
        row.c1 = run_wrk(url, scripts["small"], 1, 1, durations.run_s)
        row.c16 = run_wrk(url, scripts["small"], 2, 16, durations.run_s)
        row.big = run_wrk(url, scripts["big"], 1, 1, durations.run_s)
    except Exception as exc:  # one broken peer must not sink the table
        row.failure = f"{type(exc).__name__}: {exc}"
    finally:
        if bench is not None:
            bench.server.stop()
        else:
            for server in list(_RUNNING):
                if server.log.parent == workdir:
                    server.stop()
    return row


# ---------------------------------------------------------------- report


def _rps(result: WrkResult | None) -> str:
    if result is None:
        return "—"
    if not result.ok:
        return f"⚠ errors: {result.describe_errors()}"
    return f"{result.requests_per_sec:,.0f}"


def _lat(result: WrkResult | None) -> str:
    if result is None or not result.ok:
        return "—"
    return f"{result.p50_ms:.2f} / {result.p99_ms:.2f}"


def _good(result: WrkResult | None) -> WrkResult | None:
    return result if result is not None and result.ok else None


@dataclass(frozen=True)
class Check:
    what: str
    easlab: float | None
    reference: float | None
    reference_name: str
    target: str
    passes: Callable[[float], bool]


def _checks(rows: list[Row], easlab: Row, raw: Row) -> list[Check]:
    def best(column: str) -> tuple[float | None, str]:
        found = [
            (r.requests_per_sec, row.label)
            for row in rows
            if row.model_server
            for r in [_good(getattr(row, column))]
            if r is not None
        ]
        if not found:
            return None, "no model-server peer measured"
        value, label = max(found)
        return value, label.split(" (")[0]

    def rps(row: Row, column: str) -> float | None:
        r = _good(getattr(row, column))
        return r.requests_per_sec if r else None

    raw_p99 = _good(raw.c1)
    easlab_p99 = _good(easlab.c1)
    best_c1, best_c1_name = best("c1")
    best_c16, best_c16_name = best("c16")
    return [
        Check(
            "c=1 req/s",
            rps(easlab, "c1"),
            rps(raw, "c1"),
            "raw uvicorn echo",
            "≥ 0.60×",
            lambda r: r >= 0.60,
        ),
        Check(
            "c=16 req/s",
            rps(easlab, "c16"),
            rps(raw, "c16"),
            "raw uvicorn echo",
            "≥ 0.60×",
            lambda r: r >= 0.60,
        ),
        Check(
            "c=1 req/s",
            rps(easlab, "c1"),
            best_c1,
            f"best model server ({best_c1_name})",
            "≥ 5×",
            lambda r: r >= 5.0,
        ),
        Check(
            "c=16 req/s",
            rps(easlab, "c16"),
            best_c16,
            f"best model server ({best_c16_name})",
            "≥ 5×",
            lambda r: r >= 5.0,
        ),
        Check(
            "p99 at c=1 (ms)",
            easlab_p99.p99_ms if easlab_p99 else None,
            raw_p99.p99_ms if raw_p99 else None,
            "raw uvicorn echo",
            "≤ 2×",
            lambda r: r <= 2.0,
        ),
        Check(
            "600 KB body, c=1 req/s",
            rps(easlab, "big"),
            rps(raw, "big"),
            "raw uvicorn echo",
            "≥ 0.60×",
            lambda r: r >= 0.60,
        ),
    ]


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def report(rows: list[Row], durations: Durations, wrk_version: str | None = None) -> str:
    """The Markdown section: the table, the target checks, and any failures."""
    order = {peer.label.format(v=peer.version()): i for i, peer in enumerate(PEERS)}
    rows = sorted(rows, key=lambda row: order.get(row.label, len(order)))
    out = [
        "## Kernel vs peers (identity model, loopback, wrk)",
        "",
        f"wrk {wrk_version or _wrk_version()}; per server: {durations.warmup_s} s warm-up, then "
        f"`wrk -t1 -c1 -d{durations.run_s}s --latency`, `wrk -t2 -c16 -d{durations.run_s}s "
        f"--latency`, and the 600 KB body at `-t1 -c1`. All servers in this one run, back to "
        "back; absolute numbers move 15–30% between runs, the ratios below are what count. "
        "Bodies: ~50 B octet-stream for nginx/uvicorn/FastAPI/easlab, the smallest JSON each "
        "model server accepts; 600 KB raw binary, or 600 KB of JSON holding one string.",
        "",
        "| server (version) | c=1 req/s | c=1 p50 / p99 ms | c=16 req/s | c=16 p50 / p99 ms "
        "| 600 KB body, c=1 req/s |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.failure and row.c1 is None:
            out.append(f"| {row.label} | not measured | | | | |")
            continue
        out.append(
            f"| {row.label} | {_rps(row.c1)} | {_lat(row.c1)} | {_rps(row.c16)} "
            f"| {_lat(row.c16)} | {_rps(row.big)} |"
        )
    easlab = next((r for r in rows if r.label.startswith("**easlab**")), None)
    raw = next((r for r in rows if r.label == RAW_ASGI.label.format(v=RAW_ASGI.version())), None)
    if easlab is not None and raw is not None:
        out += [
            "",
            "### easlab's targets (ratios within this run)",
            "",
            "| measure | easlab | reference | ratio | target | met |",
            "|---|---|---|---|---|---|",
        ]
        for check in _checks(rows, easlab, raw):
            if check.easlab is None or check.reference is None or check.reference == 0:
                ratio, met = "—", "not measured"
            else:
                r = check.easlab / check.reference
                ratio, met = f"{r:.2f}×", "yes" if check.passes(r) else "**no**"
            out.append(
                f"| {check.what} vs {check.reference_name} | {_fmt(check.easlab)} "
                f"| {_fmt(check.reference)} | {ratio} | {check.target} | {met} |"
            )
    failures = [row for row in rows if row.failure]
    if failures:
        out += ["", "### Not measured", ""]
        for row in failures:
            text = row.failure or ""
            first, _, rest = text.partition("\n")
            out.append(f"- {row.label}: {first}")
            if rest.strip():
                out += ["", "  ```", *("  " + line for line in rest.splitlines()[-15:]), "  ```"]
    return "\n".join(out) + "\n"


def _wrk_version() -> str:
    try:
        done = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    except FileNotFoundError:
        return "(not installed)"
    match = re.search(r"wrk (\S+)", done.stdout + done.stderr)
    return match.group(1) if match else "(unknown version)"


def run(quick: bool = False) -> str:
    """Benchmark every peer and easlab back to back; return the Markdown section."""
    quick = quick or os.environ.get("EASLAB_BENCH_QUICK") == "1"
    durations = QUICK if quick else FULL
    if shutil.which("wrk") is None:
        raise RuntimeError(
            "wrk is not installed: run benchmarks/setup_peers.sh "
            "(or apt-get install -y wrk nginx-light)"
        )
    tmp = Path(tempfile.mkdtemp(prefix="easlab-bench-kernel-"))
    try:
        rows = [measure(peer, tmp, durations) for peer in chosen_peers()]
        return report(rows, durations)
    finally:
        _stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv[1:]))
