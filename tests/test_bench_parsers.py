"""The benchmark harness's pure parts: wrk's report parser, the wrk script, and
run_all's handling of a section that fails (no servers, no timings)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bench_sections import load as _load

bench_kernel = _load("bench_kernel")
run_all = _load("run_all")

CLEAN = """\
Running 10s test @ http://127.0.0.1:41234/api/predict/echo
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    92.41us   60.12us   4.12ms   97.11%
    Req/Sec    10.71k   512.33    11.52k    80.20%
  Latency Distribution
     50%   84.00us
     75%   93.00us
     90%  108.00us
     99%  310.00us
  106592 requests in 10.10s, 9.25MB read
Requests/sec:  10553.67
Transfer/sec:      0.92MB
"""

WITH_ERRORS = """\
Running 10s test @ http://127.0.0.1:41234/predict
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.50ms    3.10ms  48.00ms   80.00%
    Req/Sec   640.12     40.00   700.00     70.00%
  Latency Distribution
     50%   11.90ms
     75%   13.00ms
     90%   15.00ms
     99%    1.02s
  12800 requests in 10.00s, 2.00MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 12800
Requests/sec:   1280.00
Transfer/sec:    204.80KB
"""


def test_parses_rate_percentiles_and_converts_units_to_ms() -> None:
    result = bench_kernel.parse_wrk(CLEAN)
    assert result.requests_per_sec == pytest.approx(10553.67)
    assert result.p50_ms == pytest.approx(0.084)
    assert result.p99_ms == pytest.approx(0.31)
    assert result.requests == 106592
    assert result.ok and result.errors == 0


def test_non_2xx_and_socket_errors_mark_the_run_failed() -> None:
    result = bench_kernel.parse_wrk(WITH_ERRORS)
    assert result.non_2xx == 12800
    assert result.socket_errors == {"connect": 0, "read": 3, "write": 0, "timeout": 2}
    assert result.p99_ms == pytest.approx(1020.0)
    assert not result.ok
    assert result.describe_errors() == "12800 non-2xx, 3 read, 2 timeout"


def test_report_shows_errors_instead_of_a_speed() -> None:
    bad = bench_kernel.parse_wrk(WITH_ERRORS)
    good = bench_kernel.parse_wrk(CLEAN)
    row = bench_kernel.Row("peer", model_server=True, c1=good, c16=bad, big=good)
    # the version is given: the suite runs where wrk is not installed (only `make bench` needs it)
    text = bench_kernel.report([row], bench_kernel.QUICK, wrk_version="4.1.0")
    assert "wrk 4.1.0;" in text
    line = next(line for line in text.splitlines() if line.startswith("| peer |"))
    assert "1,280" not in line
    assert "⚠ errors: 12800 non-2xx" in line
    assert "10,554" in line


def test_output_without_latency_distribution_is_rejected() -> None:
    without_latency = "\n".join(
        line for line in CLEAN.splitlines() if "%" not in line or "Latency " in line
    )
    with pytest.raises(ValueError, match="--latency"):
        bench_kernel.parse_wrk(without_latency)


def test_lua_script_posts_the_file_with_headers(tmp_path: Path) -> None:
    body = tmp_path / "body.bin"
    script = bench_kernel.lua_script(
        body, {"Content-Type": "application/json", "Authorization": "bench-token"}
    )
    assert 'wrk.method = "POST"' in script
    assert f'io.open("{body}", "rb")' in script
    assert 'wrk.headers["Authorization"] = "bench-token"' in script
    assert 'wrk.headers["Content-Type"] = "application/json"' in script


def test_a_failing_section_is_reported_not_raised(tmp_path: Path) -> None:
    module = tmp_path / "bench_broken.py"
    module.write_text("def run():\n    raise RuntimeError('peer exploded')\n")
    text = run_all.run_section("broken", module, quick=True)
    assert text.startswith("## broken")
    assert "This section failed" in text
    assert "RuntimeError: peer exploded" in text


def test_a_section_gets_a_heading_and_quick_when_it_accepts_it(tmp_path: Path) -> None:
    module = tmp_path / "bench_fine.py"
    module.write_text("def run(quick=False):\n    return f'quick={quick}'\n")
    text = run_all.run_section("fine", module, quick=True)
    assert text.startswith("## fine\n\nquick=True\n")


bench_monitor = _load("bench_monitor")


@pytest.mark.parametrize(
    ("on", "off", "word"),
    [
        ([100, 101, 99], [100, 100, 100], "**met**"),
        ([80, 81, 79], [100, 100, 100], "**not met**"),
        # the medians and the pairs disagree: noise larger than the effect, said so
        (
            [8324, 4521, 4905, 6501, 5201, 7957, 7712],
            [5809, 5358, 5839, 5667, 6200, 9443, 5273],
            "**not established",
        ),
    ],
)
def test_monitor_verdict_is_met_not_met_or_not_established(on, off, word) -> None:
    outcome = bench_monitor.Outcome(on=on, off=off)
    ratio, words = bench_monitor.verdict(outcome)
    assert ratio == pytest.approx(sorted(on)[len(on) // 2] / sorted(off)[len(off) // 2])
    assert words.startswith(word)
    text = bench_monitor.report(outcome, bench_monitor.QUICK)
    assert "| **median** |" in text and "`wrk -t2 -c16 -d2s`" in text


def test_monitor_pairs_alternate_which_kernel_runs_first() -> None:
    orders = [bench_monitor.first_then_second(i) for i in range(4)]
    assert orders == [("on", "off"), ("off", "on"), ("on", "off"), ("off", "on")]
    text = bench_monitor.report(
        bench_monitor.Outcome(on=[100, 90, 110], off=[100, 100, 100], firsts=["on", "off", "on"]),
        bench_monitor.QUICK,
    )
    assert "| 1 | on | 100 | 100 | 1.000 |" in text and "| 2 | off | 90 | 100 | 0.900 |" in text


def test_monitor_section_reports_what_was_not_measured() -> None:
    text = bench_monitor.report(
        bench_monitor.Outcome(failures=["RuntimeError: no wrk"]), bench_monitor.QUICK
    )
    assert "### Not measured" in text and "RuntimeError: no wrk" in text


def test_proc_stat_gives_busy_steal_and_all_cpu_seconds() -> None:
    tick = os.sysconf("SC_CLK_TCK")
    text = "cpu  100 10 50 800 20 3 7 10 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"
    busy, steal, total = bench_kernel.parse_proc_stat(text)
    # busy: user + nice + system + irq + softirq; all: busy + idle + iowait + steal
    assert busy == pytest.approx(170 / tick)
    assert steal == pytest.approx(10 / tick)
    assert total == pytest.approx(1000 / tick)
    with pytest.raises(ValueError, match="not the 'cpu' totals"):
        bench_kernel.parse_proc_stat("intr 1 2 3\n")


BURN = "import time\nwhile time.process_time() < {s}: pass\n"


def test_measured_cpu_splits_the_server_group_from_the_client(tmp_path: Path) -> None:
    # a "server" in its own process group and a "client" the measured call waits for,
    # each burning a known amount of CPU time (CPU seconds, not wall time)
    server = subprocess.Popen(
        [sys.executable, "-c", BURN.format(s=0.6) + "time.sleep(60)\n"], start_new_session=True
    )
    try:

        def client() -> str:
            subprocess.run([sys.executable, "-c", BURN.format(s=0.3)], check=True)
            deadline = time.monotonic() + 30
            while bench_kernel.group_cpu_s(server.pid) < 0.55 and time.monotonic() < deadline:
                time.sleep(0.05)  # until the server's burn is over, so it falls in the window
            return "done"

        result, cpu = bench_kernel.measured_cpu(server.pid, client)
    finally:
        server.kill()
        server.wait()
    assert result == "done"
    assert cpu.client_s >= 0.3 and cpu.server_s >= 0.3  # the server burned part before
    assert cpu.client_s < 1.0 and cpu.server_s <= 0.8  # neither counts the other's
    assert cpu.machine_s >= cpu.client_s and cpu.capacity_s >= cpu.machine_s
    assert 0 < cpu.busy_share <= 1


def test_the_report_ends_pointing_to_the_findings_it_does_not_rewrite() -> None:
    """make bench rewrites BENCHMARKS.md whole; what sessions learnt lives in the file its
    last line links to, which must exist (a link from the repository root)."""
    root = Path(run_all.__file__).resolve().parent.parent
    link = run_all.FINDINGS_POINTER.split("](", 1)[1].split(")", 1)[0]
    assert (root / link).is_file()
    report = (root / "BENCHMARKS.md").read_text()
    assert report.rstrip().endswith(run_all.FINDINGS_POINTER.strip())
