"""Latency and throughput plots on matplotlib, safe under any backend.

Figures are built with ``matplotlib.figure.Figure`` directly, never through
``pyplot``: nothing here touches global state (no ``plt.show()``, no rcParams),
so the plots work headless (Agg) and never leak into a user's pyplot figures.
Every function returns its axes for customisation; ``ax.figure`` is the figure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

__all__ = ["plot_latency", "plot_sweep", "plot_traffic", "figure_png", "PERCENTILES"]

# percentile -> line colour, drawn on the distribution plot
PERCENTILES: dict[int, str] = {50: "tab:green", 90: "tab:orange", 99: "tab:red"}


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _frame(result: Any) -> Any:
    """The per-request DataFrame of a BenchResult (or a DataFrame given directly)."""
    df = getattr(result, "df", result)
    if "total_ms" not in getattr(df, "columns", ()):
        raise TypeError("expected a BenchResult or a DataFrame with a 'total_ms' column")
    if df.empty:
        raise ValueError("no requests to plot: the load test recorded no rows")
    return df


def plot_latency(result: Any, ax: Axes | None = None) -> list[Axes]:
    """Latency histogram with its CDF and p50/p90/p99 lines, and latency over time.

    With ``ax`` given, only the distribution is drawn there (with the CDF on a
    twin axis). Returns ``[distribution_ax, cdf_ax, over_time_ax]`` (the last
    one absent when ``ax`` was given).
    """
    import numpy as np

    df = _frame(result)
    total = df["total_ms"].to_numpy(dtype=float)
    axes: list[Axes] = []
    if ax is None:
        fig = _new_figure(11, 4)
        ax, ax_time = fig.subplots(1, 2, width_ratios=[1.1, 1])
    else:
        ax_time = None

    lo, hi = float(total.min()), float(total.max())
    bins = np.linspace(lo, hi if hi > lo else lo + 1e-3, min(60, max(10, len(total) // 10)))
    ax.hist(total, bins=list(bins), color="tab:blue", alpha=0.55, label="requests")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("requests")
    ax.set_title(f"Latency distribution ({len(total)} requests)")

    cdf_ax = ax.twinx()
    xs = np.sort(total)
    cdf_ax.plot(xs, np.arange(1, len(xs) + 1) / len(xs), color="black", lw=1.2, label="CDF")
    cdf_ax.set_ylim(0, 1.02)
    cdf_ax.set_ylabel("cumulative fraction of requests")

    for q, colour in PERCENTILES.items():
        value = float(np.quantile(total, q / 100.0))  # linear, as pandas' quantile
        ax.axvline(value, color=colour, ls="--", lw=1.4, label=f"p{q} = {value:.2f} ms", gid=f"p{q}")
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = cdf_ax.get_legend_handles_labels()
    ax.legend(handles + h2, labels + l2, loc="center right", fontsize="small")
    axes += [ax, cdf_ax]

    if ax_time is not None:
        ok = df["status"] == 200 if "status" in df.columns else np.ones(len(df), dtype=bool)
        start = df["start_s"].to_numpy(dtype=float) if "start_s" in df.columns else np.arange(len(df))
        ax_time.scatter(start[ok], total[ok], s=6, alpha=0.5, color="tab:blue", label="200")
        if (~ok).any():
            ax_time.scatter(
                start[~ok], total[~ok], s=12, marker="x", color="tab:red", label="error"
            )
        p99 = float(np.quantile(total, 0.99))
        ax_time.axhline(p99, color=PERCENTILES[99], ls="--", lw=1.2, label=f"p99 = {p99:.2f} ms")
        ax_time.set_xlabel("time since start (s)")
        ax_time.set_ylabel("latency (ms)")
        ax_time.set_title("Latency over time")
        ax_time.legend(loc="upper right", fontsize="small")
        axes.append(ax_time)
    return axes


def plot_sweep(result: Any) -> list[Axes]:
    """Throughput and latency (p50, p99) against concurrency for a sweep.

    Accepts a ``BenchResult`` with ``sweep_df`` or that DataFrame itself.
    Returns ``[throughput_ax, latency_ax]``.
    """
    sweep = getattr(result, "sweep_df", result)
    if sweep is None or "concurrency" not in getattr(sweep, "columns", ()):
        raise ValueError("no sweep to plot: run easlab.bench(..., sweep=[1, 2, 4, 8])")
    fig = _new_figure(10, 3.8)
    ax_tp, ax_lat = fig.subplots(1, 2)
    c = sweep["concurrency"].to_numpy()
    ax_tp.plot(c, sweep["throughput"], marker="o", color="tab:blue", label="throughput")
    ax_tp.set_xlabel("concurrency (parallel requests)")
    ax_tp.set_ylabel("throughput (req/s)")
    ax_tp.set_title("Throughput vs concurrency")
    ax_tp.set_ylim(0, float(sweep["throughput"].max()) * 1.15 or 1.0)
    ax_lat.plot(c, sweep["p50"], marker="o", color=PERCENTILES[50], label="p50")
    ax_lat.plot(c, sweep["p99"], marker="o", color=PERCENTILES[99], label="p99")
    ax_lat.set_xlabel("concurrency (parallel requests)")
    ax_lat.set_ylabel("latency (ms)")
    ax_lat.set_title("Latency vs concurrency")
    ax_lat.set_ylim(bottom=0)
    ax_lat.legend(fontsize="small")
    for a in (ax_tp, ax_lat):
        if len(c) > 2 and c.min() > 0 and c.max() / c.min() >= 8:
            a.set_xscale("log", base=2)  # sweeps double the concurrency: space them evenly
        a.set_xticks(list(c), [str(v) for v in c])
        a.minorticks_off()
        a.grid(alpha=0.3)
    return [ax_tp, ax_lat]


def plot_traffic(counts: dict[str, int], ax: Axes | None = None) -> Axes:
    """Requests answered by each service of a blue-green pair, with their share in percent."""
    if not counts:
        raise ValueError("no traffic to plot: counts is empty")
    if ax is None:
        ax = _new_figure(6, 3.5).subplots()
    names = list(counts)
    values = [int(counts[name]) for name in names]
    total = sum(values) or 1
    colours = ["tab:blue", "tab:green", "tab:orange", "tab:purple"]
    bars = ax.bar(names, values, color=[colours[i % 4] for i in range(len(names))])
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(
            f"{value} ({100.0 * value / total:.0f}%)",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize="small",
        )
    ax.set_xlabel("service")
    ax.set_ylabel("requests answered")
    ax.set_title(f"Traffic split over {sum(values)} requests")
    ax.set_ylim(0, max(values) * 1.15 + 1)
    return ax


def figure_png(fig: Figure | SubFigure, dpi: int = 100) -> bytes:
    """Render a figure to PNG bytes with Agg, whatever the session's backend is."""
    import io

    # savefig picks the Agg canvas for "png" itself: no pyplot, no backend switch.
    buf = io.BytesIO()
    fig.figure.savefig(buf, format="png", dpi=dpi)  # a SubFigure saves its root figure
    return buf.getvalue()
