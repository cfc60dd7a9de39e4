"""The benchmark run's machine setting (benchmarks/machine.py): guest halt polling is set for
the run, said in the header, and put back afterwards, also when a section raises; a machine
without the setting, or where it cannot be written, is left alone and said so.

The sysfs file is stood in for by a plain file: the real one exists only on a KVM guest with
the ``haltpoll`` driver, and writing it needs root and changes the whole machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench_sections import load as _load

machine = _load("machine")
run_all = _load("run_all")


def test_the_run_polls_with_the_asked_window_and_puts_back_what_it_found(tmp_path: Path) -> None:
    knob = tmp_path / "guest_halt_poll_ns"
    knob.write_text("0\n")
    with machine.halt_polling(200_000, knob) as line:
        assert machine.halt_poll_ns(knob) == 200_000
        assert "200,000 ns for this run" in line
        assert "0 before it and put back after" in line
    assert machine.halt_poll_ns(knob) == 0


def test_a_section_that_raises_still_gets_the_setting_put_back(tmp_path: Path) -> None:
    knob = tmp_path / "guest_halt_poll_ns"
    knob.write_text("0\n")
    with pytest.raises(RuntimeError), machine.halt_polling(200_000, knob):
        raise RuntimeError("a section failed")
    assert knob.read_text().strip() == "0"


def test_keep_and_an_equal_window_leave_the_machine_as_found(tmp_path: Path) -> None:
    knob = tmp_path / "guest_halt_poll_ns"
    knob.write_text("50000\n")
    for ns in (None, 50_000):
        with machine.halt_polling(ns, knob) as line:
            assert line == "guest halt polling: 50,000 ns, as found"
    assert knob.read_text() == "50000\n"  # never rewritten


def test_a_machine_without_halt_polling_is_said_so(tmp_path: Path) -> None:
    with machine.halt_polling(200_000, tmp_path / "absent") as line:
        assert "not on this machine" in line
    assert not (tmp_path / "absent").exists()


def test_a_window_that_cannot_be_written_is_reported_not_raised() -> None:
    # a file that reads as a number and refuses writes, from root too (tests run as root)
    knob = Path("/proc/self/oom_score")
    found = knob.read_text()
    with machine.halt_polling(200_000, knob) as line:
        assert "setting 200,000 failed" in line and "needs root" in line
    assert knob.read_text() == found


def test_the_booted_window_is_read_from_the_kernel_command_line(tmp_path: Path) -> None:
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("quiet cpuidle_haltpoll.force=1 haltpoll.guest_halt_poll_ns=0 panic=1\n")
    assert machine.booted_halt_poll_ns(cmdline) == 0
    cmdline.write_text("quiet panic=1\n")
    assert machine.booted_halt_poll_ns(cmdline) is None


def test_the_header_names_the_setting_the_run_used() -> None:
    text = run_all.header(["models"], False, ["guest halt polling: 200,000 ns for this run"])
    assert "- guest halt polling: 200,000 ns for this run\n" in text


def test_run_all_rejects_a_window_that_is_not_a_number() -> None:
    with pytest.raises(SystemExit):
        run_all.main(["--only", "wire", "--halt-poll-ns", "fast"])


bench_machine = _load("bench_machine")
bench_kernel = _load("bench_kernel")


def _wrk(rate: float, p50: float, p99: float, non_2xx: int = 0):
    return bench_kernel.WrkResult(rate, p50, p99, 1000, non_2xx)


def test_the_machine_section_shows_both_settings_medians_and_a_failed_run_as_errors():
    lone = bench_machine.Target("echo", 1, "http://x", Path("s"))
    busy = bench_machine.Target("model", 16, "http://y", Path("s"))
    readings = {
        ("echo", 0): bench_machine.Readings([_wrk(9e3, 0.10, 0.4), _wrk(9e3, 0.12, 0.5)]),
        ("echo", 200_000): bench_machine.Readings([_wrk(3e4, 0.03, 0.1), _wrk(1, 9.0, 9.0, 5)]),
        ("model", 0): bench_machine.Readings([_wrk(1e4, 1, 2), _wrk(2e4, 1, 2)]),
        ("model", 200_000): bench_machine.Readings([_wrk(3e4, 1, 2)]),
    }
    text = bench_machine.report([lone, busy], readings, 0, 200_000, 3, 2)
    echo = next(line for line in text.splitlines() if line.startswith("| echo |"))
    # the medians of the good runs only: the run with non-2xx answers is no latency
    assert "p50 0.110 ms (0.100, 0.120); p99 0.450" in echo
    assert "p50 0.030 ms (0.030, errors); p99 0.100" in echo
    assert "0.27× (p50)" in echo
    model = next(line for line in text.splitlines() if line.startswith("| model |"))
    assert "15,000 req/s (10,000, 20,000)" in model and "2.00× (req/s)" in model
    assert "0 ns (as booted)" in text and "200,000 ns (Linux's default)" in text


def test_the_machine_section_compares_the_booted_window_with_linux_default(monkeypatch):
    monkeypatch.setattr(bench_machine.machine, "booted_halt_poll_ns", lambda: 0)
    assert bench_machine._settings() == (0, 200_000)
    # a machine that boots with Linux's default has nothing to compare
    monkeypatch.setattr(bench_machine.machine, "booted_halt_poll_ns", lambda: 200_000)
    assert bench_machine._settings() is None
    # no window on the command line: the one run_all.py found before it changed it
    monkeypatch.setattr(bench_machine.machine, "booted_halt_poll_ns", lambda: None)
    monkeypatch.setenv("EASLAB_BENCH_HALT_POLL_FOUND", "50000")
    assert bench_machine._settings() == (50_000, 200_000)
