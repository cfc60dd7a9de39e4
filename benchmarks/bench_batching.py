"""``rpc.batching`` on vs off for a model whose per-call cost dominates.

The model answers every request with its body, but each *call* of it costs a
fixed 5 ms however many requests the call holds (as a GPU launch and
synchronisation would): ``process_batch`` sleeps once per batch. One kernel
serves it twice, as two services with one instance and one worker thread each
(one call at a time, like one GPU): one with batching off, one with
``rpc.batching`` on (``max_batch_size`` 16, ``max_batch_timeout`` 5 ms). wrk
loads each at 16 connections, and at 1 connection to show what batching costs
a lone caller. The model counts its calls and requests, so the section reports
the mean batch size it really saw.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

BENCH_DIR = Path(__file__).resolve().parent

COST_MS = 5
MAX_BATCH = 16
BATCH_TIMEOUT_MS = 5
STATS = b"__stats__"

MODEL_APP = f"""import json
import time

import allspark

COST_S = {COST_MS} / 1000.0


class PerCallCost(allspark.BaseProcessor):
    \"\"\"Identity model whose every call costs COST_S, whatever its batch size.\"\"\"

    def initialize(self):
        self.calls = 0
        self.items = 0

    def process(self, data):
        return self.process_batch([data])[0]

    def process_batch(self, datas):
        # A counters request may share a batch with the load's last requests.
        work = [data for data in datas if data != {STATS!r}]
        if work:
            time.sleep(COST_S)
            self.calls += 1
            self.items += len(work)
        counts = json.dumps({{"calls": self.calls, "items": self.items}}).encode()
        return [(counts if data == {STATS!r} else data, 200) for data in datas]
"""


def _bench_kernel() -> ModuleType:
    """bench_kernel.py (the same directory): its wrk and server helpers."""
    import bench_kernel  # benchmarks/ is on sys.path: run_all.py's folder (tests/bench_sections.py)

    return bench_kernel


@dataclass
class Result:
    label: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    mean_batch: float
    failure: str | None = None


def _counts(bk: ModuleType, port: int, path: str) -> tuple[int, int]:
    status, answer = bk.post(
        port, path, STATS, {"Authorization": bk.EASLAB_TOKEN, "Content-Type": "text/plain"}
    )
    if status != 200:
        raise RuntimeError(f"the model's counters answered {status}: {answer[:200]!r}")
    counts = json.loads(answer)
    return int(counts["calls"]), int(counts["items"])


def _measure(
    bk: ModuleType, port: int, path: str, label: str, script: Path, connections: int, seconds: int
) -> Result:
    url = f"http://127.0.0.1:{port}{path}"
    calls0, items0 = _counts(bk, port, path)
    wrk = bk.run_wrk(url, script, 1 if connections == 1 else 2, connections, seconds)
    calls1, items1 = _counts(bk, port, path)
    calls, items = calls1 - calls0, items1 - items0
    mean = items / calls if calls else 0.0
    if not wrk.ok:
        return Result(label, connections, 0, 0, 0, mean, wrk.describe_errors())
    return Result(label, connections, wrk.requests_per_sec, wrk.p50_ms, wrk.p99_ms, mean)


def report(results: list[Result], seconds: int) -> str:
    out = [
        "## Batching on vs off (per-call cost dominates)",
        "",
        f"An identity python processor whose every call costs {COST_MS} ms whatever its "
        f"batch size (`process_batch` sleeps once per call), one instance, one worker "
        f"thread, token auth. Batching on: `rpc.max_batch_size` {MAX_BATCH}, "
        f"`rpc.max_batch_timeout` {BATCH_TIMEOUT_MS} ms. wrk, ~50 B bodies, "
        f"{seconds} s per row after a warm-up; the mean batch size is what the model "
        "counted (requests / calls) during that row.",
        "",
        "| service | connections | req/s | p50 / p99 ms | mean batch size |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        if r.failure:
            out.append(f"| {r.label} | {r.connections} | ⚠ errors: {r.failure} | — | — |")
        else:
            out.append(
                f"| {r.label} | {r.connections} | {r.rps:,.0f} | {r.p50_ms:.2f} / "
                f"{r.p99_ms:.2f} | {r.mean_batch:.1f} |"
            )
    by = {(r.label, r.connections): r for r in results if not r.failure}
    off, on = by.get(("batching off", 16)), by.get(("batching on", 16))
    if off and on and off.rps:
        out += [
            "",
            f"At 16 connections batching serves **{on.rps / off.rps:.1f}×** the requests "
            f"(the ceiling without it is 1000 / {COST_MS} = {1000 // COST_MS} calls/s). "
            + _lone_caller(by.get(("batching off", 1)), by.get(("batching on", 1))),
        ]
    return "\n".join(out) + "\n"


def _lone_caller(off: Result | None, on: Result | None) -> str:
    """What batching costs one caller alone, in this run's numbers."""
    if not (off and on and off.rps):
        return ""
    ratio = on.rps / off.rps
    if ratio >= 0.9:
        return (
            f"A lone caller loses nothing ({on.rps:,.0f} vs {off.rps:,.0f} req/s): a partial "
            "batch goes at once to an idle instance instead of waiting `max_batch_timeout`."
        )
    return (
        f"A lone caller pays for it ({on.rps:,.0f} vs {off.rps:,.0f} req/s, {ratio:.2f}×): "
        "its request waits for company that does not come."
    )


def run(quick: bool = False) -> str:
    """Serve the model with batching off and on, load both, return the Markdown section."""
    quick = quick or os.environ.get("EASLAB_BENCH_QUICK") == "1"
    bk = _bench_kernel()
    durations = bk.QUICK if quick else bk.FULL
    if shutil.which("wrk") is None:
        raise RuntimeError(
            "wrk is not installed: run benchmarks/setup_peers.sh (or apt-get install -y wrk)"
        )
    tmp = Path(tempfile.mkdtemp(prefix="easlab-bench-batching-"))
    server = None
    try:
        server, port = bk.start_kernel(tmp)
        base = {"instance": 1, "rpc.worker_threads": 1}
        services = {
            "batching off": bk.create_python_service(port, "batch_off", MODEL_APP, tmp, base),
            "batching on": bk.create_python_service(
                port,
                "batch_on",
                MODEL_APP,
                tmp,
                {
                    **base,
                    "rpc.batching": True,
                    "rpc.max_batch_size": MAX_BATCH,
                    "rpc.max_batch_timeout": BATCH_TIMEOUT_MS,
                },
            ),
        }
        body = tmp / "small.body"
        body.write_bytes(bk.SMALL_BODY)
        script = tmp / "small.lua"
        script.write_text(
            bk.lua_script(
                body,
                {"Content-Type": "application/octet-stream", "Authorization": bk.EASLAB_TOKEN},
            )
        )
        results = []
        for label, path in services.items():
            status, answer = bk.post(port, path, bk.SMALL_BODY, {"Authorization": bk.EASLAB_TOKEN})
            if status != 200 or answer != bk.SMALL_BODY:
                raise RuntimeError(f"{label}: the model answered {status} {answer[:200]!r}")
            bk.run_wrk(f"http://127.0.0.1:{port}{path}", script, 2, 16, durations.warmup_s)
            for connections in (16, 1):
                results.append(
                    _measure(bk, port, path, label, script, connections, durations.run_s)
                )
        return report(results, durations.run_s)
    finally:
        if server is not None:
            server.stop()
        bk._stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv[1:]))
