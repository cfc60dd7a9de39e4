"""Identity tail latency at c=1: easlab's p99 against the raw uvicorn echo's, 5 rounds running.

Issue 16 (last bullet): the identity path's p99 at one connection was bimodal from
run to run (0.08–0.31 ms); the target is a p99 no more than 1.5× the raw uvicorn
ASGI echo's in *each* of 5 consecutive runs. One run of each says little about a
bimodal tail, so here both servers are started once and measured in 5 consecutive
rounds. Each round runs ``wrk -t1 -c1 --latency`` against both, one after the
other, the order alternating from round to round (uvicorn first in odd rounds,
easlab first in even ones) so that neither always runs on the warmer or the
quieter machine. Before each measured run a 1 s warm-up of the same server.

wrk's ``--latency`` table has no 99.9th percentile, so the wrk script's ``done()``
prints 50, 90, 99 and 99.9 (and the max and mean) straight from wrk's latency
histogram (``latency:percentile``, microseconds); :func:`parse_tail` reads them.
The request rate and the error counts come from wrk's own report
(``bench_kernel.parse_wrk``); a run with errors is shown as errors, never as a
latency.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
TARGET = 1.5  # easlab p99 ≤ 1.5 × raw uvicorn echo p99, in every round
ROUNDS = 5
#: the percentiles the wrk script's done() prints
PERCENTILES = (50.0, 90.0, 99.0, 99.9)
EASLAB = "easlab"
UVICORN = "uvicorn"


@dataclass(frozen=True)
class Plan:
    """How many rounds, and how long each wrk run lasts."""

    rounds: int
    warmup_s: int
    run_s: int


FULL = Plan(rounds=ROUNDS, warmup_s=1, run_s=10)
QUICK = Plan(rounds=ROUNDS, warmup_s=1, run_s=3)


def _kernel_module() -> ModuleType:
    """bench_kernel's servers, wrk script and parser (loaded once, shared with its section)."""
    import bench_kernel  # benchmarks/ is on sys.path: run_all.py's folder (tests/bench_sections.py)

    return bench_kernel


# ---------------------------------------------------------------- wrk script and its output

TAIL_DONE = """
function done(summary, latency, requests)
  for _, p in ipairs({@PERCENTILES@}) do
    io.write(string.format("tail-latency-us p%g %.1f\\n", p, latency:percentile(p)))
  end
  io.write(string.format("tail-latency-us max %.1f\\n", latency.max))
  io.write(string.format("tail-latency-us mean %.3f\\n", latency.mean))
  io.write(string.format("tail-requests %.0f\\n", summary.requests))
end
""".replace("@PERCENTILES@", ", ".join(f"{p:g}" for p in PERCENTILES))


def tail_lua(body_file: Path, headers: dict[str, str]) -> str:
    """bench_kernel's POST script plus a ``done()`` that prints the exact percentiles."""
    return _kernel_module().lua_script(body_file, headers) + TAIL_DONE


_TAIL_LINE = re.compile(r"^tail-latency-us (p[\d.]+|max|mean) ([\d.]+)\s*$", re.M)
_TAIL_REQUESTS = re.compile(r"^tail-requests (\d+)\s*$", re.M)


@dataclass(frozen=True)
class Tail:
    """One wrk run: its report (rate, errors) and the percentiles from done(), in ms."""

    wrk: Any  # bench_kernel.WrkResult
    percentiles_ms: dict[float, float]
    max_ms: float
    mean_ms: float

    @property
    def ok(self) -> bool:
        return bool(self.wrk.ok)

    def p(self, percentile: float) -> float:
        return self.percentiles_ms[percentile]


def parse_tail(output: str) -> Tail:
    """wrk's report and the done() lines of :data:`TAIL_DONE`; ValueError naming what is missing."""
    wrk = _kernel_module().parse_wrk(output)
    found = {name: float(value) / 1000.0 for name, value in _TAIL_LINE.findall(output)}
    wanted = [f"p{p:g}" for p in PERCENTILES] + ["max", "mean"]
    missing = [name for name in wanted if name not in found]
    if missing:
        raise ValueError(
            f"wrk output lacks the done() line(s) 'tail-latency-us {', '.join(missing)}' "
            f"(was the script made by tail_lua?):\n{output.strip()}"
        )
    counted = _TAIL_REQUESTS.search(output)
    if counted and int(counted.group(1)) != wrk.requests:
        raise ValueError(
            f"done() counted {counted.group(1)} requests, wrk's report {wrk.requests}: "
            "the two parts of the output are not from one run"
        )
    return Tail(
        wrk=wrk,
        percentiles_ms={p: found[f"p{p:g}"] for p in PERCENTILES},
        max_ms=found["max"],
        mean_ms=found["mean"],
    )


def run_tail_wrk(url: str, script: Path, seconds: int) -> Tail:
    """``wrk -t1 -c1 --latency`` with the tail script, parsed."""
    argv = ["wrk", "-t1", "-c1", f"-d{seconds}s", "--latency", "-s", str(script), url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    return parse_tail(done.stdout)


# ---------------------------------------------------------------- rounds and verdict


@dataclass
class Round:
    """One round: which server ran first, each server's run (or why it has none)."""

    index: int
    first: str
    load: float | None = None  # 1-minute load average just before the round
    runs: dict[str, Tail] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    #: share of one core the *other* (idle) server burnt during this server's measured run
    idle_cpu: dict[str, float] = field(default_factory=dict)

    def measured(self) -> bool:
        return all(name in self.runs and self.runs[name].ok for name in (EASLAB, UVICORN))

    def ratio(self, percentile: float) -> float | None:
        if not self.measured():
            return None
        base = self.runs[UVICORN].p(percentile)
        return self.runs[EASLAB].p(percentile) / base if base > 0 else None


def order_of(index: int) -> tuple[str, str]:
    """Round 1, 3, 5: uvicorn first; round 2, 4: easlab first."""
    return (UVICORN, EASLAB) if index % 2 == 1 else (EASLAB, UVICORN)


def verdict(rounds: list[Round], wanted: int = ROUNDS) -> tuple[bool, str]:
    """(met, the verdict in words): met only when every one of ``wanted`` rounds was
    measured and had easlab's p99 ≤ TARGET × uvicorn's."""
    above = [r.index for r in rounds if (r.ratio(99.0) or 0.0) > TARGET]
    unmeasured = [r.index for r in rounds if r.ratio(99.0) is None]
    unmeasured += list(range(len(rounds) + 1, wanted + 1))
    if not above and not unmeasured:
        return True, "**met**"
    parts = []
    if above:
        parts.append(
            f"p99 above {TARGET:g}× in round{'s' if len(above) > 1 else ''} "
            f"{', '.join(map(str, above))}"
        )
    if unmeasured:
        parts.append(
            f"round{'s' if len(unmeasured) > 1 else ''} "
            f"{', '.join(map(str, unmeasured))} not measured"
        )
    return False, f"**not met** ({'; '.join(parts)})"


def _ms(value: float) -> str:
    return f"{value:.3f}"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _cell(tail: Tail | None, failure: str | None, percentile: float) -> str:
    if tail is None:
        return f"⚠ {failure or 'not run'}"
    if not tail.ok:
        return f"⚠ errors: {tail.wrk.describe_errors()}"
    return _ms(tail.p(percentile))


def report(rounds: list[Round], plan: Plan, uvicorn_label: str, failures: list[str]) -> str:
    out = [
        "## Identity tail latency at c=1 (easlab vs the raw uvicorn echo, 5 rounds)",
        "",
        "Command: `.venv/bin/python benchmarks/run_all.py --only tail` (part of `make bench`). "
        f"Both servers started once: easlab (the kernel section's identity python service: "
        f"allspark echo, token auth, 1 instance process, 1 worker thread) and the {uvicorn_label}; "
        f"same ~50 B octet-stream body. Then {plan.rounds} consecutive rounds; each runs "
        f"`wrk -t1 -c1 -d{plan.run_s}s --latency` against both (a {plan.warmup_s} s warm-up of "
        "the same server first), uvicorn first in odd rounds and easlab first in even ones. "
        "Percentiles are read from wrk's latency histogram in the script's `done()` "
        "(`latency:percentile`), so p99.9 is exact, not interpolated from the table. "
        f"Target (issue 16): easlab's p99 ≤ {TARGET:g}× uvicorn's in each of "
        f"{ROUNDS} consecutive runs.",
        "",
        "| round | first | load | easlab p50 / p90 / p99 / p99.9 ms | easlab req/s "
        "| uvicorn p50 / p90 / p99 / p99.9 ms | uvicorn req/s | **p99 ratio** | p50 ratio "
        "| idle easlab / idle uvicorn CPU |",
        "|---|---|---:|---|---:|---|---:|---:|---:|---:|",
    ]

    def detail(r: Round, name: str) -> tuple[str, str]:
        tail, failure = r.runs.get(name), r.failures.get(name)
        if tail is None or not tail.ok:
            return _cell(tail, failure, 50.0), "—"
        return (
            " / ".join(_ms(tail.p(p)) for p in PERCENTILES),
            f"{tail.wrk.requests_per_sec:,.0f}",
        )

    for r in rounds:
        e_lat, e_rps = detail(r, EASLAB)
        u_lat, u_rps = detail(r, UVICORN)
        p99, p50 = r.ratio(99.0), r.ratio(50.0)
        mark = "" if p99 is None or p99 <= TARGET else " ✗"
        out.append(
            f"| {r.index} | {r.first} | {'—' if r.load is None else f'{r.load:.2f}'} "
            f"| {e_lat} | {e_rps} | {u_lat} | {u_rps} "
            f"| {'—' if p99 is None else f'**{p99:.2f}×**{mark}'} "
            f"| {'—' if p50 is None else f'{p50:.2f}×'} "
            f"| {_share(r.idle_cpu.get(UVICORN))} / {_share(r.idle_cpu.get(EASLAB))} |"
        )
    met, words = verdict(rounds)
    out += [
        "",
        f"easlab p99 ≤ {TARGET:g}× uvicorn's in each of {ROUNDS} consecutive runs: {words}.",
    ]
    p99s = [x for x in (r.ratio(99.0) for r in rounds) if x is not None]
    p50s = [x for x in (r.ratio(50.0) for r in rounds) if x is not None]
    if p99s:
        out.append(
            f"p99 ratio over the measured rounds: median {statistics.median(p99s):.2f}×, "
            f"range {min(p99s):.2f}–{max(p99s):.2f}×. p50 ratio: median "
            f"{statistics.median(p50s):.2f}×, range {min(p50s):.2f}–{max(p50s):.2f}×."
        )
        e99 = [r.runs[EASLAB].p(99.0) for r in rounds if r.measured()]
        u99 = [r.runs[UVICORN].p(99.0) for r in rounds if r.measured()]
        out.append(
            f"p99 across rounds: easlab {min(e99):.3f}–{max(e99):.3f} ms, "
            f"uvicorn {min(u99):.3f}–{max(u99):.3f} ms."
        )
    out += [
        "",
        "`load` is the 1-minute load average just before the round: on a shared 2-core "
        "machine another process's work shows up in the tail of whichever server runs "
        "beside it, so a round with a high load says more about the machine than the server. "
        "`idle easlab / idle uvicorn CPU`: the share of one core the idle server's processes "
        "(its whole process group) used while the other one was measured — an idle kernel that "
        "spins (a busy-wait that does not back off) would show here and would slow its "
        "neighbour's run.",
    ]
    problems = failures + [
        f"round {r.index}, {name}: {text.splitlines()[0]}"
        for r in rounds
        for name, text in r.failures.items()
    ]
    if problems:
        out += ["", "### Not measured", ""]
        out += [f"- {text.splitlines()[0]}" for text in problems]
    return "\n".join(out) + "\n"


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def run(quick: bool = False) -> str:
    """Start easlab and the uvicorn echo once, run the rounds, return the Markdown section."""
    quick = quick or os.environ.get("EASLAB_BENCH_QUICK") == "1"
    plan = QUICK if quick else FULL
    bk = _kernel_module()
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: run benchmarks/setup_peers.sh")
    uvicorn_label = bk.RAW_ASGI.label.format(v=bk.RAW_ASGI.version())
    missing = bk.RAW_ASGI.missing()
    if missing:
        raise RuntimeError(f"the raw uvicorn echo is needed and {missing}")
    tmp = Path(tempfile.mkdtemp(prefix="easlab-bench-tail-"))
    rounds: list[Round] = []
    failures: list[str] = []
    benches: dict[str, Any] = {}
    targets: dict[str, tuple[str, Path]] = {}
    try:
        for name, start in ((UVICORN, bk.start_asgi), (EASLAB, bk.start_easlab)):
            workdir = tmp / name
            workdir.mkdir()
            print(f"bench_tail: starting {name}", file=sys.stderr, flush=True)
            bench = start(workdir)
            benches[name] = bench
            bk._verify(bench)
            body = workdir / "small.body"
            body.write_bytes(bench.small.body)
            script = workdir / "tail.lua"
            script.write_text(
                tail_lua(body, {"Content-Type": bench.small.content_type, **bench.headers})
            )
            targets[name] = (f"http://127.0.0.1:{bench.port}{bench.path}", script)
        for index in range(1, plan.rounds + 1):
            r = Round(index, order_of(index)[0], _load_average())
            for name in order_of(index):
                url, script = targets[name]
                other = benches[EASLAB if name == UVICORN else UVICORN].server.proc.pid
                try:
                    run_tail_wrk(url, script, plan.warmup_s)
                    before, started = bk.group_cpu_s(other), time.monotonic()
                    r.runs[name] = run_tail_wrk(url, script, plan.run_s)
                    spent = bk.group_cpu_s(other) - before
                    r.idle_cpu[name] = spent / (time.monotonic() - started)
                except Exception as exc:  # one failed run is reported, the rounds go on
                    r.failures[name] = f"{type(exc).__name__}: {exc}"
            rounds.append(r)
            print(f"bench_tail: round {index} done", file=sys.stderr, flush=True)
    except Exception as exc:  # reported in the section, as bench_kernel does per peer
        failures.append(f"{type(exc).__name__}: {exc}")
    finally:
        for bench in benches.values():
            bench.server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return report(rounds, plan, uvicorn_label, failures)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv[1:]))
