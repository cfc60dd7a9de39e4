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
