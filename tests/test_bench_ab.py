"""benchmarks/ab_trees.py's pure parts: the pair order, the ratios and what it prints,
and that a kernel started in a source tree imports easlab from that tree (no servers)."""

from __future__ import annotations

import pytest

from tests.bench_sections import load as _load

bench_kernel = _load("bench_kernel")
ab_trees = _load("ab_trees")


def wrk(rps: float, p50_ms: float) -> object:
    return bench_kernel.WrkResult(rps, p50_ms, p50_ms * 2, requests=int(rps), non_2xx=0)


def test_each_pair_runs_the_other_first_in_turn():
    assert [ab_trees.order(i) for i in range(4)] == ["AB", "BA", "AB", "BA"]


def test_ratios_are_b_over_a_pair_by_pair():
    a = [wrk(1000, 1.0), wrk(2000, 0.5), wrk(1500, 0.8)]
    b = [wrk(1100, 0.9), wrk(1800, 0.55), wrk(1800, 0.6)]
    pairs = ab_trees.summarize(a, b)
    assert pairs.rps == pytest.approx([1.1, 0.9, 1.2])
    assert pairs.p50 == pytest.approx([0.9, 1.1, 0.75])
    assert pairs.rps_median == pytest.approx(1.1)
    assert pairs.p50_median == pytest.approx(0.9)
    report = pairs.report()
    assert "median 1.100, higher in 2/3" in report
    assert "median 0.900, lower in 2/3" in report


def test_unequal_runs_are_refused():
    with pytest.raises(ValueError, match="as many A runs as B runs"):
        ab_trees.summarize([wrk(1, 1)], [])


def test_a_kernel_started_in_another_tree_imports_that_tree(tmp_path):
    # ahead of the installed (editable) easlab of this checkout: else A would be B
    (tmp_path / "easlab").mkdir()
    (tmp_path / "easlab" / "__init__.py").write_text("")
    assert ab_trees.imports_from(tmp_path) == tmp_path / "easlab" / "__init__.py"
    assert ab_trees.imports_from(bench_kernel.ROOT).is_relative_to(bench_kernel.ROOT)
