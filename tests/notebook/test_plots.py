"""Plots render headless (Agg), carry labelled axes and percentile lines, span the data."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from easlab.notebook.loadtest import BenchResult
from easlab.notebook.plots import Plot, figure_png, plot_latency, plot_sweep, plot_traffic

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _result(sweep: bool = False) -> BenchResult:
    rng = np.random.default_rng(0)
    levels = [1, 2, 4, 8] if sweep else [4]
    frames = []
    for c in levels:
        n = 300
        total = rng.gamma(4.0, 0.5 + 0.2 * c, n)
        frames.append(
            pd.DataFrame(
                {
                    "concurrency": c,
                    "worker": rng.integers(0, c, n),
                    "start_s": np.sort(rng.uniform(0, 2, n)),
                    "send_ms": total * 0.05,
                    "server_ms": total * 0.9,
                    "receive_ms": total * 0.05,
                    "total_ms": total,
                    "status": np.where(rng.uniform(size=n) < 0.02, 503, 200),
                    "bytes": 10,
                    "error": "",
                }
            )
        )
    return BenchResult(
        pd.concat(frames, ignore_index=True),
        {c: 2.0 for c in levels},
        "http://127.0.0.1/api/predict/demo",
        levels if sweep else None,
    )


def test_plot_latency_axes_lines_and_extents():
    before = dict(matplotlib.rcParams)
    r = _result()
    hist, cdf, over_time = plot_latency(r)
    assert hist.get_xlabel() == "latency (ms)" and hist.get_ylabel() == "requests"
    assert cdf.get_ylabel() == "cumulative fraction of requests"
    assert over_time.get_xlabel() == "time since start (s)"
    assert over_time.get_ylabel() == "latency (ms)"
    lines = {ln.get_gid(): ln for ln in hist.get_lines() if ln.get_gid()}
    assert set(lines) == {"p50", "p90", "p99"}
    for q in (50, 90, 99):
        x = lines[f"p{q}"].get_xdata()[0]
        assert x == pytest.approx(np.percentile(r.df["total_ms"], q))
        assert f"p{q} = {x:.2f} ms" in [t.get_text() for t in hist.get_legend().get_texts()]
    lo, hi = hist.get_xlim()
    assert lo <= r.df["total_ms"].min() and hi >= r.df["total_ms"].max()
    # the CDF ends at 1 at the largest latency
    cdf_line = cdf.get_lines()[0]
    assert cdf_line.get_ydata()[-1] == pytest.approx(1.0)
    assert cdf_line.get_xdata()[-1] == pytest.approx(r.max)
    # errors are drawn apart on the time plot
    assert len(over_time.collections) == 2
    png = figure_png(hist.figure)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "latency.png").write_bytes(png)
    assert dict(matplotlib.rcParams) == before  # no global state touched


def test_plot_latency_on_a_given_axis():
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    axes = plot_latency(_result(), ax=ax)
    assert axes[0] is ax and len(axes) == 2


def test_plot_sweep():
    r = _result(sweep=True)
    tp, lat = plot_sweep(r)
    assert tp.get_ylabel() == "throughput (req/s)"
    assert tp.get_xlabel() == "concurrency (parallel requests)"
    assert lat.get_ylabel() == "latency (ms)"
    assert list(tp.get_lines()[0].get_xdata()) == [1, 2, 4, 8]
    p99 = [ln for ln in lat.get_lines() if ln.get_label() == "p99"][0]
    assert np.allclose(p99.get_ydata(), r.sweep_df["p99"])
    (ARTIFACTS / "sweep.png").write_bytes(figure_png(tp.figure))


def test_plot_sweep_needs_a_sweep():
    with pytest.raises(ValueError, match="sweep"):
        plot_sweep(_result())


def test_plot_traffic():
    (ax,) = plot_traffic({"demo": 80, "demo_b": 20})
    assert ax.get_ylabel() == "requests answered"
    assert [t.get_text() for t in ax.texts] == ["80 (80%)", "20 (20%)"]
    assert figure_png(ax.figure)[:4] == b"\x89PNG"


def test_empty_result_is_a_clear_error():
    empty = _result().df.iloc[:0]
    with pytest.raises(ValueError, match="no requests"):
        plot_latency(empty)


def test_plot_is_a_sequence_of_axes_with_its_figure(tmp_path):
    plot = plot_latency(_result())
    assert isinstance(plot, Plot) and len(plot) == 3
    hist, cdf, over_time = plot
    assert plot[0] is hist and list(plot) == [hist, cdf, over_time] and plot[1:] == [cdf, over_time]
    assert plot.figure is hist.figure
    # customising the returned axes changes what is rendered
    before = plot.png()
    hist.set_title("customised")
    assert plot.png() != before and plot._repr_png_()[:4] == b"\x89PNG"
    plot.savefig(tmp_path / "latency.png")
    assert (tmp_path / "latency.png").read_bytes()[:4] == b"\x89PNG"
    # the text form is one short line, not a figure dump
    assert repr(plot) == ("<easlab Plot: 3 axes: 'customised', 'Latency over time'>")


def test_outside_a_kernel_nothing_is_queued_for_display():
    from easlab.notebook import plots

    plot_latency(_result())
    plot_sweep(_result(sweep=True), show=True)
    assert plots._pending == {}


def test_all_failed_bench_has_no_empty_200_legend_entry():
    r = _result()
    r.df["status"] = 400
    _, _, ax_time = plot_latency(r, show=False)
    labels = ax_time.get_legend_handles_labels()[1]
    assert "200" not in labels and "error" in labels
