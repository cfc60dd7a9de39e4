"""This VM's wake-ups: guest halt polling as the machine booted against Linux's default.

``machine.py`` says what the setting is. This section measures what it does, in
interleaved rounds: each round serves the same things under the one setting and
then the other (the order alternating from round to round), with wrk:

- the raw uvicorn echo at c=1 (the Python floor of the kernel section), to show
  that the setting moves every server on the machine, not easlab alone;
- easlab's allspark echo at c=1, with the MLP's TF request body;
- the MLP on the onnx processor at c=1 (batching off) and at c=16 (batching on);
- the MLP on the pytorch processor at c=16 (batching on).

The in-process floor calls the model back to back and never goes idle, so the
setting does not move it; issue 16's c=1 target (p50 within 0.15 ms of that call)
is a measure of the serving path only where idle vCPUs wake as fast as they do
with polling on.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import machine

ROUNDS = 3
RUN_S = 3
QUICK_RUN_S = 1


@dataclass(frozen=True)
class Target:
    """One thing served, and which of wrk's figures the table shows for it."""

    label: str
    connections: int
    url: str
    script: Path


@dataclass
class Readings:
    """The wrk results of one target under one setting, a run per round."""

    runs: list[Any] = field(default_factory=list)

    def median(self, attr: str) -> float | None:
        values = [getattr(r, attr) for r in self.runs if r.ok]
        return statistics.median(values) if values else None


def _settings() -> tuple[int, int] | None:
    """(the window the machine booted with, Linux's default); None when they are the same."""
    found = os.environ.get("EASLAB_BENCH_HALT_POLL_FOUND")  # run_all.py: before it changed it
    booted = machine.booted_halt_poll_ns()
    if booted is None:
        booted = int(found) if found else machine.halt_poll_ns()
    if booted is None or booted == machine.LINUX_DEFAULT_NS:
        return None
    return booted, machine.LINUX_DEFAULT_NS


def _targets(tmp: Path) -> list[Target]:
    """Start uvicorn and one kernel with the echo and the MLP services (``bench_kernel``
    stops them all: ``_stop_all``); what to measure."""
    import bench_kernel as bk  # benchmarks/ is on sys.path (run_all.py's folder)
    import bench_models as bm

    missing = bk.RAW_ASGI.missing()
    if missing:
        raise RuntimeError(f"the raw uvicorn echo is needed and {missing}")
    (tmp / "asgi").mkdir()
    asgi = bk.start_asgi(tmp / "asgi")
    bk._verify(asgi)
    script = bm._script(tmp, "asgi", asgi.small.body, asgi.small.content_type, {})
    url = f"http://127.0.0.1:{asgi.port}{asgi.path}"
    targets = [Target("raw uvicorn echo (the kernel section's body)", 1, url, script)]
    _, port = bk.start_kernel(tmp)
    mlp = next(m for m in bm.build_models(tmp / "models") if m.key == "mlp")
    auth = {"Authorization": bk.EASLAB_TOKEN}
    tf_body = bm.request_body(mlp, "onnx")
    tf_script = bm._script(tmp, "tf", tf_body, "application/octet-stream", auth)
    torch_script = bm._script(
        tmp, "torch", bm.request_body(mlp, "pytorch"), "application/octet-stream", auth
    )
    base = f"http://127.0.0.1:{port}"
    echo = bm.create_echo(port, tmp)
    targets.append(Target("easlab allspark echo, MLP TF body", 1, base + echo, tf_script))
    single = bm.create_service(port, bm.model_spec(mlp, "onnx", False))
    targets.append(Target(f"easlab {mlp.label}, onnx, batching off", 1, base + single, tf_script))
    batched = bm.create_service(port, bm.model_spec(mlp, "onnx", True))
    targets.append(Target(f"easlab {mlp.label}, onnx, batching on", 16, base + batched, tf_script))
    torch = bm.create_service(port, bm.model_spec(mlp, "pytorch", True))
    targets.append(
        Target(f"easlab {mlp.label}, pytorch, batching on", 16, base + torch, torch_script)
    )
    for target in targets:  # every target answers 200 before anything is timed
        result = bm._wrk(target.url, target.script, target.connections, 1)
        if not result.ok:
            raise RuntimeError(f"{target.label} failed its warm-up: {result}")
    return targets


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _ratio(new: float | None, old: float | None) -> str:
    return "—" if new is None or not old else f"{new / old:.2f}×"


def report(
    targets: list[Target],
    readings: dict[tuple[str, int], Readings],
    booted: int,
    default: int,
    run_s: int,
    rounds: int,
) -> str:
    a, b = f"{booted:,} ns (as booted)", f"{default:,} ns (Linux's default)"
    lines = [
        "## The machine: this VM's wake-ups (guest halt polling)",
        "",
        "`make bench` (this section alone: `.venv/bin/python benchmarks/run_all.py --only "
        "machine`; files `benchmarks/bench_machine.py`, `benchmarks/machine.py`). This VM "
        f"boots with guest halt polling at {booted:,} ns (its kernel command line), so an "
        "idle vCPU halts at once and every wake-up goes through the host; Linux's default "
        f"lets it poll for up to {default:,} ns first. The rest of this file ran with the "
        "setting in its header. Here the same servers ran under both settings in "
        f"{rounds} interleaved rounds (`wrk --latency`, {run_s} s a run, the order alternating "
        "from round to round); medians of the rounds, each round's value in brackets.",
        "",
        f"| served | conns | {a} | {b} | default / booted |",
        "|---|---|---|---|---|",
    ]
    for target in targets:
        old, new = readings[(target.label, booted)], readings[(target.label, default)]
        if target.connections == 1:
            cells = []
            for r in (old, new):
                each = ", ".join(f"{x.p50_ms:.3f}" if x.ok else "errors" for x in r.runs)
                cells.append(
                    f"p50 {_ms(r.median('p50_ms'))} ms ({each}); p99 {_ms(r.median('p99_ms'))}"
                )
            ratio = _ratio(new.median("p50_ms"), old.median("p50_ms")) + " (p50)"
        else:
            cells = []
            for r in (old, new):
                each = ", ".join(f"{x.requests_per_sec:,.0f}" if x.ok else "errors" for x in r.runs)
                cells.append(f"{_rate(r.median('requests_per_sec'))} req/s ({each})")
            ratio = (
                _ratio(new.median("requests_per_sec"), old.median("requests_per_sec")) + " (req/s)"
            )
        lines.append(
            f"| {target.label} | {target.connections} | {cells[0]} | {cells[1]} | {ratio} |"
        )
    lines += [
        "",
        "The setting moves the raw uvicorn echo as it moves easlab: it is the machine's "
        "wake-up cost, paid by any server whose processes go idle between requests. The "
        "in-process floor never idles, so it stays where it is, and on this VM as booted "
        "a served call pays the host's wake-ups on top of the serving path.",
    ]
    return "\n".join(lines) + "\n"


def run(quick: bool = False) -> str:
    quick = quick or os.environ.get("EASLAB_BENCH_QUICK") == "1"
    run_s = QUICK_RUN_S if quick else RUN_S
    header = "## The machine: this VM's wake-ups (guest halt polling)\n\n"
    if machine.halt_poll_ns() is None:
        return header + "Not measured: this machine has no guest halt polling (`haltpoll`).\n"
    settings = _settings()
    if settings is None:
        return header + "Not measured: this machine already polls with Linux's default.\n"
    booted, default = settings
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: run benchmarks/setup_peers.sh")
    now = machine.halt_poll_ns()
    assert now is not None
    try:
        machine.set_halt_poll_ns(now)
    except OSError as exc:
        return header + f"Not measured: the setting cannot be changed here ({exc}; needs root).\n"
    import bench_kernel as bk

    tmp = Path(tempfile.mkdtemp(prefix="easlab-bench-machine-"))
    try:
        targets = _targets(tmp)
        readings = {(t.label, ns): Readings() for t in targets for ns in (booted, default)}
        for index in range(ROUNDS):
            for ns in (booted, default) if index % 2 == 0 else (default, booted):
                machine.set_halt_poll_ns(ns)
                for target in targets:
                    threads = 1 if target.connections == 1 else 2
                    result = bk.run_wrk(
                        target.url, target.script, threads, target.connections, run_s
                    )
                    readings[(target.label, ns)].runs.append(result)
            print(f"bench_machine: round {index + 1} done", file=sys.stderr, flush=True)
        return report(targets, readings, booted, default, run_s, ROUNDS)
    finally:
        machine.set_halt_poll_ns(now)
        bk._stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv[1:]))
