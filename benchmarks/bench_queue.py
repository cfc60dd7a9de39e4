"""Queue services against Redis streams, and asynchronous inference against predict.

One run, side by side on loopback:

* **puts/s**: client processes putting 1 KB records as fast as each put is
  acknowledged — easlab's queue service (SQLite WAL, ``synchronous=FULL``: on
  disk before the index is answered) and Redis streams (``XADD`` through
  redis-py with hiredis) with ``appendfsync always`` (as durable) and
  ``everysec`` (up to a second of acknowledged puts lost on a crash).
* **deliveries/s**: one consumer draining a pre-filled queue — easlab's
  websocket watcher (window 64) vs ``XREADGROUP`` (count 64), with auto commit
  (``auto_commit`` / ``NOACK``) and with a commit per record (``commit`` /
  ``XACK``).
* **async inference vs predict**: the same identity python processor (one
  instance) as a synchronous service driven by client processes, and as an
  ``Async`` service fed through its input queue, every answer read back from
  its sink.

Clients are benchmarks/peers/queue_load.py, one process each (easlab's venv for
easlab, the Redis peer venv for Redis); ``make bench`` installs redis-server
(apt) and the venv (benchmarks/setup_peers.sh).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
LOAD = BENCH_DIR / "peers" / "queue_load.py"
REDIS_VENV = ROOT / ".venv-bench" / "redis"
CLIENTS = (1, 4)
RECORD_BYTES = 1024
WINDOW = 64


@dataclass(frozen=True)
class Sizes:
    put_s: float
    drain: int
    async_calls: int


FULL = Sizes(put_s=5.0, drain=10_000, async_calls=4_000)
QUICK = Sizes(put_s=1.5, drain=1_500, async_calls=600)


def _bench_kernel() -> ModuleType:
    """bench_kernel.py (the same directory): its kernel and server helpers."""
    import bench_kernel  # benchmarks/ is on sys.path: run_all.py's folder (tests/bench_sections.py)

    return bench_kernel


@dataclass
class Target:
    """One side of the comparison: how to reach it and with which Python."""

    label: str
    kind: str  # "easlab" or "redis"
    port: int
    python: str
    token: str = ""

    def load(self, mode: str, name: str, *extra: str) -> subprocess.Popen[str]:
        argv = [self.python, str(LOAD), mode, "--target", self.kind, "--port", str(self.port)]
        argv += ["--name", name, *extra]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "QUEUE_TOKEN": self.token}
        return subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )


def _collect(procs: list[subprocess.Popen[str]], what: str) -> list[dict[str, float]]:
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(
                f"{what}: a client exited {proc.returncode}: {stderr.strip()[-800:]}"
            )
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def puts_per_s(target: Target, name: str, clients: int, seconds: float) -> float:
    procs = [
        target.load("put", name, "--seconds", str(seconds), "--size", str(RECORD_BYTES))
        for _ in range(clients)
    ]
    done = _collect(procs, f"{target.label} puts")
    return sum(d["count"] for d in done) / max(d["seconds"] for d in done)


def fill(target: Target, name: str, count: int) -> None:
    half = count // 2
    procs = [
        target.load("put", name, "--count", str(n), "--seconds", "600", "--size", str(RECORD_BYTES))
        for n in (half, count - half)
    ]
    _collect(procs, f"filling {target.label}")


def deliveries_per_s(target: Target, name: str, count: int, commit: str) -> float:
    fill(target, name, count)
    proc = target.load(
        "drain", name, "--count", str(count), "--window", str(WINDOW), "--commit", commit
    )
    done = _collect([proc], f"{target.label} drain")[0]
    if done["count"] < count:
        raise RuntimeError(f"{target.label}: drained {done['count']} of {count} records")
    return done["count"] / done["seconds"]


# ---------------------------------------------------------------- Redis


def start_redis(bk: ModuleType, tmp: Path, fsync: str) -> tuple[object, int]:
    server_bin = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = bk.free_port()
    folder = tmp / f"redis-{fsync}"
    folder.mkdir()
    argv = [server_bin, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    argv += ["--appendonly", "yes", "--appendfsync", fsync, "--dir", str(folder)]
    server = bk.ServerProcess(f"redis-{fsync}", argv, ROOT, tmp / f"redis-{fsync}.log")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return server, port
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"redis-server did not answer on {port}: {server.log_tail()}")


# ---------------------------------------------------------------- easlab


def create_queue(bk: ModuleType, port: int, name: str) -> None:
    spec = {"name": name, "token": bk.EASLAB_TOKEN, "metadata": {"type": "Queue"}}
    status, answer = bk.post(
        port,
        "/easlab/v1/services",
        json.dumps({"spec": spec}).encode(),
        {"Content-Type": "application/json", **bk.ADMIN_HEADERS},
    )
    if status != 200:
        raise RuntimeError(f"creating queue {name} answered {status}: {answer[:300]!r}")


def async_vs_sync(bk: ModuleType, port: int, tmp: Path, calls: int) -> dict[str, float]:
    """The same identity processor, called synchronously and through an async service."""
    meta = {"instance": 1, "rpc.worker_threads": 1}
    bk.create_python_service(port, "sync_echo", bk.ECHO_APP, tmp, meta)
    bk.create_python_service(port, "async_echo", bk.ECHO_APP, tmp, {**meta, "type": "Async"})
    easlab = Target("easlab", "easlab", port, sys.executable, bk.EASLAB_TOKEN)
    out = {}
    for clients in CLIENTS:
        per = calls // clients
        started = time.monotonic()
        procs = [
            easlab.load("put", "sync_echo", "--echo", "--count", str(per), "--seconds", "600")
            for _ in range(clients)
        ]
        _collect(procs, "predict")
        out[f"predict c={clients}"] = per * clients / (time.monotonic() - started)
    # Async: the sink's watcher is up first; puts from 4 clients; done when every answer is read.
    drain = easlab.load(
        "drain",
        "async_echo/sink",
        "--count",
        str(calls),
        "--window",
        str(WINDOW),
        "--commit",
        "auto",
    )
    time.sleep(1.0)  # the watcher connects
    started = time.monotonic()
    per = calls // 4
    procs = [
        easlab.load("put", "async_echo", "--count", str(per), "--seconds", "600") for _ in range(4)
    ]
    _collect(procs, "async puts")
    got = _collect([drain], "async sink")[0]
    if got["count"] < per * 4:
        raise RuntimeError(f"async: {got['count']} answers of {per * 4}")
    out["async (4 putting clients, answers read from the sink)"] = (
        per * 4 / (time.monotonic() - started)
    )
    return out


# ---------------------------------------------------------------- the section


def run(quick: bool = False) -> str:
    bk = _bench_kernel()
    sizes = QUICK if quick else FULL
    redis_python = REDIS_VENV / "bin" / "python"
    missing = [
        what
        for what, there in (
            (
                "redis-server (apt)",
                shutil.which("redis-server") or Path("/usr/bin/redis-server").exists(),
            ),
            (f"redis-py ({REDIS_VENV})", redis_python.exists()),
        )
        if not there
    ]
    if missing:
        raise RuntimeError(
            f"missing {', '.join(missing)}: run benchmarks/setup_peers.sh redis (make bench does)"
        )
    tmp = Path(tempfile.mkdtemp(prefix="easlab-bench-queue-"))
    servers: list[object] = []
    try:
        kernel, port = bk.start_kernel(tmp)
        servers.append(kernel)
        targets = [
            Target(
                "easlab (SQLite WAL, synchronous=FULL)",
                "easlab",
                port,
                sys.executable,
                bk.EASLAB_TOKEN,
            )
        ]
        for fsync in ("always", "everysec"):
            server, rport = start_redis(bk, tmp, fsync)
            servers.append(server)
            targets.append(
                Target(f"Redis streams, appendfsync {fsync}", "redis", rport, str(redis_python))
            )
        puts: dict[tuple[str, int], float] = {}
        drains: dict[tuple[str, str], float] = {}
        for target in targets:
            for clients in CLIENTS:
                name = f"puts{clients}"
                if target.kind == "easlab":
                    create_queue(bk, port, name)
                puts[target.label, clients] = puts_per_s(target, name, clients, sizes.put_s)
            for commit in ("auto", "each"):
                name = f"drain_{commit}"
                if target.kind == "easlab":
                    create_queue(bk, port, name)
                drains[target.label, commit] = deliveries_per_s(target, name, sizes.drain, commit)
        inference = async_vs_sync(bk, port, tmp, sizes.async_calls)
        return report(targets, puts, drains, inference, sizes)
    finally:
        for server in reversed(servers):
            server.stop()  # type: ignore[attr-defined]
        shutil.rmtree(tmp, ignore_errors=True)


def report(
    targets: list[Target],
    puts: dict[tuple[str, int], float],
    drains: dict[tuple[str, str], float],
    inference: dict[str, float],
    sizes: Sizes,
) -> str:
    head = ["| | " + " | ".join(t.label for t in targets) + " |", "|---" * (len(targets) + 1) + "|"]
    out = [
        "## Queue services vs Redis streams, and asynchronous inference",
        "",
        f"{RECORD_BYTES} B records on loopback, every client its own process "
        "(benchmarks/peers/queue_load.py: easlab through its HTTP protocol and websocket, "
        "Redis through redis-py + hiredis). easlab answers a put only once the record "
        "is on disk (SQLite WAL, `synchronous=FULL`), like Redis with `appendfsync always`; "
        "`everysec` may lose the last second of acknowledged puts. "
        f"Puts: {sizes.put_s:g} s per cell. Deliveries: one consumer draining "
        f"{sizes.drain:,} pre-filled records, window/count {WINDOW}.",
        "",
        "### Puts/s (acknowledged)",
        "",
        *head,
    ]
    for clients in CLIENTS:
        out.append(
            f"| {clients} client{'s' if clients > 1 else ''} | "
            + " | ".join(f"{puts[t.label, clients]:,.0f}" for t in targets)
            + " |"
        )
    out += ["", "### Deliveries/s to one consumer", "", *head]
    for commit, what in (
        ("auto", "auto commit (`auto_commit` / `NOACK`)"),
        ("each", "commit each record (`commit` / `XACK`)"),
    ):
        out.append(
            f"| {what} | " + " | ".join(f"{drains[t.label, commit]:,.0f}" for t in targets) + " |"
        )
    easlab, always = targets[0].label, targets[1].label
    out += [
        "",
        "easlab / Redis (`appendfsync always`): puts "
        + ", ".join(f"{c} client(s) {puts[easlab, c] / puts[always, c]:.2f}×" for c in CLIENTS)
        + "; deliveries "
        + ", ".join(f"{c} {drains[easlab, c] / drains[always, c]:.2f}×" for c in ("auto", "each"))
        + ".",
        "",
        "### Asynchronous inference vs synchronous predict (same identity processor, one instance)",
        "",
        f"{sizes.async_calls:,} calls each; requests/s from the first call to the last answer.",
        "",
        "| how | requests/s |",
        "|---|---|",
    ]
    out += [f"| {label} | {rate:,.0f} |" for label, rate in inference.items()]
    return "\n".join(out) + "\n"
