"""The tail benchmark's pure parts: the wrk script's done() output parser, the round
order and the verdict (no servers, no timings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench_sections import load as _load

bench_tail = _load("bench_tail")

# wrk 4.1.0 -t1 -c1 --latency with bench_tail's script: wrk's report, then done()'s lines
REPORT = """\
Running 3s test @ http://127.0.0.1:41234/api/predict/echo
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    92.41us   60.12us   4.12ms   97.11%
    Req/Sec    10.71k   512.33    11.52k    80.20%
  Latency Distribution
     50%   84.00us
     75%   93.00us
     90%  108.00us
     99%  310.00us
  32150 requests in 3.00s, 2.79MB read
Requests/sec:  10716.55
Transfer/sec:      0.93MB
"""
DONE = """\
tail-latency-us p50 84.0
tail-latency-us p90 108.0
tail-latency-us p99 310.0
tail-latency-us p99.9 1757.0
tail-latency-us max 4120.0
tail-latency-us mean 92.411
tail-requests 32150
"""


def test_done_lines_give_exact_percentiles_in_ms() -> None:
    tail = bench_tail.parse_tail(REPORT + DONE)
    assert tail.percentiles_ms == pytest.approx({50.0: 0.084, 90.0: 0.108, 99.0: 0.31, 99.9: 1.757})
    assert tail.max_ms == pytest.approx(4.12)
    assert tail.mean_ms == pytest.approx(0.092411)
    assert tail.wrk.requests_per_sec == pytest.approx(10716.55)
    assert tail.ok


def test_output_without_the_done_lines_is_rejected() -> None:
    without = REPORT + "\n".join(line for line in DONE.splitlines() if "p99.9" not in line)
    with pytest.raises(ValueError, match=r"p99\.9.*tail_lua"):
        bench_tail.parse_tail(without)


def test_done_and_report_from_different_runs_are_rejected() -> None:
    with pytest.raises(ValueError, match="not from one run"):
        bench_tail.parse_tail(REPORT + DONE.replace("tail-requests 32150", "tail-requests 9"))


def test_tail_script_posts_and_prints_the_percentiles(tmp_path: Path) -> None:
    script = bench_tail.tail_lua(tmp_path / "body.bin", {"Authorization": "bench-token"})
    assert 'wrk.method = "POST"' in script
    assert 'wrk.headers["Authorization"] = "bench-token"' in script
    assert "function done(summary, latency, requests)" in script
    assert "ipairs({50, 90, 99, 99.9})" in script
    assert "latency:percentile(p)" in script


def test_rounds_alternate_which_server_goes_first() -> None:
    firsts = [bench_tail.order_of(i)[0] for i in range(1, 6)]
    assert firsts == ["uvicorn", "easlab", "uvicorn", "easlab", "uvicorn"]


def _round(index: int, easlab_p99_us: float, uvicorn_p99_us: float = 100.0):
    r = bench_tail.Round(index, bench_tail.order_of(index)[0], load=0.5)
    for name, p99 in (("easlab", easlab_p99_us), ("uvicorn", uvicorn_p99_us)):
        text = DONE.replace("p99 310.0", f"p99 {p99}")
        r.runs[name] = bench_tail.parse_tail(REPORT + text)
    return r


def test_verdict_met_only_when_every_round_is_within_the_target() -> None:
    met, words = bench_tail.verdict([_round(i, 140.0) for i in range(1, 6)])
    assert met and words == "**met**"
    rounds = [_round(i, 160.0 if i in (2, 4) else 120.0) for i in range(1, 6)]
    met, words = bench_tail.verdict(rounds)
    assert not met and words == "**not met** (p99 above 1.5× in rounds 2, 4)"


def test_a_missing_or_failed_round_is_not_met() -> None:
    rounds = [_round(i, 100.0) for i in range(1, 4)]
    rounds[1].runs.pop("easlab")
    rounds[1].failures["easlab"] = "RuntimeError: wrk exited 1"
    met, words = bench_tail.verdict(rounds)
    assert not met and words == "**not met** (rounds 2, 4, 5 not measured)"
    text = bench_tail.report(rounds, bench_tail.QUICK, "raw ASGI echo", [])
    assert "| 1 | uvicorn | 0.50 | 0.084 / 0.108 / 0.100 / 1.757 |" in text
    assert "⚠ RuntimeError: wrk exited 1" in text
    assert "### Not measured" in text and "round 2, easlab: RuntimeError" in text
