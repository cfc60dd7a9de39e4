"""When the kernel waits awake (kernel/awake.py): counted over many requests, not timed."""

from __future__ import annotations

from easlab.kernel import awake


def _tries(misses: int, requests: int = 100_000) -> int:
    return sum(1 for n in range(1, requests + 1) if awake.due(misses, n))


def test_waits_on_every_request_until_two_misses():
    assert _tries(0, 1000) == _tries(1, 1000) == 1000


def test_a_run_that_keeps_missing_tries_on_under_one_percent_of_its_requests():
    # Issue 16: tries on every 64th request (1.6%) landed in the p99 at c=1.
    for misses in range(awake.MISSES, 40):
        assert _tries(misses) / 100_000 < 0.01
    assert _tries(awake.MISSES) / 100_000 < 0.008  # the first gap: 128 requests
    assert _tries(awake.MISSES + 5) / 100_000 <= 0.001  # soon rarer still


def test_gaps_grow_with_each_miss_up_to_the_last_gap():
    gaps = [awake.gap(m) for m in range(awake.MISSES, awake.MISSES + 12)]
    assert gaps[0] == awake.FIRST_GAP
    assert all(b >= a for a, b in zip(gaps, gaps[1:], strict=False))
    assert gaps[-1] == awake.LAST_GAP
