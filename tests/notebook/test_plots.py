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
    ok = r.df[r.df["status"] == 200]["total_ms"]  # the distribution is of the answers
    for q in (50, 90, 99):
        x = lines[f"p{q}"].get_xdata()[0]
        assert x == pytest.approx(np.percentile(ok, q))
        assert f"p{q} = {x:.2f} ms" in [t.get_text() for t in hist.get_legend().get_texts()]
    lo, hi = hist.get_xlim()
    assert lo <= ok.min() and hi >= ok.max()
    # the CDF ends at 1 at the largest latency
    cdf_line = cdf.get_lines()[0]
    assert cdf_line.get_ydata()[-1] == pytest.approx(1.0)
    assert cdf_line.get_xdata()[-1] == pytest.approx(ok.max())
    # errors are drawn apart on the time plot, labelled with their status
    assert len(over_time.collections) == 2
    labels = over_time.get_legend_handles_labels()[1]
    assert "HTTP 200" in labels and "HTTP 503" in labels
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


def test_all_failed_bench_has_no_latency_plot_but_the_error_summary():
    r = _result()
    r.df["status"] = 400
    with pytest.raises(ValueError, match=r"all 300 failed \(HTTP 400 × 300\)"):
        plot_latency(r, show=False)


def _legend_inside(ax) -> bool:
    """Whether the axes' legend box overlaps the axes' own drawing area."""
    fig = ax.figure
    fig.canvas.draw() if hasattr(fig.canvas, "draw") else None
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend()
    return legend is not None and legend.get_window_extent(renderer).overlaps(
        ax.get_window_extent(renderer)
    )


def test_a_sweep_has_one_colour_and_label_per_level():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    r = _result(sweep=True)
    hist, _, over_time = plot_latency(r, show=False)
    FigureCanvasAgg(hist.figure.figure)
    labels = hist.get_legend_handles_labels()[1]
    for level in (1, 2, 4, 8):
        assert f"concurrency {level}" in labels
    colours = {tuple(p.get_facecolor()[:3]) for p in hist.patches}
    assert len(colours) == 4
    time_labels = over_time.get_legend_handles_labels()[1]
    assert [lab for lab in time_labels if lab.startswith("HTTP 200, concurrency")] == [
        f"HTTP 200, concurrency {c}" for c in (1, 2, 4, 8)
    ]
    # levels follow each other on the timeline instead of overlaying one another
    spans = [
        (c.get_offsets()[:, 0].min(), c.get_offsets()[:, 0].max())
        for c in over_time.collections[:4]
    ]
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert not _legend_inside(over_time) and not _legend_inside(hist)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "latency-sweep.png").write_bytes(figure_png(hist.figure))


def test_an_outlier_does_not_squash_the_distribution():
    r = _result()
    r.df.loc[5, "total_ms"] = 200.0  # one GC pause among ~2 ms answers
    r.df.loc[5, "status"] = 200
    hist, cdf, over_time = plot_latency(r, show=False)
    right = hist.get_xlim()[1]
    assert right < 50  # the axis ends at p99.5, not at the outlier
    assert "axis ends at p99.5" in hist.get_title() and "slower not shown" in hist.get_title()
    assert over_time.get_ylim()[1] < 50 and "axis ends at p99.5" in over_time.get_title()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "latency-outlier.png").write_bytes(figure_png(hist.figure))


def test_a_bench_where_everything_failed_shows_the_errors_not_latencies():
    r = _result()
    r.df["status"] = 401
    summary = r.summary()
    assert list(summary.index[:2]) == ["requests", "errors"]
    assert summary.loc["errors", "value"] == "HTTP 401: 300"
    assert not any("p50" in row for row in summary.index)
    html = r._repr_html_()
    assert "No request succeeded" in html and "<img" not in html
    assert "all failed" in repr(r)


def test_a_sweep_shows_per_level_numbers_before_the_pooled_ones():
    html = _result(sweep=True)._repr_html_()
    assert html.index("<th>concurrency</th>") < html.index("(all levels)")


def test_one_request_is_drawn_on_readable_axes():
    # one request of 1.658 ms, 0.28 ms after the start: the histogram was a bar 0.0002 ms
    # wide with "+1.658" beside the ticks, the timeline a pile of tick labels on µs
    df = _result().df.iloc[:1].copy()
    df["start_s"], df["total_ms"], df["status"] = 0.00028, 1.658, 200
    hist, cdf, over_time = plot_latency(BenchResult(df, {4: 0.01}), show=False)
    figure_png(hist.figure)  # drawn: the tick labels are made
    assert hist.get_title() == "Latency distribution (1 successful request)"
    lo, hi = hist.get_xlim()
    assert lo < 1.658 < hi and hi - lo > 0.19 * 1.658  # a range around the value
    assert hist.xaxis.get_offset_text().get_text() == ""
    assert [p.get_width() for p in hist.patches if p.get_height()] == [
        pytest.approx((hi - lo) / 9)  # the one bar, one bin of ten edges
    ]
    start, end = over_time.get_xlim()
    assert start == 0 and end >= 0.00028 + 0.001658  # the run, from its start to its end
    assert over_time.get_ylim()[0] == 0 and over_time.get_ylim()[1] > 1.658
    assert len(over_time.get_xticks()) <= 7


def test_few_requests_get_whole_request_ticks_and_dots_above_the_p99_line():
    # one request: the count axis read 0.2, 0.4 ... requests, and the run's one dot sat
    # under the p99 line drawn through it
    df = _result().df.iloc[:1].copy()
    df["start_s"], df["total_ms"], df["status"] = 0.00028, 1.658, 200
    hist, _, over_time = plot_latency(BenchResult(df, {4: 0.01}), show=False)
    figure_png(hist.figure)
    ticks = [t for t in hist.get_yticks() if hist.get_ylim()[0] <= t <= hist.get_ylim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    (p99_line,) = [ln for ln in over_time.get_lines() if ln.get_label().startswith("p99")]
    dots = over_time.collections
    assert dots and all(d.get_zorder() > p99_line.get_zorder() for d in dots)
    assert dots[0].get_sizes()[0] >= 20  # a dot, not a speck


def test_the_cdf_is_a_staircase_from_zero_not_a_line_between_requests():
    # two requests, 1.38 and 1.54 ms: the CDF was a straight line from 0.5 at 1.38 to 1.0
    # at 1.54, as if half the requests took 1.46 ms; no request is faster than the first
    df = _result().df.iloc[:2].copy()
    df["total_ms"], df["status"] = [1.54, 1.38], 200
    _, cdf, _ = plot_latency(BenchResult(df, {4: 0.01}), show=False)
    (line,) = [ln for ln in cdf.get_lines() if ln.get_label() == "CDF"]
    assert line.get_drawstyle() == "steps-post"
    assert list(line.get_xdata()) == [1.38, 1.38, 1.54]
    assert list(line.get_ydata()) == [0.0, 0.5, 1.0]


def test_plotting_something_else_says_what_it_got_and_what_to_pass():
    # plot_latency(None) (a bench cell without -o) said only "expected a BenchResult or
    # a DataFrame with a 'total_ms' column"; plot_sweep of a one-level run gave only the
    # Python call, not the magic the tutorial uses
    with pytest.raises(TypeError, match=r"got None.*%eas bench NAME --body BODY -o r"):
        plot_latency(None)
    with pytest.raises(TypeError, match=r"got str 'plain'"):
        plot_latency("plain")
    with pytest.raises(ValueError, match=r"one concurrency level \(4\).*--sweep 1,2,4,8"):
        plot_sweep(_result())
    with pytest.raises(TypeError, match=r"got None"):
        plot_sweep(None)


def test_plot_traffic_of_something_else_says_what_it_needs():
    # a list of counts failed with "IndexError: list index out of range" deep in the
    # plot; a Counter's non-number value with int()'s own message
    with pytest.raises(TypeError, match=r"got list.*\{'greeter': 70, 'greeter_ab12': 30\}"):
        plot_traffic([70, 30])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"counts\['b'\] is str 'many'"):
        plot_traffic({"a": 3, "b": "many"})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match=r"counts\['b'\] is float nan"):  # int(nan) raised
        plot_traffic({"a": 3, "b": float("nan")})
    with pytest.raises(ValueError, match=r"no traffic to plot: every count is 0 \(a, b\)"):
        plot_traffic({"a": 0, "b": 0})  # was an empty chart "over 0 requests"
