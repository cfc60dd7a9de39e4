"""An instance's malloc thresholds (easlab/kernel/allocator.py)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from easlab.kernel import allocator
from easlab.kernel.allocator import (
    USER_TUNABLES,
    USER_VARIABLES,
    for_the_log,
    user_set_malloc,
)


def test_without_a_malloc_setting_of_the_users_the_worker_fixes_the_thresholds():
    assert user_set_malloc({"PATH": "/usr/bin"}) is None
    # other tunables, malloc's included, are not the thresholds
    assert (
        user_set_malloc({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.cpu.x86_shstk=on"})
        is None
    )


@pytest.mark.parametrize("tunable", USER_TUNABLES)
def test_a_threshold_the_user_set_as_a_tunable_is_theirs(tunable):
    assert user_set_malloc({"GLIBC_TUNABLES": f"{tunable}=1048576"}) == tunable
    assert user_set_malloc({"GLIBC_TUNABLES": f"glibc.malloc.arena_max=1:{tunable}=1"}) == tunable


@pytest.mark.parametrize("variable", USER_VARIABLES)
def test_a_threshold_the_user_set_as_a_malloc_variable_is_theirs(variable):
    assert user_set_malloc({variable: "131072"}) == variable
    assert user_set_malloc({variable: ""}) is None


# Buffers the size of a CNN's activations at batch 8, made and freed in turns by
# several threads, as an instance's worker threads run a model's calls.
TURNS = """
import resource, sys, threading
import numpy as np
from easlab.kernel.allocator import keep_model_memory

if sys.argv[1] == "fixed":
    print(keep_model_memory(), file=sys.stderr)

def calls(n):
    for _ in range(n):
        a = np.empty(8 * 16 * 64 * 64, np.float32); a.fill(1)
        b = np.empty(8 * 3 * 64 * 64, np.float32); b.fill(1)
        c = np.empty(512 * 1024, np.float32); c.fill(1)
        del a
        d = np.empty(300_000, np.float32); d.fill(1)
        del b, c, d

before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    threads = [threading.Thread(target=calls, args=(10,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(env: dict[str, str], malloc: str) -> tuple[int, str]:
    out = subprocess.run(
        [sys.executable, "-c", TURNS, malloc], env=env, capture_output=True, text=True, check=True
    )
    return int(out.stdout), out.stderr


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the tunables are glibc's")
def test_freed_buffers_stay_in_the_process_instead_of_being_faulted_in_again():
    # Counted, not timed: the fault counts of the same allocations with glibc's
    # adaptive thresholds and with the instance's (47,900 against 1,700 in 5 s of a
    # served CNN, allocator.py).
    env = {
        k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES" and not k.startswith("MALLOC_")
    }
    adaptive, _ = _page_faults(env, "adaptive")
    fixed, said = _page_faults(env, "fixed")
    assert "malloc: blocks from 16 MiB mapped on their own" in said
    # One call's buffers are ~1,400 pages; 3 threads x 200 calls would fault ~850,000
    # pages if every call faulted its buffers in again. Kept in the process, each
    # thread's arena faults them about once (~4,300 measured). How often glibc's own
    # thresholds fault depends on how the threads overlap on a loaded machine (210,000 to
    # 495,000 here, 14,956 once in a loaded CI run), so the kept count is what is bounded.
    one_call = (8 * 16 * 64 * 64 + 8 * 3 * 64 * 64 + 512 * 1024 + 300_000) * 4 // 4096
    assert fixed < 3 * 3 * one_call, (fixed, one_call)
    assert adaptive > 10_000, adaptive  # the pattern does fault with glibc's default
    assert fixed * 2 < adaptive, (fixed, adaptive)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the tunables are glibc's")
def test_a_users_own_threshold_is_left_as_it_is():
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "262144"}
    _, said = _page_faults(env, "fixed")
    assert "malloc: left as MALLOC_TRIM_THRESHOLD_ sets it" in said


class _Libc:
    """Stands in for libc where mallopt must not really run in the test process: it
    answers each call as glibc would on refusal (0) or success (1), and records it."""

    def __init__(self, answers: list[int]) -> None:
        self.answers, self.calls = answers, []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return self.answers.pop(0)


@pytest.mark.parametrize(
    ("answers", "said", "made"),
    [
        ([1, 1], "malloc: blocks from 16 MiB mapped on their own, up to 32 MiB kept free", 2),
        ([0], "malloc: mallopt refused the mmap threshold, left as it is", 1),
        ([1, 0], "malloc: mallopt refused the trim threshold (the mmap threshold is fixed)", 2),
    ],
)
def test_what_mallopt_answers_is_what_the_instance_log_says(monkeypatch, answers, said, made):
    libc = _Libc(answers)
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("glibc", "2.36"))
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: libc)
    assert allocator.keep_model_memory({}).startswith(said)
    expected = [
        (allocator.M_MMAP_THRESHOLD, allocator.MMAP_THRESHOLD),
        (allocator.M_TRIM_THRESHOLD, allocator.TRIM_THRESHOLD),
    ]
    assert libc.calls == expected[:made]  # the trim threshold only once the mmap one is fixed


def test_a_users_threshold_or_another_libc_calls_no_mallopt(monkeypatch):
    libc = _Libc([])
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: libc)
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))  # musl, macOS
    assert allocator.keep_model_memory({}) == "malloc: not glibc, left as it is"
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("glibc", "2.36"))
    said = allocator.keep_model_memory({"GLIBC_TUNABLES": "glibc.malloc.top_pad=0"})
    assert said == "malloc: left as glibc.malloc.top_pad sets it"
    assert libc.calls == []


def test_only_an_unusual_allocator_note_goes_to_the_services_log():
    # the usual thresholds are the kernel's business (`w` shows them): the log is the
    # user's output, where "malloc: blocks from 16 MiB ..." came before their own prints
    assert for_the_log("malloc: blocks from 16 MiB mapped on their own, up to 32 MiB") is None
    assert for_the_log("malloc: not glibc, left as it is") is None
    assert for_the_log("malloc: left as MALLOC_TRIM_THRESHOLD_ sets it") == (
        "C allocator of the instance: left as MALLOC_TRIM_THRESHOLD_ sets it"
    )
    assert for_the_log("malloc: mallopt refused the mmap threshold, left as it is")
